// The one place that loads the compiled addon. Everything native goes through `native`.
import * as fs from 'fs';
import * as path from 'path';
import { loadContext, loadErrorMessage } from './load-error';
import type { OpBindings } from './ops';

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

type Ret = undefined | Promise<void>;

/** The CPU kernels' instruction-set paths, best first. */
export const ISAS = ['avx512', 'avx2', 'generic'] as const;
export type Isa = (typeof ISAS)[number];

/** Which ISA path the CPU kernels take (process-wide) and which this CPU can run. */
export interface IsaInfo {
  active: Isa;
  best: Isa;
  available: Isa[];
  /** The GEMM register tiles of the active path, e.g. "avx512 8x32". */
  gemmF32: string;
  gemmF64: string;
  /**
   * Float32 3x3 / stride 1 / pad 1 convolutions run their forward, input and weight gradients by
   * Winograd F(2x2, 3x3) when both channel counts are >= minChannels, a map has >= minTiles 2x2 tiles
   * (ceil(H/2) * ceil(W/2)) and the batch >= minColumns of them; the rest by im2col + GEMM.
   */
  winograd: { minChannels: number; minTiles: number; minColumns: number };
}

/**
 * The raw addon. The kernel ops (OpBindings) come from the one op table, lib/ops.ts: sizes first,
 * then buffers; a trailing `true` runs the kernel off the main thread.
 */
export interface NativeBinding extends OpBindings {
  setNumThreads(n: number): void;
  getNumThreads(): number;
  buildInfo(): { openmp: number | null; compiler: string; napiVersion: number; cuda: boolean; cudaEmulator: boolean; hardwareThreads: number; cpuFeatures: string[] };
  fmaPeak(seconds: number): { gflops: number; isa: string; threads: number };
  isaInfo(): IsaInfo;
  /** What the adaptive team saw last: cores other processes kept busy (-1: not yet) and the team it allows (0: no advice yet). */
  teamAdvice(): { othersBusy: number; cores: number };
  /** Settle batches the executor has handed to the JS thread so far, and calls queued but not yet settled. */
  executorStats(): { batches: number; pending: number };
  setIsa(isa: string): void;
  /**
   * A zeroed ArrayBuffer (1 <= bytes <= 2^32) in memory the addon owns: a kernel queued on it keeps it allocated even
   * if JavaScript transfers, detaches or drops the array meanwhile. Asynchronous calls write only
   * into such memory (or CudaBuffers); other typed arrays they read are copied when queued.
   */
  hostAlloc(bytes: number): ArrayBuffer;
  /** Whether v's elements lie in memory hostAlloc made. */
  isHostMemory(v: ArrayBufferView): boolean;

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

/** deepconv's version, from its package.json. */
export function packageVersion(): string {
  return JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version as string;
}

function load(): { binding: NativeBinding; file: string } {
  const root = packageRoot();
  // DEEPCONV_ADDON points at another build of the addon (the sanitizer build, for instance).
  const explicit = process.env.DEEPCONV_ADDON;
  try {
    // node-gyp-build's choice: build/Release (a source build) first, else the matching prebuild.
    const file = explicit ? path.resolve(explicit) : (require('node-gyp-build').path(root) as string);
    return { binding: require(file) as NativeBinding, file };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(loadErrorMessage(explicit ? `DEEPCONV_ADDON=${explicit}` : root, why, loadContext(root)));
  }
}

/**
 * `value` as a path this CPU runs (one of `available`), for setIsa and DEEPCONV_ISA alike; `what`
 * names it in the message. A name that is no path throws `Unknown` (TypeError for an argument,
 * RangeError for a setting); a path the CPU lacks, RangeError.
 */
export function checkIsa(what: string, value: unknown, available: readonly Isa[], Unknown: new (m: string) => Error = TypeError): Isa {
  if (typeof value !== 'string' || !(ISAS as readonly string[]).includes(value)) {
    throw new Unknown(`${what} must be one of ${ISAS.join(', ')}, got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`);
  }
  if (!available.includes(value as Isa)) throw new RangeError(`${what} "${value}" is not available: this CPU runs ${available.join(', ')}`);
  return value as Isa;
}

/** DEEPCONV_ISA forces a path for the whole process; one this CPU lacks stops the load. */
function applyIsaEnv(b: NativeBinding): NativeBinding {
  const want = process.env.DEEPCONV_ISA;
  if (want === undefined || want === '') return b;
  b.setIsa(checkIsa('deepconv: DEEPCONV_ISA', want, b.isaInfo().available, RangeError));
  return b;
}

const loaded = load();
export const native: NativeBinding = applyIsaEnv(loaded.binding);
/** The addon file this process loaded. */
export const addonFile: string = loaded.file;
