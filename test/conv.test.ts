// Conv layer: forward against the TypeScript reference and the native direct loops, backward
// against the direct loops and against numeric gradients.
// Tolerances (relError, max |a-b| / max(|a|+|b|)):
//   float64 forward vs TS reference, forward vs forwardNaive, backward vs backwardNaive: 1e-12
//   numeric gradients of dx, dw, db (centred differences, h = 1e-6, float64): 1e-7
//   float32 forward vs float64 forward: 1e-5 (the float32 Winograd shapes too)
import { Conv, runSync } from '../lib/layers';
import { Tensor } from '../lib/tensor';
import { isaInfo } from '../lib';
import * as ref from './reference';
import { expectRel, expectSameBits, expectShape, nd, numGrad, randn64, withThreads, isaPaths, useIsa } from './helpers';

interface Case {
  name: string;
  N: number;
  C: number;
  H: number;
  W: number;
  F: number;
  HH: number;
  WW: number;
  stride: number;
  pad: number;
}

const cases: Case[] = [
  { name: '3x3 stride 1 pad 1', N: 2, C: 3, H: 7, W: 7, F: 4, HH: 3, WW: 3, stride: 1, pad: 1 },
  { name: 'batch 1, non-square input, stride 2 pad 1', N: 1, C: 2, H: 5, W: 7, F: 3, HH: 3, WW: 3, stride: 2, pad: 1 },
  { name: 'non-square kernel 2x4, stride 2, pad 0', N: 3, C: 2, H: 6, W: 8, F: 2, HH: 2, WW: 4, stride: 2, pad: 0 },
  { name: 'kernel 3x2, pad 2 (output larger than input)', N: 2, C: 3, H: 5, W: 4, F: 3, HH: 3, WW: 2, stride: 1, pad: 2 },
  { name: 'pointwise 1x1 (no im2col path)', N: 2, C: 3, H: 4, W: 5, F: 2, HH: 1, WW: 1, stride: 1, pad: 0 },
  { name: '1x1 kernel with stride 2', N: 2, C: 3, H: 5, W: 5, F: 2, HH: 1, WW: 1, stride: 2, pad: 0 },
  { name: '5x3 kernel, stride 2, pad 2, non-square input', N: 4, C: 2, H: 9, W: 5, F: 3, HH: 5, WW: 3, stride: 2, pad: 2 },
  { name: '3x4 kernel, stride 3, pad 1', N: 2, C: 2, H: 7, W: 11, F: 2, HH: 3, WW: 4, stride: 3, pad: 1 },
  { name: 'kernel as large as the input (1x1 output)', N: 3, C: 2, H: 4, W: 3, F: 5, HH: 4, WW: 3, stride: 1, pad: 0 },
  { name: 'single channel, single filter, batch 1', N: 1, C: 1, H: 6, W: 4, F: 1, HH: 3, WW: 3, stride: 1, pad: 0 },
  // Kernel columns that fall right of the input by less than the stride (only padding there).
  { name: 'width-1 input, 3x3 kernel, stride 2, pad 1', N: 2, C: 2, H: 3, W: 1, F: 2, HH: 3, WW: 3, stride: 2, pad: 1 },
  { name: 'kernel wider than input + pad, stride 2, pad 3', N: 2, C: 2, H: 5, W: 4, F: 3, HH: 3, WW: 8, stride: 2, pad: 3 },
  { name: 'kernel taller and wider than the input, stride 3, pad 2', N: 3, C: 1, H: 2, W: 2, F: 2, HH: 6, WW: 6, stride: 3, pad: 2 },
  // Small feature maps: several images share one GEMM (groups), with a partial last group.
  { name: 'many small images (image groups, partial last group)', N: 11, C: 3, H: 4, W: 4, F: 5, HH: 3, WW: 3, stride: 1, pad: 1 },
  { name: 'many pointwise images with stride 2', N: 7, C: 4, H: 5, W: 3, F: 3, HH: 1, WW: 1, stride: 2, pad: 0 },
  { name: 'many pointwise images, stride 1 (groups over x itself)', N: 9, C: 5, H: 3, W: 3, F: 4, HH: 1, WW: 1, stride: 1, pad: 0 },
  // The GEMM's packed panels: K and the group's columns past one panel (NR <= 32) with partial
  // last panels, and K = 270 past the depth slice (KC = 256), so a panel is read from its middle.
  { name: 'K 72 and 300 columns in partial panels, F 9 (partial row tile)', N: 5, C: 8, H: 10, W: 10, F: 9, HH: 3, WW: 3, stride: 1, pad: 1 },
  { name: 'K 270: two depth slices of the packed panels', N: 10, C: 30, H: 6, W: 6, F: 10, HH: 3, WW: 3, stride: 1, pad: 1 },
  // Stride-1 rows on the AVX2 pass: chunks of 8 columns, the last one moved back to the row's end.
  { name: '7x7 kernel, pad 3, rows of 19 (overlapping last chunk)', N: 2, C: 3, H: 5, W: 19, F: 4, HH: 7, WW: 7, stride: 1, pad: 3 },
  { name: 'rows of exactly 8, 3x3 pad 1', N: 2, C: 2, H: 3, W: 8, F: 3, HH: 3, WW: 3, stride: 1, pad: 1 },
];

