// PoolReLU (max pool then ReLU) against ReLU then max pool: the same bits, forward and backward.
// Sandwich layers (ConvReLU, ConvReLUPool, ConvBatchNormReLU, ConvBatchNormReLUPool, LinearReLU,
// LinearBatchNormReLU): forward against compositions of the TypeScript references, backward
// against numeric gradients.
// Tolerances (relError): float64 forward vs reference 1e-12; numeric gradients (h = 1e-6) of dx,
// dw, db 1e-7 for layers without batchnorm; dx, dw, db, dgamma, dbeta 1e-6 for layers with
// batchnorm; float32 forward vs float64 forward 1e-5.
import {
  BatchNormParam,
  ConvBatchNormReLU,
  ConvBatchNormReLUPool,
  ConvReLU,
  ConvReLUPool,
  LinearBatchNormReLU,
  LinearReLU,
  MaxPool,
  PoolReLU,
  ReLU,
} from '../lib/layers';
import { Tensor } from '../lib/tensor';
import * as ref from './reference';
import { expectRel, expectShape, nd, numGrad, randn64 } from './helpers';

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: number;
  pad: number;
  pool: { poolHeight: number; poolWidth: number; stride: number };
}

const convCases: ConvCase[] = [
  { name: '3x3 pad 1, pool 2x2/2', x: [2, 3, 6, 6], w: [4, 3, 3, 3], stride: 1, pad: 1, pool: { poolHeight: 2, poolWidth: 2, stride: 2 } },
  { name: 'batch 1, non-square 3x2 kernel pad 0, pool 2x3/1', x: [1, 2, 5, 7], w: [3, 2, 3, 2], stride: 1, pad: 0, pool: { poolHeight: 2, poolWidth: 3, stride: 1 } },
  { name: 'stride 2 pad 2, non-square input, pool 3x3/2', x: [3, 2, 9, 7], w: [2, 2, 3, 3], stride: 2, pad: 2, pool: { poolHeight: 3, poolWidth: 3, stride: 2 } },
  { name: 'pad 0, stride 2, 2x4 kernel, pool 2x2/2', x: [2, 1, 8, 10], w: [3, 1, 2, 4], stride: 2, pad: 0, pool: { poolHeight: 2, poolWidth: 2, stride: 2 } },
];

function convParams(c: ConvCase, seed: number) {
  const F = c.w[0];
  const x = randn64(c.x, seed);
  const w = randn64(c.w, seed + 1, 0.5);
  const b = randn64([F], seed + 2, 0.5);
  const gamma = randn64([F], seed + 3);
  for (let i = 0; i < F; i++) gamma.data[i] += Math.sign(gamma.data[i]) * 0.5;
  const beta = randn64([F], seed + 4);
  return { x, w, b, gamma, beta, cp: { stride: c.stride, pad: c.pad } };
}

function freshState(D: number): ref.BNState {
  return { runningMean: new Float64Array(D), runningVar: new Float64Array(D) };
}

