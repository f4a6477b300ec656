// A data set of the user's own images: a folder with a subfolder per class of PNG or JPEG files,
// as torchvision's ImageFolder and Keras's image_dataset_from_directory read them.
//
//   root/train/<class>/*.png|jpg  and  root/test/<class>/*   (the test set as given), or
//   root/<class>/*                (a fixed tenth of each class's files is the test set)
//
// Every image is resampled to one size (data/images.ts); the set is grey (1 channel) when every
// image is, RGB otherwise, unless opts.channels says. The flat layout's test tenth is chosen by a
// hash of "<class>/<file name>", so it is the same on every run and machine, and a file keeps its
// side when others are added.
import * as fs from 'fs';
import * as path from 'path';
import { FileFormatError, fsError } from '../io/errors';
import { checkInt, describe } from '../validate';
import { IMAGE_EXTENSIONS, decodeImage, isGrey, resampleTo } from './images';
import { checkLoadOptions, LoadOptions, RawDataset } from './types';

/** Sizes past this are refused (an image of 1024 x 1024 x 3 floats is 12 MB per sample already). */
const MAX_SIDE = 1024;

export interface Entry {
  file: string;
  label: number;
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  } catch (e) {
    throw fsError(dir, e, 'folder');
  }
}

const isImageName = (n: string) => (IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(n).toLowerCase());

/** The class subfolders of dir, sorted (their order is the label order). */
function classFolders(dir: string): string[] {
  const classes = listDir(dir).filter((n) => isDir(path.join(dir, n)));
  if (classes.length === 0) throw new FileFormatError(dir, 'has no class subfolders: expected <class>/<image>.png|jpg, one folder per class');
  return classes;
}

function imagesOf(dir: string): string[] {
  return listDir(dir).filter(isImageName).map((n) => path.join(dir, n));
}

/** FNV-1a of a string: the flat layout's fixed test split. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** True for the flat layout's test files: about one in ten. */
export function inTestTenth(className: string, fileName: string): boolean {
  return fnv1a(`${className}/${fileName}`) % 10 === 0;
}

/** True when `p` looks like an image folder: a folder whose subfolders (or train/'s) hold images. */
export function isImageFolder(p: string): boolean {
  if (!isDir(p)) return false;
  const base = isDir(path.join(p, 'train')) ? path.join(p, 'train') : p;
  try {
    return fs.readdirSync(base).some((n) => !n.startsWith('.') && isDir(path.join(base, n)) && fs.readdirSync(path.join(base, n)).some(isImageName));
  } catch {
    return false;
  }
}

/** The classes and the image files of each part, without reading an image (labels index classes). */
export function listImageFolder(root: string): { classes: string[]; train: Entry[]; test: Entry[] } {
  if (!isDir(root)) throw new FileFormatError(root, fs.existsSync(root) ? 'is not a folder; an image data set is a folder with a subfolder per class' : 'folder not found');
  const split = isDir(path.join(root, 'train'));
  const trainDir = split ? path.join(root, 'train') : root;
  const classes = classFolders(trainDir);
  if (classes.length > 256) throw new FileFormatError(trainDir, `has ${classes.length} class folders; at most 256 are supported`);
  const train: Entry[] = [];
  const test: Entry[] = [];
  classes.forEach((c, label) => {
    const files = imagesOf(path.join(trainDir, c));
    if (files.length === 0) throw new FileFormatError(path.join(trainDir, c), 'holds no PNG or JPEG images (.png, .jpg, .jpeg)');
    for (const file of files) (split || !inTestTenth(c, path.basename(file)) ? train : test).push({ file, label });
  });
  if (split && isDir(path.join(root, 'test'))) {
    const testDir = path.join(root, 'test');
    for (const c of classFolders(testDir)) {
      const label = classes.indexOf(c);
      if (label < 0) throw new FileFormatError(path.join(testDir, c), `is a class the training folder ${trainDir} does not have (its classes: ${classes.join(', ')})`);
      for (const file of imagesOf(path.join(testDir, c))) test.push({ file, label });
    }
  }

  return { classes, train, test };
}

export interface ImageFolderOptions extends LoadOptions {
  /** [H, W] every image is resampled to (default [32, 32]). */
  imageSize?: [number, number];
  /** 1 (grey) or 3 (RGB); default: 1 when every image is grey, else 3. */
  channels?: 1 | 3;
}

export async function loadImageFolder(root: string, opts?: ImageFolderOptions): Promise<RawDataset> {
  const o = checkLoadOptions(opts);
  const size = opts?.imageSize ?? [32, 32];
  if (!Array.isArray(size) || size.length !== 2) throw new TypeError(`opts.imageSize must be [H, W], got ${describe(size)}`);
  const H = checkInt('opts.imageSize[0]', size[0], 1);
  const W = checkInt('opts.imageSize[1]', size[1], 1);
  if (H > MAX_SIDE || W > MAX_SIDE) throw new RangeError(`opts.imageSize must be at most ${MAX_SIDE} x ${MAX_SIDE}, got ${H} x ${W}`);
  const channels = opts?.channels;
  if (channels !== undefined && channels !== 1 && channels !== 3) throw new TypeError(`opts.channels must be 1 or 3, got ${describe(channels)}`);
  const { classes, train, test } = listImageFolder(root);
  const trainEntries = o.train ? train.slice(0, Math.min(train.length, o.maxTrain)) : [];
  const testEntries = o.test ? test.slice(0, Math.min(test.length, o.maxTest)) : [];
  // Given channels, every image is resampled to them as predict resamples its files. Else RGB
  // first, and a set that turns out grey (R = G = B everywhere) keeps its first channel.
  const readC: 1 | 3 = channels ?? 3;
  const per = readC * H * W;
  let grey = true;
  const read = async (entries: Entry[]) => {
    const x = new Uint8Array(entries.length * per);
    const y = new Uint8Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const { file, label } = entries[i];
      let bytes: Buffer;
      try {
        bytes = await fs.promises.readFile(file);
      } catch (e) {
        throw fsError(file, e);
      }
      const img = decodeImage(bytes, file);
      if (grey && channels === undefined) grey = isGrey(img);
      resampleTo(img, readC, H, W, x, i * per);
      y[i] = label;
    }
    return { x, y };
  };
  const tr = await read(trainEntries);
  const te = await read(testEntries);
  const C: 1 | 3 = channels ?? (grey && trainEntries.length + testEntries.length > 0 ? 1 : 3);
  const toChannels = (x: Uint8Array, n: number): Uint8Array => {
    if (C === readC) return x;
    const out = new Uint8Array(n * H * W);
    for (let i = 0; i < n; i++) out.set(x.subarray(i * per, i * per + H * W), i * H * W);
    return out;
  };
  return {
    xTrain: toChannels(tr.x, trainEntries.length),
    yTrain: tr.y,
    xTest: toChannels(te.x, testEntries.length),
    yTest: te.y,
    classes,
    shape: [C, H, W],
  };
}