// Float32 3x3 / stride 1 / pad 1 layers with C, F >= 32, maps of >= 16 tiles (ceil(H/2) *
// ceil(W/2)) and N * tiles >= 256 run by Winograd F(2x2, 3x3) (native/cpu/winograd.h): forward,
// dx and dw; float64 keeps im2col, so comparing the two dtypes checks Winograd against an
// independent path.
const winogradCases: Case[] = [
  { name: 'at the thresholds: 32 -> 32 channels, 7x7 maps (16 tiles, partial), 16 images', N: 16, C: 32, H: 7, W: 7, F: 32, HH: 3, WW: 3, stride: 1, pad: 1 },
  { name: 'odd sizes: 9x11 maps, 65 -> 70 channels, 9 images', N: 9, C: 65, H: 9, W: 11, F: 70, HH: 3, WW: 3, stride: 1, pad: 1 },
  { name: 'one 32x32 image, 64 -> 72 channels', N: 1, C: 64, H: 32, W: 32, F: 72, HH: 3, WW: 3, stride: 1, pad: 1 },
  { name: '8x8 maps, 37 images (groups of 16 and a partial last group)', N: 37, C: 64, H: 8, W: 8, F: 64, HH: 3, WW: 3, stride: 1, pad: 1 },
  { name: 'a 1-pixel-wide map (31x1), 20 images', N: 20, C: 64, H: 31, W: 1, F: 64, HH: 3, WW: 3, stride: 1, pad: 1 },
  { name: 'a wide map (5x37: tile rows of 19, more than one 16-tile vector), 5 images', N: 5, C: 32, H: 5, W: 37, F: 33, HH: 3, WW: 3, stride: 1, pad: 1 },
  // deeper than one GEMM depth slice (256): V packed into the products' panels slice by slice
  { name: '300 -> 40 channels, 8x8 maps, 16 images (two depth slices)', N: 16, C: 300, H: 8, W: 8, F: 40, HH: 3, WW: 3, stride: 1, pad: 1 },
];

function make(c: Case, seed: number) {
  const x = randn64([c.N, c.C, c.H, c.W], seed);
  const w = randn64([c.F, c.C, c.HH, c.WW], seed + 1, 0.5);
  const b = randn64([c.F], seed + 2);
  const p = { stride: c.stride, pad: c.pad };
  const Ho = 1 + (c.H + 2 * c.pad - c.HH) / c.stride;
  const Wo = 1 + (c.W + 2 * c.pad - c.WW) / c.stride;
  return { x, w, b, p, Ho, Wo };
}

