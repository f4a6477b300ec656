// `deepconv eval`: test accuracy, per-class accuracy and the confusion matrix of a trained model,
// printed, as JSON (--json), and as a picture (--confusion FILE.svg).
import { loadDataset } from '../data';
import type { DatasetName } from '../data';
import { writeFileAtomic } from '../io/safetensors';
import type { Tta } from '../models/model';
import type { Device, Tensor } from '../tensor';
import { resolveData } from './find-data';
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

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The confusion matrix as an SVG heat map: rows are true classes, columns predicted ones, each
 * cell shaded by the fraction of its row (so classes of different sizes read alike) and labelled
 * with its count.
 */
export function confusionSvg(c: Confusion, classes: string[], title: string): string {
  const K = classes.length;
  const cell = Math.max(28, Math.min(56, Math.floor(560 / Math.max(K, 1))));
  const left = 110;
  const top = 60;
  const size = cell * K;
  const W = left + size + 20;
  const H = top + size + 90;
  let g = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">\n`;
  g += `<rect width="${W}" height="${H}" fill="white"/>\n`;
  g += `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>\n`;
  g += `<text x="${W / 2}" y="44" text-anchor="middle" font-size="12">accuracy ${(c.accuracy * 100).toFixed(2)}%; rows: true class, columns: predicted</text>\n`;
  c.matrix.forEach((row, t) => {
    const n = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((count, p) => {
      const f = count / n;
      // Right answers in blue, confusions in red, both by the share of the row.
      const shade = Math.round(255 * (1 - f));
      const fill = t === p ? `rgb(${shade},${shade},255)` : `rgb(255,${shade},${shade})`;
      const x = left + p * cell;
      const y = top + t * cell;
      g += `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ddd"/>`;
      if (count > 0) g += `<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" font-size="${cell >= 40 ? 11 : 9}" fill="${f > 0.6 ? 'white' : 'black'}">${count}</text>`;
      g += '\n';
    });
    g += `<text x="${left - 6}" y="${top + t * cell + cell / 2 + 4}" text-anchor="end" font-size="12">${esc(classes[t])}</text>\n`;
  });
  classes.forEach((name, p) => {
    const x = left + p * cell + cell / 2;
    const y = top + size + 8;
    g += `<text x="${x}" y="${y}" text-anchor="end" font-size="12" transform="rotate(-45 ${x} ${y})">${esc(name)}</text>\n`;
  });
  return g + '</svg>\n';
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
    writeFileAtomic(a.confusion, [Buffer.from(confusionSvg(c, ds.classes, `${where.dataset} test set, ${ds.yTest.length} images${tta === "flip" ? ", flip TTA" : ""}`))]);
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
