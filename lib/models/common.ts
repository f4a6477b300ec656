// Helpers the networks share.
import { Rng } from '../random';
import { DType, Tensor } from '../tensor';
import { shapeStr } from '../validate';

/** Normal(0, std^2) weights of `shape` drawn from rng. */
export function normal(shape: readonly number[], std: number, dtype: DType, rng: Rng): Tensor {
  const t = Tensor.zeros(shape, dtype);
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = rng.normal() * std;
  return t;
}

/** X is (N, ...dims); returns N. */
export function checkSampleShape(X: Tensor, dims: readonly number[]): number {
  const s = X.shape;
  if (s.length !== dims.length + 1 || dims.some((d, i) => s[i + 1] !== d)) {
    throw new RangeError(`X must have shape [N, ${dims.join(', ')}] (the model's input dims), got ${shapeStr(s)}`);
  }
  return s[0];
}

/** X is (N, d1, ..., dk) with d1 * ... * dk = D; returns N. */
export function checkFlatSample(X: Tensor, D: number): number {
  const s = X.shape;
  const per = s.slice(1).reduce((a, b) => a * b, 1);
  if (s.length < 2 || per !== D) throw new RangeError(`X must have shape [N, ...] with ${D} values per sample (the model's inputDim), got ${shapeStr(s)}`);
  return s[0];
}
