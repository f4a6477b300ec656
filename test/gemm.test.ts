// GEMM (lib gemm): C = alpha op(A) op(B) + beta C against the native triple loop (naive: true)
// and a TypeScript triple loop, for all four transpose combinations, alpha/beta, and odd shapes
// that hit the blocking edges of every ISA path's tiles (MR 4/6/8, NR 4-32, KC 256, MC 120/128,
// NC 1536-3072).
// Tolerances (relError): float64 blocked and naive vs TS loop 1e-12; float32 naive vs TS loop
// (double accumulation) 1e-6; float32 blocked vs TS loop 1e-5.
import { gemm } from '../lib/gemm';
import { DType, Tensor } from '../lib/tensor';
import * as ref from './reference';
import { expectRel, uniformFast, withThreads, isaPaths, useIsa } from './helpers';

// Each value of M in {1, 7, 130}, N in {1, 33, 300, 3100}, K in {1, 5, 257, 600} appears.
const shapes: Array<[number, number, number]> = [
  [1, 1, 1],
  [7, 33, 5],
  [130, 300, 257],
  [7, 3100, 600],
  [130, 33, 600],
  [1, 3100, 257],
  [130, 1600, 5], // N > NC for float64 with several MC blocks
  [7, 1, 257],
  [130, 1, 1],
  [1, 300, 600],
];
const transposes: Array<[boolean, boolean]> = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

function operands(M: number, N: number, K: number, ta: boolean, tb: boolean, dtype: DType, seed: number) {
  const A = uniformFast(ta ? [K, M] : [M, K], dtype, seed);
  const B = uniformFast(tb ? [N, K] : [K, N], dtype, seed + 1);
  const C = uniformFast([M, N], dtype, seed + 2);
  return { A, B, C };
}

