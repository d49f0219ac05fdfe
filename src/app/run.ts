// app/: the application's wiring: one run from experiment to trainer, with its subscribers.
//
// Puts a run together: experiment -> backend -> data -> model -> run folder -> trainer,
// with the subscribers attached. Everything that can be wrong with the input is checked
// before the run folder is created, so a bad input leaves nothing behind.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend, type BackendInfo } from '../backend/index.js';
import { formatDiagnostic } from '../config/diagnostics.js';
import { loadExperiment } from '../config/load.js';
import type { SourceFile } from '../config/source.js';
import type { Experiment } from '../config/types.js';
import { classLabelProblems, datasetShape, loadDataset, splitValidation, type Dataset, type SplitDataset } from '../data/index.js';
import { conditioningClasses } from '../model/conditioning.js';
import { installFrugalBackprop } from '../backend/frugal-backprop.js';
import { PixelCNN, type ImageShape } from '../model/pixelcnn.js';
import { budgetWords, floorRefusal, gb, largestBatch, measureStepMemory, memoryBudget, memoryShareFromEnv, stepBytes } from '../train/memory.js';
import { optimizerSlots } from '../model/size.js';
import { gridPng, type GridOptions } from '../sample/grid.js';
import { samplerFor } from '../sample/index.js';
import { sampleRows } from '../sample/rows.js';
import {
  createRun, readEvents, readOriginal, readRunImages, readSummary, removeLeftovers, runPaths, runsRootProblem, runStoreListener, writeRunImages, writeSample,
  writeValidationSplit, type RunImages, type RunPaths,
} from '../store/run-dir.js';
import { lockRun } from '../store/lock.js';
import { checkResumeConfig, show } from '../store/resume-config.js';
import { ConfigError } from '../config/diagnostics.js';
import { locate } from '../config/compose.js';
import { channelGroupProblem } from '../config/widths.js';
import { latestCheckpoint, readCheckpoint } from '../checkpoint/checkpoint.js';
import type { RunEvent, RunListener, RunSummary, TrackingEvent } from '../events/run-events.js';
import { redactUri, type MlflowAuth } from '../track/mlflow-client.js';
import { createMlflowTracker, datasetInputs, resolveTracking, splitCredentials, TRACKING_OFF_HINT } from '../track/mlflow-tracker.js';
import { schedule, train } from '../train/trainer.js';

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
  data: SplitDataset;
  model: PixelCNN;
  paths: RunPaths;
  resumeFrom: string | null;
  /** Releases the run folder's lock (see store/lock.ts); the run holds it from here to its end. */
  unlock: () => void;
  /** Credentials taken out of tracking.uri: for the tracker only, never written down. */
  trackingAuth: MlflowAuth;
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

/**
 * PXL_TEST_HOLD_AFTER_STEP=N: the run waits after step N until stopped (train/trainer.ts), so
 * that a test can kill it, or its worker, at a known point rather than racing the clock.
 */
export function holdAfterStepFromEnv(env: NodeJS.ProcessEnv = process.env): number | null {
  const v = env.PXL_TEST_HOLD_AFTER_STEP?.trim();
  if (!v) return null;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RunSetupError(`PXL_TEST_HOLD_AFTER_STEP must be a positive integer; found ${JSON.stringify(v)}`);
  return n;
}

/**
 * Backend, data and model for training an experiment, with a training step's memory planned.
 * `sources`: where the experiment was read from, to locate problems the data reveals.
 */
export async function prepareExperiment(
  experiment: Experiment,
  sources: readonly SourceFile[] = [],
): Promise<{ backend: BackendInfo; data: SplitDataset; model: PixelCNN; recompute: boolean }> {
  const backend = await initBackend(experiment.backend, { wasmThreads: wasmThreadsFromEnv() });
  const loaded = await loadDataset(experiment.dataset);
  checkClassLabels(experiment, loaded, sources);
  checkChannelGroups(experiment, loaded.channels, sources);
  const data = splitValidation(loaded, experiment.dataset.validation, experiment.seed);
  try {
    schedule(experiment, data.train.count);
  } catch (err) {
    throw new RunSetupError(`${experiment.name}: ${(err as Error).message} (train.batch_size ${experiment.train.batch_size}, dataset.train_limit ${experiment.dataset.train_limit ?? 'none'}, dataset.validation ${experiment.dataset.validation})`, true);
  }
  installFrugalBackprop();
  const image = { height: data.height, width: data.width, channels: data.channels };
  const recompute = await planMemory(experiment, image, backend);
  const model = new PixelCNN(experiment.model, image, experiment.seed);
  return { backend, data, model, recompute };
}

