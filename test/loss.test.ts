// Softmax and SVM losses on scores (N, C): the mean loss against the TypeScript reference, dx
// against numeric gradients, label types.
// Tolerances: loss vs reference 1e-12 (relative); all-equal softmax = log(C) to 1e-12;
// softmax dx vs analytic reference 1e-12 (relError); dx vs numeric gradient (h = 1e-6) 1e-7;
// float32 vs float64 loss and dx 1e-5.
import { softmaxLoss, softmaxLossAsync, svmLoss, svmLossAsync } from '../lib/layers';
import { Tensor } from '../lib/tensor';
import { computeNumericGradient } from '../lib/gradcheck';
import * as ref from './reference';
import { expectRel, expectShape, nd, randn64, uniformFast } from './helpers';

function labels(N: number, C: number, seed: number): number[] {
  const y: number[] = [];
  let s = seed;
  for (let i = 0; i < N; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    y.push(s % C);
  }
  return y;
}

/** Numeric gradient of a scalar loss: a 1-element "output" with dout = 1. */
function lossGrad(loss: (s: Tensor) => number, scores: Tensor): Tensor {
  return computeNumericGradient((s) => Tensor.from([loss(s)], { dtype: 'float64' }), scores, undefined, 1e-6);
}

const shapes: Array<[number, number]> = [[1, 10], [5, 3], [20, 10], [7, 2], [3, 50]];

const relLoss = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(a) + Math.abs(b), 1e-300);

describe('softmaxLoss (float64)', () => {
  test('scores all equal over 10 classes: loss = log(10), dx = (1/10 - onehot) / N', () => {
    for (const v of [0, 3.5, -100, 1e4]) {
      const N = 4;
      const scores = Tensor.full([N, 10], v, 'float64');
      const y = [0, 3, 9, 5];
      const { loss, dx } = softmaxLoss(scores, y);
      expect(Math.abs(loss - Math.log(10))).toBeLessThan(1e-12);
      for (let i = 0; i < N; i++)
        for (let j = 0; j < 10; j++) expect(dx.data[i * 10 + j]).toBeCloseTo((0.1 - (j === y[i] ? 1 : 0)) / N, 14);
    }
  });

  test.each(shapes)('(%i, %i): loss and dx match the reference; dx matches numeric gradients', (N, C) => {
    const scores = randn64([N, C], N * 100 + C, 2);
    const y = labels(N, C, N + C);
    const { loss, dx } = softmaxLoss(scores, y);
    expectShape(dx, [N, C]);
    expect(relLoss(loss, ref.softmaxLoss(nd(scores), y))).toBeLessThan(1e-12);
    expectRel(dx, ref.softmaxLossGrad(nd(scores), y), 1e-12, 'dx vs reference');
    expectRel(dx, lossGrad((s) => softmaxLoss(s, y).loss, scores), 1e-7, 'dx vs numeric');
  });

  test.each(shapes)('(%i, %i) with labelSmoothing 0.1: loss and dx match the definition; dx matches numeric gradients', (N, C) => {
    const scores = randn64([N, C], N * 100 + C + 7, 2);
    const y = labels(N, C, N + C + 1);
    const e = 0.1;
    const { loss, dx } = softmaxLoss(scores, y, { labelSmoothing: e });
    expect(relLoss(loss, ref.softmaxLossSmoothed(nd(scores), y, e))).toBeLessThan(1e-12);
    expectRel(dx, ref.softmaxLossSmoothedGrad(nd(scores), y, e), 1e-12, 'dx vs reference');
    expectRel(dx, lossGrad((s) => softmaxLoss(s, y, { labelSmoothing: e }).loss, scores), 1e-7, 'dx vs numeric');
  });

  test('labelSmoothing: equal scores still give log(C); 0 is the plain loss; out of [0, 1) is refused', () => {
    const e = 0.3;
    const { loss, dx } = softmaxLoss(Tensor.full([2, 5], 1.5, 'float64'), [4, 0], { labelSmoothing: e });
    expect(Math.abs(loss - Math.log(5))).toBeLessThan(1e-12);
    expect(dx.data[4]).toBeCloseTo((0.2 - (1 - e) - e / 5) / 2, 14);
    expect(dx.data[0]).toBeCloseTo((0.2 - e / 5) / 2, 14);
    const scores = randn64([6, 4], 3);
    const plain = softmaxLoss(scores, [0, 1, 2, 3, 0, 1]);
    const zero = softmaxLoss(scores, [0, 1, 2, 3, 0, 1], { labelSmoothing: 0 });
    expect(zero.loss).toBe(plain.loss);
    for (const bad of [1, -0.1, NaN, '0.1']) {
      expect(() => softmaxLoss(scores, [0, 1, 2, 3, 0, 1], { labelSmoothing: bad as number })).toThrow(/^opts.labelSmoothing must be a number in \[0, 1\)/);
    }
  });

  test('labelSmoothing in float32 agrees with the float64 definition', async () => {
    const s64 = randn64([16, 10], 9, 2);
    const s32 = s64.astype('float32');
    const y = labels(16, 10, 5);
    const r = await softmaxLossAsync(s32, y, { labelSmoothing: 0.2 });
    expect(relLoss(r.loss, ref.softmaxLossSmoothed(nd(s64), y, 0.2))).toBeLessThan(1e-6);
    expectRel(r.dx, ref.softmaxLossSmoothedGrad(nd(s64), y, 0.2), 1e-5, 'float32 dx');
  });

  test('huge scores stay finite (max-shifted exponentials)', () => {
    const scores = Tensor.from([[1000, 0, -1000], [-800, 800, 799]], { dtype: 'float64' });
    const { loss, dx } = softmaxLoss(scores, [1, 2]);
    expect(Number.isFinite(loss)).toBe(true);
    expect(Math.abs(loss - ref.softmaxLoss(nd(scores), [1, 2]))).toBeLessThan(1e-9);
    for (const v of dx.data) expect(Number.isFinite(v)).toBe(true);
  });

  test('a confident correct prediction has loss near 0, a confident wrong one about the margin', () => {
    const scores = Tensor.from([[30, 0, 0]], { dtype: 'float64' });
    expect(softmaxLoss(scores, [0]).loss).toBeLessThan(1e-12);
    expect(Math.abs(softmaxLoss(scores, [1]).loss - 30)).toBeLessThan(1e-9);
  });
});