describe('sandwich forward vs composed references (float64)', () => {
  test.each(convCases)('ConvReLU / ConvReLUPool: $name', (c) => {
    const { x, w, b, cp } = convParams(c, 1);
    const conv = ref.convForward(nd(x), nd(w), nd(b), c.stride, c.pad);
    const r = ref.relu(conv);
    const cr = ConvReLU.forward(x, w, b, cp).out;
    expectShape(cr, conv.shape);
    expectRel(cr, r, 1e-12, 'ConvReLU');
    const crp = ConvReLUPool.forward(x, w, b, cp, c.pool).out;
    const expected = ref.maxPoolForward(r, c.pool.poolHeight, c.pool.poolWidth, c.pool.stride);
    expectShape(crp, expected.shape);
    expectRel(crp, expected, 1e-12, 'ConvReLUPool');
  });

  test.each(convCases)('ConvBatchNormReLU / ConvBatchNormReLUPool (train, then test): $name', (c) => {
    const { x, w, b, gamma, beta, cp } = convParams(c, 2);
    const F = c.w[0];
    const conv = ref.convForward(nd(x), nd(w), nd(b), c.stride, c.pad);
    const state = freshState(F);
    const expected = ref.relu(ref.spatialBatchnormForward(conv, nd(gamma), nd(beta), 'train', state));
    const bnParam: BatchNormParam = { mode: 'train' };
    const out = ConvBatchNormReLU.forward(x, w, b, gamma, beta, cp, bnParam).out;
    expectRel(out, expected, 1e-12, 'ConvBatchNormReLU train');
    expectRel(bnParam.runningMean!, state.runningMean, 1e-12, 'runningMean');
    expectRel(bnParam.runningVar!, state.runningVar, 1e-12, 'runningVar');
    const pooled = ConvBatchNormReLUPool.forward(x, w, b, gamma, beta, cp, { mode: 'train' }, c.pool).out;
    expectRel(pooled, ref.maxPoolForward(expected, c.pool.poolHeight, c.pool.poolWidth, c.pool.stride), 1e-12, 'ConvBatchNormReLUPool train');
    // Test mode reads (and keeps) the running statistics.
    const before = Array.from(bnParam.runningMean!.data);
    const testOut = ConvBatchNormReLU.forward(x, w, b, gamma, beta, cp, { ...bnParam, mode: 'test' }).out;
    const expectedTest = ref.relu(ref.spatialBatchnormForward(conv, nd(gamma), nd(beta), 'test', state));
    expectRel(testOut, expectedTest, 1e-12, 'ConvBatchNormReLU test');
    expect(Array.from(bnParam.runningMean!.data)).toEqual(before);
    const testPooled = ConvBatchNormReLUPool.forward(x, w, b, gamma, beta, cp, { ...bnParam, mode: 'test' }, c.pool).out;
    expectRel(testPooled, ref.maxPoolForward(expectedTest, c.pool.poolHeight, c.pool.poolWidth, c.pool.stride), 1e-12, 'ConvBatchNormReLUPool test');
  });

  test.each([
    { x: [4, 5], M: 3 },
    { x: [1, 2, 3], M: 4 },
    { x: [6, 2, 2, 2], M: 5 },
  ])('LinearReLU / LinearBatchNormReLU: x $x -> $M', ({ x: xs, M }) => {
    const D = xs.slice(1).reduce((a, b) => a * b, 1);
    const x = randn64(xs, 3);
    const w = randn64([D, M], 4, 0.5);
    const b = randn64([M], 5);
    const gamma = randn64([M], 6);
    const beta = randn64([M], 7);
    const lin = ref.linearForward(nd(x), nd(w), nd(b));
    expectRel(LinearReLU.forward(x, w, b).out, ref.relu(lin), 1e-12, 'LinearReLU');
    const state = freshState(M);
    const bnParam: BatchNormParam = { mode: 'train' };
    const out = LinearBatchNormReLU.forward(x, w, b, gamma, beta, bnParam).out;
    expectShape(out, [xs[0], M]);
    expectRel(out, ref.relu(ref.batchnormForward(lin, nd(gamma), nd(beta), 'train', state)), 1e-12, 'LinearBatchNormReLU train');
    expectRel(bnParam.runningVar!, state.runningVar, 1e-12, 'runningVar');
    const testOut = LinearBatchNormReLU.forward(x, w, b, gamma, beta, { ...bnParam, mode: 'test' }).out;
    expectRel(testOut, ref.relu(ref.batchnormForward(lin, nd(gamma), nd(beta), 'test', state)), 1e-12, 'LinearBatchNormReLU test');
  });
});

