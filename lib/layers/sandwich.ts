// "Sandwich" layers: the common compositions, each with the forward/backward API of the rest.
import { Tensor } from '../tensor';
import { BatchNormParam, BatchNormReLU, BatchNormReLUCache, SpatialBatchNormReLU } from './batchnorm';
import { Conv, ConvCache, ConvParam } from './conv';
import { Linear, LinearCache } from './linear';
import { MaxPool, PoolCache, PoolParam } from './pool';
import { ReLU } from './activation';
import { release } from '../engine/arena';
import { driveSync, Steps, step } from '../engine/op';

type ConvGrads = { dx: Tensor; dw: Tensor; db: Tensor };
type BnGrads = ConvGrads & { dgamma: Tensor; dbeta: Tensor };

export interface ConvReLUCache {
  conv: ConvCache;
  relu: Tensor;
}

export const ConvReLU = {
  forward(x: Tensor, w: Tensor, b: Tensor, convParam?: ConvParam): { out: Tensor; cache: ConvReLUCache } {
    const c = Conv.forward(x, w, b, convParam);
    const r = ReLU.forward(c.out);
    return { out: r.out, cache: { conv: c.cache, relu: r.cache } };
  },
  backward(dout: Tensor, cache: ConvReLUCache): ConvGrads {
    return Conv.backward(ReLU.backward(dout, cache.relu), cache.conv);
  },
};

export interface ConvReLUPoolCache extends ConvReLUCache {
  pool: PoolCache;
}

export const ConvReLUPool = {
  forward(x: Tensor, w: Tensor, b: Tensor, convParam?: ConvParam, poolParam?: PoolParam): { out: Tensor; cache: ConvReLUPoolCache } {
    const cr = ConvReLU.forward(x, w, b, convParam);
    const p = MaxPool.forward(cr.out, poolParam);
    return { out: p.out, cache: { ...cr.cache, pool: p.cache } };
  },
  backward(dout: Tensor, cache: ConvReLUPoolCache): ConvGrads {
    return ConvReLU.backward(MaxPool.backward(dout, cache.pool), cache);
  },
};

/**
 * ReLU then max pool, run as max pool then ReLU: ReLU is monotonic, so relu(max(window)) =
 * max(relu(window)) bit for bit, and the gradients agree bit for bit too (a window whose maximum
 * is > 0 routes dout to the same first maximum either way; one whose maximum is <= 0 gives 0
 * everywhere either way). The ReLU and its backward then touch the pooled map, a quarter of the
 * conv output for 2x2 / 2 (the ReLU passes were 8% of a W1 step). The cache: the pool's, and the
 * ReLU's input (the pooled map, before the ReLU).
 */
export interface PoolReLUCache {
  pool: PoolCache;
  relu: Tensor;
}

export const PoolReLU = {
  *forwardSteps(x: Tensor, poolParam?: PoolParam): Steps<{ out: Tensor; cache: PoolReLUCache }> {
    const p = yield* step(MaxPool.prepareForward(x, poolParam));
    const r = yield* step(ReLU.prepareForward(p.out));
    return { out: r.out, cache: { pool: p.cache, relu: r.cache } };
  },
  /** dx for x; what the cache holds is the caller's to release. */
  *backwardSteps(dout: Tensor, cache: PoolReLUCache): Steps<Tensor> {
    const dr = yield* step(ReLU.prepareBackward(dout, cache.relu));
    const dx = yield* step(MaxPool.prepareBackward(dr, cache.pool));
    release(dr);
    return dx;
  },
  forward(x: Tensor, poolParam?: PoolParam): { out: Tensor; cache: PoolReLUCache } {
    return driveSync(PoolReLU.forwardSteps(x, poolParam));
  },
  backward(dout: Tensor, cache: PoolReLUCache): Tensor {
    return driveSync(PoolReLU.backwardSteps(dout, cache));
  },
};

export interface ConvBatchNormReLUCache {
  conv: ConvCache;
  /** Batchnorm and ReLU run fused (SpatialBatchNormReLU). */
  bnRelu: BatchNormReLUCache;
}

export const ConvBatchNormReLU = {
  forward(x: Tensor, w: Tensor, b: Tensor, gamma: Tensor, beta: Tensor, convParam: ConvParam | undefined, bnParam: BatchNormParam): { out: Tensor; cache: ConvBatchNormReLUCache } {
    const c = Conv.forward(x, w, b, convParam);
    const n = SpatialBatchNormReLU.forward(c.out, gamma, beta, bnParam);
    return { out: n.out, cache: { conv: c.cache, bnRelu: n.cache } };
  },
  backward(dout: Tensor, cache: ConvBatchNormReLUCache): BnGrads {
    const { dx: dn, dgamma, dbeta } = SpatialBatchNormReLU.backward(dout, cache.bnRelu);
    return { ...Conv.backward(dn, cache.conv), dgamma, dbeta };
  },
};

export interface ConvBatchNormReLUPoolCache extends ConvBatchNormReLUCache {
  pool: PoolCache;
}

export const ConvBatchNormReLUPool = {
  forward(x: Tensor, w: Tensor, b: Tensor, gamma: Tensor, beta: Tensor, convParam: ConvParam | undefined, bnParam: BatchNormParam, poolParam?: PoolParam): { out: Tensor; cache: ConvBatchNormReLUPoolCache } {
    const cbr = ConvBatchNormReLU.forward(x, w, b, gamma, beta, convParam, bnParam);
    const p = MaxPool.forward(cbr.out, poolParam);
    return { out: p.out, cache: { ...cbr.cache, pool: p.cache } };
  },
  backward(dout: Tensor, cache: ConvBatchNormReLUPoolCache): BnGrads {
    return ConvBatchNormReLU.backward(MaxPool.backward(dout, cache.pool), cache);
  },
};

export interface LinearReLUCache {
  linear: LinearCache;
  relu: Tensor;
}

export const LinearReLU = {
  forward(x: Tensor, w: Tensor, b: Tensor): { out: Tensor; cache: LinearReLUCache } {
    const l = Linear.forward(x, w, b);
    const r = ReLU.forward(l.out);
    return { out: r.out, cache: { linear: l.cache, relu: r.cache } };
  },
  backward(dout: Tensor, cache: LinearReLUCache): ConvGrads {
    return Linear.backward(ReLU.backward(dout, cache.relu), cache.linear);
  },
};

export interface LinearBatchNormReLUCache {
  linear: LinearCache;
  /** Batchnorm and ReLU run fused (BatchNormReLU). */
  bnRelu: BatchNormReLUCache;
}

export const LinearBatchNormReLU = {
  forward(x: Tensor, w: Tensor, b: Tensor, gamma: Tensor, beta: Tensor, bnParam: BatchNormParam): { out: Tensor; cache: LinearBatchNormReLUCache } {
    const l = Linear.forward(x, w, b);
    const n = BatchNormReLU.forward(l.out, gamma, beta, bnParam);
    return { out: n.out, cache: { linear: l.cache, bnRelu: n.cache } };
  },
  backward(dout: Tensor, cache: LinearBatchNormReLUCache): BnGrads {
    const { dx: dn, dgamma, dbeta } = BatchNormReLU.backward(dout, cache.bnRelu);
    return { ...Linear.backward(dn, cache.linear), dgamma, dbeta };
  },
};
