// deepconv: convolutional networks for Node.js on native CPU kernels (and CUDA, when built with it).
import { addonFile, checkIsa, native } from './binding';
import type { Isa, IsaInfo } from './binding';
import { checkInt } from './validate';

export { Tensor, zerosLike, sizeOf, DEVICES } from './tensor';
export type { DType, Device, FloatArray, NestedArray, Storage, CudaBuffer } from './tensor';
export { Rng } from './random';
export * from './layers';
export { computeNumericGradient, gradCheckSparse, relError } from './gradcheck';
export type { SparseCheck } from './gradcheck';
export type { Labels } from './validate';
export type { Isa, IsaInfo } from './binding';
export { ISAS } from './binding';

/** Sets how many OpenMP threads each kernel call uses (default: DEEPCONV_NUM_THREADS or every core). */
export function setNumThreads(n: number): void {
  native.setNumThreads(checkInt('n', n, 1));
}

export function getNumThreads(): number {
  return native.getNumThreads();
}

/**
 * Forces the CPU kernels' instruction-set path for the whole process (every worker too): one of
 * isaInfo().available. DEEPCONV_ISA sets it at load. For testing and measuring each path; the
 * default, the best the CPU has, is what to use otherwise.
 */
export function setIsa(isa: Isa): void {
  native.setIsa(checkIsa('isa', isa, native.isaInfo().available));
}

/** The active instruction-set path, the best one and those this CPU runs. */
export function isaInfo(): IsaInfo {
  return native.isaInfo();
}

/** The native addon file in use: a prebuilt binary (prebuilds/) or a build from source (build/Release). */
export function addonPath(): string {
  return addonFile;
}

/** How the addon was built and what this CPU offers. */
export function buildInfo(): ReturnType<typeof native.buildInfo> {
  return native.buildInfo();
}

/** Usable CUDA devices: 0 without a CUDA build (see `npm run build:cuda`), a driver or a GPU. */
export function cudaDeviceCount(): number {
  return native.cudaDeviceCount();
}

/** Waits until the GPU has finished all work queued so far (a no-op without CUDA work). */
export async function cudaSynchronize(): Promise<void> {
  if (native.buildInfo().cuda && native.cudaDeviceCount() > 0) await native.cudaSynchronize(true);
}

/** Raw matrix multiply on contiguous row-major data: C = alpha op(A) op(B) + beta C. */
export { gemm } from './gemm';
export * from './data';
export * from './io';
export * from './models';
export * from './interop';
export * from './optim';
export * from './solver';
export * from './optimizer';
export * from './schedule';
export * from './init';