describe('sandwich backward vs numeric gradients (float64, h = 1e-6)', () => {
  const small: ConvCase[] = [
    { name: '3x3 pad 1', x: [2, 2, 4, 4], w: [3, 2, 3, 3], stride: 1, pad: 1, pool: { poolHeight: 2, poolWidth: 2, stride: 2 } },
    { name: 'pad 0, 3x2 kernel', x: [2, 2, 5, 5], w: [2, 2, 3, 2], stride: 1, pad: 0, pool: { poolHeight: 3, poolWidth: 2, stride: 1 } },
    { name: 'pad 0, stride 2', x: [3, 1, 5, 5], w: [2, 1, 3, 3], stride: 2, pad: 0, pool: { poolHeight: 2, poolWidth: 2, stride: 1 } },
  ];

  test.each(small)('ConvReLU: $name', (c) => {
    const { x, w, b, cp } = convParams(c, 10);
    const { out, cache } = ConvReLU.forward(x, w, b, cp);
    const dout = randn64(out.shape, 11);
    const g = ConvReLU.backward(dout, cache);
    expectRel(g.dx, numGrad((v) => ConvReLU.forward(v, w, b, cp).out, x, dout), 1e-7, 'dx');
    expectRel(g.dw, numGrad((v) => ConvReLU.forward(x, v, b, cp).out, w, dout), 1e-7, 'dw');
    expectRel(g.db, numGrad((v) => ConvReLU.forward(x, w, v, cp).out, b, dout), 1e-7, 'db');
  });

  test.each(small)('ConvReLUPool: $name', (c) => {
    const { x, w, b, cp } = convParams(c, 12);
    const f = (xx: Tensor, ww: Tensor, bb: Tensor) => ConvReLUPool.forward(xx, ww, bb, cp, c.pool).out;
    const { out, cache } = ConvReLUPool.forward(x, w, b, cp, c.pool);
    const dout = randn64(out.shape, 13);
    const g = ConvReLUPool.backward(dout, cache);
    expectShape(g.dx, x.shape);
    expectRel(g.dx, numGrad((v) => f(v, w, b), x, dout), 1e-7, 'dx');
    expectRel(g.dw, numGrad((v) => f(x, v, b), w, dout), 1e-7, 'dw');
    expectRel(g.db, numGrad((v) => f(x, w, v), b, dout), 1e-7, 'db');
  });

  test.each(small)('ConvBatchNormReLU: $name', (c) => {
    const { x, w, b, gamma, beta, cp } = convParams(c, 14);
    const f = (xx: Tensor, ww: Tensor, bb: Tensor, gg: Tensor, be: Tensor) => ConvBatchNormReLU.forward(xx, ww, bb, gg, be, cp, { mode: 'train' }).out;
    const { out, cache } = ConvBatchNormReLU.forward(x, w, b, gamma, beta, cp, { mode: 'train' });
    const dout = randn64(out.shape, 15);
    const g = ConvBatchNormReLU.backward(dout, cache);
    expectRel(g.dx, numGrad((v) => f(v, w, b, gamma, beta), x, dout), 1e-6, 'dx');
    expectRel(g.dw, numGrad((v) => f(x, v, b, gamma, beta), w, dout), 1e-6, 'dw');
    // The conv bias is cancelled by the batch mean: its true gradient is 0 up to rounding.
    const dbNum = numGrad((v) => f(x, w, v, gamma, beta), b, dout);
    for (let i = 0; i < b.size; i++) {
      expect(Math.abs(g.db.data[i] - dbNum.data[i])).toBeLessThan(1e-6);
    }
    expectRel(g.dgamma, numGrad((v) => f(x, w, b, v, beta), gamma, dout), 1e-6, 'dgamma');
    expectRel(g.dbeta, numGrad((v) => f(x, w, b, gamma, v), beta, dout), 1e-6, 'dbeta');
  });

  test.each(small)('ConvBatchNormReLUPool: $name', (c) => {
    const { x, w, b, gamma, beta, cp } = convParams(c, 16);
    const f = (xx: Tensor, ww: Tensor, bb: Tensor, gg: Tensor, be: Tensor) =>
      ConvBatchNormReLUPool.forward(xx, ww, bb, gg, be, cp, { mode: 'train' }, c.pool).out;
    const { out, cache } = ConvBatchNormReLUPool.forward(x, w, b, gamma, beta, cp, { mode: 'train' }, c.pool);
    const dout = randn64(out.shape, 17);
    const g = ConvBatchNormReLUPool.backward(dout, cache);
    expectRel(g.dx, numGrad((v) => f(v, w, b, gamma, beta), x, dout), 1e-6, 'dx');
    expectRel(g.dw, numGrad((v) => f(x, v, b, gamma, beta), w, dout), 1e-6, 'dw');
    const dbNum = numGrad((v) => f(x, w, v, gamma, beta), b, dout);
    for (let i = 0; i < b.size; i++) expect(Math.abs(g.db.data[i] - dbNum.data[i])).toBeLessThan(1e-6);
    expectRel(g.dgamma, numGrad((v) => f(x, w, b, v, beta), gamma, dout), 1e-6, 'dgamma');
    expectRel(g.dbeta, numGrad((v) => f(x, w, b, gamma, v), beta, dout), 1e-6, 'dbeta');
  });

  test.each([
    { x: [5, 6], M: 4 },
    { x: [3, 2, 3], M: 5 },
  ])('LinearReLU: x $x -> $M', ({ x: xs, M }) => {
    const D = xs.slice(1).reduce((a, b) => a * b, 1);
    const x = randn64(xs, 18);
    const w = randn64([D, M], 19, 0.5);
    const b = randn64([M], 20);
    const { out, cache } = LinearReLU.forward(x, w, b);
    const dout = randn64(out.shape, 21);
    const g = LinearReLU.backward(dout, cache);
    expectShape(g.dx, x.shape);
    expectRel(g.dx, numGrad((v) => LinearReLU.forward(v, w, b).out, x, dout), 1e-7, 'dx');
    expectRel(g.dw, numGrad((v) => LinearReLU.forward(x, v, b).out, w, dout), 1e-7, 'dw');
    expectRel(g.db, numGrad((v) => LinearReLU.forward(x, w, v).out, b, dout), 1e-7, 'db');
  });

  test.each([
    { x: [6, 5], M: 4 },
    { x: [5, 2, 3], M: 3 },
  ])('LinearBatchNormReLU: x $x -> $M', ({ x: xs, M }) => {
    const D = xs.slice(1).reduce((a, b) => a * b, 1);
    const x = randn64(xs, 22);
    const w = randn64([D, M], 23, 0.5);
    const b = randn64([M], 24);
    const gamma = randn64([M], 25);
    const beta = randn64([M], 26);
    const f = (xx: Tensor, ww: Tensor, bb: Tensor, gg: Tensor, be: Tensor) => LinearBatchNormReLU.forward(xx, ww, bb, gg, be, { mode: 'train' }).out;
    const { out, cache } = LinearBatchNormReLU.forward(x, w, b, gamma, beta, { mode: 'train' });
    const dout = randn64(out.shape, 27);
    const g = LinearBatchNormReLU.backward(dout, cache);
    expectShape(g.dx, x.shape);
    expectRel(g.dx, numGrad((v) => f(v, w, b, gamma, beta), x, dout), 1e-6, 'dx');
    expectRel(g.dw, numGrad((v) => f(x, v, b, gamma, beta), w, dout), 1e-6, 'dw');
    const dbNum = numGrad((v) => f(x, w, v, gamma, beta), b, dout);
    for (let i = 0; i < b.size; i++) expect(Math.abs(g.db.data[i] - dbNum.data[i])).toBeLessThan(1e-6);
    expectRel(g.dgamma, numGrad((v) => f(x, w, b, v, beta), gamma, dout), 1e-6, 'dgamma');
    expectRel(g.dbeta, numGrad((v) => f(x, w, b, gamma, v), beta, dout), 1e-6, 'dbeta');
  });
});

