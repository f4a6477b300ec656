// Gradient-check utilities: computeNumericGradient, gradCheckSparse and relError must tell a
// correct gradient from a wrong one.
// Tolerances: relErrors below 1e-7 for correct gradients (float64, h = 1e-6 .. 1e-7); above 1e-2
// for deliberately wrong gradients.
import { computeNumericGradient, gradCheckSparse, relError } from '../lib/gradcheck';
import { Linear, softmaxLoss } from '../lib/layers';
import { Tensor } from '../lib/tensor';
import { randn64 } from './helpers';

// f(x) = sum(x^3) / 3 + sum(sin x): gradient x^2 + cos x.
const f = (x: Tensor): number => {
  let s = 0;
  for (let i = 0; i < x.size; i++) s += x.data[i] ** 3 / 3 + Math.sin(x.data[i]);
  return s;
};
const grad = (x: Tensor): Tensor => {
  const g = Tensor.zeros(x.shape, 'float64');
  for (let i = 0; i < x.size; i++) g.data[i] = x.data[i] ** 2 + Math.cos(x.data[i]);
  return g;
};

describe('gradCheckSparse', () => {
  test('small relErrors for a correct gradient', () => {
    const x = randn64([5, 6], 1);
    const checks = gradCheckSparse(f, x, grad(x), 15, 1e-6, 3);
    expect(checks).toHaveLength(15);
    for (const c of checks) {
      expect(c.index).toBeGreaterThanOrEqual(0);
      expect(c.index).toBeLessThan(x.size);
      expect(c.analytic).toBe(grad(x).data[c.index]);
      expect(c.relError).toBeLessThan(1e-7);
    }
  });

  test('large relErrors for a wrong gradient (missing cos term; one wrong element; sign flip)', () => {
    const x = randn64([5, 6], 2);
    // Missing cos term: every checked element is off.
    const wrong = Tensor.zeros(x.shape, 'float64');
    for (let i = 0; i < x.size; i++) wrong.data[i] = x.data[i] ** 2;
    for (const c of gradCheckSparse(f, x, wrong, 10, 1e-6, 4)) expect(c.relError).toBeGreaterThan(1e-2);
    // Sign flipped: relError 1 everywhere.
    const flipped = grad(x);
    for (let i = 0; i < x.size; i++) flipped.data[i] = -flipped.data[i];
    for (const c of gradCheckSparse(f, x, flipped, 10, 1e-6, 5)) expect(c.relError).toBeGreaterThan(0.99);
    // A single wrong element is found when it is checked.
    const one = grad(x);
    const checks = gradCheckSparse(f, x, one, 30, 1e-6, 6);
    const target = checks[0].index;
    one.data[target] += 0.5;
    const again = gradCheckSparse(f, x, one, 30, 1e-6, 6);
    expect(Math.max(...again.map((c) => c.relError))).toBeGreaterThan(1e-2);
    for (const c of again) if (c.index !== target) expect(c.relError).toBeLessThan(1e-7);
  });

  test('restores x after every perturbation and is reproducible for a seed', () => {
    const x = randn64([4, 4], 7);
    const before = Array.from(x.data);
    const a = gradCheckSparse(f, x, grad(x), 8, 1e-6, 11);
    const b = gradCheckSparse(f, x, grad(x), 8, 1e-6, 11);
    expect(Array.from(x.data)).toEqual(before);
    expect(b.map((c) => c.index)).toEqual(a.map((c) => c.index));
  });

  test('checks a native gradient: softmax loss dx (correct) against a corrupted copy', () => {
    const scores = randn64([6, 5], 8);
    const y = [0, 1, 2, 3, 4, 0];
    const { dx } = softmaxLoss(scores, y);
    const loss = (s: Tensor) => softmaxLoss(s, y).loss;
    expect(Math.max(...gradCheckSparse(loss, scores, dx, 12, 1e-6, 1).map((c) => c.relError))).toBeLessThan(1e-7);
    const bad = dx.clone();
    for (let i = 0; i < bad.size; i++) bad.data[i] *= 2;
    expect(Math.min(...gradCheckSparse(loss, scores, bad, 12, 1e-6, 1).map((c) => c.relError))).toBeGreaterThan(0.3);
  });

  test('rejects an analyticGrad of the wrong size', () => {
    const x = randn64([3], 9);
    expect(() => gradCheckSparse(f, x, randn64([4], 9))).toThrow(RangeError);
    expect(() => gradCheckSparse(f, x, randn64([4], 9))).toThrow(/analyticGrad must have 3 elements like x, got 4/);
  });
});

