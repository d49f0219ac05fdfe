// Puts a run together: experiment -> backend -> data -> model -> run folder -> trainer,
// with the subscribers attached. Everything that can be wrong with the input is checked
// before the run folder is created, so a bad input leaves nothing behind.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend, type BackendInfo } from '../backend/index.js';
import { formatDiagnostic } from '../config/diagnostics.js';
import { loadExperiment } from '../config/load.js';
import type { Experiment } from '../config/types.js';
import { loadDataset, type Dataset } from '../data/index.js';
import { installFrugalBackprop } from '../backend/frugal-backprop.js';
import { PixelCNN, type ImageShape } from '../model/pixelcnn.js';
import { budgetWords, floorRefusal, gb, largestBatch, measureStepMemory, memoryBudget, memoryShareFromEnv, stepBytes } from './memory.js';
import { optimizerSlots } from '../model/size.js';
import { samplerFor } from '../sample/index.js';
import { createRun, readRun, runStoreListener, truncateEvents, type RunPaths } from '../store/run-dir.js';
import { latestCheckpoint } from './checkpoint.js';
import type { RunEvent, RunListener, RunSummary, TrackingEvent } from './events.js';
import { redactUri } from '../track/mlflow-client.js';
import { createMlflowTracker, resolveTracking, TRACKING_OFF_HINT } from '../track/mlflow-tracker.js';
import { schedule, train } from './trainer.js';

export interface RunRequest {
  /** A new run from an experiment file with overrides... */
  file?: string;
  sets?: string[];
  /** ...or an existing run folder to continue. */
  resume?: string;
  runsDir: string;
  listeners: RunListener[];
  stop: { requested: boolean };
  /** Called once the run folder exists and before training starts. */
  onPrepared?: (prepared: PreparedRun) => void;
  /** For sweeps: the MLflow parent run and extra tags of this member. */
  parentRunId?: string;
  trackingTags?: Record<string, string>;
}

export interface PreparedRun {
  experiment: Experiment;
  warnings: string[];
  /** Blocks are recomputed in the backward pass to fit memory (train.recompute). */
  recompute: boolean;
  backend: BackendInfo;
  data: Dataset;
  model: PixelCNN;
  paths: RunPaths;
  resumeFrom: string | null;
}

/**
 * A problem with the run's input or environment, found before anything was written;
 * `badInput` when it is the experiment's own (exit 2), not the machine's (exit 1).
 */
export class RunSetupError extends Error {
  override name = 'RunSetupError';

  constructor(message: string, readonly badInput = false) {
    super(message);
  }
}

/**
 * Threads for the wasm backend: PXL_WASM_THREADS=N, or one per core by default (the quick
 * experiment trained 1.47x faster with 2 threads than with 1 on 2 cores at load 1.4; under
 * heavy load from other work threads gain little). A sweep running members side by side
 * splits the cores between them.
 */
export function wasmThreadsFromEnv(env: NodeJS.ProcessEnv = process.env): number | 'auto' {
  const v = env.PXL_WASM_THREADS?.trim();
  if (!v) return 'auto';
  if (v === 'auto') return 'auto';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RunSetupError(`PXL_WASM_THREADS must be auto or a positive integer; found ${JSON.stringify(v)}`);
  return n;
}

/** Backend, data and model for an experiment; `forTraining` also plans a training step's memory. */
export async function prepareExperiment(
  experiment: Experiment,
  forTraining = true,
): Promise<{ backend: BackendInfo; data: Dataset; model: PixelCNN; recompute: boolean }> {
  const backend = await initBackend(experiment.backend, { wasmThreads: wasmThreadsFromEnv() });
  const data = await loadDataset(experiment.dataset);
  try {
    schedule(experiment, data.train.count);
  } catch (err) {
    throw new RunSetupError(`${experiment.name}: ${(err as Error).message} (train.batch_size ${experiment.train.batch_size}, dataset.train_limit ${experiment.dataset.train_limit ?? 'none'})`, true);
  }
  installFrugalBackprop();
  const image = { height: data.height, width: data.width, channels: data.channels };
  const recompute = forTraining ? await planMemory(experiment, image, backend) : false;
  const model = new PixelCNN(experiment.model, image, experiment.seed);
  return { backend, data, model, recompute };
}

