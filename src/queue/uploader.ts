// A member's checkpoints on their way to its MLflow run, from which a worker that takes the
// member over resumes it (resume-artifacts.ts holds the layout).
import { setTimeout as sleep } from 'node:timers/promises';
import { MlflowClient, MlflowError } from '../track/mlflow-client.js';
import { readState } from '../track/mlflow-sync.js';
import { nextSlot, readPointer, uploadCheckpoint, type CheckpointSnapshot, type ResumePointer } from './resume-artifacts.js';

/**
 * Uploads checkpoints to the member's MLflow run one at a time, in the background: training
 * never waits. Only the newest waiting snapshot is kept (an older one is superseded); one that
 * cannot be sent (MLflow down, the run not created yet) is tried again every few seconds.
 */
export class Uploader {
  /** The pointer in MLflow now; read before the first upload, so that slot is never written to. */
  previous: ResumePointer | null = null;
  known = false;
  private pending: CheckpointSnapshot | null = null;
  private runDir = '';
  private busy: Promise<void> | null = null;
  private retry: NodeJS.Timeout | null = null;
  private stopped = false;
  /** The best checkpoint (its sha256) this worker put in each slot: an unchanged one is not sent again. */
  private readonly bestIn = new Map<'a' | 'b', string>();

  constructor(
    private readonly client: MlflowClient,
    private readonly log: (line: string) => void,
    private readonly onUploaded: (step: number) => void,
  ) {}

  push(snap: CheckpointSnapshot, runDir: string): void {
    this.pending = snap;
    this.runDir = runDir;
    this.kick();
  }

  /** Sends nothing more (an upload under way finishes its file). */
  stop(): void {
    this.stopped = true;
    this.pending = null;
    if (this.retry) clearTimeout(this.retry);
  }

  private kick(): void {
    if (this.busy || !this.pending || this.stopped) return;
    this.busy = this.send().finally(() => {
      this.busy = null;
    });
  }

  private async send(): Promise<void> {
    const snap = this.pending!;
    const state = readState(this.runDir);
    if (!state.artifactUri) return this.later(); // the tracker has not created the run yet
    const t0 = performance.now();
    let bestThere = false;
    try {
      if (!this.known) this.previous = await readPointer(this.client, state.artifactUri);
      this.known = true;
      const slot = nextSlot(this.previous);
      bestThere = !!snap.best && this.bestIn.get(slot) === snap.best.sha256;
      this.bestIn.delete(slot); // until the upload is whole
      this.previous = await uploadCheckpoint(this.client, state.artifactUri, snap, this.previous, () => this.stopped, bestThere);
      if (snap.best && this.previous?.slot === slot) this.bestIn.set(slot, snap.best.sha256);
    } catch (err) {
      if (!(err instanceof MlflowError)) throw err;
      this.log(`checkpoint of step ${snap.step} not uploaded yet (${err.message}); trying again`);
      return this.later();
    }
    if (this.stopped) return;
    if (this.pending === snap) this.pending = null;
    const s = (performance.now() - t0) / 1000;
    const sent = snap.bytes - (bestThere ? snap.best!.files.reduce((n, [, b]) => n + b.length, 0) : 0);
    this.log(`checkpoint of step ${snap.step} uploaded to MLflow: ${(sent / 2 ** 20).toFixed(1)} MiB in ${s.toFixed(2)} s`);
    this.onUploaded(snap.step);
    if (this.pending) this.kick();
  }

  private later(): void {
    if (this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.kick();
    }, 3000);
  }

  /** Waits until the newest checkpoint is uploaded, or gives up on it after a while (the run goes on from an older one). */
  async flush(limitMs = 120_000): Promise<void> {
    const deadline = Date.now() + limitMs;
    while ((this.pending || this.busy) && Date.now() < deadline) {
      this.kick();
      if (this.busy) await this.busy;
      // Waiting for a retry (MLflow away, no run yet): a real pause, so that the lock renewal and
      // Redis get their turn; awaiting only settled promises here would starve the event loop.
      if (this.pending && !this.busy) await sleep(500);
    }
    if (this.retry) clearTimeout(this.retry);
    if (this.pending) this.log(`checkpoint of step ${this.pending.step} could not be uploaded; a takeover would resume from step ${this.previous?.step ?? 0}`);
  }
}
