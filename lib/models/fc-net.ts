// Fully connected networks: the seed's TwoLayerNet (affine - relu - affine - softmax) and
// FullyConnectedNet ({affine - [batchnorm] - relu - [dropout]} x (L - 1) - affine - softmax).
import { Dropout, DropoutCache, ReLU } from '../layers/activation';
import { BN_MOMENTUM, BatchNorm, BatchNormCache } from '../layers/batchnorm';
import { Linear, LinearCache } from '../layers/linear';
import { prepareLoss } from '../layers/loss';
import { barrier, step, Steps } from '../engine/op';
import { Rng } from '../random';
import { Device, DType, Tensor } from '../tensor';
import { checkNumber } from '../validate';
import { LossAndGrads, Model, registerModel } from './model';
import { checkFlatSample, normal } from './common';
import { batchnorm, dropout, LayerSpec, linear, relu } from './architecture';
import { optBnMomentum, optBool, optDevice, optDtype, optInt, optIntArray, optNonNegative, optSeed, optWeightScale, readOptions } from './options';

export interface TwoLayerNetOptions {
  /** Values per input sample (default 3 * 32 * 32). */
  inputDim?: number;
  /** Hidden units (default 100). */
  hiddenDim?: number;
  numClasses?: number;
  /** Std of the Gaussian weight initialization (default 1e-3); biases start at 0. */
  weightScale?: number;
  reg?: number;
  dtype?: DType;
  seed?: number | null;
  /** Where the parameters live (default 'cpu'); not part of the saved config. */
  device?: Device;
}

const TWO_KEYS = ['inputDim', 'hiddenDim', 'numClasses', 'weightScale', 'reg', 'dtype', 'seed', 'device'];

export class TwoLayerNet extends Model {
  readonly className = 'TwoLayerNet';
  readonly inputDim: number;
  readonly hiddenDim: number;
  readonly weightScale: number;
  readonly seed: number | null;

  constructor(options?: TwoLayerNetOptions) {
    const o = readOptions('TwoLayerNet', options, TWO_KEYS);
    const inputDim = optInt('inputDim', o.inputDim ?? 3 * 32 * 32, 1);
    const hiddenDim = optInt('hiddenDim', o.hiddenDim ?? 100, 1);
    const numClasses = optInt('numClasses', o.numClasses ?? 10, 1);
    const weightScale = optWeightScale(o.weightScale ?? 1e-3, false) as number;
    const reg = optNonNegative('reg', o.reg ?? 0);
    const dtype = optDtype(o.dtype ?? 'float32');
    const seed = optSeed(o.seed);
    super(reg, dtype, numClasses);
    this.inputDim = inputDim;
    this.hiddenDim = hiddenDim;
    this.weightScale = weightScale;
    this.seed = seed;
    const rng = new Rng(seed ?? undefined);
    this.params = {
      W1: normal([inputDim, hiddenDim], weightScale, dtype, rng),
      b1: Tensor.zeros([hiddenDim], dtype),
      W2: normal([hiddenDim, numClasses], weightScale, dtype, rng),
      b2: Tensor.zeros([numClasses], dtype),
    };
    this.toDevice(optDevice(o.device ?? 'cpu'));
  }

  get options(): Required<Omit<TwoLayerNetOptions, 'device'>> {
    const { inputDim, hiddenDim, numClasses, weightScale, reg, dtype, seed } = this;
    return { inputDim, hiddenDim, numClasses, weightScale, reg, dtype, seed };
  }

  protected weightKeys(): string[] {
    return ['W1', 'W2'];
  }

  protected checkInput(X: Tensor): number {
    return checkFlatSample(X, this.inputDim);
  }

  get inputShape(): number[] {
    return [this.inputDim];
  }

  architecture(): LayerSpec[] {
    return [linear(this.inputDim, this.hiddenDim, 'W1', 'b1'), relu(), linear(this.hiddenDim, this.numClasses, 'W2', 'b2')];
  }

  protected *forwardBackward(X: Tensor, y: Int32Array | null, labelSmoothing = 0): Steps<Tensor | LossAndGrads> {
    const { W1, b1, W2, b2 } = this.params;
    const a1 = yield* step(Linear.prepareForward(X, W1, b1));
    const r1 = yield* step(ReLU.prepareForward(a1.out));
    const a2 = yield* step(Linear.prepareForward(r1.out, W2, b2));
    if (y === null) return a2.out;
    const l = yield* step(prepareLoss('softmax', a2.out, y, labelSmoothing));
    const g2 = yield* step(Linear.prepareBackward(l.dx, a2.cache));
    const dr1 = yield* step(ReLU.prepareBackward(g2.dx, r1.cache));
    const g1 = yield* step(Linear.prepareBackward(dr1, a1.cache));
    yield* barrier(); // l.loss is written by the loss kernel
    return { loss: l.loss, grads: { W1: g1.dw, b1: g1.db, W2: g2.dw, b2: g2.db } };
  }
}