describe('sandwich float32 forward within 1e-5 of float64', () => {
  test.each(convCases)('conv sandwiches: $name', (c) => {
    const { x, w, b, gamma, beta, cp } = convParams(c, 30);
    const [x32, w32, b32, g32, be32] = [x, w, b, gamma, beta].map((t) => t.astype('float32'));
    expectRel(ConvReLU.forward(x32, w32, b32, cp).out, ConvReLU.forward(x, w, b, cp).out, 1e-5, 'ConvReLU');
    expectRel(ConvReLUPool.forward(x32, w32, b32, cp, c.pool).out, ConvReLUPool.forward(x, w, b, cp, c.pool).out, 1e-5, 'ConvReLUPool');
    const o32 = ConvBatchNormReLU.forward(x32, w32, b32, g32, be32, cp, { mode: 'train' }).out;
    expect(o32.dtype).toBe('float32');
    expectRel(o32, ConvBatchNormReLU.forward(x, w, b, gamma, beta, cp, { mode: 'train' }).out, 1e-5, 'ConvBatchNormReLU');
    expectRel(
      ConvBatchNormReLUPool.forward(x32, w32, b32, g32, be32, cp, { mode: 'train' }, c.pool).out,
      ConvBatchNormReLUPool.forward(x, w, b, gamma, beta, cp, { mode: 'train' }, c.pool).out,
      1e-5,
      'ConvBatchNormReLUPool',
    );
  });

  test('linear sandwiches', () => {
    const x = randn64([7, 3, 4], 31);
    const w = randn64([12, 6], 32, 0.5);
    const b = randn64([6], 33);
    const gamma = randn64([6], 34);
    const beta = randn64([6], 35);
    const [x32, w32, b32, g32, be32] = [x, w, b, gamma, beta].map((t) => t.astype('float32'));
    expectRel(LinearReLU.forward(x32, w32, b32).out, LinearReLU.forward(x, w, b).out, 1e-5, 'LinearReLU');
    expectRel(
      LinearBatchNormReLU.forward(x32, w32, b32, g32, be32, { mode: 'train' }).out,
      LinearBatchNormReLU.forward(x, w, b, gamma, beta, { mode: 'train' }).out,
      1e-5,
      'LinearBatchNormReLU',
    );
  });
});

