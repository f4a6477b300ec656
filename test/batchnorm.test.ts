// BatchNorm (x (N, D), per feature) and SpatialBatchNorm (x (N, C, H, W), per channel over N*H*W).
// Tolerances (relError): float64 forward vs TS reference 1e-12 (train and test mode);
// running statistics vs the formula 1e-12; backwardAlt vs backward 1e-9; numeric gradients of
// dx, dgamma, dbeta (h = 1e-6, train mode) 1e-6; float32 forward vs float64 forward 1e-5.
// Batchnorm with the ReLU fused, on every ISA path: bit for bit the two layers in turn (forward,
// train and test mode; backward against backwardAlt of the ReLU's backward), float32 and
// float64; numeric gradients 1e-6 (float64); float32 backward within 1e-4 of float64.
import { BatchNorm, BatchNormParam, BatchNormReLU, ReLU, SpatialBatchNorm, SpatialBatchNormReLU } from '../lib/layers';
import { Tensor } from '../lib/tensor';
import * as ref from './reference';
import { expectRel, expectShape, isaPaths, nd, numGrad, randn64, useIsa, withThreads } from './helpers';

type Family = typeof BatchNorm;

interface Case {
  name: string;
  shape: number[];
}

const plainCases: Case[] = [
  { name: '(4, 5)', shape: [4, 5] },
  { name: '(10, 7)', shape: [10, 7] },
  { name: '(200, 3)', shape: [200, 3] },
  { name: '(2, 1)', shape: [2, 1] },
  { name: 'batch 1 (1, 4): zero variance, out = beta', shape: [1, 4] },
];
const spatialCases: Case[] = [
  { name: '(2, 3, 4, 5)', shape: [2, 3, 4, 5] },
  { name: 'batch 1 (1, 2, 3, 3)', shape: [1, 2, 3, 3] },
  { name: '(4, 1, 2, 7)', shape: [4, 1, 2, 7] },
  { name: '(3, 4, 1, 1)', shape: [3, 4, 1, 1] },
  { name: '(8, 16, 12, 12): parallel path', shape: [8, 16, 12, 12] },
];

const families: Array<{ label: string; bn: Family; cases: Case[]; reference: typeof ref.batchnormForward }> = [
  { label: 'BatchNorm', bn: BatchNorm, cases: plainCases, reference: ref.batchnormForward },
  { label: 'SpatialBatchNorm', bn: SpatialBatchNorm, cases: spatialCases, reference: ref.spatialBatchnormForward },
];

function make(shape: number[], seed: number) {
  const D = shape[1];
  // Shifted, scaled input: the mean and variance are far from 0 and 1.
  const x = randn64(shape, seed, 3);
  for (let i = 0; i < x.size; i++) x.data[i] += 5;
  const gamma = randn64([D], seed + 1);
  const beta = randn64([D], seed + 2);
  return { x, gamma, beta, D };
}

function positive(D: number, seed: number): Tensor {
  const t = randn64([D], seed);
  for (let i = 0; i < D; i++) t.data[i] = 0.5 + Math.abs(t.data[i]);
  return t;
}

