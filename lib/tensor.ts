// Tensor: a shape, a dtype and the memory native kernels read and write in place: a typed array
// on the CPU, or a CudaBuffer (device memory owned by the addon) on the GPU.
import { CudaBuffer, native } from './binding';
import { Rng } from './random';

export type DType = 'float32' | 'float64';
export type Device = 'cpu' | 'cuda';
export type FloatArray = Float32Array | Float64Array;
/** What a tensor's kernels read and write: host memory, or device memory on 'cuda'. */
export type Storage = FloatArray | CudaBuffer;
export type { CudaBuffer };

export const DEVICES: readonly Device[] = ['cpu', 'cuda'];
export type NestedArray = number | NestedArray[];

export const DTYPES: readonly DType[] = ['float32', 'float64'];

/** "a Float32Array", "an Int32Array": a typed array's class with its article, for messages. */
export function viewKind(v: ArrayBufferView): string {
  const name = v.constructor.name;
  return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
}

/** What a non-float-array value is, for messages (validate.ts's describe() would be a cycle). */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (ArrayBuffer.isView(v)) return viewKind(v);
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

/** Is v a CudaBuffer made by the addon (not just something shaped like one)? */
export function isCudaBuffer(v: unknown): v is CudaBuffer {
  return typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && native.isCudaBuffer(v);
}

/** Throws, saying how to get one, unless this addon has a usable CUDA device. */
export function requireCuda(what: string): void {
  const info = native.buildInfo();
  if (!info.cuda) {
    throw new Error(
      `${what} needs the CUDA backend, but this build of the deepconv addon has none. Rebuild it with ` +
        '`npm run build:cuda` in the package folder, or install with `DEEPCONV_CUDA=1 npm install` ' +
        "(both need nvcc and cuBLAS; see the README's \"CUDA\" section).",
    );
  }
  if (native.cudaDeviceCount() < 1) {
    throw new Error(`${what} needs a CUDA device, and none is usable: check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES`);
  }
}

export function checkDevice(name: string, device: unknown): Device {
  if (device !== 'cpu' && device !== 'cuda') {
    throw new TypeError(`${name} must be 'cpu' or 'cuda', got ${typeof device === 'string' ? JSON.stringify(device) : kindOf(device)}`);
  }
  return device;
}

/** Device memory for n elements of `kind` (zeroed when asked: kernel outputs need not be). */
export function cudaAlloc(n: number, zero: boolean, kind: 'float32' | 'int32' = 'float32'): CudaBuffer {
  requireCuda('a cuda tensor');
  return native.cudaAlloc(kind, n, zero);
}

/**
 * n zeroed elements of host memory the addon owns (see NativeBinding.hostAlloc): what every tensor
 * deepconv makes lives in, so a queued kernel can never lose it.
 */
export function hostArray(kind: 'float64', n: number): Float64Array;
export function hostArray(kind: 'float32', n: number): Float32Array;
export function hostArray(kind: 'int32', n: number): Int32Array;
export function hostArray(kind: DType, n: number): FloatArray;
export function hostArray(kind: DType | 'int32', n: number): FloatArray | Int32Array;
export function hostArray(kind: DType | 'int32', n: number): FloatArray | Int32Array {
  // Wrapped here, not natively, so that the array belongs to this realm (instanceof holds in a vm context).
  const Ctor = kind === 'float64' ? Float64Array : kind === 'int32' ? Int32Array : Float32Array;
  if (n === 0) return new Ctor(0);
  const bytes = n * Ctor.BYTES_PER_ELEMENT;
  if (!Number.isSafeInteger(bytes) || bytes > MAX_TENSOR_BYTES) {
    throw new RangeError(`a ${kind} tensor of ${n} elements needs ${bytes} bytes, over the ${MAX_TENSOR_BYTES} (4 GiB) one tensor may hold`);
  }
  return new Ctor(native.hostAlloc(bytes));
}

