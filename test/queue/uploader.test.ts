// The checkpoint uploader waiting for an MLflow run that does not exist yet (the member's tracker
// could not create it while MLflow was away) must leave the event loop to the rest of the worker:
// the lock renewal that keeps the member its own runs on a timer.
import { describe, expect, it } from 'vitest';
import { MlflowClient } from '../../src/track/mlflow-client.js';
import { Uploader } from '../../src/queue/uploader.js';
import type { CheckpointSnapshot } from '../../src/queue/resume-artifacts.js';
import { tempDir } from '../helpers/tmp.js';

describe('checkpoint uploader', () => {
  it('lets timers run while it waits for a run to upload to, and gives up on the checkpoint after its limit', async () => {
    const runDir = tempDir(); // no mlflow.json: the run has no MLflow run yet
    const lines: string[] = [];
    const uploader = new Uploader(new MlflowClient({ uri: 'http://127.0.0.1:9' }), (l) => lines.push(l), () => lines.push('uploaded'));
    const snap: CheckpointSnapshot = { step: 10, runDir, checkpoint: 'checkpoints/step-10', files: [], best: null, bytes: 0 };
    uploader.push(snap, runDir);

    let immediateRan = false;
    setImmediate(() => (immediateRan = true));
    await uploader.flush(1200);
    // Before the fix, flush awaited settled promises in a loop until its deadline: nothing else ran.
    expect(immediateRan).toBe(true);
    expect(lines).toEqual(['checkpoint of step 10 could not be uploaded; a takeover would resume from step 0']);
  });
});
