// deepconv: convolutional networks for Node.js on native CPU kernels.
import { native } from './binding';
import { checkInt } from './validate';

export { Tensor, zerosLike, sizeOf } from './tensor';
export type { DType, Device, FloatArray, NestedArray } from './tensor';
export { Rng } from './random';
export * from './layers';
export { computeNumericGradient, gradCheckSparse, relError } from './gradcheck';
export type { SparseCheck } from './gradcheck';
export type { Labels } from './validate';

/** Sets how many OpenMP threads each kernel call uses (default: DEEPCONV_NUM_THREADS or every core). */
export function setNumThreads(n: number): void {
  native.setNumThreads(checkInt('n', n, 1));
}

export function getNumThreads(): number {
  return native.getNumThreads();
}

/** How the addon was built and what this CPU offers. */
export function buildInfo(): ReturnType<typeof native.buildInfo> {
  return native.buildInfo();
}

/** Raw matrix multiply on contiguous row-major data: C = alpha op(A) op(B) + beta C. */
export { gemm } from './gemm';
export * from './data';
export * from './io';
export * from './models';
export * from './optim';
export * from './solver';
export * from './init';
