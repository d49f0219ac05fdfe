// Small model settings for tests: the reference layout (7x7 mask-A input, 3x3 mask-B residual
// blocks, two 1x1 head convs, batch norm), narrow and shallow unless a test says otherwise.
import type { ModelConfig } from '../../src/config/types.js';

type Overrides = Partial<Omit<ModelConfig, 'input' | 'blocks' | 'head' | 'conditioning' | 'output'>> & {
  /** The number of classes of a class-conditional model; unconditional when absent. */
  classes?: number;
  input?: Partial<ModelConfig['input']>;
  blocks?: Partial<ModelConfig['blocks']>;
  head?: Partial<ModelConfig['head']>;
  /** A logistic mixture of this many components; the softmax when absent. */
  mixture?: number;
};

/** A small gated model: 7x7-wide input stacks, 3-wide gated blocks, no skips, unless overridden. */
export function smallGatedModel(o: Overrides = {}): ModelConfig {
  return smallModel({ ...o, blocks: { type: 'gated', count: 3, ...o.blocks } });
}

export function smallModel(o: Overrides = {}): ModelConfig {
  return {
    color_levels: o.color_levels ?? 16,
    hidden: o.hidden ?? 4,
    batch_norm: o.batch_norm ?? true,
    dropout: o.dropout ?? 0,
    input: { kernel_size: 7, mask: 'A', ...o.input },
    blocks: { type: 'residual', count: 2, kernel_size: 3, mask: 'B', dilations: null, skip_connections: false, ...o.blocks },
    conditioning: o.classes ? { type: 'class', classes: o.classes } : { type: 'none', classes: null },
    head: { convs: 2, mask: 'B', ...o.head },
    output: o.mixture ? { type: 'logistic_mixture', components: o.mixture } : { type: 'softmax', components: null },
  };
}
