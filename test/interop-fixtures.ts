// Networks of every kind deepconv has, with batchnorm statistics that are not the initial ones,
// and inputs for them: for the ONNX and PyTorch interop tests.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { DeepConvNet, FullyConnectedNet, Model, ThreeLayerConvNet, TwoLayerNet } from '../lib/models';
import { Rng } from '../lib/random';
import { DType, Tensor } from '../lib/tensor';

export interface Case {
  name: string;
  make: (dtype: DType) => Model;
}

/** One of each network, including batchnorm (plain and spatial), dropout, partial and odd-size pooling. */
export const CASES: Case[] = [
  { name: 'DeepConvNet, spatial batchnorm', make: (dtype) => new DeepConvNet({ inputDims: [3, 16, 16], numFilters: [6, 8, 8], maxPools: [0, 2], batchnorm: true, weightScale: 'kaiming', dtype, seed: 1 }) },
  { name: 'DeepConvNet, no batchnorm, odd size', make: (dtype) => new DeepConvNet({ inputDims: [2, 15, 13], numFilters: [5, 4], maxPools: [0, 1], numClasses: 4, weightScale: 'kaiming', dtype, seed: 2 }) },
  { name: 'ThreeLayerConvNet', make: (dtype) => new ThreeLayerConvNet({ inputDims: [3, 10, 10], numFilters: 5, filterSize: 5, hiddenDim: 12, weightScale: 0.05, dtype, seed: 3 }) },
  { name: 'FullyConnectedNet, batchnorm and dropout', make: (dtype) => new FullyConnectedNet({ hiddenDims: [20, 16], inputDim: 48, batchnorm: true, dropout: 0.25, weightScale: 0.2, dtype, seed: 4 }) },
  { name: 'TwoLayerNet', make: (dtype) => new TwoLayerNet({ inputDim: 27, hiddenDim: 9, numClasses: 5, weightScale: 0.2, dtype, seed: 5 }) },
];

/** n seeded standard-normal samples for `model`. */
export function randomInput(model: Model, n: number, seed: number): Tensor {
  const X = Tensor.zeros([n, ...model.inputShape], model.dtype);
  const rng = new Rng(seed);
  for (let i = 0; i < X.data.length; i++) X.data[i] = rng.normal();
  return X;
}

/**
 * n image-like samples of pixel / 255 in [0, 1]: smooth gradients and a bright square per image
 * (what a camera gives, unlike white noise), as (N, ...inputShape).
 */
export function pixelInput(model: Model, n: number, seed: number): Tensor {
  const shape = model.inputShape.length === 3 ? model.inputShape : [1, 1, model.inputShape[0]];
  const [C, H, W] = shape;
  const X = Tensor.zeros([n, ...model.inputShape], model.dtype);
  const rng = new Rng(seed);
  for (let i = 0; i < n; i++) {
    const [a, b, s0, s1] = [rng.uniform(), rng.uniform(), rng.int(Math.max(1, H - 2)), rng.int(Math.max(1, W - 2))];
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const square = y >= s0 && y < s0 + 3 && x >= s1 && x < s1 + 3 ? 0.5 : 0;
          const v = Math.min(255, Math.round(255 * (0.3 * a + (0.4 * b * (x + y + c)) / (H + W + C) + square)));
          X.data[((i * C + c) * H + y) * W + x] = v / 255;
        }
      }
    }
  }
  return X;
}

/** A few train-mode passes over seeded inputs: batchnorm running statistics away from their start. */
export function warmBatchnorm(model: Model, seed: number): Model {
  const N = 8;
  const y = Int32Array.from({ length: N }, (_, i) => i % model.numClasses);
  for (let k = 0; k < 3; k++) model.loss(randomInput(model, N, seed + k), y);
  return model;
}

/** Largest |a - b| over two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** `deepconv <args>` in a child process (commander exits the process on a bad argument). */
export function runCli(args: string[]): { code: number; out: string; err: string } {
  const root = path.join(__dirname, '..');
  const script = `require('./lib/cli/main').main(['node','deepconv',...${JSON.stringify(args)}]).then((c) => process.exit(c))`;
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: root, encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}
