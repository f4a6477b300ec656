// Weight initialization: Kaiming (He) normal, from a seeded generator.
import { Rng } from './random';
import { DType, Tensor } from './tensor';
import { checkInt, checkOptions, invalidType } from './validate';

export interface KaimingOptions {
  /** Kernel size: given, the weight is a conv filter bank (Dout, Din, K, K); absent, a linear (Din, Dout). */
  K?: number;
  /** Gain 2 (weights followed by a ReLU, the default) or 1 (relu: false). */
  relu?: boolean;
  dtype?: DType;
  /** Seed of the normal draws (random when absent). */
  seed?: number;
  /** Draw from this generator instead (takes precedence over seed). */
  rng?: Rng;
}

const KAIMING_KEYS = ['K', 'relu', 'dtype', 'seed', 'rng'];

/**
 * Kaiming normal initialization: std = sqrt(gain / fanIn), gain 2 with relu else 1.
 * Linear (K absent): shape (Din, Dout), fanIn = Din. Conv (K given): shape (Dout, Din, K, K),
 * fanIn = Din * K * K.
 */
export function kaimingInitializer(Din: number, Dout: number, opts?: KaimingOptions): Tensor {
  checkInt('Din', Din, 1);
  checkInt('Dout', Dout, 1);
  const o = checkOptions('opts', opts);
  for (const k of Object.keys(o)) {
    if (!KAIMING_KEYS.includes(k)) throw new TypeError(`opts.${k} is not a kaimingInitializer option (expected one of ${KAIMING_KEYS.join(', ')})`);
  }
  const K = o.K === undefined || o.K === null ? undefined : checkInt('opts.K', o.K, 1);
  const relu = o.relu ?? true;
  if (typeof relu !== 'boolean') throw invalidType('opts.relu', 'a boolean', relu);
  const dtype = o.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float64') throw invalidType('opts.dtype', "'float32' or 'float64'", dtype);
  if (o.rng !== undefined && !(o.rng instanceof Rng)) throw invalidType('opts.rng', 'an Rng', o.rng);
  const rng = o.rng ?? new Rng(o.seed === undefined || o.seed === null ? undefined : checkInt('opts.seed', o.seed, 0));
  const gain = relu ? 2 : 1;
  const fanIn = K === undefined ? Din : Din * K * K;
  const std = Math.sqrt(gain / fanIn);
  const t = Tensor.zeros(K === undefined ? [Din, Dout] : [Dout, Din, K, K], dtype);
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = rng.normal() * std;
  return t;
}
