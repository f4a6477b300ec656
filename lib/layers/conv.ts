// Convolution layer: x (N, C, H, W), w (F, C, HH, WW), b (F) -> out (N, F, Ho, Wo).
import { native } from '../binding';
import { Tensor } from '../tensor';
import { checkInt, checkOptions, checkSameDtype, checkShape, checkTensor, shapeStr } from '../validate';
import { Prepared, runAsync, runSync } from '../engine/op';
import { output } from '../engine/arena';

export interface ConvParam {
  /** Step between windows, >= 1 (default 1). */
  stride?: number;
  /** Zero padding on every side, >= 0 (default 0). */
  pad?: number;
}

/** Largest im2col panel of one image (elements), as the native side enforces. */
export const MAX_WORKSPACE = 2 ** 28;

export interface ConvCache {
  x: Tensor;
  w: Tensor;
  b: Tensor;
  stride: number;
  pad: number;
  naive: boolean;
}

/** Output size along one axis, or a RangeError that shows the arithmetic. */
export function convOutputSize(axis: 'height' | 'width', size: number, k: number, stride: number, pad: number): number {
  const span = size + 2 * pad - k;
  const o = 1 + span / stride;
  if (span < 0 || !Number.isInteger(o)) {
    throw new RangeError(
      `convolution output ${axis} must be a positive whole number: 1 + (${size} + 2*${pad} - ${k}) / ${stride} = ${o}` +
        ` (check convParam.stride, convParam.pad and the filter size)`,
    );
  }
  return o;
}

function prepareForward(x: Tensor, w: Tensor, b: Tensor, convParam: ConvParam | undefined, naive: boolean): Prepared<{ out: Tensor; cache: ConvCache }> {
  checkTensor('x', x, 4, '(N, C, H, W)');
  checkTensor('w', w, 4, '(F, C, HH, WW)');
  const [N, C, H, W] = x.shape;
  const [F, Cw, HH, WW] = w.shape;
  if (Cw !== C) throw new RangeError(`w must have shape [F, ${C}, HH, WW] (its channels must match x's ${C}), got ${shapeStr(w.shape)}`);
  checkShape('b', b, [F], `one bias per filter of w`);
  checkSameDtype({ x, w, b });
  if (naive && x.device !== 'cpu') throw new TypeError(`the naive convolution runs on the cpu only, got x on ${x.device}`);
  const p = checkOptions('convParam', convParam);
  const stride = checkInt('convParam.stride', p.stride ?? 1, 1);
  const pad = checkInt('convParam.pad', p.pad ?? 0, 0);
  const Ho = convOutputSize('height', H, HH, stride, pad);
  const Wo = convOutputSize('width', W, WW, stride, pad);
  const workspace = C * HH * WW * Ho * Wo;
  if (workspace > MAX_WORKSPACE) {
    throw new RangeError(
      `x ${shapeStr(x.shape)} with w ${shapeStr(w.shape)} needs an im2col workspace of C*HH*WW*Ho*Wo = ${workspace} elements per image, more than the ${MAX_WORKSPACE} supported: use a smaller input, kernel or padding`,
    );
  }
  const out = output(x, [N, F, Ho, Wo]);
  return {
    result: { out, cache: { x, w, b, stride, pad, naive } },
    call: (async) => native.convForward(N, C, H, W, F, HH, WW, stride, pad, naive, out.buffer, x.buffer, w.buffer, b.buffer, async),
  };
}

/** With needDx false (a network's first layer), dx comes back empty: shape [0]. */
function prepareBackward(dout: Tensor, cache: ConvCache, needDx = true): Prepared<{ dx: Tensor; dw: Tensor; db: Tensor }> {
  const { x, w, b, stride, pad, naive } = cache;
  const [N, C, H, W] = x.shape;
  const [F, , HH, WW] = w.shape;
  const Ho = convOutputSize('height', H, HH, stride, pad);
  const Wo = convOutputSize('width', W, WW, stride, pad);
  checkShape('dout', dout, [N, F, Ho, Wo], 'the shape of the forward output');
  checkSameDtype({ x, dout });
  const dx = needDx ? output(x) : output(x, [0]);
  const dw = output(w);
  const db = output(b);
  return {
    result: { dx, dw, db },
    call: (async) => native.convBackward(N, C, H, W, F, HH, WW, stride, pad, naive, needDx, dx.buffer, dw.buffer, db.buffer, dout.buffer, x.buffer, w.buffer, async),
  };
}

export const Conv = {
  /** The forward and backward as prepared native calls, for drivers that choose sync or async (see engine/op.ts). */
  prepareForward: (x: Tensor, w: Tensor, b: Tensor, convParam?: ConvParam) => prepareForward(x, w, b, convParam, false),
  prepareBackward,
  /** im2col + GEMM convolution. */
  forward(x: Tensor, w: Tensor, b: Tensor, convParam?: ConvParam): { out: Tensor; cache: ConvCache } {
    return runSync(prepareForward(x, w, b, convParam, false));
  },
  backward(dout: Tensor, cache: ConvCache): { dx: Tensor; dw: Tensor; db: Tensor } {
    return runSync(prepareBackward(dout, cache));
  },
  /** The direct seven-loop convolution, kept as the reference. */
  forwardNaive(x: Tensor, w: Tensor, b: Tensor, convParam?: ConvParam): { out: Tensor; cache: ConvCache } {
    return runSync(prepareForward(x, w, b, convParam, true));
  },
  /** Backward of forwardNaive's cache runs the direct loops too. */
  backwardNaive(dout: Tensor, cache: ConvCache): { dx: Tensor; dw: Tensor; db: Tensor } {
    return runSync(prepareBackward(dout, { ...cache, naive: true }));
  },
  async forwardAsync(x: Tensor, w: Tensor, b: Tensor, convParam?: ConvParam): Promise<{ out: Tensor; cache: ConvCache }> {
    return runAsync(prepareForward(x, w, b, convParam, false));
  },
  async backwardAsync(dout: Tensor, cache: ConvCache): Promise<{ dx: Tensor; dw: Tensor; db: Tensor }> {
    return runAsync(prepareBackward(dout, cache));
  },
};
