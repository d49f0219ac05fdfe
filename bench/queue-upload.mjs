// node bench/queue-upload.mjs MLFLOW_URI RUN_DIR CHECKPOINT_DIR N (after npm run build): the per-checkpoint upload of a queue worker, measured.
// Uploads a run's checkpoint as a queue worker does (snapshot, two slots, pointer), N times, and prints the seconds.
import { MlflowClient } from '../dist/track/mlflow-client.js';
import { snapshotCheckpoint, uploadCheckpoint } from '../dist/queue/resume-artifacts.js';
const [uri, runDir, checkpoint, n] = process.argv.slice(2);
const client = new MlflowClient({ uri });
const id = await client.ensureExperiment('pxl-upload-measure');
const run = await client.createRun({ experimentId: id, runName: 'upload' });
let prev = null;
for (let i = 0; i < Number(n); i++) {
  const t0 = performance.now();
  const snap = snapshotCheckpoint(runDir, checkpoint, 1);
  const t1 = performance.now();
  prev = await uploadCheckpoint(client, run.artifactUri, snap, prev);
  const t2 = performance.now();
  console.log(`${(snap.bytes / 2 ** 20).toFixed(1)} MiB: read ${((t1 - t0) / 1000).toFixed(2)} s, upload ${((t2 - t1) / 1000).toFixed(2)} s`);
}