describe.each(families)('$label', ({ bn, cases, reference }) => {
  test.each(cases)('$name: train forward matches the reference and updates running stats in place', (c) => {
    const { x, gamma, beta, D } = make(c.shape, 1);
    const runningMean = randn64([D], 4);
    const runningVar = positive(D, 5);
    const state = { runningMean: Float64Array.from(runningMean.data), runningVar: Float64Array.from(runningVar.data) };
    const bnParam: BatchNormParam = { mode: 'train', runningMean, runningVar };
    const { out } = bn.forward(x, gamma, beta, bnParam);
    expectShape(out, x.shape);
    expectRel(out, reference(nd(x), nd(gamma), nd(beta), 'train', state), 1e-12, 'out');
    // Updated in place: the very same tensors, holding momentum * old + (1 - momentum) * batch.
    expect(bnParam.runningMean).toBe(runningMean);
    expect(bnParam.runningVar).toBe(runningVar);
    expectRel(runningMean, state.runningMean, 1e-12, 'runningMean');
    expectRel(runningVar, state.runningVar, 1e-12, 'runningVar');
  });

  test.each(cases)('$name: test forward uses the running stats and leaves them unchanged', (c) => {
    const { x, gamma, beta, D } = make(c.shape, 6);
    const runningMean = randn64([D], 7);
    const runningVar = positive(D, 8);
    const before = { m: Array.from(runningMean.data), v: Array.from(runningVar.data) };
    const state = { runningMean: Float64Array.from(runningMean.data), runningVar: Float64Array.from(runningVar.data) };
    const { out } = bn.forward(x, gamma, beta, { mode: 'test', runningMean, runningVar });
    expectRel(out, reference(nd(x), nd(gamma), nd(beta), 'test', state), 1e-12, 'out');
    expect(Array.from(runningMean.data)).toEqual(before.m);
    expect(Array.from(runningVar.data)).toEqual(before.v);
  });

  test('missing running stats are created as zeros, then updated to (1 - momentum) * batch stats', () => {
    const shape = cases[0].shape;
    const { x, gamma, beta, D } = make(shape, 9);
    const bnParam: BatchNormParam = { mode: 'train' };
    const { out } = bn.forward(x, gamma, beta, bnParam);
    const state = { runningMean: new Float64Array(D), runningVar: new Float64Array(D) };
    expectRel(out, reference(nd(x), nd(gamma), nd(beta), 'train', state), 1e-12, 'out');
    expect(bnParam.runningMean).toBeInstanceOf(Tensor);
    expect(bnParam.runningMean!.dtype).toBe('float64');
    expectRel(bnParam.runningMean!, state.runningMean, 1e-12, 'runningMean');
    expectRel(bnParam.runningVar!, state.runningVar, 1e-12, 'runningVar');
  });

  test('custom eps and momentum are honoured; repeated train steps follow the recurrence', () => {
    const shape = cases[1].shape;
    const D = shape[1];
    const gamma = randn64([D], 10);
    const beta = randn64([D], 11);
    const bnParam: BatchNormParam = { mode: 'train', eps: 1e-3, momentum: 0.5 };
    const state = { runningMean: new Float64Array(D), runningVar: new Float64Array(D) };
    for (let step = 0; step < 3; step++) {
      const x = make(shape, 20 + step).x;
      const { out } = bn.forward(x, gamma, beta, bnParam);
      expectRel(out, reference(nd(x), nd(gamma), nd(beta), 'train', state, 1e-3, 0.5), 1e-12, `out, step ${step}`);
    }
    expectRel(bnParam.runningMean!, state.runningMean, 1e-12, 'runningMean');
    expectRel(bnParam.runningVar!, state.runningVar, 1e-12, 'runningVar');
    // Then test mode with eps 1e-3 reads them.
    const x = make(shape, 30).x;
    const { out } = bn.forward(x, gamma, beta, { ...bnParam, mode: 'test' });
    expectRel(out, reference(nd(x), nd(gamma), nd(beta), 'test', state, 1e-3, 0.5), 1e-12, 'test out');
  });

  test('train output is normalised: per feature mean 0 and variance var / (var + eps) (gamma 1, beta 0)', () => {
    const shape = cases[0].shape;
    const { x, D } = make(shape, 12);
    const gamma = Tensor.full([D], 1, 'float64');
    const beta = Tensor.zeros([D], 'float64');
    const { out } = bn.forward(x, gamma, beta, { mode: 'train' });
    const S = shape.length === 4 ? shape[2] * shape[3] : 1;
    const N = shape[0];
    for (let d = 0; d < D; d++) {
      let xs = 0;
      let xq = 0;
      for (let n = 0; n < N; n++) for (let k = 0; k < S; k++) xs += x.data[(n * D + d) * S + k];
      for (let n = 0; n < N; n++) for (let k = 0; k < S; k++) xq += (x.data[(n * D + d) * S + k] - xs / (N * S)) ** 2;
      const v = xq / (N * S);
      let s = 0;
      let q = 0;
      for (let n = 0; n < N; n++) for (let k = 0; k < S; k++) s += out.data[(n * D + d) * S + k];
      const mu = s / (N * S);
      for (let n = 0; n < N; n++) for (let k = 0; k < S; k++) q += (out.data[(n * D + d) * S + k] - mu) ** 2;
      expect(Math.abs(mu)).toBeLessThan(1e-12);
      expect(Math.abs(q / (N * S) - v / (v + 1e-5))).toBeLessThan(1e-12);
    }
  });

  test.each(cases)('$name: backwardAlt equals backward within 1e-9', (c) => {
    const { x, gamma, beta } = make(c.shape, 13);
    const dout = randn64(c.shape, 14);
    const { cache } = bn.forward(x, gamma, beta, { mode: 'train' });
    const g = bn.backward(dout, cache);
    const a = bn.backwardAlt(dout, cache);
    expectShape(g.dx, x.shape);
    expectShape(g.dgamma, gamma.shape);
    expectShape(g.dbeta, beta.shape);
    expectRel(a.dx, g.dx, 1e-9, 'dx');
    expectRel(a.dgamma, g.dgamma, 1e-9, 'dgamma');
    expectRel(a.dbeta, g.dbeta, 1e-9, 'dbeta');
  });

  // Small shapes only (cost 2 * size(x) forwards), and at least 3 values per feature: with 2 the
  // normalised output is +-1 whatever x is, so dx is ~0 and only rounding noise is compared.
  test.each(cases.filter((c) => c.shape.reduce((a, b) => a * b, 1) <= 120 && (c.shape[0] * c.shape.slice(2).reduce((a, b) => a * b, 1)) > 2))(
    '$name: numeric gradients of dx, dgamma, dbeta (backward and backwardAlt)',
    (c) => {
      const { x, gamma, beta } = make(c.shape, 15);
      const dout = randn64(c.shape, 16);
      const f = (xx: Tensor, gg: Tensor, bb: Tensor) => bn.forward(xx, gg, bb, { mode: 'train' }).out;
      const { cache } = bn.forward(x, gamma, beta, { mode: 'train' });
      const dxNum = numGrad((xx) => f(xx, gamma, beta), x, dout);
      const dgNum = numGrad((gg) => f(x, gg, beta), gamma, dout);
      const dbNum = numGrad((bb) => f(x, gamma, bb), beta, dout);
      for (const [label, g] of [['backward', bn.backward(dout, cache)], ['backwardAlt', bn.backwardAlt(dout, cache)]] as const) {
        expectRel(g.dx, dxNum, 1e-6, `${label} dx`);
        expectRel(g.dgamma, dgNum, 1e-6, `${label} dgamma`);
        expectRel(g.dbeta, dbNum, 1e-6, `${label} dbeta`);
      }
    },
  );

  test('thread count does not change forward or backward', () => {
    const shape = cases[cases.length - 1].shape.length === 4 ? [8, 16, 12, 12] : [2000, 12];
    const { x, gamma, beta } = make(shape, 17);
    const dout = randn64(shape, 18);
    const r1 = withThreads(1, () => bn.forward(x, gamma, beta, { mode: 'train' }));
    const r2 = withThreads(2, () => bn.forward(x, gamma, beta, { mode: 'train' }));
    expect(Array.from(r2.out.data)).toEqual(Array.from(r1.out.data));
    const g1 = withThreads(1, () => bn.backward(dout, r1.cache));
    const g2 = withThreads(2, () => bn.backward(dout, r2.cache));
    expect(Array.from(g2.dx.data)).toEqual(Array.from(g1.dx.data));
    expect(Array.from(g2.dgamma.data)).toEqual(Array.from(g1.dgamma.data));
  });

  test('async variants give the sync results', async () => {
    const { x, gamma, beta } = make(cases[0].shape, 19);
    const dout = randn64(cases[0].shape, 20);
    const s = bn.forward(x, gamma, beta, { mode: 'train' });
    const a = await bn.forwardAsync(x, gamma, beta, { mode: 'train' });
    expect(Array.from(a.out.data)).toEqual(Array.from(s.out.data));
    expect(Array.from((await bn.backwardAsync(dout, a.cache)).dx.data)).toEqual(Array.from(bn.backward(dout, s.cache).dx.data));
    expect(Array.from((await bn.backwardAltAsync(dout, a.cache)).dx.data)).toEqual(Array.from(bn.backwardAlt(dout, s.cache).dx.data));
  });

  test.each(cases)('$name: float32 forward within 1e-5 of float64 (train and test)', (c) => {
    const { x, gamma, beta, D } = make(c.shape, 21);
    const rm = randn64([D], 22);
    const rv = positive(D, 23);
    const p64: BatchNormParam = { mode: 'train', runningMean: rm.clone(), runningVar: rv.clone() };
    const p32: BatchNormParam = { mode: 'train', runningMean: rm.astype('float32'), runningVar: rv.astype('float32') };
    const o64 = bn.forward(x, gamma, beta, p64).out;
    const o32 = bn.forward(x.astype('float32'), gamma.astype('float32'), beta.astype('float32'), p32).out;
    expect(o32.dtype).toBe('float32');
    expectRel(o32, o64, 1e-5, 'train out');
    expectRel(p32.runningMean!, p64.runningMean!, 1e-5, 'runningMean');
    expectRel(p32.runningVar!, p64.runningVar!, 1e-5, 'runningVar');
    const t64 = bn.forward(x, gamma, beta, { ...p64, mode: 'test' }).out;
    const t32 = bn.forward(x.astype('float32'), gamma.astype('float32'), beta.astype('float32'), { ...p32, mode: 'test' }).out;
    expectRel(t32, t64, 1e-5, 'test out');
  });
});

