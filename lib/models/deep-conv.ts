// {conv3x3 pad 1 - [spatial batchnorm] - relu - [2x2 max pool]} x (L - 1) - linear - softmax,
// the seed's DeepConvNet (L = numFilters.length + 1 weight layers).
import { ReLU } from '../layers/activation';
import { BN_MOMENTUM, BatchNormReLUCache, SpatialBatchNormReLU } from '../layers/batchnorm';
import { Conv, ConvCache } from '../layers/conv';
import { Linear } from '../layers/linear';
import { prepareLoss } from '../layers/loss';
import { release } from '../engine/arena';
import { barrier, step, Steps } from '../engine/op';
import { MaxPool, PoolCache } from '../layers/pool';
import { PoolReLU, PoolReLUCache } from '../layers/sandwich';
import { kaimingInitializer } from '../init';
import { Rng } from '../random';
import { Device, DType, Tensor } from '../tensor';
import { invalidRange, shapeStr } from '../validate';
import { LossAndGrads, Model, registerModel } from './model';
import { checkSampleShape, normal } from './common';
import { batchnorm, conv2d, flatten, LayerSpec, linear, maxPool2, relu } from './architecture';
import { optBnMomentum, optBool, optDevice, optDtype, optInputDims, optInt, optIntArray, optNonNegative, optSeed, optWeightScale, readOptions } from './options';

export interface DeepConvNetOptions {
  /** [C, H, W] of one input image (default [3, 32, 32]). */
  inputDims?: [number, number, number];
  /** Filters of each conv layer (default [8, 8, 8, 8, 8]). */
  numFilters?: number[];
  /** Indices of the conv layers followed by a 2x2 / 2 max pool (default [0, 1, 2, 3, 4]). */
  maxPools?: number[];
  /** Spatial batchnorm after each conv (default false). */
  batchnorm?: boolean;
  /** Batchnorm's running-statistics momentum: running = m * running + (1 - m) * batch (default BN_MOMENTUM, 0.9). */
  bnMomentum?: number;
  numClasses?: number;
  /** Std of the Gaussian initialization, or 'kaiming' (default 1e-3). */
  weightScale?: number | 'kaiming';
  /** L2 strength (default 0). */
  reg?: number;
  dtype?: DType;
  /** Seed of the initialization (random when absent). */
  seed?: number | null;
  /** Where the parameters live (default 'cpu'); not part of the saved config. */
  device?: Device;
}

const KEYS = ['inputDims', 'numFilters', 'maxPools', 'batchnorm', 'bnMomentum', 'numClasses', 'weightScale', 'reg', 'dtype', 'seed', 'device'];
const POOL = { poolHeight: 2, poolWidth: 2, stride: 2 };
const CONV = { stride: 1, pad: 1 };

interface LayerCache {
  conv: ConvCache;
  /** Batchnorm and ReLU fused (with batchnorm), or the ReLU's cache, its input (without). */
  bnRelu: BatchNormReLUCache | null;
  relu: Tensor | null;
  pool: PoolCache | null;
  /** Without batchnorm, a pooled layer's ReLU and pool (run pool first: see PoolReLU). */
  poolRelu: PoolReLUCache | null;
}

export class DeepConvNet extends Model {
  readonly className = 'DeepConvNet';
  readonly inputDims: [number, number, number];
  readonly numFilters: number[];
  readonly maxPools: number[];
  readonly batchnorm: boolean;
  readonly bnMomentum: number;
  readonly weightScale: number | 'kaiming';
  readonly seed: number | null;
  /** Number of weight layers: numFilters.length conv layers and the final linear one. */
  readonly numLayers: number;

