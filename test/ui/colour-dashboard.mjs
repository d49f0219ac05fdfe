// The dashboard of a run on colour images, fed a start and a sample event, for the tmux test
// (test/ui/colour-dashboard.test.ts) until a colour model trains: four 6x8 images, each with
// its top 3 rows one colour and the bottom 3 another, so the second row of cells has one colour
// in each half. q closes it.
import { createDashboard } from '../../dist/ui/dashboard/index.js';

const [height, width, count] = [6, 8, 4];
const TOP = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]];
const BOTTOM = [[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]];
const pixels = new Float32Array(count * height * width * 3);
for (let n = 0; n < count; n++)
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) pixels.set(y < 3 ? TOP[n] : BOTTOM[n], ((n * height + y) * width + x) * 3);

const dashboard = createDashboard({
  stdout: process.stdout,
  onStopKey: () => void dashboard.close().then(() => process.exit(0)),
});
const time = Date.now();
dashboard.listener({
  type: 'start', time, runId: 'colour-test', runDir: '/tmp/colour-test', experiment: 'colour', description: '', config: {}, params: 1,
  backend: 'wasm', backendNote: '', device: 'CPU', dataset: { name: 'colored-mnist', train: 4, test: 4, height, width, channels: 3 },
  totalSteps: 10, stepsPerEpoch: 10, resumedFromStep: 0,
});
dashboard.listener({ type: 'sample', time, step: 1, path: '/tmp/colour-test/samples/step-1.png', method: 'cached', count, columns: 4, height, width, pixels, seconds: 1 });
setInterval(() => {}, 1000); // stays until q
