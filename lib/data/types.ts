import { checkInt, checkOptions, describe } from '../validate';

/** A data set as stored: uint8 pixels, (N, C, H, W) row-major, and uint8 class labels. */
export interface RawDataset {
  xTrain: Uint8Array;
  yTrain: Uint8Array;
  xTest: Uint8Array;
  yTest: Uint8Array;
  classes: string[];
  /** One sample's [C, H, W]. */
  shape: [number, number, number];
}

export type Part = 'train' | 'test';

export interface LoadOptions {
  /** Which splits to read (default both); a split not read comes back empty. */
  parts?: readonly Part[];
  /** Keep only the first maxTrain training samples (in file order). */
  maxTrain?: number;
  /** Keep only the first maxTest test samples. */
  maxTest?: number;
}

export interface CheckedLoadOptions {
  train: boolean;
  test: boolean;
  maxTrain: number;
  maxTest: number;
}

export function checkLoadOptions(opts: LoadOptions | undefined): CheckedLoadOptions {
  const o = checkOptions('opts', opts);
  const parts = o.parts ?? ['train', 'test'];
  if (!Array.isArray(parts) || parts.length === 0 || parts.some((p) => p !== 'train' && p !== 'test')) {
    throw new TypeError(`opts.parts must be a non-empty array of 'train' and/or 'test', got ${describe(parts)}`);
  }
  return {
    train: parts.includes('train'),
    test: parts.includes('test'),
    maxTrain: o.maxTrain === undefined ? Infinity : checkInt('opts.maxTrain', o.maxTrain, 0),
    maxTest: o.maxTest === undefined ? Infinity : checkInt('opts.maxTest', o.maxTest, 0),
  };
}
