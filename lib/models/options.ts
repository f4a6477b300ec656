// Constructor-option checks shared by the networks. Every error names the option (as
// `options.<name>`), what was expected and what came.
import { checkDevice, Device, DType } from '../tensor';
import { checkInt, checkNumber, invalidRange, invalidType } from '../validate';

/** The options object, refusing keys that are not options of `className`. */
export function readOptions(className: string, opts: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw invalidType(`${className} options`, 'an options object', opts);
  const o = opts as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new TypeError(`options.${k} is not a ${className} option (expected one of ${allowed.join(', ')})`);
  }
  return o;
}

export function optInt(name: string, v: unknown, min: number): number {
  return checkInt(`options.${name}`, v, min);
}

export function optNonNegative(name: string, v: unknown): number {
  return checkNumber(`options.${name}`, v, (x) => x >= 0, 'a finite number >= 0');
}

export function optBool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw invalidType(`options.${name}`, 'a boolean', v);
  return v;
}

export function optDtype(v: unknown): DType {
  if (v !== 'float32' && v !== 'float64') throw invalidType('options.dtype', "'float32' or 'float64'", v);
  return v;
}

export function optDevice(v: unknown): Device {
  return checkDevice('options.device', v);
}

/** A seed (integer >= 0) or null/undefined for "random". */
export function optSeed(v: unknown): number | null {
  if (v === undefined || v === null) return null;
  return checkInt('options.seed', v, 0);
}

/** An array of integers >= min, of at least minLength elements. */
export function optIntArray(name: string, v: unknown, min: number, minLength = 0): number[] {
  if (!Array.isArray(v)) throw invalidType(`options.${name}`, `an array of integers >= ${min}`, v);
  if (v.length < minLength) throw invalidRange(`options.${name}`, `an array of at least ${minLength} integers >= ${min}`, v);
  return v.map((x, i) => checkInt(`options.${name}[${i}]`, x, min));
}

/** [C, H, W], positive integers. */
export function optInputDims(v: unknown): [number, number, number] {
  if (!Array.isArray(v) || v.length !== 3) throw invalidType('options.inputDims', 'an array [C, H, W] of 3 positive integers', v);
  const d = optIntArray('inputDims', v, 1);
  return [d[0], d[1], d[2]];
}

export function optWeightScale(v: unknown, allowKaiming: boolean): number | 'kaiming' {
  if (allowKaiming && v === 'kaiming') return v;
  const expected = allowKaiming ? "a finite number >= 0 or 'kaiming'" : 'a finite number >= 0';
  if (typeof v !== 'number') throw invalidType('options.weightScale', expected, v);
  if (!Number.isFinite(v) || v < 0) throw invalidRange('options.weightScale', expected, v);
  return v;
}


/** A batchnorm momentum: running = momentum * running + (1 - momentum) * batch, in [0, 1). */
export function optBnMomentum(v: unknown): number {
  return checkNumber('options.bnMomentum', v, (x) => x >= 0 && x < 1, "a number in [0, 1) (the running statistics' weight: running = m * running + (1 - m) * batch)");
}
