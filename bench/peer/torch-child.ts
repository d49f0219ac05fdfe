// The PyTorch side of the peer scripts as a child process (bench/peer/torch_peer.py): JSON
// commands in, JSON answers out, one line each.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Experiment } from '../../src/config/types.js';
import type { Dataset } from '../../src/data/index.js';
import { KNOWN_DATASETS } from '../../src/data/known.js';
import type { PixelCNN } from '../../src/model/pixelcnn.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

/** Debian's Python, which has PyTorch here (the python3 on PATH may not); PXL_PEER_PYTHON overrides. */
export function defaultPython(): string {
  return process.env.PXL_PEER_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
}

/** The PyTorch child: JSON commands in, JSON answers out, one line each. */
export class Torch {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterableIterator<string>;

  constructor(python: string, threads: number) {
    this.child = spawn(python, [join(HERE, 'torch_peer.py'), String(threads)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => process.stderr.write(`[torch] ${d}`));
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  async ask<T>(command: Record<string, unknown>): Promise<T> {
    this.child.stdin.write(`${JSON.stringify(command)}\n`);
    const { value, done } = await this.lines.next();
    if (done) throw new Error(`the PyTorch process ended (exit code ${this.child.exitCode}) before answering ${command.cmd}`);
    const answer = JSON.parse(value) as T & { error?: string };
    if (answer.error) throw new Error(`PyTorch: ${answer.error}`);
    return answer;
  }

  close(): void {
    this.child.stdin.end();
  }
}


/** The build command for torch_peer.py: pxl's experiment as PyTorch's model and optimiser. */
export function torchSpec(e: Experiment, data: Dataset) {
  const m = e.model;
  if (m.blocks.mask !== 'B' || m.input.mask !== 'A' || m.head.mask !== 'B') throw new Error('torch_peer.py implements mask A input, mask B blocks and head');
  if (m.blocks.type === 'gated' && m.blocks.count === 0) throw new Error('torch_peer.py builds gated models with at least one block');
  const o = e.train.optimizer;
  if (o.name !== 'adam') throw new Error('the peer benchmark compares Adam');
  return {
    cmd: 'build', blocks: m.blocks.count, hidden: m.hidden, kernel: m.blocks.kernel_size, input_kernel: m.input.kernel_size,
    head_convs: m.head.convs, levels: m.color_levels, batch_norm: m.batch_norm, lr: o.learning_rate, betas: [o.beta1, o.beta2],
    block_type: m.blocks.type, dilations: m.blocks.dilations, skip: m.blocks.skip_connections,
    eps: o.epsilon, seed: e.seed, images: join(KNOWN_DATASETS.mnist.defaultDir(), 'train-images-idx3-ubyte'), count: data.train.count,
  };
}

/** Gives PyTorch's model pxl's initial weights, so that both start from the same point and their losses compare. */
export async function shareWeights(model: PixelCNN, torch: Torch): Promise<void> {
  const vars = model.trainable();
  const data = new Float32Array(vars.reduce((n, v) => n + v.size, 0));
  const tensors: { name: string; shape: number[]; offset: number }[] = [];
  let offset = 0;
  for (const v of vars) {
    data.set(v.dataSync() as Float32Array, offset);
    tensors.push({ name: v.name.slice(v.name.indexOf('/') + 1), shape: v.shape, offset });
    offset += v.size;
  }
  const file = join(mkdtempSync(join(tmpdir(), 'pxl-peer-')), 'weights.f32');
  writeFileSync(file, new Uint8Array(data.buffer));
  await torch.ask({ cmd: 'load', file, tensors });
}
