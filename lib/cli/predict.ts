// `deepconv predict`: class probabilities for PNG / JPEG files or for test-set images by index.
import { DatasetName, loadDataset, toFloat } from '../data';
import { Model, sliceRows } from '../models';
import { Tensor } from '../tensor';
import type { DataInfo } from './find-data';
import { readImage, resampleTo } from '../data/images';
import { checkClasses, testLoadOptions } from './read-model';

function softmaxRow(scores: Tensor, i: number): number[] {
  const C = scores.shape[1];
  const row = Array.from(scores.data.subarray(i * C, (i + 1) * C));
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

function printTop(label: string, probs: number[], classes: string[], k: number, json: boolean, truth?: string): void {
  const order = probs.map((p, i) => [p, i] as const).sort((a, b) => b[0] - a[0]).slice(0, k);
  if (json) {
    const rec = { input: label, top: order.map(([p, i]) => ({ class: classes[i] ?? String(i), index: i, probability: p })), ...(truth !== undefined ? { label: truth } : {}) };
    console.log(JSON.stringify(rec));
    return;
  }
  const top = order.map(([p, i]) => `${classes[i] ?? i} ${(p * 100).toFixed(1)}%`).join(', ');
  console.log(`${label}: ${top}${truth !== undefined ? `   (label: ${truth})` : ''}`);
}

/**
 * Image files (PNG or JPEG) resampled as training resamples image folders (data/images.ts), then
 * normalised as the training data were (toFloat).
 */
export async function predictImages(model: Model, info: DataInfo, files: string[], top: number, json = false): Promise<void> {
  const [C, H, W] = info.shape;
  const px = new Uint8Array(files.length * C * H * W);
  files.forEach((f, i) => resampleTo(readImage(f), C === 1 ? 1 : 3, H, W, px, i * C * H * W));
  const X = toFloat(px, info.shape, { mean: info.mean, std: info.std, dtype: model.dtype });
  const scores = await model.predict(X);
  files.forEach((f, i) => printTop(f, softmaxRow(scores, i), info.classes, top, json));
}

export async function predictIndices(model: Model, info: DataInfo, dataset: DatasetName, path: string, indices: number[], top: number, json = false): Promise<void> {
  const ds = await loadDataset(dataset, path, { parts: ['test'], ...testLoadOptions(info, model.dtype) });
  checkClasses(ds.classes, info, path);
  const N = ds.xTest.shape[0];
  for (const i of indices) if (i >= N) throw new RangeError(`--indices: ${i} is past the ${N} test images`);
  const per = info.shape[0] * info.shape[1] * info.shape[2];
  const X = Tensor.zeros([indices.length, ...info.shape], model.dtype);
  indices.forEach((idx, k) => X.data.set(sliceRows(ds.xTest, idx, idx + 1).data, k * per));
  const scores = await model.predict(X);
  indices.forEach((idx, k) => printTop(`test[${idx}]`, softmaxRow(scores, k), info.classes, top, json, info.classes[ds.yTest[idx]]));
}