describe('SpatialBatchNorm is BatchNorm over (N*H*W, C)', () => {
  test('forward and backward agree with BatchNorm on the transposed view', () => {
    const [N, C, H, W] = [3, 4, 2, 5];
    const x = randn64([N, C, H, W], 40);
    const gamma = randn64([C], 41);
    const beta = randn64([C], 42);
    const dout = randn64([N, C, H, W], 43);
    // (N, C, H, W) -> (N*H*W, C)
    const flat = (t: Tensor) => {
      const o = Tensor.zeros([N * H * W, C], 'float64');
      for (let n = 0; n < N; n++)
        for (let c = 0; c < C; c++) for (let s = 0; s < H * W; s++) o.data[(n * H * W + s) * C + c] = t.data[(n * C + c) * H * W + s];
      return o;
    };
    const sp = SpatialBatchNorm.forward(x, gamma, beta, { mode: 'train' });
    const pl = BatchNorm.forward(flat(x), gamma, beta, { mode: 'train' });
    expectRel(flat(sp.out), pl.out, 1e-12, 'out');
    const gs = SpatialBatchNorm.backward(dout, sp.cache);
    const gp = BatchNorm.backward(flat(dout), pl.cache);
    expectRel(flat(gs.dx), gp.dx, 1e-10, 'dx');
    expectRel(gs.dgamma, gp.dgamma, 1e-10, 'dgamma');
    expectRel(gs.dbeta, gp.dbeta, 1e-10, 'dbeta');
  });
});

