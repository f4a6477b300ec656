// Reading a model file `deepconv train` wrote: the network and the "data" metadata beside it.
import { FileFormatError } from '../io/errors';
import { loadModelFile } from '../io/model-file';
import { Model } from '../models';
import { modelFromFile } from '../models/model';
import { Device, DType } from '../tensor';
import type { DatasetOptions } from '../data';
import { DataInfo } from './find-data';

export function readModel(file: string, device: Device = 'cpu'): { model: Model; info: DataInfo; recipe: Record<string, unknown> | null } {
  const { model, info, recipe } = readModelMaybeData(file, device);
  if (!info) throw new FileFormatError(file, 'no "data" metadata (how inputs were normalised); was it written by deepconv train?');
  return { model, info, recipe };
}

/**
 * readModel() for commands that can do without the data metadata (null when the file has none).
 * `recipe` is what train recorded of its options (informational: null when absent or not JSON).
 */
export function readModelMaybeData(file: string, device: Device = 'cpu'): { model: Model; info: DataInfo | null; recipe: Record<string, unknown> | null } {
  const read = loadModelFile(file);  // once: the network and the data metadata both come from it
  const model = modelFromFile(read, file, device);
  const meta = read.metadata;
  return { model, info: meta.data ? parseDataInfo(meta.data, file, model) : null, recipe: parseRecipe(meta.recipe) };
}

function parseRecipe(text: string | undefined): Record<string, unknown> | null {
  if (text === undefined) return null;
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The "data" metadata `deepconv train` writes, checked field by field against the model. */
export function parseDataInfo(text: string, file: string, model: Model): DataInfo {
  const fail = (problem: string) => new FileFormatError(file, `__metadata__.data${problem.startsWith('.') ? '' : ' '}${problem}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw fail(`is not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw fail('must be a JSON object { dataset, mean, std, classes, shape }');
  const d = v as Record<string, unknown>;
  const numbers = (k: string, n: number, ok: (x: number) => boolean) => {
    const a = d[k];
    if (!Array.isArray(a) || a.length !== n || !a.every((x) => typeof x === 'number' && Number.isFinite(x) && ok(x))) {
      throw fail(`.${k} must be ${n} finite numbers${k === 'std' ? ' > 0' : ''}, got ${JSON.stringify(a)?.slice(0, 80)}`);
    }
  };
  if (typeof d.dataset !== 'string') throw fail(`.dataset must be a string, got ${JSON.stringify(d.dataset)}`);
  numbers('shape', 3, (x) => Number.isInteger(x) && x >= 1 && x <= 4096);
  const C = (d.shape as number[])[0];
  numbers('mean', C, () => true);
  numbers('std', C, (x) => x > 0);
  const classes = d.classes;
  if (!Array.isArray(classes) || classes.length !== model.numClasses || !classes.every((c) => typeof c === 'string')) {
    throw fail(`.classes must be ${model.numClasses} class names (the model's classes), got ${JSON.stringify(classes)?.slice(0, 80)}`);
  }
  return d as unknown as DataInfo;
}


/** How a data set is loaded to test a model: its normalization, its input size and channels (image folders). */
export function testLoadOptions(info: DataInfo, dtype: DType): DatasetOptions {
  const [C, H, W] = info.shape;
  return { mean: info.mean, std: info.std, dtype, imageSize: [H, W], channels: C === 1 ? 1 : 3 };
}

/** An image folder must name its classes as the training folder did (labels are their positions). */
export function checkClasses(classes: string[], info: DataInfo, where: string): void {
  if (classes.length !== info.classes.length || classes.some((c, i) => c !== info.classes[i])) {
    throw new Error(`${where} has the classes ${classes.join(', ')}, but the model was trained on ${info.classes.join(', ')}`);
  }
}
