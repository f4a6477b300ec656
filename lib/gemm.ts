// A thin typed wrapper over the native GEMM, for benchmarks and tests.
import { native } from './binding';
import { Tensor } from './tensor';
import { checkSameDtype, checkTensor, shapeStr } from './validate';

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  /** Use the triple-loop reference instead of the blocked kernel. */
  naive?: boolean;
}

/** C (M, N) = alpha * op(A) @ op(B) + beta * C, in place; returns C. */
export function gemm(A: Tensor, B: Tensor, C: Tensor, opts: GemmOptions = {}): Tensor {
  // K = 0 is an empty sum, not an empty result (C = beta * C): A and B may be empty, C not.
  checkTensor('A', A, 2, '(M, K)', true);
  checkTensor('B', B, 2, '(K, N)', true);
  checkTensor('C', C, 2, '(M, N)');
  checkSameDtype({ A, B, C });
  const ta = opts.transA ?? false;
  const tb = opts.transB ?? false;
  const [M, K] = ta ? [A.shape[1], A.shape[0]] : [A.shape[0], A.shape[1]];
  const [Kb, N] = tb ? [B.shape[1], B.shape[0]] : [B.shape[0], B.shape[1]];
  if (Kb !== K) throw new RangeError(`B must have ${K} rows in op(B) to match op(A) ${shapeStr([M, K])}, got ${shapeStr(B.shape)}`);
  if (C.shape[0] !== M || C.shape[1] !== N) throw new RangeError(`C must have shape ${shapeStr([M, N])}, got ${shapeStr(C.shape)}`);
  native.gemm(ta, tb, M, N, K, opts.alpha ?? 1, opts.beta ?? 0, opts.naive ?? false, C.data, A.data, B.data);
  return C;
}
