// IDX files (MNIST, Fashion-MNIST), gzipped or not:
//   magic: 0x00 0x00, a type code (0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float,
//   0x0E double), the number of dimensions; then each dimension as a big-endian u32; then the
//   elements, big-endian, row-major.
import * as pathlib from 'path';
import { FileFormatError } from '../io/errors';
import { describe } from '../validate';
import { RawDataset, LoadOptions, checkLoadOptions } from './types';
import { readMaybeGzip, statOrNull } from '../io/files';

export type IdxType = 'ubyte' | 'byte' | 'short' | 'int' | 'float' | 'double';
export type IdxArray = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxData {
  type: IdxType;
  dims: number[];
  data: IdxArray;
}

const TYPES: Record<number, { type: IdxType; size: number }> = {
  0x08: { type: 'ubyte', size: 1 },
  0x09: { type: 'byte', size: 1 },
  0x0b: { type: 'short', size: 2 },
  0x0c: { type: 'int', size: 4 },
  0x0d: { type: 'float', size: 4 },
  0x0e: { type: 'double', size: 8 },
};

function hex(buf: Uint8Array, n: number): string {
  return '0x' + [...buf.subarray(0, n)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Parses IDX bytes (already gunzipped); `file` names it in errors. */
export function parseIdx(buf: Uint8Array, file = '<buffer>'): IdxData {
  const fail = (problem: string): FileFormatError => new FileFormatError(file, problem);
  if (buf.length < 4) throw fail(`file is ${buf.length} bytes, too short for the 4-byte IDX magic number`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw fail(`wrong magic number ${hex(buf, 4)}: an IDX file starts with two zero bytes, a type code and the number of dimensions (e.g. 0x00000803)`);
  }
  const t = TYPES[buf[2]];
  if (!t) throw fail(`unknown IDX type code 0x${buf[2].toString(16).padStart(2, '0')} in magic number ${hex(buf, 4)} (expected 08, 09, 0b, 0c, 0d or 0e)`);
  const ndims = buf[3];
  if (ndims === 0) throw fail(`magic number ${hex(buf, 4)} gives 0 dimensions`);
  const headerLen = 4 + 4 * ndims;
  if (buf.length < headerLen) throw fail(`truncated header: ${ndims} dimensions need ${headerLen} header bytes, file has ${buf.length}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const need = count * t.size;
  const have = buf.length - headerLen;
  if (have < need) throw fail(`truncated: ${t.type} dims [${dims.join(', ')}] need ${need} bytes of data, file has ${have}`);
  if (have > need) throw fail(`${have - need} bytes after the data for ${t.type} dims [${dims.join(', ')}] (wrong dims or not an IDX file)`);
  let data: IdxArray;
  const start = headerLen;
  switch (t.type) {
    case 'ubyte':
    case 'byte': {
      const a = new Uint8Array(count); // a copy, whatever kind of Uint8Array (Buffer, pooled) came in
      a.set(buf.subarray(start, start + need));
      data = t.type === 'ubyte' ? a : new Int8Array(a.buffer);
      break;
    }
    case 'short': {
      const a = new Int16Array(count);
      for (let i = 0; i < count; i++) a[i] = view.getInt16(start + 2 * i, false);
      data = a;
      break;
    }
    case 'int': {
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) a[i] = view.getInt32(start + 4 * i, false);
      data = a;
      break;
    }
    case 'float': {
      const a = new Float32Array(count);
      for (let i = 0; i < count; i++) a[i] = view.getFloat32(start + 4 * i, false);
      data = a;
      break;
    }
    default: {
      const a = new Float64Array(count);
      for (let i = 0; i < count; i++) a[i] = view.getFloat64(start + 8 * i, false);
      data = a;
    }
  }
  return { type: t.type, dims, data };
}

/** Reads an IDX file; gzip is detected by its magic bytes (1f 8b), whatever the name. */
export async function loadIdx(file: string): Promise<IdxData> {
  if (typeof file !== 'string' || file === '') throw new TypeError(`file must be a non-empty string, got ${describe(file)}`);
  return parseIdx(await readMaybeGzip(file), file);
}

export const MNIST_CLASSES: readonly string[] = Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
]);

/** The first of `train-images-idx3-ubyte`, `.gz`, `train-images.idx3-ubyte`, `.gz` that exists. */
async function findIdx(dir: string, base: string): Promise<string> {
  const dotted = base.replace(/-(idx\d-ubyte)$/, '.$1');
  const candidates = [base, `${base}.gz`, dotted, `${dotted}.gz`];
  for (const c of candidates) {
    const st = await statOrNull(pathlib.join(dir, c));
    if (st?.isFile()) return pathlib.join(dir, c);
  }
  throw new FileFormatError(pathlib.join(dir, base), `file not found (also looked for ${candidates.slice(1).join(', ')})`);
}

async function loadSplit(dir: string, prefix: 'train' | 't10k', limit: number, numClasses: number): Promise<{ x: Uint8Array; y: Uint8Array; hw: [number, number] }> {
  const imgFile = await findIdx(dir, `${prefix}-images-idx3-ubyte`);
  const labFile = await findIdx(dir, `${prefix}-labels-idx1-ubyte`);
  const img = await loadIdx(imgFile);
  if (img.type !== 'ubyte' || img.dims.length !== 3) {
    throw new FileFormatError(imgFile, `expected ubyte images with 3 dimensions (N, rows, cols), got ${img.type} dims [${img.dims.join(', ')}]`);
  }
  const lab = await loadIdx(labFile);
  if (lab.type !== 'ubyte' || lab.dims.length !== 1) {
    throw new FileFormatError(labFile, `expected ubyte labels with 1 dimension (N), got ${lab.type} dims [${lab.dims.join(', ')}]`);
  }
  const [N, H, W] = img.dims;
  if (lab.dims[0] !== N) {
    throw new FileFormatError(labFile, `has ${lab.dims[0]} labels but ${pathlib.basename(imgFile)} has ${N} images`);
  }
  const labels = lab.data as Uint8Array;
  const n = Math.min(N, limit);
  for (let i = 0; i < n; i++) {
    if (labels[i] >= numClasses) throw new FileFormatError(labFile, `label ${labels[i]} at index ${i} is out of range 0..${numClasses - 1}`);
  }
  const x = n === N ? (img.data as Uint8Array) : (img.data as Uint8Array).slice(0, n * H * W);
  return { x, y: n === N ? labels : labels.slice(0, n), hw: [H, W] };
}

/**
 * Loads MNIST-format data from `dir`: train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally gzipped (.gz).
 * Images come back as uint8 (N, 1, H, W) (H = W = 28 for MNIST), labels as uint8.
 */
export async function loadMnist(dir: string, opts?: LoadOptions & { classes?: readonly string[] }): Promise<RawDataset> {
  if (typeof dir !== 'string' || dir === '') throw new TypeError(`dir must be a non-empty string, got ${describe(dir)}`);
  const o = checkLoadOptions(opts);
  const classes = [...(opts?.classes ?? MNIST_CLASSES)];
  const st = await statOrNull(dir);
  if (!st) throw new FileFormatError(dir, 'folder not found');
  if (!st.isDirectory()) throw new FileFormatError(dir, 'is not a folder (expected the folder holding the IDX files)');
  const empty = { x: new Uint8Array(0), y: new Uint8Array(0), hw: null as [number, number] | null };
  const train = o.train ? await loadSplit(dir, 'train', o.maxTrain, classes.length) : empty;
  const test = o.test ? await loadSplit(dir, 't10k', o.maxTest, classes.length) : empty;
  if (train.hw && test.hw && (train.hw[0] !== test.hw[0] || train.hw[1] !== test.hw[1])) {
    throw new FileFormatError(dir, `training images are ${train.hw.join('x')} but test images are ${test.hw.join('x')}`);
  }
  const hw = (train.hw ?? test.hw)!;
  return { xTrain: train.x, yTrain: train.y, xTest: test.x, yTest: test.y, classes, shape: [1, hw[0], hw[1]] };
}

/** Fashion-MNIST: the MNIST layout with the ten clothing classes. */
export async function loadFashionMnist(dir: string, opts?: LoadOptions): Promise<RawDataset> {
  return loadMnist(dir, { ...opts, classes: FASHION_MNIST_CLASSES });
}
