// Linear (affine) layer: x of any rank >= 2 flattened to (N, D), w (D, M), b (M) -> out (N, M).
import { native } from '../binding';
import { Tensor, sizeOf } from '../tensor';
import { checkSameDtype, checkShape, checkTensor, shapeStr } from '../validate';
import { Prepared, runAsync, runSync } from '../engine/op';
import { output } from '../engine/arena';

export interface LinearCache {
  x: Tensor;
  w: Tensor;
  b: Tensor;
}

function dims(x: Tensor, w: Tensor): { N: number; D: number; M: number } {
  checkTensor('x', x);
  if (x.shape.length < 2) throw new RangeError(`x must have rank >= 2 (N, d1, ..., dk), got shape ${shapeStr(x.shape)}`);
  checkTensor('w', w, 2, '(D, M)');
  const N = x.shape[0];
  const D = sizeOf(x.shape.slice(1));
  if (w.shape[0] !== D) {
    throw new RangeError(`w must have shape [${D}, M] (D = ${x.shape.slice(1).join('*')} from x ${shapeStr(x.shape)}), got ${shapeStr(w.shape)}`);
  }
  return { N, D, M: w.shape[1] };
}

function prepareForward(x: Tensor, w: Tensor, b: Tensor): Prepared<{ out: Tensor; cache: LinearCache }> {
  const { N, D, M } = dims(x, w);
  checkShape('b', b, [M], 'one bias per column of w');
  checkSameDtype({ x, w, b });
  const out = output(x, [N, M]);
  return { result: { out, cache: { x, w, b } }, call: (async) => native.linearForward(N, D, M, out.buffer, x.buffer, w.buffer, b.buffer, async) };
}

function prepareBackward(dout: Tensor, cache: LinearCache): Prepared<{ dx: Tensor; dw: Tensor; db: Tensor }> {
  const { x, w, b } = cache;
  const { N, D, M } = dims(x, w);
  checkShape('dout', dout, [N, M], 'the shape of the forward output');
  checkSameDtype({ x, dout });
  const dx = output(x);
  const dw = output(w);
  const db = output(b);
  return {
    result: { dx, dw, db },
    call: (async) => native.linearBackward(N, D, M, dx.buffer, dw.buffer, db.buffer, dout.buffer, x.buffer, w.buffer, async),
  };
}

export const Linear = {
  prepareForward,
  prepareBackward,
  forward(x: Tensor, w: Tensor, b: Tensor): { out: Tensor; cache: LinearCache } {
    return runSync(prepareForward(x, w, b));
  },
  /** dx comes back in x's original shape. */
  backward(dout: Tensor, cache: LinearCache): { dx: Tensor; dw: Tensor; db: Tensor } {
    return runSync(prepareBackward(dout, cache));
  },
  async forwardAsync(x: Tensor, w: Tensor, b: Tensor): Promise<{ out: Tensor; cache: LinearCache }> {
    return runAsync(prepareForward(x, w, b));
  },
  async backwardAsync(dout: Tensor, cache: LinearCache): Promise<{ dx: Tensor; dw: Tensor; db: Tensor }> {
    return runAsync(prepareBackward(dout, cache));
  },
};