describe('svmLoss (float64)', () => {
  test('hand-computed example (margin 1)', () => {
    // Row 0: y = 0, margins max(0, 2 - 3 + 1) + max(0, 1 - 3 + 1) = 0 + 0 = 0.
    // Row 1: y = 2, margins max(0, 1 - 0.5 + 1) + max(0, 0.8 - 0.5 + 1) = 1.5 + 1.3 = 2.8. Mean 1.4.
    const scores = Tensor.from([[3, 2, 1], [1, 0.8, 0.5]], { dtype: 'float64' });
    const { loss, dx } = svmLoss(scores, [0, 2]);
    expect(loss).toBeCloseTo(1.4, 14);
    expect(Array.from(dx.data, (v) => v + 0)).toEqual([0, 0, 0, 0.5, 0.5, -1]); // + 0 folds -0 into 0
  });

  test('scores all equal: loss = C - 1', () => {
    const { loss } = svmLoss(Tensor.full([3, 10], 2, 'float64'), [1, 2, 3]);
    expect(loss).toBeCloseTo(9, 14);
  });

  test.each(shapes)('(%i, %i): loss matches the reference; dx matches numeric gradients', (N, C) => {
    const scores = randn64([N, C], N * 7 + C, 2);
    const y = labels(N, C, 3 * N + C);
    const { loss, dx } = svmLoss(scores, y);
    expectShape(dx, [N, C]);
    expect(relLoss(loss, ref.svmLoss(nd(scores), y))).toBeLessThan(1e-12);
    expectRel(dx, lossGrad((s) => svmLoss(s, y).loss, scores), 1e-7, 'dx vs numeric');
  });
});

describe.each([
  { name: 'softmaxLoss', fn: softmaxLoss, fnAsync: softmaxLossAsync },
  { name: 'svmLoss', fn: svmLoss, fnAsync: svmLossAsync },
])('$name labels and dtypes', ({ fn, fnAsync }) => {
  const scores = randn64([6, 5], 11);
  const y = [4, 0, 2, 1, 3, 2];

  test('labels as Int32Array, Uint8Array and number[] give the same result', () => {
    const a = fn(scores, y);
    const b = fn(scores, Int32Array.from(y));
    const c = fn(scores, Uint8Array.from(y));
    expect(b.loss).toBe(a.loss);
    expect(c.loss).toBe(a.loss);
    expect(Array.from(b.dx.data)).toEqual(Array.from(a.dx.data));
    expect(Array.from(c.dx.data)).toEqual(Array.from(a.dx.data));
  });

  test('the label changes the loss (labels are actually read)', () => {
    expect(fn(scores, [0, 0, 0, 0, 0, 0]).loss).not.toBe(fn(scores, y).loss);
  });

  test('float32 loss and dx within 1e-5 of float64', () => {
    const r64 = fn(scores, y);
    const r32 = fn(scores.astype('float32'), y);
    expect(r32.dx.dtype).toBe('float32');
    expect(relLoss(r32.loss, r64.loss)).toBeLessThan(1e-5);
    expectRel(r32.dx, r64.dx, 1e-5, 'dx');
  });

  // The async variant must report the loss only after the kernel has run. lib/layers/loss.ts
  // detects the native Promise with `r instanceof Promise`, which is false for a Promise from
  // another realm (jest's vm context, node:vm): it then reads loss[0] = 0 before the kernel ran.
  test('the async variant gives the sync result', async () => {
    // Big enough that the kernel is still running when the Promise check is made (not a race).
    const big = uniformFast([4000, 100], 'float64', 12);
    for (let i = 0; i < big.size; i++) big.data[i] *= 5;
    const yb = Int32Array.from({ length: 4000 }, (_, i) => (i * 37) % 100);
    const s = fn(big, yb);
    const a = await fnAsync(big, yb);
    expect(s.loss).toBeGreaterThan(0);
    // Both sum rows on the same number of threads; allow for a different reduction order anyway.
    expect(Math.abs(a.loss - s.loss)).toBeLessThanOrEqual(1e-12 * s.loss);
    expect(Array.from(a.dx.data)).toEqual(Array.from(s.dx.data));
  });

  test('scores are not modified', () => {
    const copy = Array.from(scores.data);
    fn(scores, y);
    expect(Array.from(scores.data)).toEqual(copy);
  });
});