export interface FullyConnectedNetOptions {
  /** Units of each hidden layer (required; [] is a linear softmax classifier). */
  hiddenDims: number[];
  /** Values per input sample (default 3 * 32 * 32). */
  inputDim?: number;
  numClasses?: number;
  /**
   * Drop probability in [0, 1) after each hidden ReLU (0, the default: no dropout). The dropout
   * layers get keep probability p = 1 - dropout.
   */
  dropout?: number;
  /** Batchnorm between each hidden affine and its ReLU (default false). */
  batchnorm?: boolean;
  /** Batchnorm's running-statistics momentum: running = m * running + (1 - m) * batch (default BN_MOMENTUM, 0.9). */
  bnMomentum?: number;
  reg?: number;
  /** Std of the Gaussian weight initialization (default 1e-2). */
  weightScale?: number;
  dtype?: DType;
  /**
   * Seed of the initialization. As in the seed code, a seeded network also fixes its dropout
   * masks (layer i always uses mask seed seed + i), which makes gradient checks with dropout
   * possible; leave it out for fresh masks on every call.
   */
  seed?: number | null;
  /** Where the parameters live (default 'cpu'); not part of the saved config. */
  device?: Device;
}

const FC_KEYS = ['hiddenDims', 'inputDim', 'numClasses', 'dropout', 'batchnorm', 'bnMomentum', 'reg', 'weightScale', 'dtype', 'seed', 'device'];

interface FcCache {
  linear: LinearCache;
  bn: BatchNormCache | null;
  relu: Tensor;
  dropout: DropoutCache | null;
}

export class FullyConnectedNet extends Model {
  readonly className = 'FullyConnectedNet';
  readonly hiddenDims: number[];
  readonly inputDim: number;
  readonly dropout: number;
  readonly batchnorm: boolean;
  readonly bnMomentum: number;
  readonly weightScale: number;
  readonly seed: number | null;
  /** Weight layers: hiddenDims.length + 1. */
  readonly numLayers: number;

  constructor(options: FullyConnectedNetOptions) {
    const o = readOptions('FullyConnectedNet', options, FC_KEYS);
    if (o.hiddenDims === undefined) throw new TypeError('options.hiddenDims must be an array of hidden layer sizes (positive integers), got undefined');
    const hiddenDims = optIntArray('hiddenDims', o.hiddenDims, 1);
    const inputDim = optInt('inputDim', o.inputDim ?? 3 * 32 * 32, 1);
    const numClasses = optInt('numClasses', o.numClasses ?? 10, 1);
    const dropout = checkNumber('options.dropout', o.dropout ?? 0, (v) => v >= 0 && v < 1, 'a drop probability in [0, 1)');
    const batchnorm = optBool('batchnorm', o.batchnorm ?? false);
    const bnMomentum = optBnMomentum(o.bnMomentum ?? BN_MOMENTUM);
    const reg = optNonNegative('reg', o.reg ?? 0);
    const weightScale = optWeightScale(o.weightScale ?? 1e-2, false) as number;
    const dtype = optDtype(o.dtype ?? 'float32');
    const seed = optSeed(o.seed);
    super(reg, dtype, numClasses);
    this.hiddenDims = hiddenDims;
    this.inputDim = inputDim;
    this.dropout = dropout;
    this.batchnorm = batchnorm;
    this.bnMomentum = bnMomentum;
    this.weightScale = weightScale;
    this.seed = seed;
    this.numLayers = hiddenDims.length + 1;
    const rng = new Rng(seed ?? undefined);
    const dims = [inputDim, ...hiddenDims, numClasses];
    for (let i = 1; i <= this.numLayers; i++) {
      this.params[`W${i}`] = normal([dims[i - 1], dims[i]], weightScale, dtype, rng);
      this.params[`b${i}`] = Tensor.zeros([dims[i]], dtype);
      if (batchnorm && i < this.numLayers) {
        this.params[`gamma${i}`] = Tensor.full([dims[i]], 1, dtype);
        this.params[`beta${i}`] = Tensor.zeros([dims[i]], dtype);
        this.bnState[String(i)] = { runningMean: Tensor.zeros([dims[i]], dtype), runningVar: Tensor.zeros([dims[i]], dtype), momentum: bnMomentum };
      }
    }
    this.toDevice(optDevice(o.device ?? 'cpu'));
  }

