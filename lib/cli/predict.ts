// `deepconv predict`: class probabilities for PNG files or for test-set images by index.
import * as fs from 'fs';
import { PNG } from 'pngjs';
import { DatasetName, loadDataset } from '../data';
import { Model, sliceRows } from '../models';
import { Tensor } from '../tensor';
import type { DataInfo } from './find-data';

function softmaxRow(scores: Tensor, i: number): number[] {
  const C = scores.shape[1];
  const row = Array.from(scores.data.subarray(i * C, (i + 1) * C));
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

function printTop(label: string, probs: number[], classes: string[], k: number, truth?: string): void {
  const order = probs.map((p, i) => [p, i] as const).sort((a, b) => b[0] - a[0]).slice(0, k);
  const top = order.map(([p, i]) => `${classes[i] ?? i} ${(p * 100).toFixed(1)}%`).join(', ');
  console.log(`${label}: ${top}${truth !== undefined ? `   (label: ${truth})` : ''}`);
}

/** A PNG as one normalised (C, H, W) sample: nearest-neighbour resize, grey for 1 channel. */
export function pngToSample(file: string, info: DataInfo, out: Float32Array | Float64Array, offset: number): void {
  let png: PNG;
  try {
    png = PNG.sync.read(fs.readFileSync(file));
  } catch (e) {
    throw new Error(`${file}: not a readable PNG (${(e as Error).message})`);
  }
  const [C, H, W] = info.shape;
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const sy = Math.min(png.height - 1, Math.floor(((y + 0.5) * png.height) / H));
        const sx = Math.min(png.width - 1, Math.floor(((x + 0.5) * png.width) / W));
        const o = (sy * png.width + sx) * 4;
        const v = C === 1 ? 0.299 * png.data[o] + 0.587 * png.data[o + 1] + 0.114 * png.data[o + 2] : png.data[o + c];
        out[offset + (c * H + y) * W + x] = (v / 255 - info.mean[c]) / info.std[c];
      }
    }
  }
}

export async function predictImages(model: Model, info: DataInfo, files: string[], top: number): Promise<void> {
  const per = info.shape[0] * info.shape[1] * info.shape[2];
  const X = Tensor.zeros([files.length, ...info.shape], model.dtype);
  files.forEach((f, i) => pngToSample(f, info, X.data, i * per));
  const scores = await model.predict(X);
  files.forEach((f, i) => printTop(f, softmaxRow(scores, i), info.classes, top));
}

export async function predictIndices(model: Model, info: DataInfo, dataset: DatasetName, path: string, indices: number[], top: number): Promise<void> {
  const ds = await loadDataset(dataset, path, { parts: ['test'], mean: info.mean, std: info.std, dtype: model.dtype });
  const N = ds.xTest.shape[0];
  for (const i of indices) if (i >= N) throw new RangeError(`--indices: ${i} is past the ${N} test images`);
  const per = info.shape[0] * info.shape[1] * info.shape[2];
  const X = Tensor.zeros([indices.length, ...info.shape], model.dtype);
  indices.forEach((idx, k) => X.data.set(sliceRows(ds.xTest, idx, idx + 1).data, k * per));
  const scores = await model.predict(X);
  indices.forEach((idx, k) => printTop(`test[${idx}]`, softmaxRow(scores, k), info.classes, top, info.classes[ds.yTest[idx]]));
}
