// Tensor: a shape, a dtype and a typed array that native kernels read and write in place.
import { Rng } from './random';

export type DType = 'float32' | 'float64';
export type Device = 'cpu';
export type FloatArray = Float32Array | Float64Array;
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

function allocate(dtype: DType, n: number): FloatArray {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
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

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: Device = 'cpu';
  /** The elements, row-major. Zero-copy: kernels read and write this memory directly. */
  readonly data: FloatArray;

  /** Wraps `data` (not copied) as a tensor of `shape`. */
  constructor(data: FloatArray, shape: readonly number[]) {
    if (!(data instanceof Float32Array || data instanceof Float64Array)) {
      throw new TypeError(`data must be a Float32Array or Float64Array, got ${kindOf(data)}`);
    }
    const s = checkShapeArg(shape);
    if (sizeOf(s) !== data.length) {
      throw new RangeError(`data has ${data.length} elements but shape [${s.join(', ')}] needs ${sizeOf(s)}`);
    }
    this.data = data;
    this.shape = Object.freeze(s);
    this.dtype = dtypeOf(data);
  }

  get size(): number {
    return this.data.length;
  }

  get ndim(): number {
    return this.shape.length;
  }

  static zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    const s = checkShapeArg(shape);
    return new Tensor(allocate(checkDType(dtype), sizeOf(s)), s);
  }

  static full(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
    const t = Tensor.zeros(shape, dtype);
    t.data.fill(value);
    return t;
  }

  /** Normal(0, std^2) samples from a seeded generator. */
  static randn(shape: readonly number[], opts: { dtype?: DType; seed?: number; std?: number } = {}): Tensor {
    const t = Tensor.zeros(shape, opts.dtype ?? 'float32');
    const rng = new Rng(opts.seed);
    const std = opts.std ?? 1;
    for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal() * std;
    return t;
  }

  /** Uniform [lo, hi) samples from a seeded generator. */
  static rand(shape: readonly number[], opts: { dtype?: DType; seed?: number; lo?: number; hi?: number } = {}): Tensor {
    const t = Tensor.zeros(shape, opts.dtype ?? 'float32');
    const rng = new Rng(opts.seed);
    const lo = opts.lo ?? 0;
    const hi = opts.hi ?? 1;
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
    return new Tensor(this.data, shape);
  }

  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape);
  }

  /** A copy in the other dtype (or a clone). */
  astype(dtype: DType): Tensor {
    const data = allocate(checkDType(dtype), this.size);
    data.set(this.data);
    return new Tensor(data, this.shape);
  }

  /** Nested plain arrays (a number for a rank-0 tensor). */
  toArray(): NestedArray {
    const build = (offset: number, depth: number): NestedArray => {
      if (depth === this.shape.length) return this.data[offset];
      const stride = sizeOf(this.shape.slice(depth + 1));
      const out: NestedArray[] = [];
      for (let i = 0; i < this.shape[depth]; i++) out.push(build(offset + i * stride, depth + 1));
      return out;
    };
    return build(0, 0);
  }

  /** Element at a multi-index. */
  get(...index: number[]): number {
    let off = 0;
    for (let i = 0; i < this.shape.length; i++) off = off * this.shape[i] + index[i];
    return this.data[off];
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}])`;
  }
}

/** A zeroed tensor shaped like `like` (or with `shape`) in its dtype. */
export function zerosLike(like: Tensor, shape: readonly number[] = like.shape): Tensor {
  return Tensor.zeros(shape, like.dtype);
}
