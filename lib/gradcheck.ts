// Numeric gradients by centred differences, for checking analytic backward passes.
// Use float64 tensors: in float32 the differences drown in rounding.
import { Rng } from './random';
import { FloatArray, Tensor } from './tensor';
import { checkNumber, checkTensor } from './validate';

/**
 * d(sum(f(x) * dout)) / dx, one element of x at a time: (f(x + h) - f(x - h)) . dout / 2h.
 * f is called with x perturbed in place (x is restored afterwards). dout defaults to ones.
 */
export function computeNumericGradient(f: (x: Tensor) => Tensor, x: Tensor, dout?: Tensor, h = 1e-7): Tensor {
  checkTensor('x', x);
  checkNumber('h', h, (v) => v > 0, 'a positive finite number');
  const grad = Tensor.zeros(x.shape, x.dtype);
  for (let i = 0; i < x.size; i++) {
    const old = x.data[i];
    x.data[i] = old + h;
    const plus = f(x).data.slice();
    x.data[i] = old - h;
    const minus = f(x).data;
    x.data[i] = old;
    if (dout && dout.size !== plus.length) {
      throw new RangeError(`dout must have ${plus.length} elements like f(x), got ${dout.size}`);
    }
    let s = 0;
    for (let j = 0; j < plus.length; j++) s += (plus[j] - minus[j]) * (dout ? dout.data[j] : 1);
    grad.data[i] = s / (2 * h);
  }
  return grad;
}

export interface SparseCheck {
  index: number;
  numeric: number;
  analytic: number;
  relError: number;
}

/**
 * Compares analyticGrad with centred differences of the scalar f at numChecks random elements.
 * Returns each comparison; the largest relError is what to assert on.
 */
export function gradCheckSparse(f: (x: Tensor) => number, x: Tensor, analyticGrad: Tensor, numChecks = 10, h = 1e-7, seed = 0): SparseCheck[] {
  checkTensor('x', x);
  checkTensor('analyticGrad', analyticGrad);
  if (analyticGrad.size !== x.size) throw new RangeError(`analyticGrad must have ${x.size} elements like x, got ${analyticGrad.size}`);
  const rng = new Rng(seed);
  const out: SparseCheck[] = [];
  for (let k = 0; k < numChecks; k++) {
    const index = rng.int(x.size);
    const old = x.data[index];
    x.data[index] = old + h;
    const plus = f(x);
    x.data[index] = old - h;
    const minus = f(x);
    x.data[index] = old;
    const numeric = (plus - minus) / (2 * h);
    const analytic = analyticGrad.data[index];
    const relError = Math.abs(numeric - analytic) / Math.max(Math.abs(numeric) + Math.abs(analytic), 1e-10);
    out.push({ index, numeric, analytic, relError });
  }
  return out;
}

/** max |a - b| / max(|a| + |b|, eps), as in the seed's rel_error. */
export function relError(a: Tensor | FloatArray | number[], b: Tensor | FloatArray | number[], eps = 1e-10): number {
  const x = a instanceof Tensor ? a.data : a;
  const y = b instanceof Tensor ? b.data : b;
  if (x.length !== y.length) throw new RangeError(`relError needs inputs of equal size, got ${x.length} and ${y.length}`);
  let top = 0;
  let bot = eps;
  for (let i = 0; i < x.length; i++) {
    top = Math.max(top, Math.abs(x[i] - y[i]));
    bot = Math.max(bot, Math.abs(x[i]) + Math.abs(y[i]));
  }
  return top / bot;
}