describe('computeNumericGradient', () => {
  test('matches an analytic gradient with dout weights, and restores x', () => {
    const x = randn64([3, 4], 10);
    const dout = randn64([3, 4], 11);
    const before = Array.from(x.data);
    // Elementwise g(x) = x^3 / 3 + sin x: d sum(g(x) * dout) / dx = (x^2 + cos x) * dout.
    const g = (v: Tensor) => {
      const o = Tensor.zeros(v.shape, 'float64');
      for (let i = 0; i < v.size; i++) o.data[i] = v.data[i] ** 3 / 3 + Math.sin(v.data[i]);
      return o;
    };
    const num = computeNumericGradient(g, x, dout, 1e-6);
    const expected = grad(x);
    for (let i = 0; i < x.size; i++) expected.data[i] *= dout.data[i];
    expect(relError(num, expected)).toBeLessThan(1e-8);
    expect(Array.from(x.data)).toEqual(before);
  });

  test('without dout it differentiates the sum of the outputs', () => {
    const x = randn64([4, 3], 12);
    const w = randn64([3, 2], 13);
    const b = randn64([2], 14);
    const num = computeNumericGradient((v) => Linear.forward(x, v, b).out, w);
    // d sum(x w + b) / dw[d, m] = sum_n x[n, d].
    const expected = Tensor.zeros([3, 2], 'float64');
    for (let n = 0; n < 4; n++) for (let d = 0; d < 3; d++) for (let m = 0; m < 2; m++) expected.data[d * 2 + m] += x.data[n * 3 + d];
    expect(relError(num, expected)).toBeLessThan(1e-7);
  });

  test('rejects a dout of the wrong size and a non-positive h', () => {
    const x = randn64([3], 15);
    expect(() => computeNumericGradient((v) => v.clone(), x, randn64([4], 1))).toThrow(/dout must have 3 elements like f\(x\), got 4/);
    expect(() => computeNumericGradient((v) => v.clone(), x, undefined, 0)).toThrow(RangeError);
    expect(() => computeNumericGradient((v) => v.clone(), x, undefined, 0)).toThrow(/h must be a positive finite number, got 0/);
    expect(() => computeNumericGradient((v) => v.clone(), x, undefined, NaN)).toThrow(/h must be a positive finite number, got NaN/);
  });
});

describe('relError', () => {
  test('is max |a - b| / max(|a| + |b|) and accepts tensors, typed arrays and number[]', () => {
    expect(relError([1, 2, 3], [1, 2, 3])).toBe(0);
    expect(relError([1, 2], [1, 3])).toBeCloseTo(1 / 5, 15);
    expect(relError(Float64Array.from([0, 10]), Tensor.from([1, 10], { dtype: 'float64' }))).toBeCloseTo(1 / 20, 15);
    expect(relError([1], [-1])).toBe(1);
    expect(relError([0, 0], [0, 0])).toBe(0);
    expect(relError([NaN], [1])).toBeNaN();
  });

  test('rejects inputs of different sizes', () => {
    expect(() => relError([1, 2], [1])).toThrow(RangeError);
    expect(() => relError([1, 2], [1])).toThrow(/relError needs inputs of equal size, got 2 and 1/);
  });
});