/** The allocation budget withAllocationLimit sets (null: none). */
let limit: { left: number; onExceed: (requested: number) => Error } | null = null;

function charge(n: number): void {
  if (!limit) return;
  limit.left -= n;
  if (limit.left < 0) throw limit.onExceed(n);
}

/**
 * Runs fn, letting the tensors it makes hold at most `elements` elements in all; past that the
 * allocation throws onExceed(requested) instead of allocating. loadModel builds a file's network
 * under the budget of the file's own tensors, so a config cannot ask for more than the file holds.
 */
export function withAllocationLimit<R>(elements: number, onExceed: (requested: number) => Error, fn: () => R): R {
  const prev = limit;
  limit = { left: elements, onExceed };
  try {
    return fn();
  } finally {
    limit = prev;
  }
}

function allocate(dtype: DType, n: number): FloatArray {
  charge(n);
  return hostArray(dtype, n);
}

function dtypeOf(a: FloatArray): DType {
  return a instanceof Float64Array ? 'float64' : 'float32';
}

function checkDType(dtype: unknown): DType {
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new TypeError(`dtype must be 'float32' or 'float64', got ${JSON.stringify(dtype)}`);
  }
  return dtype;
}

function checkShapeArg(shape: unknown): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`shape must be an array of non-negative integers, got ${typeof shape}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new RangeError(`shape must be an array of non-negative integers, got [${shape.join(', ')}]`);
    }
  }
  return shape.slice();
}

/** The most one host tensor holds: Node 18-20's largest external buffer (buffer.constants.MAX_LENGTH). */
export const MAX_TENSOR_BYTES = 2 ** 32;

/** What a detached tensor has suffered, for messages. */
export const LOST = 'has lost its memory: its ArrayBuffer was detached (transferred to another thread) or resized';

/** Beyond this, toArray refuses (see there). */
const MAX_NESTED_ARRAYS = 1 << 24;

function checkOpts<T extends object>(opts: T): T {
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw new TypeError(`opts must be an options object, got ${kindOf(opts)}`);
  return opts;
}

function finiteOpt(name: string, v: unknown, dflt: number, expected: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw new TypeError(`${name} must be ${expected}, got ${kindOf(v)}`);
  if (!Number.isFinite(v)) throw new RangeError(`${name} must be ${expected}, got ${v}`);
  return v;
}

function seedOpt(seed: unknown): number | undefined {
  if (seed === undefined) return undefined;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new TypeError(`opts.seed must be an integer, got ${typeof seed === 'number' ? seed : kindOf(seed)}`);
  return seed;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: Device;
  /** The element count, from the shape (never from the storage, which JavaScript could detach). */
  readonly size: number;
  private readonly storage: Storage;

  /**
   * Wraps `data` (not copied) as a tensor of `shape`: a Float32Array / Float64Array makes a cpu
   * tensor, a float32 CudaBuffer a cuda one.
   */
  constructor(data: Storage, shape: readonly number[]) {
    const onCuda = isCudaBuffer(data);
    if (!onCuda && !(data instanceof Float32Array || data instanceof Float64Array)) {
      throw new TypeError(`data must be a Float32Array, Float64Array or float32 CudaBuffer, got ${kindOf(data)}`);
    }
    if (onCuda && data.kind !== 'float32') throw new TypeError(`data must be a float32 CudaBuffer, got a ${data.kind} one`);
    const s = checkShapeArg(shape);
    if (sizeOf(s) !== data.length) {
      throw new RangeError(`data has ${data.length} elements but shape [${s.join(', ')}] needs ${sizeOf(s)}`);
    }
    this.storage = data;
    this.size = data.length;
    this.shape = Object.freeze(s);
    this.device = onCuda ? 'cuda' : 'cpu';
    this.dtype = onCuda ? 'float32' : dtypeOf(data as FloatArray);
  }

  /**
   * The elements, row-major. Zero-copy: kernels read and write this memory directly. Only cpu
   * tensors have them here: a cuda tensor's live on the GPU (see toDevice).
   */
  get data(): FloatArray {
    if (this.device === 'cuda') {
      throw new Error(`this ${this.toString()} is on cuda: copy it to the host with .toDevice('cpu') (or await .toDeviceAsync('cpu')) to read its values`);
    }
    return this.live() as FloatArray;
  }

  /** The memory the kernels use: the typed array (cpu) or the CudaBuffer (cuda). */
  get buffer(): Storage {
    return this.live();
  }

  /** Whether JavaScript took this cpu tensor's memory away (its ArrayBuffer detached or shrunk). */
  get detached(): boolean {
    return this.storage.length !== this.size;
  }

  private live(): Storage {
    if (this.detached) throw new TypeError(`this ${this.toString()} ${LOST}, so it holds ${this.storage.length} of its ${this.size} elements`);
    return this.storage;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** Zeros of `shape` in `dtype` on `device` (cuda tensors are float32). */
  static zeros(shape: readonly number[], dtype: DType = 'float32', device: Device = 'cpu'): Tensor {
    const s = checkShapeArg(shape);
    checkDType(dtype);
    if (checkDevice('device', device) === 'cuda') {
      if (dtype !== 'float32') throw new TypeError(`cuda tensors are float32, got dtype ${JSON.stringify(dtype)}`);
      charge(sizeOf(s));
      return new Tensor(cudaAlloc(sizeOf(s), true), s);
    }
    return new Tensor(allocate(dtype, sizeOf(s)), s);
  }

  static full(shape: readonly number[], value: number, dtype: DType = 'float32', device: Device = 'cpu'): Tensor {
    if (typeof value !== 'number') throw new TypeError(`value must be a number, got ${kindOf(value)}`);
    const t = Tensor.zeros(shape, dtype);
    t.data.fill(value);
    return t.toDevice(device);
  }

  /** Normal(0, std^2) samples from a seeded generator. */
  static randn(shape: readonly number[], opts: { dtype?: DType; seed?: number; std?: number } = {}): Tensor {
    const o = checkOpts(opts);
    const std = finiteOpt('opts.std', o.std, 1, 'a finite number >= 0');
    if (std < 0) throw new RangeError(`opts.std must be a finite number >= 0, got ${std}`);
    const t = Tensor.zeros(shape, o.dtype ?? 'float32');
    const rng = new Rng(seedOpt(o.seed));
    for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal() * std;
    return t;
  }

  /** Uniform [lo, hi) samples from a seeded generator. */
  static rand(shape: readonly number[], opts: { dtype?: DType; seed?: number; lo?: number; hi?: number } = {}): Tensor {
    const o = checkOpts(opts);
    const lo = finiteOpt('opts.lo', o.lo, 0, 'a finite number');
    const hi = finiteOpt('opts.hi', o.hi, 1, 'a finite number');
    if (lo > hi) throw new RangeError(`opts.lo must be <= opts.hi, got lo ${lo} and hi ${hi}`);
    const t = Tensor.zeros(shape, o.dtype ?? 'float32');
    const rng = new Rng(seedOpt(o.seed));
    for (let i = 0; i < t.data.length; i++) t.data[i] = lo + (hi - lo) * rng.uniform();
    return t;
  }

  /**
   * A tensor from nested arrays (shape inferred), or from a flat typed/plain array with a shape.
   * Typed arrays of the requested dtype are wrapped without a copy.
   */
  static from(values: NestedArray | ArrayLike<number>, opts: { shape?: readonly number[]; dtype?: DType } = {}): Tensor {
    if ((values instanceof Float32Array || values instanceof Float64Array) && (opts.dtype ?? dtypeOf(values)) === dtypeOf(values)) {
      return new Tensor(values, opts.shape ?? [values.length]);
    }
    const dtype = checkDType(opts.dtype ?? (values instanceof Float64Array ? 'float64' : 'float32'));
    if (ArrayBuffer.isView(values)) {
      const flat = values as unknown as ArrayLike<number>;
      const data = allocate(dtype, flat.length);
      data.set(flat);
      return new Tensor(data, opts.shape ?? [flat.length]);
    }
    const shape: number[] = [];
    let probe: NestedArray = values as NestedArray;
    while (Array.isArray(probe)) {
      shape.push(probe.length);
      probe = probe[0];
    }
    const flat: number[] = [];
    const walk = (v: NestedArray, depth: number): void => {
      if (depth === shape.length) {
        if (typeof v !== 'number') throw new TypeError(`values must hold numbers, got ${typeof v} at depth ${depth}`);
        flat.push(v);
        return;
      }
      if (!Array.isArray(v) || v.length !== shape[depth]) {
        throw new RangeError(`values must be a rectangular nested array: expected length ${shape[depth]} at depth ${depth}`);
      }
      for (const e of v) walk(e, depth + 1);
    };
    walk(values as NestedArray, 0);
    const data = allocate(dtype, flat.length);
    data.set(flat);
    return new Tensor(data, opts.shape ?? shape);
  }

  /** The same memory seen with another shape of the same size. */
  reshape(shape: readonly number[]): Tensor {
    return new Tensor(this.storage, shape);
  }

  /** A copy on the same device. */
  clone(): Tensor {
    if (this.device === 'cpu') return this.astype(this.dtype);
    return Tensor.empty(this.shape, this.device).copyFrom(this);
  }

  /** A copy in the other dtype (or a clone). */
  astype(dtype: DType): Tensor {
    checkDType(dtype);
    if (this.device === 'cuda') {
      if (dtype !== 'float32') throw new TypeError(`cuda tensors are float32: move this ${this.toString()} to the cpu first to make it ${dtype}`);
      return this.clone();
    }
    const data = allocate(dtype, this.size);
    data.set(this.data);
    return new Tensor(data, this.shape);
  }

  /**
   * This tensor on `device`: itself when it is already there, else a copy (float32 for cuda; a
   * float64 tensor must be made float32 first). A download waits for the GPU's queued work.
   */
  toDevice(device: Device): Tensor {
    const { target, same } = this.moveCheck(device);
    if (same) return this;
    const t = Tensor.empty(this.shape, target);
    t.copyFrom(this);
    return t;
  }

  /** toDevice() with the copy off the main thread. */
  async toDeviceAsync(device: Device): Promise<Tensor> {
    const { target, same } = this.moveCheck(device);
    if (same) return this;
    const t = Tensor.empty(this.shape, target);
    await t.copyFromAsync(this);
    return t;
  }

  /** Copies src's elements into this tensor's memory (any devices; same size and dtype). */
  copyFrom(src: Tensor): this {
    this.copyCall(src, false);
    return this;
  }

  /** copyFrom() off the main thread. */
  async copyFromAsync(src: Tensor): Promise<this> {
    await this.copyCall(src, true);
    return this;
  }

  /**
   * Frees a cuda tensor's device memory now rather than when it is collected (after the kernels
   * already queued on it). The tensor, its reshapes and its clones' sources must not be used
   * afterwards. A no-op on cpu tensors.
   */
  dispose(): void {
    if (this.device === 'cuda') (this.storage as CudaBuffer).dispose();
  }

  private moveCheck(device: Device): { target: Device; same: boolean } {
    const target = checkDevice('device', device);
    if (target === this.device) return { target, same: true };
    if (target === 'cuda' && this.dtype !== 'float32') {
      throw new TypeError(`cuda tensors are float32: convert this ${this.toString()} with .astype('float32') first`);
    }
    return { target, same: false };
  }

  /** Uninitialized memory on device (cpu: zeros) for a copy to fill. */
  private static empty(shape: readonly number[], device: Device): Tensor {
    return device === 'cuda' ? new Tensor(cudaAlloc(sizeOf(shape), false), shape) : Tensor.zeros(shape, 'float32');
  }

  private copyCall(src: Tensor, async: boolean): undefined | Promise<void> {
    if (!(src instanceof Tensor)) throw new TypeError(`src must be a Tensor, got ${kindOf(src)}`);
    if (src.size !== this.size) throw new RangeError(`src must hold ${this.size} elements like this ${this.toString()}, got ${src.toString()}`);
    if (src.dtype !== this.dtype) throw new TypeError(`src must have dtype ${this.dtype}, got ${src.dtype}`);
    const n = this.size;
    if (this.device === 'cpu' && src.device === 'cpu') {
      this.data.set(src.data);
      return async ? Promise.resolve() : undefined;
    }
    if (this.device === 'cuda' && src.device === 'cuda') return native.cudaCopy(n, this.storage as CudaBuffer, src.storage as CudaBuffer, async);
    if (this.device === 'cuda') return native.cudaUpload(n, this.storage as CudaBuffer, src.data as Float32Array, async);
    return native.cudaDownload(n, this.data as Float32Array, src.storage as CudaBuffer, async);
  }

  /** Nested plain arrays (a number for a rank-0 tensor). */
  toArray(): NestedArray {
    // Every element is a JavaScript number in an array, and an empty tensor still nests arrays down
    // to its first zero dimension ([2^31, 1, 0] would be 2^31 arrays). Past MAX_NESTED_ARRAYS
    // values V8 would abort the process (no array holds 2^27 elements; the heap runs out), so
    // refuse instead.
    let arrays = this.size;
    let rows = 1;
    for (const d of this.shape.slice(0, -1)) {
      rows *= d;
      arrays += rows;
      if (rows === 0) break;
    }
    if (arrays > MAX_NESTED_ARRAYS) {
      throw new RangeError(`toArray of this ${this.toString()} would build ${arrays} nested arrays and numbers (at most ${MAX_NESTED_ARRAYS}): read .data instead`);
    }
    const data = this.data;
    const build = (offset: number, depth: number): NestedArray => {
      if (depth === this.shape.length) return data[offset];
      const stride = sizeOf(this.shape.slice(depth + 1));
      const out: NestedArray[] = [];
      for (let i = 0; i < this.shape[depth]; i++) out.push(build(offset + i * stride, depth + 1));
      return out;
    };
    return build(0, 0);
  }

  /** Element at a multi-index (one whole number per axis, each within its dimension). */
  get(...index: number[]): number {
    if (index.length !== this.shape.length) {
      throw new RangeError(`get needs ${this.shape.length} indices for this ${this.toString()}, got ${index.length}`);
    }
    let off = 0;
    for (let i = 0; i < this.shape.length; i++) {
      const k = index[i];
      if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= this.shape[i]) {
        throw new RangeError(`index ${i} must be an integer in [0, ${this.shape[i]}) for this ${this.toString()}, got ${typeof k === 'number' ? k : kindOf(k)}`);
      }
      off = off * this.shape[i] + k;
    }
    return this.data[off];
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}]${this.device === 'cuda' ? ', cuda' : ''})`;
  }
}

/**
 * x copied into `into` when that is a tensor of x's shape on `device`, else into a new one there
 * (`into` is then disposed): a reusable staging buffer for batches going to the device.
 */
export async function stageOn(device: Device, x: Tensor, into: Tensor | null): Promise<Tensor> {
  if (!into || into.device !== device || into.shape.join() !== x.shape.join()) {
    into?.dispose();
    into = Tensor.zeros(x.shape, x.dtype, device);
  }
  return into.copyFromAsync(x);
}

/** A zeroed tensor shaped like `like` (or with `shape`) in its dtype, on its device. */
export function zerosLike(like: Tensor, shape: readonly number[] = like.shape): Tensor {
  return Tensor.zeros(shape, like.dtype, like.device);
}