/**
 * Decides whether blocks are recomputed in the backward pass (train.recompute), measuring what
 * a step needs each way, and refuses a batch that cannot fit either way with the batch that would.
 */
async function planMemory(experiment: Experiment, image: ImageShape, backend: BackendInfo): Promise<boolean> {
  const { recompute, batch_size: batch } = experiment.train;
  const share = memoryShare();
  const budget = memoryBudget(backend.name, share);
  if (!Number.isFinite(budget)) return recompute === 'always';
  const canRecompute = experiment.model.blocks.count > 0 && recompute !== 'never';
  // The floor first: measuring a model that cannot fit would allocate it until the process is killed.
  const where = budgetWords(backend.name, share);
  const refusal = (lean: boolean) => floorRefusal(experiment.model, image, batch, optimizerSlots(experiment.train.optimizer), lean, budget, where);
  const leanest = refusal(canRecompute);
  if (leanest) throw new RunSetupError(`${experiment.name}: ${leanest}`, true);
  // Stored activations are measured only when their floor fits: else they cannot, and measuring could exhaust memory.
  const storedMayFit = !canRecompute || (recompute !== 'always' && refusal(false) === null);
  const stored = storedMayFit ? await measureStepMemory(experiment.model, image, false) : null;
  if (stored && stepBytes(stored, batch) <= budget) return false;
  const lean = canRecompute ? await measureStepMemory(experiment.model, image, true) : null;
  if (lean && stepBytes(lean, batch) <= budget) return true;
  const best = (lean ?? stored)!;
  const fits = largestBatch(best, budget);
  throw new RunSetupError(
    `${experiment.name}: one training step at train.batch_size ${batch} needs about ${gb(stepBytes(best, batch))} ` +
      `(${(best.perImageBytes / 2 ** 20).toFixed(0)} MB per image${lean ? ', recomputing blocks' : ''}) and ${where}. ` +
      (fits > 0 ? `Use train.batch_size ${fits} or less` : 'Use a smaller model') +
      (!lean && experiment.model.blocks.count > 0 ? ', or train.recompute: auto' : '') +
      (backend.name === 'wasm' ? ', or the tensorflow backend (pxl setup native).' : '.'),
    true,
  );
}

/** This run's share of the machine's memory (PXL_MEMORY_SHARE, set by a parallel sweep). */
function memoryShare(): number {
  try {
    return memoryShareFromEnv();
  } catch (err) {
    throw new RunSetupError((err as Error).message);
  }
}

export async function prepareRun(req: RunRequest): Promise<PreparedRun> {
  if (req.resume) return prepareResume(req.resume);
  const { experiment, warnings } = loadExperiment(req.file!, req.sets ?? []);
  checkTracking(experiment);
  const prepared = await prepareExperiment(experiment);
  const paths = createRun(req.runsDir, experiment);
  return { experiment, warnings: warnings.map(formatDiagnostic), ...prepared, paths, resumeFrom: null };
}

async function prepareResume(dir: string): Promise<PreparedRun> {
  const { paths, summary } = readRunOrFail(dir);
  if (summary?.status === 'finished') throw new RunSetupError(`${dir} already finished (${summary.steps} steps); start a new run instead`);
  const checkpoint = latestCheckpoint(paths.checkpoints);
  if (!checkpoint) throw new RunSetupError(`${dir} has no checkpoint to resume from (${paths.checkpoints} is empty)`);
  const { experiment } = loadExperiment(paths.config);
  const prepared = await prepareExperiment(experiment);
  const step = (JSON.parse(readFileSync(join(checkpoint, 'manifest.json'), 'utf8')) as { position: { step: number } }).position.step;
  truncateEvents(paths, step);
  return { experiment, warnings: [], ...prepared, paths, resumeFrom: checkpoint };
}

/** A malformed MLFLOW_TRACKING_URI is an error before anything is created. */
function checkTracking(experiment: Experiment): void {
  try {
    resolveTracking(experiment.tracking);
  } catch (err) {
    throw new RunSetupError((err as Error).message);
  }
}

function readRunOrFail(dir: string) {
  if (!existsSync(dir)) throw new RunSetupError(`run folder ${dir} does not exist`);
  try {
    return readRun(dir);
  } catch (err) {
    throw new RunSetupError((err as Error).message);
  }
}

