// Argument checks, run before any native call. Each error names the argument, what was
// expected and what came (sharp's invalidParameterError, in spirit).
import { Tensor, DType, LOST, viewKind } from './tensor';

/** A short, readable description of any value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (v instanceof Tensor) return `a ${v.dtype}${v.device === 'cuda' ? ' cuda' : ''} Tensor of shape [${v.shape.join(', ')}]`;
  if (ArrayBuffer.isView(v)) return `${viewKind(v)} of length ${(v as unknown as { length: number }).length}`;
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

export function invalidType(name: string, expected: string, actual: unknown): TypeError {
  return new TypeError(`${name} must be ${expected}, got ${describe(actual)}`);
}

export function invalidRange(name: string, expected: string, actual: unknown): RangeError {
  return new RangeError(`${name} must be ${expected}, got ${describe(actual)}`);
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * A Tensor of the given rank (dims names the axes for the message, e.g. "(N, C, H, W)") that
 * still has its memory and, unless `empty` allows it, holds at least one element. Ops refuse empty
 * operands everywhere with this one message (an empty batch has nothing to compute, and a zero
 * dimension is almost always a bug); containers such as a data set's validation split allow them.
 */
export function checkTensor(name: string, t: unknown, rank?: number, dims?: string, empty = false): Tensor {
  if (!(t instanceof Tensor)) throw invalidType(name, 'a Tensor', t);
  if (rank !== undefined && t.shape.length !== rank) {
    throw new RangeError(`${name} must have rank ${rank}${dims ? ` ${dims}` : ''}, got shape ${shapeStr(t.shape)}`);
  }
  if (t.size === 0 && !empty) throw new RangeError(`${name} must not be empty (every dimension >= 1), got shape ${shapeStr(t.shape)}`);
  if (t.detached) throw new TypeError(`${name} (${describe(t)}) ${LOST}`);
  return t;
}

/** A Tensor of exactly this shape. */
export function checkShape(name: string, t: unknown, shape: readonly number[], why = ''): Tensor {
  const x = checkTensor(name, t);
  if (x.shape.length !== shape.length || x.shape.some((d, i) => d !== shape[i])) {
    throw new RangeError(`${name} must have shape ${shapeStr(shape)}${why ? ` (${why})` : ''}, got ${shapeStr(x.shape)}`);
  }
  return x;
}

/** Every tensor has the dtype and the device of the first. */
export function checkSameDtype(tensors: Record<string, Tensor>): DType {
  const names = Object.keys(tensors);
  const first = names[0];
  const { dtype, device } = tensors[first];
  for (const n of names.slice(1)) {
    if (tensors[n].dtype !== dtype) {
      throw new TypeError(`${n} must have dtype ${dtype} like ${first}, got ${tensors[n].dtype}`);
    }
    if (tensors[n].device !== device) {
      throw new TypeError(`${n} must be on ${device} like ${first}, got a tensor on ${tensors[n].device} (move it with .toDevice('${device}'))`);
    }
  }
  return dtype;
}

/** A whole number >= min. */
export function checkInt(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number') throw invalidType(name, `an integer >= ${min}`, v);
  if (!Number.isInteger(v) || v < min) throw invalidRange(name, `an integer >= ${min}`, v);
  return v;
}

/** A finite number, optionally within (lo, hi] or [lo, hi] bounds described by `expected`. */
export function checkNumber(name: string, v: unknown, ok: (x: number) => boolean = () => true, expected = 'a finite number'): number {
  if (typeof v !== 'number') throw invalidType(name, expected, v);
  if (!Number.isFinite(v) || !ok(v)) throw invalidRange(name, expected, v);
  return v;
}

/** An options object (or undefined, read as {}). */
export function checkOptions<T extends object>(name: string, v: T | undefined): T {
  if (v === undefined) return {} as T;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidType(name, 'an options object', v);
  return v;
}

export type Labels = Int32Array | Uint8Array | readonly number[];

/** Labels for N samples of C classes, as the Int32Array the kernels read. */
export function checkLabels(name: string, y: unknown, N: number, C: number): Int32Array {
  if (!(y instanceof Int32Array || y instanceof Uint8Array || Array.isArray(y))) {
    throw invalidType(name, 'an Int32Array, Uint8Array or number[] of class labels', y);
  }
  const labels = y as Labels;
  if (labels.length !== N) throw new RangeError(`${name} must hold ${N} labels (one per row of scores), got ${labels.length}`);
  const out = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    const v = labels[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= C) {
      throw new RangeError(`${name}[${i}] must be an integer label in [0, ${C}), got ${describe(v)}`);
    }
    out[i] = v;
  }
  return out;
}
