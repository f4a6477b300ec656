// `deepconv eval`: test accuracy, per-class accuracy and the confusion matrix of a trained model,
// printed, as JSON (--json), and as a picture (--confusion FILE.svg, drawn by plots.ts).
import { loadDataset } from '../data';
import type { DatasetName } from '../data';
import type { Tta } from '../models/model';
import type { Device, Tensor } from '../tensor';
import { resolveData } from './find-data';
import { writeConfusion } from './plots';
import { checkClasses, readModel, testLoadOptions } from './read-model';

export interface Confusion {
  accuracy: number;
  /** Per true class: the fraction of its images predicted right (0 for a class with none). */
  perClass: number[];
  /** matrix[t][p]: images of true class t predicted as class p. */
  matrix: number[][];
}

/** Argmax of each row of (N, C) scores against labels y, over numClasses classes. */
export function confusionOf(scores: Tensor, y: Int32Array, numClasses: number): Confusion {
  const [N, C] = scores.shape;
  const matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let right = 0;
  for (let i = 0; i < N; i++) {
    let best = 0;
    for (let j = 1; j < C; j++) if (scores.data[i * C + j] > scores.data[i * C + best]) best = j;
    matrix[y[i]][best]++;
    if (best === y[i]) right++;
  }
  const perClass = matrix.map((row, t) => {
    const n = row.reduce((a, b) => a + b, 0);
    return n ? row[t] / n : 0;
  });
  return { accuracy: N ? right / N : 0, perClass, matrix };
}

export interface EvalArgs {
  model: string;
  dataset?: DatasetName;
  data?: string;
  batchSize: number;
  /** Default: the tta of the model's recipe (what train scored it with), else 'none'. */
  tta?: Tta;
  device: Device;
  json?: boolean;
  confusion?: string;
}

export async function runEval(a: EvalArgs): Promise<void> {
  if (a.confusion !== undefined && !/\.svg$/i.test(a.confusion)) throw new Error(`--confusion must name an .svg file, got ${JSON.stringify(a.confusion)}`);
  const { model, info, recipe } = readModel(a.model, a.device);
  const tta: Tta = a.tta ?? (recipe?.tta === 'flip' ? 'flip' : 'none');
  const where = resolveData(a.dataset ?? info.dataset, a.data);
  const ds = await loadDataset(where.dataset, where.path, { parts: ['test'], ...testLoadOptions(info, model.dtype) });
  checkClasses(ds.classes, info, where.path);
  if (ds.yTest.length === 0) throw new Error(`${where.path} has no test images to evaluate on`);
  const t0 = performance.now();
  const scores = await model.predict(ds.xTest, { batchSize: a.batchSize, tta });
  const seconds = (performance.now() - t0) / 1000;
  const c = confusionOf(scores, ds.yTest, ds.classes.length);
  const imagesPerSecond = ds.yTest.length / seconds;
  if (a.confusion !== undefined) {
    writeConfusion(a.confusion, c, ds.classes, `${where.dataset} test set, ${ds.yTest.length} images${tta === 'flip' ? ', flip TTA' : ''}`);
  }
  if (a.json) {
    const perClass = Object.fromEntries(ds.classes.map((name, i) => [name, c.perClass[i]]));
    console.log(JSON.stringify({ model: a.model, dataset: where.dataset, images: ds.yTest.length, tta, accuracy: c.accuracy, perClass, classes: ds.classes, confusion: c.matrix, imagesPerSecond }));
    return;
  }
  console.log(`${where.dataset} test accuracy: ${(c.accuracy * 100).toFixed(2)}%${tta === 'flip' ? ' (flip TTA)' : ''} (${ds.yTest.length} images, ${imagesPerSecond.toFixed(0)} images/s)`);
  ds.classes.forEach((name, i) => console.log(`  ${name.padEnd(12)} ${(c.perClass[i] * 100).toFixed(1)}%`));
  if (a.confusion !== undefined) console.log(`wrote ${a.confusion}`);
}
