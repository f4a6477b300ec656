// ReLU and inverted dropout, elementwise over tensors of any shape.
import { native } from '../binding';
import { Rng } from '../random';
import { Tensor } from '../tensor';
import { checkInt, checkNumber, checkOptions, checkSameDtype, checkTensor, invalidType, shapeStr } from '../validate';
import { Prepared, runAsync, runSync } from '../engine/op';
import { output } from '../engine/arena';

function checkLike(name: string, t: Tensor, like: Tensor, likeName: string): void {
  checkTensor(name, t);
  if (t.size !== like.size || t.shape.some((d, i) => d !== like.shape[i]) || t.shape.length !== like.shape.length) {
    throw new RangeError(`${name} must have shape ${shapeStr(like.shape)} like ${likeName}, got ${shapeStr(t.shape)}`);
  }
  checkSameDtype({ [likeName]: like, [name]: t });  // dtype and device
}

function reluForward(x: Tensor): Prepared<{ out: Tensor; cache: Tensor }> {
  checkTensor('x', x);
  const out = output(x);
  return { result: { out, cache: x }, call: (async) => native.reluForward(x.size, out.buffer, x.buffer, async) };
}

function reluBackward(dout: Tensor, cache: Tensor): Prepared<Tensor> {
  checkTensor('cache', cache);
  checkLike('dout', dout, cache, 'the forward input');
  const dx = output(cache);
  return { result: dx, call: (async) => native.reluBackward(cache.size, dx.buffer, dout.buffer, cache.buffer, async) };
}

export const ReLU = {
  prepareForward: reluForward,
  prepareBackward: reluBackward,
  /** out = max(x, 0); the cache is x. */
  forward(x: Tensor): { out: Tensor; cache: Tensor } {
    return runSync(reluForward(x));
  },
  backward(dout: Tensor, cache: Tensor): Tensor {
    return runSync(reluBackward(dout, cache));
  },
  async forwardAsync(x: Tensor): Promise<{ out: Tensor; cache: Tensor }> {
    return runAsync(reluForward(x));
  },
  async backwardAsync(dout: Tensor, cache: Tensor): Promise<Tensor> {
    return runAsync(reluBackward(dout, cache));
  },
};

export interface DropoutParam {
  /** Keep probability in (0, 1]: each unit is kept with probability p and scaled by 1/p. */
  p: number;
  mode: 'train' | 'test';
  /** Seed of the mask; the same seed gives the same mask. Random when absent. */
  seed?: number;
}

export interface DropoutCache {
  mode: 'train' | 'test';
  /** 0 or 1/p per element (train mode), null in test mode. */
  mask: Tensor | null;
}

function dropoutForward(x: Tensor, dropoutParam: DropoutParam): Prepared<{ out: Tensor; cache: DropoutCache }> {
  checkTensor('x', x);
  const dp = checkOptions('dropoutParam', dropoutParam);
  const p = checkNumber('dropoutParam.p', dp.p, (v) => v > 0 && v <= 1, 'a keep probability in (0, 1]');
  if (dp.mode !== 'train' && dp.mode !== 'test') throw invalidType('dropoutParam.mode', "'train' or 'test'", dp.mode);
  if (dp.mode === 'test') {
    // Inverted dropout has nothing to do at test time: out is x itself, as in the seed (a copy
    // made here would read x before the kernel that writes it has run, under a pipelined drive).
    return { result: { out: x, cache: { mode: 'test', mask: null } }, call: () => undefined };
  }
  const out = output(x);
  const seed = dp.seed === undefined ? new Rng().seed() : checkInt('dropoutParam.seed', dp.seed, 0);
  if (seed > Number.MAX_SAFE_INTEGER) throw new RangeError(`dropoutParam.seed must be an integer in [0, 2^53), got ${seed}`);
  const mask = output(x);
  return {
    result: { out, cache: { mode: 'train', mask } },
    call: (async) => native.dropoutForward(x.size, p, seed, out.buffer, mask.buffer, x.buffer, async),
  };
}

function dropoutBackward(dout: Tensor, cache: DropoutCache): Prepared<Tensor> {
  checkTensor('dout', dout);
  if (cache.mode === 'test' || cache.mask === null) return { result: dout, call: () => undefined };  // dx = dout, as in the seed
  const mask = cache.mask;
  checkLike('dout', dout, mask, 'the forward input');
  const dx = output(mask);
  return { result: dx, call: (async) => native.dropoutBackward(mask.size, dx.buffer, dout.buffer, mask.buffer, async) };
}

export const Dropout = {
  prepareForward: dropoutForward,
  prepareBackward: dropoutBackward,
  forward(x: Tensor, dropoutParam: DropoutParam): { out: Tensor; cache: DropoutCache } {
    return runSync(dropoutForward(x, dropoutParam));
  },
  backward(dout: Tensor, cache: DropoutCache): Tensor {
    return runSync(dropoutBackward(dout, cache));
  },
  async forwardAsync(x: Tensor, dropoutParam: DropoutParam): Promise<{ out: Tensor; cache: DropoutCache }> {
    return runAsync(dropoutForward(x, dropoutParam));
  },
  async backwardAsync(dout: Tensor, cache: DropoutCache): Promise<Tensor> {
    return runAsync(dropoutBackward(dout, cache));
  },
};
