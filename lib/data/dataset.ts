// From stored uint8 images to training-ready tensors: scaling to [0, 1], per-channel statistics,
// normalization, a seeded validation split, and loadDataset() that does it all by name.
import { Tensor, DType } from '../tensor';
import { Rng } from '../random';
import { checkInt, checkOptions, checkTensor, describe } from '../validate';
import { RawDataset } from './types';
import { ImageFolderOptions, loadImageFolder } from './folder';
import { loadCifar10 } from './cifar10';
import { loadMnist, loadFashionMnist } from './idx';

export interface ChannelStats {
  mean: number[];
  std: number[];
}

function checkSampleShape(shape: unknown): [number, number, number] {
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new TypeError(`shape must be one sample's [C, H, W] (positive integers), got ${describe(shape)}`);
  }
  return [shape[0], shape[1], shape[2]];
}

function sampleCount(images: Uint8Array, shape: [number, number, number], name = 'images'): number {
  if (!(images instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array, got ${describe(images)}`);
  const per = shape[0] * shape[1] * shape[2];
  if (images.length % per !== 0) throw new RangeError(`${name} has ${images.length} bytes, not a whole number of [${shape.join(', ')}] samples (${per} bytes each)`);
  return images.length / per;
}

function checkPerChannel(name: string, v: unknown, C: number, positive: boolean): number[] {
  if (!(Array.isArray(v) || ArrayBuffer.isView(v))) throw new TypeError(`${name} must be an array of ${C} numbers, got ${describe(v)}`);
  const a = Array.from(v as ArrayLike<number>);
  if (a.length !== C) throw new RangeError(`${name} must have one value per channel (${C}), got ${a.length}`);
  a.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isFinite(x) || (positive && !(x > 0))) {
      throw new RangeError(`${name}[${i}] must be a ${positive ? 'positive' : 'finite'} number, got ${describe(x)}`);
    }
  });
  return a;
}

/**
 * Per-channel mean and (population) standard deviation.
 * Of a (N, C, ...) tensor, or of uint8 images with one sample's [C, H, W], read as value/255
 * (computed exactly from per-channel histograms).
 */
export function channelStats(x: Tensor | Uint8Array, shape?: readonly number[]): ChannelStats {
  if (x instanceof Uint8Array) {
    const s = checkSampleShape(shape);
    const N = sampleCount(x, s);
    if (N === 0) throw new RangeError('channelStats needs at least one sample, got 0');
    const [C, H, W] = s;
    const plane = H * W;
    const mean: number[] = [];
    const std: number[] = [];
    const hist = new Float64Array(256);
    for (let c = 0; c < C; c++) {
      hist.fill(0);
      for (let n = 0; n < N; n++) {
        const base = (n * C + c) * plane;
        for (let i = 0; i < plane; i++) hist[x[base + i]]++;
      }
      const count = N * plane;
      let sum = 0;
      for (let v = 0; v < 256; v++) sum += hist[v] * v;
      const m = sum / count;
      let ss = 0;
      for (let v = 0; v < 256; v++) ss += hist[v] * (v - m) * (v - m);
      mean.push(m / 255);
      std.push(Math.sqrt(ss / count) / 255);
    }
    return { mean, std };
  }
  const t = checkTensor('x', x);
  if (t.ndim < 2) throw new RangeError(`x must have shape (N, C, ...), got [${t.shape.join(', ')}]`);
  const [N, C] = t.shape;
  if (N === 0) throw new RangeError('channelStats needs at least one sample, got 0');
  const plane = t.size / (N * C);
  const d = t.data;
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let n = 0; n < N; n++) {
      const base = (n * C + c) * plane;
      for (let i = 0; i < plane; i++) sum += d[base + i];
    }
    const m = sum / (N * plane);
    let ss = 0;
    for (let n = 0; n < N; n++) {
      const base = (n * C + c) * plane;
      for (let i = 0; i < plane; i++) {
        const e = d[base + i] - m;
        ss += e * e;
      }
    }
    mean.push(m);
    std.push(Math.sqrt(ss / (N * plane)));
  }
  return { mean, std };
}

/**
 * uint8 images (one sample's shape [C, H, W]) as a (N, C, H, W) float tensor: value/255, and with
 * `mean`/`std` given, (value/255 - mean[c]) / std[c] in the same pass.
 */
export function toFloat(images: Uint8Array, shape: readonly number[], opts?: { mean?: ArrayLike<number>; std?: ArrayLike<number>; dtype?: DType }): Tensor {
  const o = checkOptions('opts', opts);
  const s = checkSampleShape(shape);
  const N = sampleCount(images, s);
  const [C, H, W] = s;
  if ((o.mean === undefined) !== (o.std === undefined)) throw new TypeError('opts.mean and opts.std must be given together');
  const mean = o.mean === undefined ? new Array(C).fill(0) : checkPerChannel('opts.mean', o.mean, C, false);
  const std = o.std === undefined ? new Array(C).fill(1) : checkPerChannel('opts.std', o.std, C, true);
  const out = Tensor.zeros([N, C, H, W], o.dtype ?? 'float32');
  const d = out.data;
  const plane = H * W;
  // One 256-entry table per channel: no arithmetic per pixel.
  const luts = mean.map((m, c) => {
    const lut = d instanceof Float64Array ? new Float64Array(256) : new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = (v / 255 - m) / std[c];
    return lut;
  });
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const lut = luts[c];
      const base = (n * C + c) * plane;
      for (let i = 0; i < plane; i++) d[base + i] = lut[images[base + i]];
    }
  }
  return out;
}

/** (x - mean[c]) / std[c] over channel axis 1 of a (N, C, ...) tensor; a new tensor unless opts.inPlace. */
export function normalize(x: Tensor, mean: ArrayLike<number>, std: ArrayLike<number>, opts?: { inPlace?: boolean }): Tensor {
  const t = checkTensor('x', x);
  if (t.ndim < 2) throw new RangeError(`x must have shape (N, C, ...), got [${t.shape.join(', ')}]`);
  const [N, C] = t.shape;
  const m = checkPerChannel('mean', mean, C, false);
  const s = checkPerChannel('std', std, C, true);
  const out = checkOptions('opts', opts).inPlace ? t : t.clone();
  const d = out.data;
  const plane = N * C === 0 ? 0 : t.size / (N * C);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const mc = m[c];
      const inv = 1 / s[c];
      const base = (n * C + c) * plane;
      for (let i = 0; i < plane; i++) d[base + i] = (d[base + i] - mc) * inv;
    }
  }
  return out;
}

/**
 * Moves `numVal` training samples, drawn by a seeded shuffle, into a validation set. The samples
 * left for training keep their file order, and so do the validation samples. With numVal = 0 the
 * training arrays are returned as they are (not copied).
 */
export function splitValidation(data: RawDataset, numVal: number, seed = 0): RawDataset & { xVal: Uint8Array; yVal: Uint8Array } {
  const s = checkSampleShape(data?.shape);
  const N = sampleCount(data.xTrain, s, 'data.xTrain');
  if (!(data.yTrain instanceof Uint8Array) || data.yTrain.length !== N) {
    throw new RangeError(`data.yTrain must be a Uint8Array of ${N} labels, got ${describe(data.yTrain)}`);
  }
  checkInt('numVal', numVal, 0);
  if (numVal > N) throw new RangeError(`numVal must be at most the ${N} training samples, got ${numVal}`);
  checkInt('seed', seed, 0);
  if (numVal === 0) return { ...data, xVal: new Uint8Array(0), yVal: new Uint8Array(0) };
  const per = s[0] * s[1] * s[2];
  const perm = new Int32Array(N);
  for (let i = 0; i < N; i++) perm[i] = i;
  new Rng(seed).shuffle(perm);
  const isVal = new Uint8Array(N);
  for (let i = 0; i < numVal; i++) isVal[perm[i]] = 1;
  const xVal = new Uint8Array(numVal * per);
  const yVal = new Uint8Array(numVal);
  const xTrain = new Uint8Array((N - numVal) * per);
  const yTrain = new Uint8Array(N - numVal);
  let v = 0;
  let t = 0;
  for (let i = 0; i < N; i++) {
    const src = data.xTrain.subarray(i * per, (i + 1) * per);
    if (isVal[i]) {
      xVal.set(src, v * per);
      yVal[v++] = data.yTrain[i];
    } else {
      xTrain.set(src, t * per);
      yTrain[t++] = data.yTrain[i];
    }
  }
  return { ...data, xTrain, yTrain, xVal, yVal };
}

/** 'folder': the user's own images, a subfolder per class (see folder.ts). */
export type DatasetName = 'cifar10' | 'mnist' | 'fashion-mnist' | 'folder';

export interface DatasetOptions extends ImageFolderOptions {
  /** Training samples moved into a validation set (default 0). */
  numVal?: number;
  /** Seed of the validation split (default 0). */
  seed?: number;
  /** Subtract the per-channel training mean and divide by the std (default true); else just /255. */
  normalize?: boolean;
  /** Use these statistics (e.g. a trained model's) instead of computing them on the training set. */
  mean?: ArrayLike<number>;
  std?: ArrayLike<number>;
  dtype?: DType;
}

export interface Dataset {
  /** (N, C, H, W) */
  xTrain: Tensor;
  yTrain: Int32Array;
  xVal: Tensor;
  yVal: Int32Array;
  xTest: Tensor;
  yTest: Int32Array;
  /** What was subtracted and divided by, per channel (0 and 1 when not normalized). */
  mean: number[];
  std: number[];
  classes: string[];
  /** One sample's [C, H, W]. */
  shape: [number, number, number];
}

const LOADERS: Record<DatasetName, (path: string, opts?: ImageFolderOptions) => Promise<RawDataset>> = {
  cifar10: loadCifar10,
  mnist: loadMnist,
  'fashion-mnist': loadFashionMnist,
  folder: loadImageFolder,
};

/**
 * Loads a data set by name and makes it ready for training: float tensors (N, C, H, W),
 * normalized per channel with statistics of the training samples (after the validation split),
 * Int32Array labels. `path`: for cifar10 the folder or cifar-10-binary.tar.gz; for mnist and
 * fashion-mnist the folder of IDX files; for folder, the image folder (imageSize, channels apply).
 */
export async function loadDataset(name: DatasetName, path: string, opts?: DatasetOptions): Promise<Dataset> {
  if (typeof name !== 'string' || !Object.prototype.hasOwnProperty.call(LOADERS, name)) {
    throw new TypeError(`name must be one of ${Object.keys(LOADERS).map((k) => `'${k}'`).join(', ')}, got ${describe(name)}`);
  }
  const loader = LOADERS[name];
  const o = checkOptions('opts', opts);
  const numVal = o.numVal === undefined ? 0 : checkInt('opts.numVal', o.numVal, 0);
  const seed = o.seed === undefined ? 0 : checkInt('opts.seed', o.seed, 0);
  if ((o.mean === undefined) !== (o.std === undefined)) throw new TypeError('opts.mean and opts.std must be given together');
  const raw = await loader(path, { parts: o.parts, maxTrain: o.maxTrain, maxTest: o.maxTest, imageSize: o.imageSize, channels: o.channels });
  const split = splitValidation(raw, numVal, seed);
  const C = raw.shape[0];
  let mean: number[] = new Array(C).fill(0);
  let std: number[] = new Array(C).fill(1);
  if (o.mean !== undefined) {
    mean = checkPerChannel('opts.mean', o.mean, C, false);
    std = checkPerChannel('opts.std', o.std, C, true);
  } else if (o.normalize !== false) {
    if (split.yTrain.length === 0) {
      throw new RangeError('normalizing needs training samples for the statistics: load the training part, pass opts.mean and opts.std, or set opts.normalize to false');
    }
    const st = channelStats(split.xTrain, raw.shape);
    mean = st.mean;
    std = st.std.map((s) => (s > 0 ? s : 1)); // a constant channel is only centered
  }
  const f = (x: Uint8Array): Tensor => toFloat(x, raw.shape, { mean, std, dtype: o.dtype });
  return {
    xTrain: f(split.xTrain),
    yTrain: Int32Array.from(split.yTrain),
    xVal: f(split.xVal),
    yVal: Int32Array.from(split.yVal),
    xTest: f(split.xTest),
    yTest: Int32Array.from(split.yTest),
    mean,
    std,
    classes: raw.classes,
    shape: raw.shape,
  };
}