  constructor(options?: DeepConvNetOptions) {
    const o = readOptions('DeepConvNet', options, KEYS);
    const inputDims = optInputDims(o.inputDims ?? [3, 32, 32]);
    const numFilters = optIntArray('numFilters', o.numFilters ?? [8, 8, 8, 8, 8], 1, 1);
    const maxPools = optIntArray('maxPools', o.maxPools ?? [0, 1, 2, 3, 4], 0);
    const batchnorm = optBool('batchnorm', o.batchnorm ?? false);
    const bnMomentum = optBnMomentum(o.bnMomentum ?? BN_MOMENTUM);
    const numClasses = optInt('numClasses', o.numClasses ?? 10, 1);
    const weightScale = optWeightScale(o.weightScale ?? 1e-3, true);
    const reg = optNonNegative('reg', o.reg ?? 0);
    const dtype = optDtype(o.dtype ?? 'float32');
    const seed = optSeed(o.seed);
    const L = numFilters.length;
    maxPools.forEach((p, i) => {
      if (p >= L) throw invalidRange(`options.maxPools[${i}]`, `a conv layer index in [0, ${L - 1}] (numFilters has ${L} layers)`, p);
      if (maxPools.indexOf(p) !== i) throw new RangeError(`options.maxPools must not repeat a layer index, got ${p} twice`);
    });
    let [C, H, W] = inputDims;
    for (let i = 0; i < L; i++) {
      if (maxPools.includes(i)) {
        if (H < 2 || W < 2) {
          throw new RangeError(`options.maxPools: the 2x2 max pool after conv layer ${i} needs H and W >= 2, but inputDims ${shapeStr(inputDims)} is down to ${H}x${W} there`);
        }
        H = Math.floor(H / 2);
        W = Math.floor(W / 2);
      }
    }
    super(reg, dtype, numClasses);
    this.inputDims = inputDims;
    this.numFilters = numFilters;
    this.maxPools = [...maxPools].sort((a, b) => a - b);
    this.batchnorm = batchnorm;
    this.bnMomentum = bnMomentum;
    this.weightScale = weightScale;
    this.seed = seed;
    this.numLayers = L + 1;
    const rng = new Rng(seed ?? undefined);
    let Cin = C;
    for (let i = 0; i < L; i++) {
      const F = numFilters[i];
      this.params[`W${i}`] = weightScale === 'kaiming' ? kaimingInitializer(Cin, F, { K: 3, relu: true, dtype, rng }) : normal([F, Cin, 3, 3], weightScale, dtype, rng);
      this.params[`b${i}`] = Tensor.zeros([F], dtype);
      if (batchnorm) {
        this.params[`gamma${i}`] = Tensor.full([F], 1, dtype);
        this.params[`beta${i}`] = Tensor.zeros([F], dtype);
        this.bnState[String(i)] = { runningMean: Tensor.zeros([F], dtype), runningVar: Tensor.zeros([F], dtype), momentum: bnMomentum };
      }
      Cin = F;
    }
    const Din = Cin * H * W;
    this.params[`W${L}`] = weightScale === 'kaiming' ? kaimingInitializer(Din, numClasses, { relu: false, dtype, rng }) : normal([Din, numClasses], weightScale, dtype, rng);
    this.params[`b${L}`] = Tensor.zeros([numClasses], dtype);
    this.toDevice(optDevice(o.device ?? 'cpu'));
  }

  get options(): Required<Omit<DeepConvNetOptions, 'device'>> {
    const { inputDims, numFilters, maxPools, batchnorm, bnMomentum, numClasses, weightScale, reg, dtype, seed } = this;
    return { inputDims: [...inputDims] as [number, number, number], numFilters: [...numFilters], maxPools: [...maxPools], batchnorm, bnMomentum, numClasses, weightScale, reg, dtype, seed };
  }

  protected weightKeys(): string[] {
    return Array.from({ length: this.numLayers }, (_, i) => `W${i}`);
  }

  protected checkInput(X: Tensor): number {
    return checkSampleShape(X, this.inputDims);
  }

  get inputShape(): number[] {
    return [...this.inputDims];
  }

  architecture(): LayerSpec[] {
    const L = this.numLayers - 1;
    const out: LayerSpec[] = [];
    let [C, H, W] = this.inputDims;
    for (let i = 0; i < L; i++) {
      const F = this.numFilters[i];
      out.push(conv2d(C, F, 3, CONV.pad, `W${i}`, `b${i}`));
      if (this.batchnorm) out.push(batchnorm('BatchNorm2d', F, String(i), this.bnState[String(i)]));
      out.push(relu());
      if (this.maxPools.includes(i)) {
        out.push(maxPool2());
        H = Math.floor(H / 2);
        W = Math.floor(W / 2);
      }
      C = F;
    }
    out.push(flatten(), linear(C * H * W, this.numClasses, `W${L}`, `b${L}`));
    return out;
  }

