// The three model sizes the peer benchmark compares, as experiment files plus overrides.
export interface PeerConfig {
  key: 'small' | 'medium' | 'seed';
  label: string;
  file: string;
  sets: string[];
}

export const PEER_CONFIGS: PeerConfig[] = [
  { key: 'small', label: 'small (4 blocks, h=16)', file: 'experiments/mnist-15block.yaml', sets: ['model.blocks.count=4', 'model.hidden=16'] },
  { key: 'medium', label: 'medium (5 blocks, h=32)', file: 'experiments/mnist-15block.yaml', sets: ['model.blocks.count=5', 'model.hidden=32'] },
  { key: 'seed', label: 'seed (15 blocks, h=128)', file: 'experiments/mnist-15block.yaml', sets: [] },
];
