// Shared test helpers: seeded inputs, tolerance checks, numeric gradients.
import { Rng } from '../lib/random';
import { Tensor, FloatArray } from '../lib/tensor';
import { computeNumericGradient, relError } from '../lib/gradcheck';
import { getNumThreads, isaInfo, setIsa, setNumThreads } from '../lib/index';
import type { Isa } from '../lib/index';
import { ND, toND } from './reference';

/** Normal(0, std^2) float64 tensor from a fixed seed. */
export function randn64(shape: readonly number[], seed: number, std = 1): Tensor {
  return Tensor.randn(shape, { dtype: 'float64', seed, std });
}

/**
 * A float64 tensor of distinct values spaced `spacing` apart in random order (a shuffled
 * arithmetic progression centred on 0). No two elements are within 2h of each other for any
 * numeric-gradient step h << spacing, so max-pool's argmax never flips under perturbation.
 */
export function distinct64(shape: readonly number[], seed: number, spacing = 0.05): Tensor {
  const t = Tensor.zeros(shape, 'float64');
  const n = t.size;
  for (let i = 0; i < n; i++) t.data[i] = (i - (n - 1) / 2) * spacing;
  new Rng(seed).shuffle(t.data);
  return t;
}

/** A float64 tensor whose elements are all at least `gap` away from 0 (for ReLU kinks). */
export function awayFromZero64(shape: readonly number[], seed: number, gap = 0.05): Tensor {
  const t = randn64(shape, seed);
  for (let i = 0; i < t.size; i++) {
    const v = t.data[i];
    t.data[i] = v >= 0 ? v + gap : v - gap;
  }
  return t;
}

/** Fails with a readable message unless relError(actual, expected) < tol (NaN fails too). */
export function expectRel(actual: Tensor | FloatArray | ND, expected: Tensor | FloatArray | ND, tol: number, what = ''): number {
  const a = actual instanceof Float32Array || actual instanceof Float64Array ? actual : actual.data;
  const b = expected instanceof Float32Array || expected instanceof Float64Array ? expected : expected.data;
  if (a.length !== b.length) throw new Error(`${what}: sizes differ, ${a.length} vs ${b.length}`);
  const e = relError(a, b);
  if (!(e < tol)) throw new Error(`${what}: relError ${e} is not below ${tol}`);
  expect(e).toBeLessThan(tol);
  return e;
}

/**
 * The same values bit for bit (NaN equal to NaN, -0 unequal to 0). A failure names the first
 * differing index and both values, not a diff of the whole array: jest's diff of two 300,000-
 * element arrays ran for longer than the suite's time limit.
 */
export function expectSameBits(actual: Tensor | FloatArray, expected: Tensor | FloatArray, what = ''): void {
  const a = actual instanceof Tensor ? actual.data : actual;
  const b = expected instanceof Tensor ? expected.data : expected;
  let first = a.length === b.length ? -1 : Math.min(a.length, b.length);
  for (let i = 0; first < 0 && i < a.length; i++) if (!Object.is(a[i], b[i])) first = i;
  const at = first < 0 ? null : { index: first, actual: a[first], expected: b[first], lengths: [a.length, b.length] };
  expect({ what, firstDifference: at }).toEqual({ what, firstDifference: null });
}

/** Shapes equal, element for element. */
export function expectShape(t: { shape: readonly number[] }, shape: readonly number[]): void {
  expect([...t.shape]).toEqual([...shape]);
}

/** Numeric gradient of sum(f(x) * dout) with respect to x (perturbed in place, restored). */
export function numGrad(f: (x: Tensor) => Tensor, x: Tensor, dout: Tensor, h = 1e-6): Tensor {
  return computeNumericGradient(f, x, dout, h);
}

/** Runs fn with the native thread count set to n, restoring the previous count afterwards. */
export function withThreads<T>(n: number, fn: () => T): T {
  const old = getNumThreads();
  setNumThreads(n);
  try {
    return fn();
  } finally {
    setNumThreads(old);
  }
}

/**
 * The CPU ISA paths this machine runs (best first), for describe.each: each kernel test then runs
 * on every path, whatever DEEPCONV_ISA says. Run under DEEPCONV_ISA=x, only path x (what
 * `scripts/test-isa-paths.sh` does for every other path, so the whole kernel suite runs once per path).
 */
export function isaPaths(): Isa[] {
  return process.env.DEEPCONV_ISA ? [isaInfo().active] : isaInfo().available;
}

/** Inside a describe: switches to `isa` for its tests and back afterwards. */
export function useIsa(isa: Isa): void {
  let old: Isa;
  beforeAll(() => {
    old = isaInfo().active;
    setIsa(isa);
  });
  afterAll(() => setIsa(old));
}

/** float64 copy of a tensor as a reference-ND. */
export const nd = toND;

/** The element-wise product of a and b (same size), as a new float64 array. */
export function mul(a: FloatArray, b: FloatArray): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] * b[i];
  return out;
}

/**
 * Uniform [-1, 1) values from a 32-bit LCG, for big operands. Tensor.randn is slow under jest:
 * every Math.* lookup inside a vm context takes the slow global path, and this loop makes none.
 */
export function uniformFast(shape: readonly number[], dtype: 'float32' | 'float64', seed: number): Tensor {
  const t = Tensor.zeros(shape, dtype);
  const d = t.data;
  let s = (seed * 2654435761 + 1) % 4294967296;
  for (let i = 0; i < d.length; i++) {
    s = (s * 1664525 + 1013904223) % 4294967296;
    d[i] = s / 2147483648 - 1;
  }
  return t;
}

/**
 * fn must throw an error of class `cls` (by constructor name, so errors made in another realm,
 * such as the addon's, count too) whose message matches `msg`.
 */
export function expectThrow(fn: () => unknown, cls: 'TypeError' | 'RangeError' | 'Error', msg: RegExp): void {
  let thrown = false;
  let err: unknown;
  try {
    fn();
  } catch (e) {
    thrown = true;
    err = e;
  }
  if (!thrown) throw new Error(`expected a ${cls} matching ${msg}, but nothing was thrown`);
  const e = err as Error;
  expect({ cls: e?.constructor?.name, message: String(e?.message) }).toEqual({ cls, message: expect.stringMatching(msg) });
}
