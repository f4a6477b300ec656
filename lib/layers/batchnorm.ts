// Batch normalization. BatchNorm normalises x (N, D) per feature; SpatialBatchNorm normalises
// x (N, C, H, W) per channel over N*H*W values. Both run one native kernel family that views
// x as (N, D, S), with S = 1 or S = H*W, so spatial batchnorm needs no transposes.
import { native } from '../binding';
import { Tensor } from '../tensor';
import { checkNumber, checkOptions, checkSameDtype, checkShape, checkTensor, invalidType } from '../validate';
import { Prepared, runAsync, runSync } from '../engine/op';
import { output } from '../engine/arena';

/** bnParam.eps when not given: added to the variance. */
export const BN_EPS = 1e-5;
/** bnParam.momentum when not given: running = momentum * running + (1 - momentum) * batch. */
export const BN_MOMENTUM = 0.9;

export interface BatchNormParam {
  mode: 'train' | 'test';
  /** Added to the variance (default BN_EPS, 1e-5). */
  eps?: number;
  /** running = momentum * running + (1 - momentum) * batch (default BN_MOMENTUM, 0.9). */
  momentum?: number;
  /** (D) running mean: created as zeros on first use and updated in place in train mode. */
  runningMean?: Tensor;
  /** (D) running (biased) variance: created as zeros on first use, updated in place. */
  runningVar?: Tensor;
}

export interface BatchNormCache {
  /** Backward needs batch statistics: only a train-mode forward can be differentiated. */
  mode: 'train' | 'test';
  x: Tensor;
  gamma: Tensor;
  /** (D) batch mean and 1 / sqrt(var + eps) from the forward pass. */
  mean: Tensor;
  rstd: Tensor;
  N: number;
  D: number;
  S: number;
}

/** A batchnorm with its ReLU fused (BatchNormReLU): the ReLU's output is also its mask. */
export interface BatchNormReLUCache {
  bn: BatchNormCache;
  /** The fused output, max(batchnorm(x), 0): where it is positive the ReLU passed its gradient. */
  out: Tensor;
}

type Result = { out: Tensor; cache: BatchNormCache };
type Grads = { dx: Tensor; dgamma: Tensor; dbeta: Tensor };