/** A colour model's width must split into one group per channel: the images of a folder say how many channels there are. */
export function checkChannelGroups(experiment: Experiment, channels: number, sources: readonly SourceFile[]): void {
  const problem = channelGroupProblem(experiment.model.hidden, channels, experiment.model.blocks.type);
  if (!problem) return;
  throw new ConfigError([{ location: locate(sources, ['model', 'hidden'], 'value'), path: 'model.hidden', message: problem }]);
}

/** A class-conditional model needs labels for every image, each within its classes: else bad input, located at the setting. */
function checkClassLabels(experiment: Experiment, data: Dataset, sources: readonly SourceFile[]): void {
  const classes = conditioningClasses(experiment.model);
  if (classes === null) return;
  const problems = classLabelProblems(data, classes);
  if (!problems.length) return;
  throw new ConfigError(problems.map((p) => ({
    location: locate(sources, ['model', 'conditioning', p.key], 'value'),
    path: `model.conditioning.${p.key}`,
    message: p.message,
  })));
}

/**
 * Backend and model to sample a run: the image shape comes from the run (run.json), so the
 * dataset is not read. Runs from before run.json fall back to the training images' header.
 */
export async function prepareSampling(experiment: Experiment, paths: RunPaths): Promise<{ backend: BackendInfo; model: PixelCNN; images: RunImages }> {
  const images = await runImages(experiment, paths);
  const backend = await initBackend(experiment.backend, { wasmThreads: wasmThreadsFromEnv() });
  const model = new PixelCNN(experiment.model, images, experiment.seed);
  return { backend, model, images };
}

async function runImages(experiment: Experiment, paths: RunPaths): Promise<RunImages> {
  const recorded = readRunImages(paths);
  if (recorded) return recorded;
  const { height, width, channels } = await datasetShape(experiment.dataset);
  return { height, width, channels, levels: experiment.model.color_levels };
}

const imagesOf = (experiment: Experiment, data: Dataset): RunImages => ({
  height: data.height, width: data.width, channels: data.channels, levels: experiment.model.color_levels, classes: data.classes ?? null,
});

/**
 * Decides whether blocks are recomputed in the backward pass (train.recompute), measuring what
 * a step needs each way, and refuses a batch that cannot fit either way with the batch that would.
 */