  protected *forwardBackward(X: Tensor, y: Int32Array | null, labelSmoothing = 0): Steps<Tensor | LossAndGrads> {
    const p = this.params;
    const L = this.numLayers - 1;
    const mode = y === null ? 'test' : 'train';
    const caches: LayerCache[] = [];
    let h = X;
    for (let i = 0; i < L; i++) {
      const c = yield* step(Conv.prepareForward(h, p[`W${i}`], p[`b${i}`], CONV));
      let bnRelu: BatchNormReLUCache | null = null;
      let relu: Tensor | null = null;
      let pool: PoolCache | null = null;
      let poolRelu: PoolReLUCache | null = null;
      const pooled = this.maxPools.includes(i);
      if (this.batchnorm) {
        const n = yield* step(SpatialBatchNormReLU.prepareForward(c.out, p[`gamma${i}`], p[`beta${i}`], this.bnParam(String(i), mode)));
        h = n.out;
        bnRelu = n.cache;
      } else if (pooled) {
        const q = yield* PoolReLU.forwardSteps(c.out, POOL);
        h = q.out;
        poolRelu = q.cache;
      } else {
        const r = yield* step(ReLU.prepareForward(c.out));
        h = r.out;
        relu = r.cache;
      }
      if (pooled && !poolRelu) {
        const q = yield* step(MaxPool.prepareForward(h, POOL));
        h = q.out;
        pool = q.cache;
      }
      caches.push({ conv: c.cache, bnRelu, relu, pool, poolRelu });
    }
    const fc = yield* step(Linear.prepareForward(h, p[`W${L}`], p[`b${L}`]));
    if (y === null) return fc.out;
    const l = yield* step(prepareLoss('softmax', fc.out, y, labelSmoothing));
    release(fc.out);
    const grads: Record<string, Tensor> = {};
    // Each activation and upstream gradient is released once its last reader is queued, so the
    // backward pass reuses the forward pass's memory (see Arena.release). A fused batchnorm-ReLU's
    // output (with no pool after it) is read once more by its own backward, after the next
    // layer's backward has run.
    const readByOwnBackward = (j: number) => j >= 0 && caches[j].bnRelu !== null && caches[j].pool === null;
    const g = yield* step(Linear.prepareBackward(l.dx, fc.cache));
    release(l.dx);
    if (!readByOwnBackward(L - 1)) release(h);
    grads[`W${L}`] = g.dw;
    grads[`b${L}`] = g.db;
    let d = g.dx;
    for (let i = L - 1; i >= 0; i--) {
      const c = caches[i];
      if (c.poolRelu) {
        const dp = yield* PoolReLU.backwardSteps(d, c.poolRelu);
        release(d, c.poolRelu.relu, c.poolRelu.pool.x);  // the pooled map; the conv output
        d = dp;
      }
      if (c.pool) {
        const dp = yield* step(MaxPool.prepareBackward(d, c.pool));
        release(d);
        d = dp;
      }
      if (c.bnRelu) {
        const b = yield* step(SpatialBatchNormReLU.prepareBackward(d, c.bnRelu));
        release(d, c.bnRelu.bn.x, c.bnRelu.out);  // the conv output; the fused output
        grads[`gamma${i}`] = b.dgamma;
        grads[`beta${i}`] = b.dbeta;
        d = b.dx;
      } else if (c.relu) {
        const dr = yield* step(ReLU.prepareBackward(d, c.relu));
        release(d, c.relu);  // the ReLU's input: the conv output
        d = dr;
      }
      const cg = yield* step(Conv.prepareBackward(d, c.conv, i > 0));
      release(d);
      if (!readByOwnBackward(i - 1)) release(c.conv.x);  // the previous layer's output (X itself is not the arena's)
      grads[`W${i}`] = cg.dw;
      grads[`b${i}`] = cg.db;
      d = cg.dx;
    }
    // Keys in the order of params.
    const ordered: Record<string, Tensor> = {};
    for (const k of Object.keys(p)) ordered[k] = grads[k];
    yield* barrier(); // l.loss is written by the loss kernel
    return { loss: l.loss, grads: ordered };
  }
}

registerModel('DeepConvNet', (o) => new DeepConvNet(o));
