// The one place that loads the compiled addon. Everything native goes through `native`.
import * as fs from 'fs';
import * as path from 'path';

/**
 * Device memory owned by the addon (CUDA builds): float32 or int32 elements. Freed by dispose()
 * or when collected. Only the addon makes them (cudaAlloc); kernels take them where they take
 * typed arrays, and then run on the GPU.
 */
export interface CudaBuffer {
  readonly length: number;
  readonly kind: 'float32' | 'int32';
  readonly disposed: boolean;
  dispose(): void;
}

type H = Float32Array | Float64Array;
/** A kernel buffer: a typed array (the call runs on the CPU) or a CudaBuffer (on the GPU). */
type F = H | CudaBuffer;
type I = Int32Array | CudaBuffer;
type Ret = undefined | Promise<void>;

/** The raw addon. Sizes come first, then buffers; a trailing `true` runs the kernel off the main thread. */
export interface NativeBinding {
  setNumThreads(n: number): void;
  getNumThreads(): number;
  buildInfo(): { openmp: number | null; compiler: string; napiVersion: number; cuda: boolean; cudaEmulator: boolean; hardwareThreads: number; cpuFeatures: string[] };
  fmaPeak(seconds: number): { gflops: number; isa: string; threads: number };
  gemm(ta: boolean, tb: boolean, M: number, N: number, K: number, alpha: number, beta: number, naive: boolean, C: F, A: F, B: F, async?: boolean): Ret;
  convForward(N: number, C: number, H: number, W: number, F: number, HH: number, WW: number, stride: number, pad: number, naive: boolean, out: F, x: F, w: F, b: F, async?: boolean): Ret;
  convBackward(N: number, C: number, H: number, W: number, F: number, HH: number, WW: number, stride: number, pad: number, naive: boolean, needDx: boolean, dx: F, dw: F, db: F, dout: F, x: F, w: F, async?: boolean): Ret;
  maxpoolForward(N: number, C: number, H: number, W: number, ph: number, pw: number, stride: number, out: F, argmax: I, x: F, async?: boolean): Ret;
  maxpoolBackward(N: number, C: number, H: number, W: number, ph: number, pw: number, stride: number, dx: F, dout: F, argmax: I, async?: boolean): Ret;
  reluForward(n: number, out: F, x: F, async?: boolean): Ret;
  reluBackward(n: number, dx: F, dout: F, x: F, async?: boolean): Ret;
  dropoutForward(n: number, p: number, seed: number, out: F, mask: F, x: F, async?: boolean): Ret;
  dropoutBackward(n: number, dx: F, dout: F, mask: F, async?: boolean): Ret;
  linearForward(N: number, D: number, M: number, out: F, x: F, w: F, b: F, async?: boolean): Ret;
  linearBackward(N: number, D: number, M: number, dx: F, dw: F, db: F, dout: F, x: F, w: F, async?: boolean): Ret;
  batchnormForwardTrain(N: number, D: number, S: number, eps: number, momentum: number, out: F, mean: F, rstd: F, runningMean: F, runningVar: F, x: F, gamma: F, beta: F, async?: boolean): Ret;
  batchnormForwardTest(N: number, D: number, S: number, eps: number, out: F, x: F, gamma: F, beta: F, runningMean: F, runningVar: F, async?: boolean): Ret;
  batchnormBackward(N: number, D: number, S: number, alt: boolean, dx: F, dgamma: F, dbeta: F, dout: F, x: F, gamma: F, mean: F, rstd: F, async?: boolean): Ret;
  softmaxLoss(N: number, C: number, dx: F, scores: F, y: Int32Array, loss: Float64Array, async?: boolean): Ret;
  svmLoss(N: number, C: number, dx: F, scores: F, y: Int32Array, loss: Float64Array, async?: boolean): Ret;
  sgdUpdate(n: number, lr: number, w: F, dw: F, async?: boolean): Ret;
  sgdMomentumUpdate(n: number, lr: number, momentum: number, w: F, v: F, dw: F, async?: boolean): Ret;
  rmspropUpdate(n: number, lr: number, decay: number, eps: number, w: F, cache: F, dw: F, async?: boolean): Ret;
  adamUpdate(n: number, lr: number, beta1: number, beta2: number, eps: number, t: number, w: F, m: F, v: F, dw: F, async?: boolean): Ret;
  /**
   * A zeroed ArrayBuffer (1 <= bytes <= 2^36) in memory the addon owns: a kernel queued on it keeps it allocated even
   * if JavaScript transfers, detaches or drops the array meanwhile. Asynchronous calls write only
   * into such memory (or CudaBuffers); other typed arrays they read are copied when queued.
   */
  hostAlloc(bytes: number): ArrayBuffer;
  /** Whether v's elements lie in memory hostAlloc made. */
  isHostMemory(v: ArrayBufferView): boolean;
  /** dw += 2 reg w; sumSq[0] = sum(w^2) (sumSq stays on the host for either device). */
  l2Penalty(n: number, reg: number, dw: F, w: F, sumSq: Float64Array, async?: boolean): Ret;

  // Device memory (CUDA builds; elsewhere these throw an error that says how to build one,
  // cudaDeviceCount returns 0 and CudaBuffer is absent).
  CudaBuffer?: abstract new () => CudaBuffer;
  cudaDeviceCount(): number;
  /** Whether v is a CudaBuffer made by the addon (by its N-API type tag, not its prototype). */
  isCudaBuffer(v: unknown): boolean;
  cudaAlloc(kind: 'float32' | 'int32', n: number, zero: boolean): CudaBuffer;
  cudaUpload(n: number, dst: CudaBuffer, src: Float32Array | Int32Array, async?: boolean): Ret;
  cudaDownload(n: number, dst: Float32Array | Int32Array, src: CudaBuffer, async?: boolean): Ret;
  cudaCopy(n: number, dst: CudaBuffer, src: CudaBuffer, async?: boolean): Ret;
  cudaSynchronize(async?: boolean): Ret;
}

/** The package root: the nearest folder above this file whose package.json is deepconv's. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj) && JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'deepconv') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`deepconv: cannot find the package root above ${__dirname}`);
    dir = up;
  }
}

function load(): NativeBinding {
  const root = packageRoot();
  // DEEPCONV_ADDON points at another build of the addon (the sanitizer build, for instance).
  const explicit = process.env.DEEPCONV_ADDON;
  try {
    if (explicit) return require(path.resolve(explicit)) as NativeBinding;
    return require('node-gyp-build')(root) as NativeBinding;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(
      `deepconv: could not load the native addon (${explicit ? `DEEPCONV_ADDON=${explicit}` : root}).\n` +
        `  ${why}\n` +
        'Possible solutions:\n' +
        `  - build it from source: run \`npm install\` (or \`npm run build\`) in ${root};\n` +
        '    that needs a C++17 compiler with OpenMP (g++), make and python3.',
    );
  }
}

export const native: NativeBinding = load();
