// Small synthetic data sets for the data and io tests: CIFAR-10 batches (folder, .tar, .tar.gz),
// IDX files, and temp folders that are removed afterwards.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import * as tar from 'tar-stream';
import { Rng } from '../lib/random';

export const CIFAR_META = 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n';
export const CIFAR_TRAIN = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);

const made: string[] = [];

/** A fresh temp folder; removeTempDirs() deletes every one made. */
export function tempDir(prefix = 'deepconv-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

export function removeTempDirs(): void {
  while (made.length > 0) fs.rmSync(made.pop()!, { recursive: true, force: true });
}

/**
 * n CIFAR records (1 label byte + 3072 pixel bytes). Record i has label labels(i) and seeded
 * random pixels; its first pixel byte is `tag` so that tests can tell records apart.
 */
export function cifarRecords(n: number, seed: number, labels: (i: number) => number = (i) => (i + seed) % 10): Buffer {
  const rng = new Rng(seed);
  const b = Buffer.alloc(n * 3073);
  for (let i = 0; i < n; i++) {
    b[i * 3073] = labels(i);
    for (let p = 1; p < 3073; p++) b[i * 3073 + p] = rng.int(256);
    b[i * 3073 + 1] = (seed * 16 + i) & 255; // tag
  }
  return b;
}

/** A synthetic CIFAR-10 by file base name: `perBatch` records in each training batch, `test` in the test batch. */
export function cifarFiles(perBatch = 3, test = 4): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  CIFAR_TRAIN.forEach((n, i) => (files[n] = cifarRecords(perBatch, i + 1)));
  files['test_batch.bin'] = cifarRecords(test, 9);
  files['batches.meta.txt'] = Buffer.from(CIFAR_META);
  return files;
}

/** Writes the files into `dir`/cifar-10-batches-bin (or straight into dir with nested = false). */
export function writeCifarFolder(dir: string, files: Record<string, Buffer>, nested = true): string {
  const root = nested ? path.join(dir, 'cifar-10-batches-bin') : dir;
  fs.mkdirSync(root, { recursive: true });
  for (const [name, data] of Object.entries(files)) fs.writeFileSync(path.join(root, name), data);
  return root;
}

/** A tar archive of the entries (in the given order), gzipped unless gzip is false. */
export async function makeTar(entries: Array<{ name: string; data?: Buffer; type?: 'file' | 'directory' }>, gzip = true): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c) => chunks.push(c as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory' }, (err) => (err ? reject(err) : resolve()));
      else pack.entry({ name: e.name }, e.data ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  const raw = Buffer.concat(chunks);
  return gzip ? zlib.gzipSync(raw) : raw;
}

/** The CIFAR files as the official archive lays them out (folder entry, members in a mixed order). */
export async function cifarTarGz(files: Record<string, Buffer>, gzip = true): Promise<Buffer> {
  const order = ['data_batch_4.bin', 'data_batch_5.bin', 'data_batch_2.bin', 'batches.meta.txt', 'data_batch_1.bin', 'data_batch_3.bin', 'test_batch.bin'];
  const names = [...order.filter((n) => n in files), ...Object.keys(files).filter((n) => !order.includes(n))];
  return makeTar([{ name: 'cifar-10-batches-bin/', type: 'directory' }, ...names.map((n) => ({ name: `cifar-10-batches-bin/${n}`, data: files[n] }))], gzip);
}

/** IDX bytes: magic 00 00 type ndims, big-endian dims, then the values big-endian. */
export function idxBytes(type: number, dims: number[], values: ArrayLike<number>): Buffer {
  const size = ({ 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 } as Record<number, number>)[type];
  const head = 4 + 4 * dims.length;
  const b = Buffer.alloc(head + values.length * size);
  b[2] = type;
  b[3] = dims.length;
  dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
  for (let i = 0; i < values.length; i++) {
    const at = head + i * size;
    const v = values[i];
    if (type === 0x08) b.writeUInt8(v, at);
    else if (type === 0x09) b.writeInt8(v, at);
    else if (type === 0x0b) b.writeInt16BE(v, at);
    else if (type === 0x0c) b.writeInt32BE(v, at);
    else if (type === 0x0d) b.writeFloatBE(v, at);
    else b.writeDoubleBE(v, at);
  }
  return b;
}

/** n seeded uint8 images of h x w (image i starts with byte i) and labels i % 10. */
export function mnistArrays(n: number, h: number, w: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * h * w);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  for (let i = 0; i < n; i++) images[i * h * w] = i & 255;
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = (i + seed) % 10;
  return { images, labels };
}

/** An MNIST-layout folder: train/t10k images and labels, gzipped or not. */
export function writeMnistFolder(dir: string, opts: { train?: number; test?: number; h?: number; w?: number; gzip?: boolean } = {}): {
  train: { images: Uint8Array; labels: Uint8Array };
  test: { images: Uint8Array; labels: Uint8Array };
} {
  const h = opts.h ?? 28;
  const w = opts.w ?? 28;
  const train = mnistArrays(opts.train ?? 7, h, w, 1);
  const test = mnistArrays(opts.test ?? 5, h, w, 2);
  const put = (name: string, b: Buffer): void => {
    fs.writeFileSync(path.join(dir, opts.gzip ? `${name}.gz` : name), opts.gzip ? zlib.gzipSync(b) : b);
  };
  put('train-images-idx3-ubyte', idxBytes(0x08, [train.labels.length, h, w], train.images));
  put('train-labels-idx1-ubyte', idxBytes(0x08, [train.labels.length], train.labels));
  put('t10k-images-idx3-ubyte', idxBytes(0x08, [test.labels.length, h, w], test.images));
  put('t10k-labels-idx1-ubyte', idxBytes(0x08, [test.labels.length], test.labels));
  return { train, test };
}