// Every test below runs once per ISA path this CPU has (the GEMM's tiles differ per path).
describe.each(isaPaths())('isa %s', (isa) => {
  useIsa(isa);

  describe('Conv.forward (float64)', () => {
    test.each(cases)('$name: matches the TypeScript reference and forwardNaive', (c) => {
      const { x, w, b, p, Ho, Wo } = make(c, 10);
      const { out } = Conv.forward(x, w, b, p);
      expectShape(out, [c.N, c.F, Ho, Wo]);
      expect(out.dtype).toBe('float64');
      const expected = ref.convForward(nd(x), nd(w), nd(b), c.stride, c.pad);
      expectRel(out, expected, 1e-12, 'forward vs reference');
      const naive = Conv.forwardNaive(x, w, b, p).out;
      expectRel(naive, expected, 1e-12, 'forwardNaive vs reference');
      expectRel(out, naive, 1e-12, 'forward vs forwardNaive');
    });

    test('defaults to stride 1, pad 0 when convParam is omitted', () => {
      const x = randn64([2, 2, 5, 6], 1);
      const w = randn64([3, 2, 3, 3], 2);
      const b = randn64([3], 3);
      const { out } = Conv.forward(x, w, b);
      expectShape(out, [2, 3, 3, 4]);
      expectRel(out, ref.convForward(nd(x), nd(w), nd(b), 1, 0), 1e-12);
    });

    test('the bias is added once per output pixel (zero input gives b everywhere)', () => {
      const x = Tensor.zeros([2, 3, 4, 4], 'float64');
      const w = randn64([2, 3, 3, 3], 4);
      const b = Tensor.from([1.5, -2], { dtype: 'float64' });
      const { out } = Conv.forward(x, w, b, { pad: 1 });
      for (let i = 0; i < out.size; i++) expect(out.data[i]).toBe(i % 32 < 16 ? 1.5 : -2);
    });

    test('a hand-computed 1-channel example', () => {
      // x = [[1,2,3],[4,5,6],[7,8,9]], w = [[1,0],[0,-1]], b = 10, stride 1: out = x[i][j] - x[i+1][j+1] + 10 = 6 everywhere.
      const x = Tensor.from([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]], { dtype: 'float64' });
      const w = Tensor.from([[[[1, 0], [0, -1]]]], { dtype: 'float64' });
      const b = Tensor.from([10], { dtype: 'float64' });
      const { out } = Conv.forward(x, w, b);
      expect(out.toArray()).toEqual([[[[6, 6], [6, 6]]]]);
      // With pad 1 and stride 3 (padded 5x5): windows at padded (0,0), (0,3), (3,0), (3,3).
      const o2 = Conv.forward(x, w, b, { stride: 3, pad: 1 }).out;
      expect(o2.toArray()).toEqual([[[[10 - 1, 10], [10, 10 + 9]]]]);
    });

    test('thread count does not change the result (image team and parallel GEMM paths)', () => {
      // N = 3 >= 2 threads: threads take whole images. N = 1, F*P*K > 64^3: the GEMM runs on the team.
      for (const c of [
        { N: 3, C: 4, H: 9, W: 8, F: 5, HH: 3, WW: 3, stride: 1, pad: 1 },
        { N: 9, C: 2, H: 5, W: 5, F: 3, HH: 3, WW: 3, stride: 2, pad: 1 },
        { N: 1, C: 8, H: 20, W: 20, F: 16, HH: 3, WW: 3, stride: 1, pad: 1 },
      ]) {
        const { x, w, b, p } = make({ name: '', ...c }, 20);
        const one = withThreads(1, () => Conv.forward(x, w, b, p).out);
        const two = withThreads(2, () => Conv.forward(x, w, b, p).out);
        const expected = ref.convForward(nd(x), nd(w), nd(b), c.stride, c.pad);
        expectRel(one, expected, 1e-12, '1 thread');
        expectRel(two, expected, 1e-12, '2 threads');
      }
    });

    test('backward gives the same bits at 1 and 2 threads (the same seed trains alike on an idle or busy machine)', () => {
      // float32, 16 images of 16x16: 16 groups cut into runs whose partial dw sums are added in
      // order. The cut must not follow the team (the adaptive team shrinks under load).
      const f32 = (shape: number[], seed: number) => Tensor.randn(shape, { seed });
      const x = f32([16, 8, 16, 16], 1), w = f32([16, 8, 3, 3], 2), b = f32([16], 3), dout = f32([16, 16, 16, 16], 4);
      const p = { stride: 1, pad: 1 };
      const grads = (n: number) => withThreads(n, () => Conv.backward(dout, Conv.forward(x, w, b, p).cache));
      const one = grads(1), two = grads(2);
      expectSameBits(two.dw, one.dw, 'dw');
      expectSameBits(two.db, one.db, 'db');
      expectSameBits(two.dx, one.dx, 'dx');
    });

    test('forwardAsync gives the forward result', async () => {
      const { x, w, b, p } = make(cases[1], 30);
      const sync = Conv.forward(x, w, b, p).out;
      const async = (await Conv.forwardAsync(x, w, b, p)).out;
      expectSameBits(async, sync);
    });
  });

  describe('Conv.backward vs backwardNaive (float64)', () => {
    test.each(cases)('$name', (c) => {
      const { x, w, b, p, Ho, Wo } = make(c, 40);
      const dout = randn64([c.N, c.F, Ho, Wo], 43);
      const fast = Conv.backward(dout, Conv.forward(x, w, b, p).cache);
      const naive = Conv.backwardNaive(dout, Conv.forwardNaive(x, w, b, p).cache);
      expectShape(fast.dx, x.shape);
      expectShape(fast.dw, w.shape);
      expectShape(fast.db, b.shape);
      expectRel(fast.dx, naive.dx, 1e-12, 'dx');
      expectRel(fast.dw, naive.dw, 1e-12, 'dw');
      expectRel(fast.db, naive.db, 1e-12, 'db');
    });

    test('backward overwrites (does not accumulate into) its outputs across calls and threads', () => {
      const c = { N: 3, C: 3, H: 6, W: 6, F: 4, HH: 3, WW: 3, stride: 1, pad: 1 };
      const { x, w, b, p, Ho, Wo } = make({ name: '', ...c }, 50);
      const dout = randn64([c.N, c.F, Ho, Wo], 51);
      const naive = Conv.backwardNaive(dout, Conv.forwardNaive(x, w, b, p).cache);
      for (const threads of [2, 1, 2]) {
        const g = withThreads(threads, () => Conv.backward(dout, Conv.forward(x, w, b, p).cache));
        expectRel(g.dx, naive.dx, 1e-12, `dx, ${threads} threads`);
        expectRel(g.dw, naive.dw, 1e-12, `dw, ${threads} threads`);
        expectRel(g.db, naive.db, 1e-12, `db, ${threads} threads`);
      }
    });

    test.each([cases[0], cases[2], cases[13]])('needDx false ($name): the same dw and db, an empty dx', (c) => {
      const { x, w, b, p, Ho, Wo } = make(c, 90);
      const dout = randn64([c.N, c.F, Ho, Wo], 91);
      const { cache } = Conv.forward(x, w, b, p);
      const full = Conv.backward(dout, cache);
      for (const threads of [1, 2]) {
        const g = withThreads(threads, () => runSync(Conv.prepareBackward(dout, cache, false)));
        expectShape(g.dx, [0]);
        expectRel(g.dw, full.dw, 1e-12, `dw, ${threads} threads`);
        expectRel(g.db, full.db, 1e-12, `db, ${threads} threads`);
      }
    });

    test('backwardAsync gives the backward result', async () => {
      const { x, w, b, p, Ho, Wo } = make(cases[3], 60);
      const dout = randn64([cases[3].N, cases[3].F, Ho, Wo], 61);
      const { cache } = Conv.forward(x, w, b, p);
      const sync = Conv.backward(dout, cache);
      const async = await Conv.backwardAsync(dout, cache);
      expectSameBits(async.dx, sync.dx);
      expectSameBits(async.dw, sync.dw);
      expectSameBits(async.db, sync.db);
    });
  });

  describe('Conv.backward vs numeric gradients (float64, h = 1e-6)', () => {
    const small: Case[] = [
      { name: '3x3 stride 1 pad 1', N: 2, C: 2, H: 5, W: 5, F: 3, HH: 3, WW: 3, stride: 1, pad: 1 },
      { name: 'pad 0, stride 1 (classic bug)', N: 2, C: 2, H: 5, W: 4, F: 2, HH: 3, WW: 2, stride: 1, pad: 0 },
      { name: 'pad 0, stride 2', N: 2, C: 2, H: 5, W: 5, F: 2, HH: 3, WW: 3, stride: 2, pad: 0 },
      { name: 'non-square kernel 2x3, non-square input, batch 1, pad 0', N: 1, C: 2, H: 4, W: 6, F: 2, HH: 2, WW: 3, stride: 1, pad: 0 },
      { name: 'pad 2, stride 2, kernel 3x2', N: 2, C: 1, H: 5, W: 4, F: 2, HH: 3, WW: 2, stride: 2, pad: 2 },
      { name: 'pointwise 1x1', N: 2, C: 3, H: 3, W: 3, F: 2, HH: 1, WW: 1, stride: 1, pad: 0 },
    ];
    test.each(small)('$name: dx, dw, db', (c) => {
      const { x, w, b, p, Ho, Wo } = make(c, 70);
      const dout = randn64([c.N, c.F, Ho, Wo], 77);
      const { cache } = Conv.forward(x, w, b, p);
      const { dx, dw, db } = Conv.backward(dout, cache);
      const dxNum = numGrad((xx) => Conv.forward(xx, w, b, p).out, x, dout);
      const dwNum = numGrad((ww) => Conv.forward(x, ww, b, p).out, w, dout);
      const dbNum = numGrad((bb) => Conv.forward(x, w, bb, p).out, b, dout);
      expectRel(dx, dxNum, 1e-7, 'dx');
      expectRel(dw, dwNum, 1e-7, 'dw');
      expectRel(db, dbNum, 1e-7, 'db');
    });
  });

  describe('Conv float32, Winograd shapes', () => {
    test('every case below takes the Winograd path (isaInfo().winograd, the native thresholds)', () => {
      const w = isaInfo().winograd;
      for (const c of winogradCases) {
        const tiles = Math.ceil(c.H / 2) * Math.ceil(c.W / 2);
        expect([c.name, Math.min(c.C, c.F) >= w.minChannels, tiles >= w.minTiles, c.N * tiles >= w.minColumns]).toEqual([c.name, true, true, true]);
      }
    });

    test.each(winogradCases)('$name: forward, dx, dw and db within 1e-5 of float64 (im2col)', (c) => {
      const { x, w, b, p, Ho, Wo } = make(c, 90);
      const f64 = Conv.forward(x, w, b, p);
      const f32 = Conv.forward(x.astype('float32'), w.astype('float32'), b.astype('float32'), p);
      expectRel(f32.out, f64.out, 1e-5, 'float32 forward');
      const dout = randn64([c.N, c.F, Ho, Wo], 91);
      const g64 = Conv.backward(dout, f64.cache);
      const g32 = Conv.backward(dout.astype('float32'), f32.cache);
      expectRel(g32.dx, g64.dx, 1e-5, 'float32 dx');
      expectRel(g32.dw, g64.dw, 1e-5, 'float32 dw');
      expectRel(g32.db, g64.db, 1e-5, 'float32 db');
    });

    test('forward, dx, dw and db give the same bits at 1 and 2 threads', () => {
      // 36 images of 12x12 (36 tiles): 5 groups, so dw's sums run in several fixed runs.
      const f32 = (shape: number[], seed: number) => Tensor.randn(shape, { seed });
      const x = f32([36, 64, 12, 12], 5), w = f32([72, 64, 3, 3], 6), b = f32([72], 7), dout = f32([36, 72, 12, 12], 8);
      const p = { stride: 1, pad: 1 };
      const run = (n: number) =>
        withThreads(n, () => {
          const f = Conv.forward(x, w, b, p);
          return { out: f.out, ...Conv.backward(dout, f.cache) };
        });
      const one = run(1), two = run(2);
      for (const k of ['out', 'dx', 'dw', 'db'] as const) expectSameBits(two[k], one[k], k);
    });
  });

  describe('Conv float32', () => {
    test.each(cases)('$name: float32 forward within 1e-5 of float64, backward within 1e-5', (c) => {
      const { x, w, b, p, Ho, Wo } = make(c, 80);
      const out64 = Conv.forward(x, w, b, p).out;
      const f32 = Conv.forward(x.astype('float32'), w.astype('float32'), b.astype('float32'), p);
      expect(f32.out.dtype).toBe('float32');
      expect(f32.out.data).toBeInstanceOf(Float32Array);
      expectRel(f32.out, out64, 1e-5, 'float32 forward');
      const naive32 = Conv.forwardNaive(x.astype('float32'), w.astype('float32'), b.astype('float32'), p).out;
      expectRel(naive32, out64, 1e-5, 'float32 forwardNaive');
      const dout = randn64([c.N, c.F, Ho, Wo], 81);
      const g64 = Conv.backward(dout, Conv.forward(x, w, b, p).cache);
      const g32 = Conv.backward(dout.astype('float32'), f32.cache);
      expectRel(g32.dx, g64.dx, 1e-5, 'float32 dx');
      expectRel(g32.dw, g64.dw, 1e-5, 'float32 dw');
      expectRel(g32.db, g64.db, 1e-5, 'float32 db');
    });
  });
});
