// The models the peer benchmark compares, as experiment files plus overrides: three residual
// sizes and the gated model of experiments/mnist-gated.yaml.
import { loadExperiment } from '../../src/config/load.js';
import { EpochOrder, loadDataset } from '../../src/data/index.js';
import { PixelCNN } from '../../src/model/pixelcnn.js';
import { makeOptimizer } from '../../src/train/optimizer.js';
import { trainStep } from '../../src/train/trainer.js';

export interface PeerConfig {
  key: 'small' | 'medium' | 'seed' | 'gated';
  label: string;
  file: string;
  sets: string[];
}

export const PEER_CONFIGS: PeerConfig[] = [
  { key: 'small', label: 'small (4 blocks, h=16)', file: 'experiments/mnist-15block.yaml', sets: ['model.blocks.count=4', 'model.hidden=16'] },
  { key: 'medium', label: 'medium (5 blocks, h=32)', file: 'experiments/mnist-15block.yaml', sets: ['model.blocks.count=5', 'model.hidden=32'] },
  { key: 'seed', label: 'seed (15 blocks, h=128)', file: 'experiments/mnist-15block.yaml', sets: [] },
  { key: 'gated', label: 'gated (7 dilated gated blocks, h=64)', file: 'experiments/mnist-gated.yaml', sets: [] },
];

/** One model of a peer config on real MNIST batches, stepped one Adam step at a time. */
export async function peerTraining(key: string, batch: number) {
  const spec = PEER_CONFIGS.find((c) => c.key === key);
  if (!spec) throw new Error(`unknown config ${key}: expected ${PEER_CONFIGS.map((c) => c.key).join(', ')}`);
  const { experiment: e } = loadExperiment(spec.file, [...spec.sets, `train.batch_size=${batch}`]);
  const data = await loadDataset({ name: 'mnist' });
  const model = new PixelCNN(e.model, { height: 28, width: 28, channels: 1 }, 0);
  const optimizer = makeOptimizer(e.train.optimizer);
  const order = new EpochOrder(0, data.train.count, batch);
  /** Step `s` of the data order; returns the loss once it is computed. */
  const step = (s: number): number => {
    const loss = trainStep(model, optimizer, data.train, order.forStep(s), e.model.color_levels);
    const value = loss.dataSync()[0];
    loss.dispose();
    return value;
  };
  return { spec, model, step };
}
