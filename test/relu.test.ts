// ReLU: forward against the TypeScript reference on tensors of several ranks, backward against
// dout * (x > 0) and numeric gradients (inputs kept at least 0.05 away from the kink, h = 1e-6).
// Tolerances (relError): float64 forward/backward vs reference 1e-12 (exact in practice);
// numeric gradient 1e-7; float32 forward vs float64 forward 1e-5.
import { ReLU } from '../lib/layers';
import { Tensor } from '../lib/tensor';
import * as ref from './reference';
import { awayFromZero64, expectRel, expectShape, mul, nd, numGrad, randn64, withThreads } from './helpers';

const shapes: number[][] = [[7], [3, 5], [2, 3, 4], [1, 2, 3, 5], [2, 1, 3, 2, 2], [1, 1]];

describe('ReLU (float64)', () => {
  test.each(shapes.map((s) => ({ shape: s, name: `[${s.join(', ')}]` })))('$name: forward and backward match the reference', ({ shape }) => {
    const x = randn64(shape, 1);
    const { out, cache } = ReLU.forward(x);
    expectShape(out, shape);
    expectRel(out, ref.relu(nd(x)), 1e-12, 'forward');
    const dout = randn64(shape, 2);
    const dx = ReLU.backward(dout, cache);
    expectShape(dx, shape);
    const mask = new Float64Array(x.size).map((_, i) => (x.data[i] > 0 ? 1 : 0));
    expectRel(dx, mul(dout.data, mask), 1e-12, 'backward');
  });

  test('x = 0 gives 0 forward and a zero gradient; negatives are zeroed exactly', () => {
    const x = Tensor.from([-3, -0, 0, 1e-300, 2], { dtype: 'float64' });
    const { out, cache } = ReLU.forward(x);
    expect(Array.from(out.data)).toEqual([0, 0, 0, 1e-300, 2]);
    const dx = ReLU.backward(Tensor.from([1, 1, 1, 1, 1], { dtype: 'float64' }), cache);
    expect(Array.from(dx.data)).toEqual([0, 0, 0, 1, 1]);
  });

  test('forward does not modify its input', () => {
    const x = randn64([4, 4], 3);
    const copy = Array.from(x.data);
    ReLU.forward(x);
    expect(Array.from(x.data)).toEqual(copy);
  });

  test('numeric gradient check', () => {
    const x = awayFromZero64([3, 4, 5], 4);
    const dout = randn64([3, 4, 5], 5);
    const dx = ReLU.backward(dout, ReLU.forward(x).cache);
    expectRel(dx, numGrad((xx) => ReLU.forward(xx).out, x, dout), 1e-7, 'dx');
  });

  test('large tensors (parallel path) give the same result for 1 and 2 threads', () => {
    const x = randn64([100001], 6);
    const dout = randn64([100001], 7);
    const r1 = withThreads(1, () => ReLU.forward(x));
    const r2 = withThreads(2, () => ReLU.forward(x));
    expectRel(r1.out, ref.relu(nd(x)), 1e-12, '1 thread');
    expectRel(r2.out, ref.relu(nd(x)), 1e-12, '2 threads');
    const d2 = withThreads(2, () => ReLU.backward(dout, r2.cache));
    const mask = new Float64Array(x.size).map((_, i) => (x.data[i] > 0 ? 1 : 0));
    expectRel(d2, mul(dout.data, mask), 1e-12, 'backward 2 threads');
  });

  test('async variants give the sync results', async () => {
    const x = randn64([5, 6], 8);
    const dout = randn64([5, 6], 9);
    const s = ReLU.forward(x);
    const a = await ReLU.forwardAsync(x);
    expect(Array.from(a.out.data)).toEqual(Array.from(s.out.data));
    expect(Array.from((await ReLU.backwardAsync(dout, a.cache)).data)).toEqual(Array.from(ReLU.backward(dout, s.cache).data));
  });
});

describe('ReLU float32', () => {
  test('float32 forward within 1e-5 of float64 (and backward)', () => {
    const x = randn64([4, 3, 5], 10);
    const dout = randn64([4, 3, 5], 11);
    const r64 = ReLU.forward(x);
    const r32 = ReLU.forward(x.astype('float32'));
    expect(r32.out.dtype).toBe('float32');
    expectRel(r32.out, r64.out, 1e-5, 'forward');
    expectRel(ReLU.backward(dout.astype('float32'), r32.cache), ReLU.backward(dout, r64.cache), 1e-5, 'backward');
  });
});
