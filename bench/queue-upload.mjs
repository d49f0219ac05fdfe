// node bench/queue-upload.mjs MLFLOW_URI RUN_DIR CHECKPOINT_DIR N (after npm run build): the per-checkpoint upload of a queue worker, measured.
// Uploads a run's checkpoint as a queue worker does (snapshot, two slots, pointer), N times, and prints the seconds.
// The snapshot holds the run's best checkpoint too (checkpoints/best); once both slots hold it, an
// unchanged one is not sent again, as in the worker: the first two uploads send it, the rest do not.
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
  const bestThere = !!snap.best && i >= 2;
  prev = await uploadCheckpoint(client, run.artifactUri, snap, prev, () => false, bestThere);
  const t2 = performance.now();
  const sent = snap.bytes - (bestThere ? snap.best.files.reduce((n, [, b]) => n + b.length, 0) : 0);
  const what = !snap.best ? 'no best checkpoint' : bestThere ? 'best unchanged, not sent' : 'with the best checkpoint';
  console.log(`${(sent / 2 ** 20).toFixed(1)} MiB (${what}): read ${((t1 - t0) / 1000).toFixed(2)} s, upload ${((t2 - t1) / 1000).toFixed(2)} s`);
}