function prepareForward(x: Tensor, gamma: Tensor, beta: Tensor, bnParam: BatchNormParam, N: number, D: number, S: number, relu = false): Prepared<Result> {
  checkShape('gamma', gamma, [D], 'one scale per feature of x');
  checkShape('beta', beta, [D], 'one shift per feature of x');
  checkSameDtype({ x, gamma, beta });
  const bp = checkOptions('bnParam', bnParam);
  if (bp.mode !== 'train' && bp.mode !== 'test') throw invalidType('bnParam.mode', "'train' or 'test'", bp.mode);
  const eps = checkNumber('bnParam.eps', bp.eps ?? BN_EPS, (v) => v > 0, 'a positive finite number');
  const momentum = checkNumber('bnParam.momentum', bp.momentum ?? BN_MOMENTUM, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  bp.runningMean ??= Tensor.zeros([D], x.dtype, x.device);
  bp.runningVar ??= Tensor.zeros([D], x.dtype, x.device);
  const rm = checkShape('bnParam.runningMean', bp.runningMean, [D], 'one per feature of x');
  const rv = checkShape('bnParam.runningVar', bp.runningVar, [D], 'one per feature of x');
  checkSameDtype({ x, 'bnParam.runningMean': rm, 'bnParam.runningVar': rv });
  const out = output(x);
  const mean = output(x, [D]);
  const rstd = output(x, [D]);
  const cache: BatchNormCache = { mode: bp.mode, x, gamma, mean, rstd, N, D, S };
  const call =
    bp.mode === 'train'
      ? (async: boolean) => native.batchnormForwardTrain(N, D, S, eps, momentum, relu, out.buffer, mean.buffer, rstd.buffer, rm.buffer, rv.buffer, x.buffer, gamma.buffer, beta.buffer, async)
      : (async: boolean) => native.batchnormForwardTest(N, D, S, eps, relu, out.buffer, x.buffer, gamma.buffer, beta.buffer, rm.buffer, rv.buffer, async);
  return { result: { out, cache }, call, writes: bp.mode === 'train' ? { 'bnParam.runningMean': rm, 'bnParam.runningVar': rv } : undefined };
}

function checkBackward(dout: Tensor, cache: BatchNormCache): Grads {
  const { x, gamma } = cache;
  if (cache.mode !== 'train') {
    throw new RangeError("cache must come from a forward pass with bnParam.mode 'train' (backward uses the batch statistics), got one from mode 'test'");
  }
  checkShape('dout', dout, x.shape, 'the shape of the forward output');
  checkSameDtype({ x, dout });
  return { dx: output(x), dgamma: output(gamma), dbeta: output(gamma) };
}

function prepareBackward(dout: Tensor, cache: BatchNormCache, alt: boolean): Prepared<Grads> {
  const { x, gamma, mean, rstd, N, D, S } = cache;
  const g = checkBackward(dout, cache);
  return {
    result: g,
    call: (async) => native.batchnormBackward(N, D, S, alt, g.dx.buffer, g.dgamma.buffer, g.dbeta.buffer, dout.buffer, x.buffer, gamma.buffer, mean.buffer, rstd.buffer, async),
  };
}

/** The closed-form backward through the batchnorm and the ReLU fused after it. */
function prepareReluBackward(dout: Tensor, cache: BatchNormReLUCache): Prepared<Grads> {
  checkOptions('cache', cache);
  const { bn, out } = cache;
  checkShape('cache.out', out, bn.x.shape, 'the shape of the forward output');
  const { x, gamma, mean, rstd, N, D, S } = bn;
  const g = checkBackward(dout, bn);
  checkSameDtype({ x, 'cache.out': out });
  return {
    result: g,
    call: (async) => native.batchnormReluBackward(N, D, S, g.dx.buffer, g.dgamma.buffer, g.dbeta.buffer, dout.buffer, out.buffer, x.buffer, gamma.buffer, mean.buffer, rstd.buffer, async),
  };
}

function plain(x: Tensor) {
  checkTensor('x', x, 2, '(N, D)');
  return { N: x.shape[0], D: x.shape[1], S: 1 };
}

function spatial(x: Tensor) {
  checkTensor('x', x, 4, '(N, C, H, W)');
  return { N: x.shape[0], D: x.shape[1], S: x.shape[2] * x.shape[3] };
}

function family(view: (x: Tensor) => { N: number; D: number; S: number }) {
  const fwd = (x: Tensor, gamma: Tensor, beta: Tensor, bnParam: BatchNormParam) => {
    const { N, D, S } = view(x);
    return prepareForward(x, gamma, beta, bnParam, N, D, S);
  };
  return {
    prepareForward: fwd,
    prepareBackward: (dout: Tensor, cache: BatchNormCache) => prepareBackward(dout, cache, false),
    prepareBackwardAlt: (dout: Tensor, cache: BatchNormCache) => prepareBackward(dout, cache, true),
    /** Train mode normalises with batch statistics and updates the running ones in place. */
    forward(x: Tensor, gamma: Tensor, beta: Tensor, bnParam: BatchNormParam): Result {
      return runSync(fwd(x, gamma, beta, bnParam));
    },
    /** Backward through the computation graph, stage by stage. */
    backward(dout: Tensor, cache: BatchNormCache): Grads {
      return runSync(prepareBackward(dout, cache, false));
    },
    /** The simplified closed-form backward. */
    backwardAlt(dout: Tensor, cache: BatchNormCache): Grads {
      return runSync(prepareBackward(dout, cache, true));
    },
    async forwardAsync(x: Tensor, gamma: Tensor, beta: Tensor, bnParam: BatchNormParam): Promise<Result> {
      return runAsync(fwd(x, gamma, beta, bnParam));
    },
    async backwardAsync(dout: Tensor, cache: BatchNormCache): Promise<Grads> {
      return runAsync(prepareBackward(dout, cache, false));
    },
    async backwardAltAsync(dout: Tensor, cache: BatchNormCache): Promise<Grads> {
      return runAsync(prepareBackward(dout, cache, true));
    },
  };
}

/**
 * Batchnorm then ReLU in one pass each way: the same values as the two layers in turn (bit for
 * bit), with one elementwise pass and one intermediate tensor fewer. Backward is the closed form
 * (backwardAlt) through both.
 */
function fused(view: (x: Tensor) => { N: number; D: number; S: number }) {
  type FusedResult = { out: Tensor; cache: BatchNormReLUCache };
  const fwd = (x: Tensor, gamma: Tensor, beta: Tensor, bnParam: BatchNormParam): Prepared<FusedResult> => {
    const { N, D, S } = view(x);
    const p = prepareForward(x, gamma, beta, bnParam, N, D, S, true);
    return { ...p, result: { out: p.result.out, cache: { bn: p.result.cache, out: p.result.out } } };
  };
  return {
    prepareForward: fwd,
    prepareBackward: prepareReluBackward,
    forward(x: Tensor, gamma: Tensor, beta: Tensor, bnParam: BatchNormParam): FusedResult {
      return runSync(fwd(x, gamma, beta, bnParam));
    },
    backward(dout: Tensor, cache: BatchNormReLUCache): Grads {
      return runSync(prepareReluBackward(dout, cache));
    },
    async forwardAsync(x: Tensor, gamma: Tensor, beta: Tensor, bnParam: BatchNormParam): Promise<FusedResult> {
      return runAsync(fwd(x, gamma, beta, bnParam));
    },
    async backwardAsync(dout: Tensor, cache: BatchNormReLUCache): Promise<Grads> {
      return runAsync(prepareReluBackward(dout, cache));
    },
  };
}

/** Batchnorm over x (N, D). */
export const BatchNorm = family(plain);
/** Batchnorm over x (N, C, H, W), per channel. */
export const SpatialBatchNorm = family(spatial);
/** BatchNorm then ReLU, fused. */
export const BatchNormReLU = fused(plain);
/** SpatialBatchNorm then ReLU, fused. */
export const SpatialBatchNormReLU = fused(spatial);