  get options(): Required<Omit<FullyConnectedNetOptions, 'device'>> {
    const { hiddenDims, inputDim, numClasses, dropout, batchnorm, bnMomentum, reg, weightScale, dtype, seed } = this;
    return { hiddenDims: [...hiddenDims], inputDim, numClasses, dropout, batchnorm, bnMomentum, reg, weightScale, dtype, seed };
  }

  protected weightKeys(): string[] {
    return Array.from({ length: this.numLayers }, (_, i) => `W${i + 1}`);
  }

  protected checkInput(X: Tensor): number {
    return checkFlatSample(X, this.inputDim);
  }

  get inputShape(): number[] {
    return [this.inputDim];
  }

  architecture(): LayerSpec[] {
    const dims = [this.inputDim, ...this.hiddenDims, this.numClasses];
    const L = this.numLayers;
    const out: LayerSpec[] = [];
    for (let i = 1; i < L; i++) {
      out.push(linear(dims[i - 1], dims[i], `W${i}`, `b${i}`));
      if (this.batchnorm) out.push(batchnorm('BatchNorm1d', dims[i], String(i), this.bnState[String(i)]));
      out.push(relu());
      if (this.dropout > 0) out.push(dropout(this.dropout));
    }
    out.push(linear(dims[L - 1], dims[L], `W${L}`, `b${L}`));
    return out;
  }

  protected *forwardBackward(X: Tensor, y: Int32Array | null, labelSmoothing = 0): Steps<Tensor | LossAndGrads> {
    const p = this.params;
    const L = this.numLayers;
    const mode = y === null ? 'test' : 'train';
    const caches: FcCache[] = [];
    let h = X;
    for (let i = 1; i < L; i++) {
      const a = yield* step(Linear.prepareForward(h, p[`W${i}`], p[`b${i}`]));
      h = a.out;
      let bn: BatchNormCache | null = null;
      if (this.batchnorm) {
        const n = yield* step(BatchNorm.prepareForward(h, p[`gamma${i}`], p[`beta${i}`], this.bnParam(String(i), mode)));
        h = n.out;
        bn = n.cache;
      }
      const r = yield* step(ReLU.prepareForward(h));
      h = r.out;
      let dropout: DropoutCache | null = null;
      if (this.dropout > 0) {
        const seed = this.seed === null ? undefined : this.seed + i;
        const d = yield* step(Dropout.prepareForward(h, { p: 1 - this.dropout, mode, seed }));
        h = d.out;
        dropout = d.cache;
      }
      caches.push({ linear: a.cache, bn, relu: r.cache, dropout });
    }
    const last = yield* step(Linear.prepareForward(h, p[`W${L}`], p[`b${L}`]));
    if (y === null) return last.out;
    const l = yield* step(prepareLoss('softmax', last.out, y, labelSmoothing));
    const grads: Record<string, Tensor> = {};
    const g = yield* step(Linear.prepareBackward(l.dx, last.cache));
    grads[`W${L}`] = g.dw;
    grads[`b${L}`] = g.db;
    let d = g.dx;
    for (let i = L - 1; i >= 1; i--) {
      const c = caches[i - 1];
      if (c.dropout) d = yield* step(Dropout.prepareBackward(d, c.dropout));
      d = yield* step(ReLU.prepareBackward(d, c.relu));
      if (c.bn) {
        const b = yield* step(BatchNorm.prepareBackwardAlt(d, c.bn));
        grads[`gamma${i}`] = b.dgamma;
        grads[`beta${i}`] = b.dbeta;
        d = b.dx;
      }
      const lg = yield* step(Linear.prepareBackward(d, c.linear));
      grads[`W${i}`] = lg.dw;
      grads[`b${i}`] = lg.db;
      d = lg.dx;
    }
    const ordered: Record<string, Tensor> = {};
    for (const k of Object.keys(p)) ordered[k] = grads[k];
    yield* barrier(); // l.loss is written by the loss kernel
    return { loss: l.loss, grads: ordered };
  }
}

registerModel('TwoLayerNet', (o) => new TwoLayerNet(o));
registerModel('FullyConnectedNet', (o) => new FullyConnectedNet(o as unknown as FullyConnectedNetOptions));
