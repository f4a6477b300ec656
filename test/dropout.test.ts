// Inverted dropout: the mask is a pure function of (seed, element index); kept units are scaled
// by 1/p; test mode is the identity; backward is dout * mask.
// Tolerances: kept fraction within 0.01 of p on 100k elements; out and dx compared with
// relError 1e-12 (exact in practice) in float64; numeric gradient (fixed seed, h = 1e-6) 1e-7;
// float32 forward vs float64 forward 1e-5.
import { Dropout } from '../lib/layers';
import { Tensor } from '../lib/tensor';
import { expectRel, expectShape, mul, numGrad, randn64, withThreads } from './helpers';

function kept(mask: Tensor): number {
  let k = 0;
  for (let i = 0; i < mask.size; i++) if (mask.data[i] !== 0) k++;
  return k;
}

describe('Dropout (float64)', () => {
  test('the same seed gives the same mask twice; different seeds give different masks', () => {
    const x = randn64([50, 40], 1);
    const a = Dropout.forward(x, { p: 0.5, mode: 'train', seed: 123 });
    const b = Dropout.forward(x, { p: 0.5, mode: 'train', seed: 123 });
    const c = Dropout.forward(x, { p: 0.5, mode: 'train', seed: 124 });
    expect(Array.from(b.cache.mask!.data)).toEqual(Array.from(a.cache.mask!.data));
    expect(Array.from(b.out.data)).toEqual(Array.from(a.out.data));
    let differ = 0;
    for (let i = 0; i < x.size; i++) if (a.cache.mask!.data[i] !== c.cache.mask!.data[i]) differ++;
    // Two independent p = 0.5 masks disagree on about half of 2000 elements.
    expect(differ).toBeGreaterThan(800);
    expect(differ).toBeLessThan(1200);
  });

  test('without a seed, two calls draw different masks', () => {
    const x = randn64([2000], 2);
    const a = Dropout.forward(x, { p: 0.5, mode: 'train' });
    const b = Dropout.forward(x, { p: 0.5, mode: 'train' });
    expect(Array.from(a.cache.mask!.data)).not.toEqual(Array.from(b.cache.mask!.data));
  });

  test.each([0.1, 0.3, 0.5, 0.8, 0.95])('p = %p: the kept fraction on 100k elements is within 0.01 of p', (p) => {
    const x = Tensor.full([100000], 1, 'float64');
    const { out, cache } = Dropout.forward(x, { p, mode: 'train', seed: 7 });
    expect(Math.abs(kept(cache.mask!) / x.size - p)).toBeLessThan(0.01);
    // Inverted dropout keeps the expected value: mean(out) ~ mean(x) = 1.
    let s = 0;
    for (let i = 0; i < out.size; i++) s += out.data[i];
    expect(Math.abs(s / out.size - 1)).toBeLessThan(0.01 / p);
  });

  test('kept values are x / p, dropped values are 0, the mask holds 0 or 1/p', () => {
    const p = 0.3;
    const x = randn64([10, 10, 10], 3);
    const { out, cache } = Dropout.forward(x, { p, mode: 'train', seed: 99 });
    expectShape(out, x.shape);
    const mask = cache.mask!;
    expectShape(mask, x.shape);
    let keptCount = 0;
    for (let i = 0; i < x.size; i++) {
      if (mask.data[i] === 0) {
        expect(out.data[i] === 0).toBe(true); // +0 or -0 (x * 0 for negative x)
      } else {
        keptCount++;
        expect(mask.data[i]).toBeCloseTo(1 / p, 14);
        expect(Math.abs(out.data[i] - x.data[i] / p)).toBeLessThanOrEqual(1e-12 * Math.abs(x.data[i] / p));
      }
    }
    expect(keptCount).toBeGreaterThan(0);
    expect(keptCount).toBeLessThan(x.size);
  });

  test('p = 1 keeps everything unchanged', () => {
    const x = randn64([500], 4);
    const { out } = Dropout.forward(x, { p: 1, mode: 'train', seed: 5 });
    expect(Array.from(out.data)).toEqual(Array.from(x.data));
  });

  test('test mode: out is x itself (as in the seed), backward passes dout through', () => {
    const x = randn64([6, 7], 5);
    const { out, cache } = Dropout.forward(x, { p: 0.4, mode: 'test', seed: 1 });
    expect(out).toBe(x);
    expect(cache.mask).toBeNull();
    const dout = randn64([6, 7], 6);
    expect(Array.from(Dropout.backward(dout, cache).data)).toEqual(Array.from(dout.data));
  });

  test('backward equals dout * mask', () => {
    const x = randn64([8, 9], 7);
    const dout = randn64([8, 9], 8);
    const { cache } = Dropout.forward(x, { p: 0.6, mode: 'train', seed: 11 });
    const dx = Dropout.backward(dout, cache);
    expectShape(dx, x.shape);
    expectRel(dx, mul(dout.data, cache.mask!.data), 1e-12, 'dx');
  });

  test('numeric gradient check with a fixed seed', () => {
    const x = randn64([4, 5, 3], 9);
    const dout = randn64([4, 5, 3], 10);
    const dp = { p: 0.7, mode: 'train' as const, seed: 2024 };
    const dx = Dropout.backward(dout, Dropout.forward(x, dp).cache);
    expectRel(dx, numGrad((xx) => Dropout.forward(xx, dp).out, x, dout), 1e-7, 'dx');
  });

  test('the mask does not depend on the thread count (parallel path above 65536 elements)', () => {
    const x = randn64([100000], 11);
    const m1 = withThreads(1, () => Dropout.forward(x, { p: 0.5, mode: 'train', seed: 3 }).cache.mask!);
    const m2 = withThreads(2, () => Dropout.forward(x, { p: 0.5, mode: 'train', seed: 3 }).cache.mask!);
    expect(Buffer.from(m2.data.buffer).equals(Buffer.from(m1.data.buffer))).toBe(true);
  });

  test('async variants give the sync results', async () => {
    const x = randn64([30], 12);
    const dout = randn64([30], 13);
    const dp = { p: 0.5, mode: 'train' as const, seed: 8 };
    const s = Dropout.forward(x, dp);
    const a = await Dropout.forwardAsync(x, dp);
    expect(Array.from(a.out.data)).toEqual(Array.from(s.out.data));
    expect(Array.from((await Dropout.backwardAsync(dout, a.cache)).data)).toEqual(Array.from(Dropout.backward(dout, s.cache).data));
  });
});

describe('Dropout float32', () => {
  test('same seed: the float32 mask keeps the same units and out is within 1e-5 of float64', () => {
    const x = randn64([40, 25], 14);
    const dp = { p: 0.35, mode: 'train' as const, seed: 77 };
    const r64 = Dropout.forward(x, dp);
    const r32 = Dropout.forward(x.astype('float32'), dp);
    expect(r32.out.dtype).toBe('float32');
    for (let i = 0; i < x.size; i++) expect(r32.cache.mask!.data[i] !== 0).toBe(r64.cache.mask!.data[i] !== 0);
    expectRel(r32.out, r64.out, 1e-5, 'forward');
  });
});