async function planMemory(experiment: Experiment, image: ImageShape, backend: BackendInfo): Promise<boolean> {
  const { recompute, batch_size: batch } = experiment.train;
  const share = memoryShare();
  const budget = memoryBudget(backend.name, share);
  if (!Number.isFinite(budget)) return recompute === 'always';
  // Only residual blocks are recomputed (PixelCNN.forward); gated ones always keep their activations.
  const canRecompute = experiment.model.blocks.type === 'residual' && experiment.model.blocks.count > 0 && recompute !== 'never';
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
      (!lean && experiment.model.blocks.type === 'residual' && experiment.model.blocks.count > 0 ? ', or train.recompute: auto' : '') +
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

/** `onLost`: called if the run folder's lock is lost while the run holds it (see lockRun). */
export async function prepareRun(req: RunRequest, onLost: (err: Error) => void = () => {}): Promise<PreparedRun> {
  if (req.resume) return prepareResume(req.resume, onLost);
  const loaded = loadExperiment(req.file!, req.sets ?? []);
  const { experiment, auth } = splitCredentials(loaded.experiment);
  checkTracking(experiment);
  const problem = runsRootProblem(req.runsDir);
  if (problem) throw new RunSetupError(`--runs-dir: ${problem}`);
  const prepared = await prepareExperiment(experiment, loaded.composed.sources);
  const paths = createRun(req.runsDir, experiment, imagesOf(experiment, prepared.data));
  if (prepared.data.split) writeValidationSplit(paths, prepared.data.split);
  const unlock = lockRun(paths, onLost);
  return { experiment, warnings: loaded.warnings.map(formatDiagnostic), ...prepared, paths, resumeFrom: null, unlock, trackingAuth: auth };
}

/**
 * Everything about a resume is checked before the data is loaded, once the run folder is
 * locked: that it is a run folder no other process holds, not finished, that config.yaml
 * still reads and changes only what a resume may change, and that metrics.jsonl reads.
 */
async function prepareResume(dir: string, onLost: (err: Error) => void): Promise<PreparedRun> {
  if (!existsSync(dir)) throw new RunSetupError(`run folder ${dir} does not exist`);
  const paths = runPaths(dir);
  if (!existsSync(paths.config)) throw new RunSetupError(`${dir} is not a pxl run folder (no config.yaml)`);
  const unlock = lockRun(paths, onLost);
  try {
    const summary = readSummary(paths);
    if (summary?.status === 'finished') throw new RunSetupError(`${dir} already finished (${summary.steps} steps); start a new run instead`);
    const resumed = resumedExperiment(paths);
    const { sources, warnings } = resumed;
    // config.yaml holds no credentials: the tracker takes them from the environment.
    const { experiment, auth } = splitCredentials(resumed.experiment);
    readEvents(paths, (m) => warnings.push(m)); // a corrupt metrics.jsonl stops the resume here
    removeLeftovers(paths);
    const checkpoint = latestCheckpoint(paths.checkpoints);
    if (!checkpoint) warnings.push(`${dir} has no checkpoint (it was stopped before its first one): training starts again from step 0 in this folder`);
    // Checked whole (manifest, checksum, finite values) before the data is loaded.
    const step = checkpoint ? readCheckpoint(checkpoint).manifest.position.step : 0;
    const prepared = await prepareExperiment(experiment, sources);
    if (checkpoint) checkScheduleCovers(experiment, sources, checkpoint, step, prepared.data.train.count);
    if (!readRunImages(paths)) writeRunImages(paths, imagesOf(experiment, prepared.data)); // a run from before run.json
    return { experiment, warnings, ...prepared, paths, resumeFrom: checkpoint, unlock, trackingAuth: auth };
  } catch (err) {
    unlock();
    throw err;
  }
}

/** config.yaml as it reads now, refused (exit 2, located) where it changed what the checkpoints mean. */
function resumedExperiment(paths: RunPaths): { experiment: Experiment; sources: readonly SourceFile[]; warnings: string[] } {
  const { experiment, composed } = loadExperiment(paths.config);
  const original = readOriginal(paths);
  if (!original) return { experiment, sources: composed.sources, warnings: [] };
  const changes = checkResumeConfig(original, experiment, composed.sources);
  const said = changes.map((c) => `${c.path} ${show(c.before)} -> ${show(c.after)}`).join(', ');
  return { experiment, sources: composed.sources, warnings: changes.length ? [`config.yaml changed since the run was created: ${said}`] : [] };
}

/** A resume whose (edited) length ends before its checkpoint would train nothing: refused at the setting. */
function checkScheduleCovers(experiment: Experiment, sources: readonly SourceFile[], checkpoint: string, step: number, trainCount: number): void {
  const total = schedule(experiment, trainCount).total;
  if (total >= step) return;
  const key = experiment.train.steps != null ? 'steps' : 'epochs';
  throw new ConfigError([{
    location: locate(sources, ['train', key], 'value'),
    path: `train.${key}`,
    message: `the run would end at step ${total}, but its checkpoint ${checkpoint} is at step ${step} already; ask for at least ${step} steps`,
  }]);
}

/** A malformed MLFLOW_TRACKING_URI is an error before anything is created. */
function checkTracking(experiment: Experiment): void {
  try {
    resolveTracking(experiment.tracking);
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
  const bus = eventBus();
  const holdAfterStep = holdAfterStepFromEnv();
  const prepared = await prepareRun(req, bus.fail);
  try {
    return await trainPrepared(req, prepared, bus, holdAfterStep);
  } finally {
    prepared.unlock();
  }
}

async function trainPrepared(req: RunRequest, prepared: PreparedRun, bus: EventBus, holdAfterStep: number | null): Promise<RunSummary> {
  req.onPrepared?.(prepared);
  const { experiment, backend, data, model, paths, resumeFrom, recompute } = prepared;
  bus.add(runStoreListener(paths), true);
  req.listeners.forEach((l) => bus.add(l));
  const warnings = [...prepared.warnings, ...backendWarning(experiment, backend)];
  if (recompute && experiment.train.recompute === 'auto') {
    warnings.push(`blocks are recomputed in the backward pass so that train.batch_size ${experiment.train.batch_size} fits in memory (about a third slower per step)`);
  }
  const notices: RunEvent[] = warnings.map((message) => ({ type: 'warning', time: Date.now(), message }));
  notices.push(attachTracking(prepared, req, bus));
  let summary: RunSummary;
  try {
    summary = await train({
      experiment, data, model, resumeFrom,
      paths: { ...paths, saveSamples: (step, classes) => writeSample(paths, step, gridPng(classes, sampleGrid(experiment, data))) },
      sampler: samplerFor(experiment.sample.method),
      start: { backend: backend.name, backendNote: backend.note, device: backend.device },
      emit: bus.emit,
      notices,
      recompute,
      stop: req.stop,
      holdAfterStep,
    });
  } finally {
    await bus.drain();
    model.dispose();
  }
  // A store failure the trainer did not see (writing the end of the run) still fails it.
  const failure = bus.failure();
  if (!failure || summary.status === 'failed') return summary;
  process.stderr.write(`pxl: ${failure.message}\n`);
  return { ...summary, status: 'failed', message: failure.message };
}

/** How a run's sample grids are laid out: sample.count images in sample.columns columns, or a labelled row per class (sample/rows.ts). */
function sampleGrid(e: Experiment, data: SplitDataset): GridOptions {
  const { count, columns, rowLabels } = sampleRows(e);
  return { count, columns, height: data.height, width: data.width, channels: data.channels, levels: e.model.color_levels, ...(rowLabels ? { rowLabels } : {}) };
}

/**
 * Adds the MLflow tracker to the listeners when a tracking URI is configured, and returns
 * the notice that says so (or how to turn tracking on).
 */
function attachTracking(p: PreparedRun, req: RunRequest, bus: EventBus): TrackingEvent {
  const emit = bus.notify;
  const settings = resolveTracking(p.experiment.tracking);
  const notice = (enabled: boolean, uri: string | null, link: string | null, message: string): TrackingEvent => ({
    type: 'tracking', time: Date.now(), enabled, uri, link, message,
  });
  if (!settings) return notice(false, null, null, TRACKING_OFF_HINT);
  const uri = redactUri(settings.uri);
  const experimentName = settings.experimentName ?? p.experiment.name;
  bus.add(
    createMlflowTracker({
      uri: settings.uri,
      experimentName,
      runName: `${p.experiment.name} ${p.paths.id}`,
      logModel: settings.logModel,
      parentRunId: req.parentRunId,
      tags: req.trackingTags,
      auth: p.trackingAuth,
      datasets: datasetInputs(p.data),
      log: (message) => emit({ type: 'warning', time: Date.now(), message: `MLflow: ${message}` }),
      onRunLink: (link) => emit(notice(true, uri, link, `MLflow run: ${link}`)),
    }),
  );
  return notice(true, uri, null, `tracking to MLflow at ${uri}, experiment ${experimentName}`);
}

export interface EventBus {
  /** Delivers an event; throws the failure of an essential listener (see below). For the trainer. */
  emit: (e: RunEvent) => void;
  /** Delivers an event and never throws: for events from listeners themselves (MLflow warnings). */
  notify: (e: RunEvent) => void;
  /** Adds a listener; `essential`: the run cannot go on without it (the run store). */
  add: (listener: RunListener, essential?: boolean) => void;
  /** Records a failure that stops the run at its next event (a lost run-folder lock). */
  fail: (err: Error) => void;
  /** The first essential failure, or null. */
  failure: () => Error | null;
  /** Waits for asynchronous listeners. */
  drain: () => Promise<void>;
}

/**
 * Delivers each event to every listener. An optional listener that fails (the dashboard, a
 * reporter, MLflow, which spools what it cannot send) is reported once, skipped from then on,
 * and never stops training. An essential one that fails (the run store: without it the run
 * keeps no record) stops the run: once the event has reached every listener, emit throws its
 * error, so the trainer stops at once and marks the run failed; the end event is still
 * delivered to all, so the summary can say so. Asynchronous listeners are awaited only at the
 * end (drain); an essential one's rejection surfaces at the next emit.
 */
export function eventBus(): EventBus {
  const listeners: RunListener[] = [];
  const essential = new Set<RunListener>();
  const tails = new Map<RunListener, Promise<unknown>>();
  const skipped = new Set<RunListener>();
  let failure: Error | null = null;
  const fail = (err: unknown) => {
    failure ??= err instanceof Error ? err : new Error(String(err));
  };
  const report = (l: RunListener, err: unknown) => {
    if (essential.has(l)) return fail(err);
    if (skipped.has(l)) return;
    skipped.add(l);
    process.stderr.write(`pxl: a run subscriber failed and is skipped from now on: ${err instanceof Error ? err.message : String(err)}\n`);
  };
  const deliver = (e: RunEvent) => {
    for (const l of listeners) {
      if (skipped.has(l)) continue;
      try {
        const r = l(e);
        if (r instanceof Promise) tails.set(l, Promise.all([tails.get(l), r.catch((err) => report(l, err))]));
      } catch (err) {
        report(l, err);
      }
    }
  };
  return {
    emit: (e) => {
      deliver(e);
      if (failure && e.type !== 'end') throw failure;
    },
    notify: deliver,
    add: (l, isEssential = false) => {
      listeners.push(l);
      if (isEssential) essential.add(l);
    },
    fail,
    failure: () => failure,
    drain: async () => {
      await Promise.all(tails.values());
    },
  };
}