describe('PoolReLU: the same bits as ReLU then max pool', () => {
  // Values on a coarse grid, so windows hold ties, exact zeros, and maxima <= 0 (all-negative
  // windows, where the ReLU-first order picks a zero and the pool-first one a negative value).
  function grid(shape: number[], seed: number, dtype: 'float32' | 'float64'): Tensor {
    const t = randn64(shape, seed);
    for (let i = 0; i < t.size; i++) t.data[i] = Math.round(t.data[i] * 2) / 2 - 0.5;
    return t.astype(dtype);
  }
  const pools = [
    { poolHeight: 2, poolWidth: 2, stride: 2 },  // the networks' pool (the fast 2x2 / 2 kernels)
    { poolHeight: 3, poolWidth: 3, stride: 2 },  // overlapping windows: dx sums over several
  ];
  test.each(['float32', 'float64'] as const)('%s, 2x2/2 and 3x3/2, odd and even maps', (dtype) => {
    for (const pool of pools)
      for (const shape of [[3, 4, 8, 8], [2, 3, 7, 9]]) {
        const x = grid(shape, 40 + shape[3], dtype);
        const r = ReLU.forward(x);
        const p = MaxPool.forward(r.out, pool);
        const fused = PoolReLU.forward(x, pool);
        expect(Array.from(fused.out.data)).toEqual(Array.from(p.out.data));
        const dout = grid([...p.out.shape], 50, dtype);
        const dx = ReLU.backward(MaxPool.backward(dout, p.cache), r.cache);
        const dxFused = PoolReLU.backward(dout, fused.cache);
        expect(Array.from(dxFused.data)).toEqual(Array.from(dx.data));
        expect(dxFused.data.some((v) => v !== 0)).toBe(true);
      }
  });
});
