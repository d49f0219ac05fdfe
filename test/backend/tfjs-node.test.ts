// The native TensorFlow backend (@tensorflow/tfjs-node, set up by
// `npm run setup:native`) against the pure-JS cpu backend: forward values and
// gradients of the ops a PixelCNN training step uses, to 1e-4.
//
// tfjs-node is optional. When it does not load these tests FAIL, saying why,
// unless PXL_NATIVE=0 is set outside CI, which skips them (test/helpers/native.ts).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { pxl, ROOT } from '../helpers/cli.js';
import { OP_CASES, TOL, compare } from './native-cases.js';
import { nativeMissingAdvice, skipNative } from '../helpers/native.js';

const SKIP = skipNative();

interface TfjsNode {
  engine: () => unknown;
  version: Record<string, string>;
}

let tfn: TfjsNode | null = null;
let loadError = '';

beforeAll(async () => {
  if (SKIP) return;
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2'; // TensorFlow's oneDNN / CPU-feature notices
  const name = '@tensorflow/tfjs-node'; // not a literal: the package may be absent
  try {
    tfn = (await import(/* @vite-ignore */ name)) as TfjsNode;
  } catch (err) {
    loadError = String((err as Error)?.message ?? err).split('\n')[0] ?? 'unknown error';
  }
  tf.env().set('PROD', true); // no "install tfjs-node" advice from the cpu backend
});

describe.skipIf(SKIP)('tfjs-node (native TensorFlow) against the cpu backend', () => {
  it('loads and registers backend "tensorflow" on the same engine as @tensorflow/tfjs', async () => {
    if (!tfn) {
      expect.fail(
        `@tensorflow/tfjs-node does not load: ${loadError}\n` +
          nativeMissingAdvice(),
      );
    }
    expect(tfn.engine()).toBe(tf.engine());
    expect(tf.findBackend('tensorflow')).toBeTruthy();
    expect(await tf.setBackend('tensorflow')).toBe(true);
    const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
    expect(binding?.TF_Version).toMatch(/^2\./);
  });

  describe('with tfjs-node loaded', () => {
    beforeAll(() => {
      if (!tfn) expect.fail(`@tensorflow/tfjs-node does not load: ${loadError} (${nativeMissingAdvice()})`);
    });

    it.each(OP_CASES)('$title', async ({ names, f }) => {
      expect(await compare(names, f)).toBeLessThanOrEqual(TOL);
    });
  });

  it('`pxl setup native --check` verifies the setup and says what it checked', () => {
    const r = pxl(['setup', 'native', '--check'], { cwd: ROOT });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/tfjs-node 4\.22\.0 on TensorFlow 2\.\d+\.\d+: backend 'tensorflow' loads/);
    expect(r.stdout).toMatch(/conv2d forward and gradients match cpu \(max rel\. diff [\d.e-]+\)/);
  });
});
