// A synthetic but complete pxl run: the events a trainer would emit, and the
// real files the run store would write beside them (config, sample PNGs,
// metrics.jsonl, a checkpoint), so the tracker uploads actual bytes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PNG } from 'pngjs';
import type { RunEvent, RunStartEvent, RunStatus } from '../../src/events/run-events.js';

export const T0 = 1_700_000_000_000;
export const STEP_MS = 170;

export const CONFIG = {
  name: 'tiny-mnist',
  data: { dataset: 'mnist', path: null, shape: [28, 28, 1], augment: {} },
  model: { kind: 'pixelcnn', blocks: 2, hidden: 16, layers: [{ kind: 'masked', mask: 'A' }, { kind: 'gated' }] },
  train: { steps: 300, batch_size: 32, lr: 0.001, seed: 7 },
};

export interface FakeRunOptions {
  steps?: number;
  evalEvery?: number;
  sampleEvery?: number;
  status?: RunStatus;
  runId?: string;
}

export interface FakeRun {
  runDir: string;
  events: RunEvent[];
  samplePaths: string[];
  checkpointDir: string;
}

function png(seed: number): Buffer {
  const image = new PNG({ width: 28, height: 28 });
  for (let i = 0; i < image.data.length; i += 4) {
    const v = (i * 7 + seed * 31) % 256;
    image.data.set([v, v, v, 255], i);
  }
  return PNG.sync.write(image);
}

// Step 1 reports NaN images/s (no throughput yet): it also checks how non-finite values travel.

/** Loss falls smoothly and deterministically, so two runs of the same events log identical metrics. */
function loss(step: number): number {
  return 0.55 + 4.9 / Math.sqrt(step);
}

export function fakeRun(runDir: string, options: FakeRunOptions = {}): FakeRun {
  const steps = options.steps ?? 300;
  const evalEvery = options.evalEvery ?? 100;
  const sampleEvery = options.sampleEvery ?? 150;
  const runId = options.runId ?? `run-${randomBytes(3).toString('hex')}`;
  mkdirSync(join(runDir, 'samples'), { recursive: true });
  writeFileSync(join(runDir, 'config.yaml'), `# resolved\nname: tiny-mnist\nmodel:\n  blocks: 2\n  hidden: 16\n`);
  const start: RunStartEvent = {
    type: 'start',
    time: T0,
    runId,
    runDir,
    experiment: 'tiny-mnist',
    description: 'A two-block PixelCNN on MNIST, to test tracking.',
    config: CONFIG,
    params: 12345,
    backend: 'wasm',
    backendNote: 'tfjs-node not installed',
    device: 'CPU (2 threads)',
    dataset: { name: 'mnist', train: 60000, test: 10000, height: 28, width: 28, channels: 1 },
    totalSteps: steps,
    stepsPerEpoch: 100,
    resumedFromStep: 0,
  };
  const events: RunEvent[] = [start];
  const samplePaths: string[] = [];
  const lines: string[] = [];
  let best = Number.POSITIVE_INFINITY;
  let bestStep = 0;
  for (let step = 1; step <= steps; step++) {
    const time = T0 + step * STEP_MS;
    const l = loss(step);
    events.push({ type: 'step', time, step, epoch: Math.floor((step - 1) / 100), epochStep: ((step - 1) % 100) + 1, loss: l, bitsPerDim: l / Math.LN2, imagesPerSecond: step === 1 ? Number.NaN : 180 + (step % 7), stepsPerSecond: 5.6 });
    lines.push(JSON.stringify({ step, loss: l }));
    if (step % evalEvery === 0) {
      const test = (l + 0.02) / Math.LN2;
      if (test < best) [best, bestStep] = [test, step];
      events.push({ type: 'eval-start', time: time + 1, step });
      events.push({
        type: 'eval', time: time + 2, step, epoch: Math.floor((step - 1) / 100), set: 'test', weights: 'current',
        loss: l + 0.02, bitsPerDim: test, bestBitsPerDim: best, bestStep, images: 10000, seconds: 3,
      });
    }
    if (step % sampleEvery === 0) {
      const path = join(runDir, 'samples', `step-${String(step).padStart(6, '0')}.png`);
      writeFileSync(path, png(step));
      samplePaths.push(path);
      events.push({ type: 'sample-start', time: time + 3, step, count: 4, method: 'naive' });
      events.push({ type: 'sample', time: time + 4, step, path, method: 'naive', count: 4, columns: 2, height: 28, width: 28, pixels: new Float32Array(4 * 28 * 28), seconds: 1 });
    }
  }
  const checkpointDir = join(runDir, 'checkpoints', `step-${steps}`);
  mkdirSync(checkpointDir, { recursive: true });
  writeFileSync(join(checkpointDir, 'model.json'), JSON.stringify({ format: 'layers-model', steps }));
  writeFileSync(join(checkpointDir, 'weights.bin'), randomBytes(2048));
  events.push({ type: 'checkpoint', time: T0 + steps * STEP_MS + 5, step: steps, path: checkpointDir });
  writeFileSync(join(runDir, 'metrics.jsonl'), `${lines.join('\n')}\n`);
  const status = options.status ?? 'finished';
  const last = loss(steps);
  events.push({
    type: 'end',
    time: T0 + steps * STEP_MS + 10,
    status,
    message: status === 'failed' ? 'loss became NaN at step 300' : '',
    summary: {
      status,
      run_id: runId,
      experiment: 'tiny-mnist',
      steps,
      epochs: steps / 100,
      train_bits_per_dim: last / Math.LN2,
      test_bits_per_dim: Number.isFinite(best) ? best : null,
      best_test_bits_per_dim: Number.isFinite(best) ? best : null,
      params: 12345,
      device: 'CPU (2 threads)',
      backend: 'wasm',
      wall_seconds: (steps * STEP_MS) / 1000,
      images_per_second: 183,
      started_at: new Date(T0).toISOString(),
      ended_at: new Date(T0 + steps * STEP_MS + 10).toISOString(),
      message: '',
    },
  });
  return { runDir, events, samplePaths, checkpointDir };
}

/** Feeds events as a trainer would; only the end event's promise is awaited. */
export async function feed(listener: (e: RunEvent) => void | Promise<void>, events: RunEvent[]): Promise<void> {
  for (const event of events) {
    const result = listener(event);
    if (event.type === 'end') await result;
  }
}
