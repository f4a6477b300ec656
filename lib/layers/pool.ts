// Max pooling: x (N, C, H, W) -> out (N, C, Ho, Wo), Ho = 1 + floor((H - poolHeight) / stride).
import { CudaBuffer, native } from '../binding';
import { Tensor } from '../tensor';
import { checkInt, checkOptions, checkSameDtype, checkShape, checkTensor } from '../validate';
import { Prepared, runAsync, runSync } from '../engine/op';
import { output, outputInt32 } from '../engine/arena';

export interface PoolParam {
  poolHeight?: number;
  poolWidth?: number;
  stride?: number;
}

export interface PoolCache {
  x: Tensor;
  /** Flat in-plane index (h * W + w) of each window's maximum (device memory for a cuda x). */
  argmax: Int32Array | CudaBuffer;
  poolHeight: number;
  poolWidth: number;
  stride: number;
}

function poolDims(x: Tensor, poolParam: PoolParam | undefined) {
  checkTensor('x', x, 4, '(N, C, H, W)');
  const p = checkOptions('poolParam', poolParam);
  const poolHeight = checkInt('poolParam.poolHeight', p.poolHeight ?? 2, 1);
  const poolWidth = checkInt('poolParam.poolWidth', p.poolWidth ?? 2, 1);
  const stride = checkInt('poolParam.stride', p.stride ?? 2, 1);
  const [, , H, W] = x.shape;
  if (poolHeight > H) throw new RangeError(`poolParam.poolHeight must be at most the input height ${H}, got ${poolHeight}`);
  if (poolWidth > W) throw new RangeError(`poolParam.poolWidth must be at most the input width ${W}, got ${poolWidth}`);
  return { poolHeight, poolWidth, stride, Ho: 1 + Math.floor((H - poolHeight) / stride), Wo: 1 + Math.floor((W - poolWidth) / stride) };
}

function prepareForward(x: Tensor, poolParam: PoolParam | undefined): Prepared<{ out: Tensor; cache: PoolCache }> {
  const { poolHeight, poolWidth, stride, Ho, Wo } = poolDims(x, poolParam);
  const [N, C, H, W] = x.shape;
  const out = output(x, [N, C, Ho, Wo]);
  const argmax = outputInt32(out.size, x.device);
  return {
    result: { out, cache: { x, argmax, poolHeight, poolWidth, stride } },
    call: (async) => native.maxpoolForward(N, C, H, W, poolHeight, poolWidth, stride, out.buffer, argmax, x.buffer, async),
  };
}

function prepareBackward(dout: Tensor, cache: PoolCache): Prepared<Tensor> {
  const { x, argmax } = cache;
  const { poolHeight, poolWidth, stride, Ho, Wo } = poolDims(x, cache);
  const [N, C, H, W] = x.shape;
  checkShape('dout', dout, [N, C, Ho, Wo], 'the shape of the forward output');
  checkSameDtype({ x, dout });
  const dx = output(x);
  return {
    result: dx,
    call: (async) => native.maxpoolBackward(N, C, H, W, poolHeight, poolWidth, stride, dx.buffer, dout.buffer, argmax, async),
  };
}

export const MaxPool = {
  prepareForward,
  prepareBackward,
  forward(x: Tensor, poolParam?: PoolParam): { out: Tensor; cache: PoolCache } {
    return runSync(prepareForward(x, poolParam));
  },
  backward(dout: Tensor, cache: PoolCache): Tensor {
    return runSync(prepareBackward(dout, cache));
  },
  async forwardAsync(x: Tensor, poolParam?: PoolParam): Promise<{ out: Tensor; cache: PoolCache }> {
    return runAsync(prepareForward(x, poolParam));
  },
  async backwardAsync(dout: Tensor, cache: PoolCache): Promise<Tensor> {
    return runAsync(prepareBackward(dout, cache));
  },
};