// Every test below runs once per ISA path this CPU has (the GEMM's tiles differ per path).
describe.each(isaPaths())('isa %s', (isa) => {
  useIsa(isa);

  describe.each(['float64', 'float32'] as DType[])('gemm %s', (dtype) => {
    const tolBlocked = dtype === 'float64' ? 1e-12 : 1e-5;
    const tolNaive = dtype === 'float64' ? 1e-12 : 1e-6;
    describe.each(transposes)('transA %p, transB %p', (ta, tb) => {
      test.each(shapes)('M %i, N %i, K %i: blocked and naive match the TS loop (alpha 1.5, beta -0.5)', (M, N, K) => {
        const { A, B, C } = operands(M, N, K, ta, tb, dtype, M * 7 + N * 3 + K);
        const expected = ref.gemm(ta, tb, M, N, K, 1.5, A.data, B.data, -0.5, Float64Array.from(C.data));
        const blocked = gemm(A, B, C.clone(), { transA: ta, transB: tb, alpha: 1.5, beta: -0.5 });
        const naive = gemm(A, B, C.clone(), { transA: ta, transB: tb, alpha: 1.5, beta: -0.5, naive: true });
        expect(blocked.dtype).toBe(dtype);
        expectRel(blocked, expected, tolBlocked, 'blocked');
        expectRel(naive, expected, tolNaive, 'naive');
      });
    });

    test('defaults: alpha 1, beta 0, no transposes; returns C itself', () => {
      const { A, B, C } = operands(9, 17, 11, false, false, dtype, 1);
      const expected = ref.gemm(false, false, 9, 17, 11, 1, A.data, B.data, 0, new Float64Array(9 * 17));
      const r = gemm(A, B, C);
      expect(r).toBe(C);
      expectRel(C, expected, tolBlocked);
    });

    test.each([false, true])('beta = 0 ignores NaN and Infinity already in C (naive: %p)', (naive) => {
      for (const [M, N, K] of [[7, 33, 5], [130, 300, 257], [1, 1, 1]] as const) {
        const { A, B } = operands(M, N, K, false, true, dtype, 2);
        const C = Tensor.full([M, N], NaN, dtype);
        C.data[0] = Infinity;
        gemm(A, B, C, { transB: true, beta: 0, naive });
        const expected = ref.gemm(false, true, M, N, K, 1, A.data, B.data, 0, new Float64Array(M * N));
        expect(C.data.every((v) => Number.isFinite(v))).toBe(true);
        expectRel(C, expected, naive ? tolNaive : tolBlocked);
      }
    });

    test.each([false, true])('alpha = 0 scales C by beta only (naive: %p)', (naive) => {
      const { A, B, C } = operands(13, 40, 9, true, false, dtype, 3);
      const before = Float64Array.from(C.data);
      gemm(A, B, C, { transA: true, alpha: 0, beta: 2, naive });
      expectRel(C, before.map((v) => 2 * v), 1e-7);
    });

    test.each([false, true])('beta = 1 accumulates into C (naive: %p)', (naive) => {
      const { A, B, C } = operands(8, 50, 300, false, false, dtype, 4);
      const expected = ref.gemm(false, false, 8, 50, 300, 1, A.data, B.data, 1, Float64Array.from(C.data));
      gemm(A, B, C, { beta: 1, naive });
      expectRel(C, expected, naive ? tolNaive : tolBlocked);
    });

    test('K = 0 with beta: C = beta * C', () => {
      const A = Tensor.zeros([5, 0], dtype);
      const B = Tensor.zeros([0, 4], dtype);
      const C = Tensor.full([5, 4], 3, dtype);
      gemm(A, B, C, { beta: 0.5 });
      expect(Array.from(C.data)).toEqual(new Array(20).fill(1.5));
      const C2 = Tensor.full([5, 4], NaN, dtype);
      gemm(A, B, C2, { naive: true });
      expect(Array.from(C2.data)).toEqual(new Array(20).fill(0));
    });

    // A @ B^T with a long depth and few rows on either side runs as dot products of rows on the
    // AVX paths (gemm.cc dot_pays): 4x4 / 3x4 blocks with edge rows, K tails of 5 and 13 lanes.
    test.each([
      [16, 27, 1029],
      [5, 33, 517],
      [33, 2, 517],
      [24, 40, 4096 + 13], // big enough to split across the team
    ])('thin A @ B^T, M %i, N %i, K %i: matches the TS loop, 1 and 2 threads the same bits', (M, N, K) => {
      const { A, B, C } = operands(M, N, K, false, true, dtype, M + N + K);
      const expected = ref.gemm(false, true, M, N, K, 1.5, A.data, B.data, -0.5, Float64Array.from(C.data));
      const one = withThreads(1, () => gemm(A, B, C.clone(), { transB: true, alpha: 1.5, beta: -0.5 }));
      const two = withThreads(2, () => gemm(A, B, C.clone(), { transB: true, alpha: 1.5, beta: -0.5 }));
      expectRel(one, expected, tolBlocked, '1 thread');
      expect(Array.from(two.data)).toEqual(Array.from(one.data));
    });

    test('1 and 2 threads give the same result on a large product', () => {
      const { A, B, C } = operands(130, 300, 257, true, true, dtype, 5);
      const one = withThreads(1, () => gemm(A, B, C.clone(), { transA: true, transB: true, beta: 0.25 }));
      const two = withThreads(2, () => gemm(A, B, C.clone(), { transA: true, transB: true, beta: 0.25 }));
      const expected = ref.gemm(true, true, 130, 300, 257, 1, A.data, B.data, 0.25, Float64Array.from(C.data));
      expectRel(one, expected, tolBlocked, '1 thread');
      expectRel(two, expected, tolBlocked, '2 threads');
    });

    test('a product of one row block and one panel group is split across the team, with the same bits as 1 thread', () => {
      // M = 128 rows (one MC block) and N = 256 columns (8 AVX-512 panels): one work item before the
      // split, so the second thread idled; each tile is computed the same way whichever thread runs it.
      const { A, B, C } = operands(128, 256, 600, false, false, dtype, 9);
      const one = withThreads(1, () => gemm(A, B, C.clone()));
      const two = withThreads(2, () => gemm(A, B, C.clone()));
      expect(Array.from(two.data)).toEqual(Array.from(one.data));
      expectRel(two, ref.gemm(false, false, 128, 256, 600, 1, A.data, B.data, 0, Float64Array.from(C.data)), tolBlocked, '2 threads');
    });
  });
});