const fusedFamilies = [
  { label: 'BatchNormReLU', bn: BatchNorm, fused: BatchNormReLU, cases: plainCases },
  { label: 'SpatialBatchNormReLU', bn: SpatialBatchNorm, fused: SpatialBatchNormReLU, cases: spatialCases },
];

describe.each(isaPaths())('batchnorm + ReLU fused, ISA path %s', (isa) => {
  useIsa(isa);
  describe.each(fusedFamilies)('$label', ({ bn, fused, cases }) => {
    const bits = (t: Tensor) => Array.from(t.data);
    test.each(cases)('$name: the two layers in turn, bit for bit (float64 and float32, train and test)', (c) => {
      for (const dtype of ['float64', 'float32'] as const) {
        const m = make(c.shape, 50);
        // Small shifts: about half the normalised values are negative, so the ReLU matters.
        const x = m.x.astype(dtype), gamma = m.gamma.astype(dtype), beta = m.beta.astype(dtype);
        for (let i = 0; i < beta.size; i++) beta.data[i] *= 0.1;
        const dout = randn64(c.shape, 51).astype(dtype);
        const pa: BatchNormParam = { mode: 'train' }, pb: BatchNormParam = { mode: 'train' };
        const two = bn.forward(x, gamma, beta, pa);
        const r = ReLU.forward(two.out);
        const one = fused.forward(x, gamma, beta, pb);
        expect(bits(one.out)).toEqual(bits(r.out));
        expect(bits(pb.runningMean!)).toEqual(bits(pa.runningMean!));
        expect(bits(pb.runningVar!)).toEqual(bits(pa.runningVar!));
        const negatives = Array.from(two.out.data).filter((v) => v < 0).length;
        if (x.size >= 8) expect(negatives).toBeGreaterThan(0);
        const ga = bn.backwardAlt(ReLU.backward(dout, r.cache), two.cache);
        const gb = fused.backward(dout, one.cache);
        expect(bits(gb.dx)).toEqual(bits(ga.dx));
        expect(bits(gb.dgamma)).toEqual(bits(ga.dgamma));
        expect(bits(gb.dbeta)).toEqual(bits(ga.dbeta));
        const ta = ReLU.forward(bn.forward(x, gamma, beta, { ...pa, mode: 'test' }).out).out;
        const tb = fused.forward(x, gamma, beta, { ...pb, mode: 'test' }).out;
        expect(bits(tb)).toEqual(bits(ta));
      }
    });

    test.each(cases.filter((c) => c.shape.reduce((a, b) => a * b, 1) <= 120 && (c.shape[0] * c.shape.slice(2).reduce((a, b) => a * b, 1)) > 2))(
      '$name: numeric gradients of dx, dgamma, dbeta (float64)',
      (c) => {
        const { x, gamma, beta } = make(c.shape, 52);
        const dout = randn64(c.shape, 53);
        const f = (xx: Tensor, gg: Tensor, bb: Tensor) => fused.forward(xx, gg, bb, { mode: 'train' }).out;
        const g = fused.backward(dout, fused.forward(x, gamma, beta, { mode: 'train' }).cache);
        expectRel(g.dx, numGrad((xx) => f(xx, gamma, beta), x, dout), 1e-6, 'dx');
        expectRel(g.dgamma, numGrad((gg) => f(x, gg, beta), gamma, dout), 1e-6, 'dgamma');
        expectRel(g.dbeta, numGrad((bb) => f(x, gamma, bb), beta, dout), 1e-6, 'dbeta');
      },
    );

    // At least 3 values per feature (with 2, dx is ~0 and only rounding noise is compared).
    test.each(cases.filter((c) => c.shape[0] * c.shape.slice(2).reduce((a, b) => a * b, 1) > 2))('$name: float32 backward within 1e-4 of float64', (c) => {
      const { x, gamma, beta } = make(c.shape, 54);
      const dout = randn64(c.shape, 55);
      const g64 = fused.backward(dout, fused.forward(x, gamma, beta, { mode: 'train' }).cache);
      const f32 = fused.forward(x.astype('float32'), gamma.astype('float32'), beta.astype('float32'), { mode: 'train' });
      const g32 = fused.backward(dout.astype('float32'), f32.cache);
      expectRel(g32.dx, g64.dx, 1e-4, 'dx');
      expectRel(g32.dgamma, g64.dgamma, 1e-4, 'dgamma');
      expectRel(g32.dbeta, g64.dbeta, 1e-4, 'dbeta');
    });
  });

  test('a cache from test mode, or an out of the wrong shape, is refused', () => {
    const { x, gamma, beta } = make([4, 3, 2, 2], 56);
    const t = SpatialBatchNormReLU.forward(x, gamma, beta, { mode: 'test', runningMean: Tensor.zeros([3], 'float64'), runningVar: Tensor.full([3], 1, 'float64') });
    expect(() => SpatialBatchNormReLU.backward(x, t.cache)).toThrow(/mode 'train'/);
    const tr = SpatialBatchNormReLU.forward(x, gamma, beta, { mode: 'train' });
    expect(() => SpatialBatchNormReLU.backward(x, { ...tr.cache, out: Tensor.zeros([4, 3, 2, 1], 'float64') })).toThrow(RangeError);
    expect(() => SpatialBatchNormReLU.backward(x, { ...tr.cache, out: tr.cache.out.astype('float32') })).toThrow(/dtype|float32/);
  });
});
