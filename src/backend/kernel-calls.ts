// Calls a backend's own registered kernels from inside another kernel, on raw
// TensorInfos. Going through the registry rather than tf ops keeps the engine
// (tape, scopes, tensor counts) out of it: every intermediate is ours to free.
import * as tf from '@tensorflow/tfjs';

export type Info = tf.TensorInfo;
export type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

/** The kernels of one backend, bound to its instance for the duration of a kernel call. */
export class KernelCalls {
  constructor(
    private readonly backendName: string,
    private readonly backend: tf.KernelBackend,
  ) {}

  call(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): Info {
    const config = tf.getKernel(kernelName, this.backendName);
    if (config == null) throw new Error(`pxl: kernel ${kernelName} is not registered for backend '${this.backendName}'`);
    const out = config.kernelFunc({ inputs, attrs, backend: this.backend });
    if (Array.isArray(out)) throw new Error(`pxl: kernel ${kernelName} returned several outputs`);
    return out;
  }

  free(...infos: Info[]): void {
    for (const info of infos) this.backend.disposeData(info.dataId);
  }

  transpose(x: Info, perm: number[]): Info {
    return this.call('Transpose', { x }, { perm });
  }

  reshape(x: Info, shape: number[]): Info {
    return this.call('Reshape', { x }, { shape });
  }

  reverse(x: Info, dims: number[]): Info {
    return this.call('Reverse', { x }, { dims });
  }

  pad(x: Info, paddings: number[][]): Info {
    return this.call('PadV2', { x }, { paddings, constantValue: 0 });
  }

  /** Stride 1, dilation 1, NHWC. */
  conv2d(x: Info, filter: Info, pad: 'valid' | ExplicitPad): Info {
    return this.call('Conv2D', { x, filter }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1] });
  }

  matMul(a: Info, b: Info, transposeA: boolean, transposeB: boolean): Info {
    return this.call('BatchMatMul', { a, b }, { transposeA, transposeB });
  }
}
