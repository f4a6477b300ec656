// Where `deepconv train` looks for a data set when none is named.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DatasetName, isImageFolder } from '../data';

export interface Found {
  dataset: DatasetName;
  path: string;
}

/** Candidate locations, in order: $DEEPCONV_DATA, the working folder, ~/.cache/deepconv, Debian's packages. */
export function candidates(cwd = process.cwd()): Found[] {
  const out: Found[] = [];
  const env = process.env.DEEPCONV_DATA;
  if (env) out.push({ dataset: guessDataset(env), path: env });
  const places = [cwd, path.join(cwd, 'data'), path.join(cwd, '..', 'shared', 'data'), path.join(os.homedir(), '.cache', 'deepconv')];
  for (const dir of places) {
    out.push({ dataset: 'cifar10', path: path.join(dir, 'cifar-10-binary.tar.gz') });
    out.push({ dataset: 'cifar10', path: path.join(dir, 'cifar-10-batches-bin') });
  }
  out.push({ dataset: 'fashion-mnist', path: '/usr/share/datasets/fashion-mnist' });
  return out;
}

/** The data set a path most likely holds: an image folder by its contents, the others by name. */
export function guessDataset(p: string): DatasetName {
  if (isImageFolder(p)) return 'folder';
  const base = path.basename(p).toLowerCase();
  if (base.includes('fashion')) return 'fashion-mnist';
  if (base.includes('mnist')) return 'mnist';
  return 'cifar10';
}

export function findData(dataset?: DatasetName, list: Found[] = candidates()): Found | null {
  for (const c of list) {
    if (dataset && c.dataset !== dataset) continue;
    if (fs.existsSync(c.path)) return c;
  }
  return null;
}

export function howToGetData(list: Found[] = candidates()): string {
  return `No data set found. deepconv train looked in:
${list.map((c) => `  ${c.path}`).join('\n')}

To train on CIFAR-10, download the binary version (cifar-10-binary.tar.gz, 163 MB) from
https://www.cs.toronto.edu/~kriz/cifar.html, then either put it in one of the places above or run
  npx deepconv train --dataset cifar10 --data /path/to/cifar-10-binary.tar.gz
(the .tar.gz is read directly; an extracted cifar-10-batches-bin/ folder works too).
For Fashion-MNIST on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist
  npx deepconv train --dataset fashion-mnist`;
}

/** What train stores beside the weights: how inputs were prepared, and class names. */
export interface DataInfo {
  dataset: DatasetName;
  mean: number[];
  std: number[];
  classes: string[];
  shape: [number, number, number];
}

/** The dataset and path to use: given, or found in the usual places. */
export function resolveData(dataset: DatasetName | undefined, data: string | undefined, list: Found[] = candidates()): { dataset: DatasetName; path: string } {
  if (data) return { dataset: dataset ?? guessDataset(data), path: data };
  if (dataset === 'folder') throw new Error('--data <folder> is needed: the image folder (a subfolder per class) to read');
  const found = findData(dataset, list);
  if (!found) {
    const err = new Error(howToGetData(list));
    (err as Error & { exitCode?: number }).exitCode = 2;
    throw err;
  }
  return found;
}

