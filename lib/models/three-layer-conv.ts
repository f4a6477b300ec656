// conv - relu - 2x2 max pool - linear - relu - linear - softmax, the seed's ThreeLayerConvNet.
import { ReLU } from '../layers/activation';
import { Conv } from '../layers/conv';
import { Linear } from '../layers/linear';
import { prepareLoss } from '../layers/loss';
import { barrier, step, Steps } from '../engine/op';
import { PoolReLU } from '../layers/sandwich';
import { Rng } from '../random';
import { Device, DType, Tensor } from '../tensor';
import { shapeStr } from '../validate';
import { LossAndGrads, Model, registerModel } from './model';
import { checkSampleShape, normal } from './common';
import { conv2d, flatten, LayerSpec, linear, maxPool2, relu } from './architecture';
import { optDevice, optDtype, optInputDims, optInt, optNonNegative, optSeed, optWeightScale, readOptions } from './options';

export interface ThreeLayerConvNetOptions {
  /** [C, H, W] of one input image (default [3, 32, 32]). */
  inputDims?: [number, number, number];
  /** Filters of the conv layer (default 32). */
  numFilters?: number;
  /** Odd filter size; padding (filterSize - 1) / 2 keeps H and W (default 7). */
  filterSize?: number;
  /** Units of the hidden linear layer (default 100). */
  hiddenDim?: number;
  numClasses?: number;
  /** Std of the Gaussian weight initialization (default 1e-3); biases start at 0. */
  weightScale?: number;
  /** L2 strength (default 0). */
  reg?: number;
  dtype?: DType;
  /** Seed of the initialization (random when absent). */
  seed?: number | null;
  /** Where the parameters live (default 'cpu'); not part of the saved config. */
  device?: Device;
}

const KEYS = ['inputDims', 'numFilters', 'filterSize', 'hiddenDim', 'numClasses', 'weightScale', 'reg', 'dtype', 'seed', 'device'];
const POOL = { poolHeight: 2, poolWidth: 2, stride: 2 };

export class ThreeLayerConvNet extends Model {
  readonly className = 'ThreeLayerConvNet';
  readonly inputDims: [number, number, number];
  readonly numFilters: number;
  readonly filterSize: number;
  readonly hiddenDim: number;
  readonly weightScale: number;
  readonly seed: number | null;

  constructor(options?: ThreeLayerConvNetOptions) {
    const o = readOptions('ThreeLayerConvNet', options, KEYS);
    const inputDims = optInputDims(o.inputDims ?? [3, 32, 32]);
    const numFilters = optInt('numFilters', o.numFilters ?? 32, 1);
    const filterSize = optInt('filterSize', o.filterSize ?? 7, 1);
    if (filterSize % 2 !== 1) throw new RangeError(`options.filterSize must be odd (padding (filterSize - 1) / 2 keeps H and W), got ${filterSize}`);
    const hiddenDim = optInt('hiddenDim', o.hiddenDim ?? 100, 1);
    const numClasses = optInt('numClasses', o.numClasses ?? 10, 1);
    const weightScale = optWeightScale(o.weightScale ?? 1e-3, false) as number;
    const reg = optNonNegative('reg', o.reg ?? 0);
    const dtype = optDtype(o.dtype ?? 'float32');
    const seed = optSeed(o.seed);
    const [C, H, W] = inputDims;
    if (H < 2 || W < 2) throw new RangeError(`options.inputDims must have H and W >= 2 for the 2x2 max pool, got ${shapeStr(inputDims)}`);
    super(reg, dtype, numClasses);
    this.inputDims = inputDims;
    this.numFilters = numFilters;
    this.filterSize = filterSize;
    this.hiddenDim = hiddenDim;
    this.weightScale = weightScale;
    this.seed = seed;
    const rng = new Rng(seed ?? undefined);
    const pooled = numFilters * Math.floor(H / 2) * Math.floor(W / 2);
    this.params = {
      W1: normal([numFilters, C, filterSize, filterSize], weightScale, dtype, rng),
      b1: Tensor.zeros([numFilters], dtype),
      W2: normal([pooled, hiddenDim], weightScale, dtype, rng),
      b2: Tensor.zeros([hiddenDim], dtype),
      W3: normal([hiddenDim, numClasses], weightScale, dtype, rng),
      b3: Tensor.zeros([numClasses], dtype),
    };
    this.toDevice(optDevice(o.device ?? 'cpu'));
  }

  get options(): Required<Omit<ThreeLayerConvNetOptions, 'device'>> {
    const { inputDims, numFilters, filterSize, hiddenDim, numClasses, weightScale, reg, dtype, seed } = this;
    return { inputDims: [...inputDims] as [number, number, number], numFilters, filterSize, hiddenDim, numClasses, weightScale, reg, dtype, seed };
  }

  protected weightKeys(): string[] {
    return ['W1', 'W2', 'W3'];
  }

  protected checkInput(X: Tensor): number {
    return checkSampleShape(X, this.inputDims);
  }

  get inputShape(): number[] {
    return [...this.inputDims];
  }

  architecture(): LayerSpec[] {
    const [C, H, W] = this.inputDims;
    const F = this.numFilters;
    const pooled = F * Math.floor(H / 2) * Math.floor(W / 2);
    return [
      conv2d(C, F, this.filterSize, (this.filterSize - 1) / 2, 'W1', 'b1'),
      relu(),
      maxPool2(),
      flatten(),
      linear(pooled, this.hiddenDim, 'W2', 'b2'),
      relu(),
      linear(this.hiddenDim, this.numClasses, 'W3', 'b3'),
    ];
  }

  protected *forwardBackward(X: Tensor, y: Int32Array | null, labelSmoothing = 0): Steps<Tensor | LossAndGrads> {
    const { W1, b1, W2, b2, W3, b3 } = this.params;
    const convParam = { stride: 1, pad: (this.filterSize - 1) / 2 };
    const c1 = yield* step(Conv.prepareForward(X, W1, b1, convParam));
    const p1 = yield* PoolReLU.forwardSteps(c1.out, POOL);  // relu - pool, run pool first
    const a2 = yield* step(Linear.prepareForward(p1.out, W2, b2));
    const r2 = yield* step(ReLU.prepareForward(a2.out));
    const a3 = yield* step(Linear.prepareForward(r2.out, W3, b3));
    if (y === null) return a3.out;
    const l = yield* step(prepareLoss('softmax', a3.out, y, labelSmoothing));
    const g3 = yield* step(Linear.prepareBackward(l.dx, a3.cache));
    const dr2 = yield* step(ReLU.prepareBackward(g3.dx, r2.cache));
    const g2 = yield* step(Linear.prepareBackward(dr2, a2.cache));
    const dp1 = yield* PoolReLU.backwardSteps(g2.dx, p1.cache);
    const g1 = yield* step(Conv.prepareBackward(dp1, c1.cache, false));
    yield* barrier(); // l.loss is written by the loss kernel
    return { loss: l.loss, grads: { W1: g1.dw, b1: g1.db, W2: g2.dw, b2: g2.db, W3: g3.dw, b3: g3.db } };
  }
}

registerModel('ThreeLayerConvNet', (o) => new ThreeLayerConvNet(o));