/** Runs to the end (or a stop) and returns the summary; every listener sees every event. */
/**
 * A run that auto fell back to a slow backend says why and how to get the fast one; native
 * TensorFlow without a GPU is the best a CPU-only machine can have, so that is no warning.
 */
export function backendWarning(experiment: Experiment, backend: BackendInfo): string[] {
  if (experiment.backend !== 'auto' || backend.fallbacks.length === 0 || backend.name.startsWith('tensorflow')) return [];
  const hint = backend.fallbacks.some((f) => f.name === 'tensorflow') ? '; `pxl setup native` sets up the native CPU backend, several times faster' : '';
  return [`${backend.note}${hint}`];
}

export async function runExperiment(req: RunRequest): Promise<RunSummary> {
  const prepared = await prepareRun(req);
  req.onPrepared?.(prepared);
  const { experiment, backend, data, model, paths, resumeFrom, recompute } = prepared;
  const listeners: RunListener[] = [runStoreListener(paths), ...req.listeners];
  const bus = eventBus(listeners);
  const warnings = [...prepared.warnings, ...backendWarning(experiment, backend)];
  if (recompute && experiment.train.recompute === 'auto') {
    warnings.push(`blocks are recomputed in the backward pass so that train.batch_size ${experiment.train.batch_size} fits in memory (about a third slower per step)`);
  }
  const notices: RunEvent[] = warnings.map((message) => ({ type: 'warning', time: Date.now(), message }));
  notices.push(attachTracking(prepared, req, listeners, bus.emit));
  try {
    return await train({
      experiment, data, model, paths, resumeFrom,
      sampler: samplerFor(experiment.sample.method),
      start: { backend: backend.name, backendNote: backend.note, device: backend.device },
      emit: bus.emit,
      notices,
      recompute,
      stop: req.stop,
    });
  } finally {
    await bus.drain();
    model.dispose();
  }
}

/**
 * Adds the MLflow tracker to the listeners when a tracking URI is configured, and returns
 * the notice that says so (or how to turn tracking on).
 */
function attachTracking(p: PreparedRun, req: RunRequest, listeners: RunListener[], emit: (e: RunEvent) => void): TrackingEvent {
  const settings = resolveTracking(p.experiment.tracking);
  const notice = (enabled: boolean, uri: string | null, link: string | null, message: string): TrackingEvent => ({
    type: 'tracking', time: Date.now(), enabled, uri, link, message,
  });
  if (!settings) return notice(false, null, null, TRACKING_OFF_HINT);
  const uri = redactUri(settings.uri);
  const experimentName = settings.experimentName ?? p.experiment.name;
  listeners.push(
    createMlflowTracker({
      uri: settings.uri,
      experimentName,
      runName: `${p.experiment.name} ${p.paths.id}`,
      logModel: settings.logModel,
      parentRunId: req.parentRunId,
      tags: req.trackingTags,
      log: (message) => emit({ type: 'warning', time: Date.now(), message: `MLflow: ${message}` }),
      onRunLink: (link) => emit(notice(true, uri, link, `MLflow run: ${link}`)),
    }),
  );
  return notice(true, uri, null, `tracking to MLflow at ${uri}, experiment ${experimentName}`);
}

/**
 * Delivers each event to every listener. A failing listener is reported once and never
 * stops training; asynchronous listeners are awaited only at the end (drain).
 */
export function eventBus(listeners: RunListener[]): { emit: (e: RunEvent) => void; drain: () => Promise<void> } {
  const tails: Promise<unknown>[] = listeners.map(() => Promise.resolve());
  const failed = new Set<number>();
  const report = (i: number, err: unknown) => {
    if (failed.has(i)) return;
    failed.add(i);
    process.stderr.write(`pxl: a run subscriber failed and is skipped from now on: ${err instanceof Error ? err.message : String(err)}\n`);
  };
  return {
    emit: (e) =>
      listeners.forEach((l, i) => {
        if (failed.has(i)) return;
        try {
          const r = l(e);
          if (r instanceof Promise) tails[i] = Promise.all([tails[i], r.catch((err) => report(i, err))]);
        } catch (err) {
          report(i, err);
        }
      }),
    drain: async () => {
      await Promise.all(tails);
    },
  };
}
