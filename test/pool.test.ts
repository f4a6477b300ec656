// Max pooling: forward against the TypeScript reference, argmax bookkeeping, backward against
// numeric gradients on inputs without near-ties (distinct values 0.05 apart, h = 1e-6).
// Tolerances (relError): float64 forward vs reference 1e-12; backward vs reference backward 1e-12;
// numeric gradient of dx 1e-7; float32 forward vs float64 forward 1e-5.
import { MaxPool } from '../lib/layers';
import { Tensor } from '../lib/tensor';
import * as ref from './reference';
import { distinct64, expectRel, expectShape, nd, numGrad, randn64, withThreads } from './helpers';

interface Case {
  name: string;
  shape: [number, number, number, number];
  ph: number;
  pw: number;
  stride: number;
}

const cases: Case[] = [
  { name: '2x2 stride 2', shape: [2, 3, 4, 4], ph: 2, pw: 2, stride: 2 },
  { name: 'non-square 3x2 window, stride 1 (overlapping), non-square input', shape: [1, 2, 5, 7], ph: 3, pw: 2, stride: 1 },
  { name: '3x3 stride 2 with floor (H - ph) / stride', shape: [2, 1, 7, 6], ph: 3, pw: 3, stride: 2 },
  { name: '2x2 stride 2 on odd sizes (last row/column dropped)', shape: [3, 2, 5, 5], ph: 2, pw: 2, stride: 2 },
  { name: '1x1 stride 1 (identity)', shape: [2, 2, 3, 4], ph: 1, pw: 1, stride: 1 },
  { name: 'window the size of the input (global max)', shape: [2, 3, 4, 5], ph: 4, pw: 5, stride: 1 },
  { name: '2x3 window, stride 3, batch 1', shape: [1, 4, 8, 9], ph: 2, pw: 3, stride: 3 },
  { name: 'large stride leaves one row', shape: [2, 2, 4, 6], ph: 2, pw: 2, stride: 5 },
  { name: '2x2 stride 2 on an odd, non-square input, batch 1', shape: [1, 3, 7, 5], ph: 2, pw: 2, stride: 2 },
  { name: '2x2 stride 2 on a 2x2 input', shape: [3, 2, 2, 2], ph: 2, pw: 2, stride: 2 },
  // rows of 5 and 9 windows: the float path's four at a time, then the rest
  { name: '2x2 stride 2, rows of 5 windows', shape: [2, 3, 6, 10], ph: 2, pw: 2, stride: 2 },
  { name: '2x2 stride 2, 9x19 (rows of 9 windows, last row/column dropped)', shape: [2, 2, 9, 19], ph: 2, pw: 2, stride: 2 },
  // rows of 7 (the float path's last four windows overlap the four before) and of 3 or 1 (rows
  // narrower than four: four windows of the plane at a time, across rows)
  { name: '2x2 stride 2, 14x14 (rows of 7 windows)', shape: [2, 2, 14, 14], ph: 2, pw: 2, stride: 2 },
  { name: '2x2 stride 2, 7x7 (rows of 3 windows, 9 a plane)', shape: [2, 3, 7, 7], ph: 2, pw: 2, stride: 2 },
  { name: '2x2 stride 2, 6x3 (rows of 1 window)', shape: [1, 2, 6, 3], ph: 2, pw: 2, stride: 2 },
];

function outShape(c: Case): number[] {
  const [N, C, H, W] = c.shape;
  return [N, C, 1 + Math.floor((H - c.ph) / c.stride), 1 + Math.floor((W - c.pw) / c.stride)];
}

describe('MaxPool.forward (float64)', () => {
  test.each(cases)('$name: matches the reference, argmax points at each maximum', (c) => {
    const x = randn64(c.shape, 1);
    const p = { poolHeight: c.ph, poolWidth: c.pw, stride: c.stride };
    const { out, cache } = MaxPool.forward(x, p);
    expectShape(out, outShape(c));
    expectRel(out, ref.maxPoolForward(nd(x), c.ph, c.pw, c.stride), 1e-12, 'forward');
    // argmax: flat in-plane index h*W + w of a max inside its own window.
    const [, , H, W] = c.shape;
    const [, , Ho, Wo] = out.shape;
    expect(cache.argmax.length).toBe(out.size);
    for (let k = 0; k < out.size; k++) {
      const plane = Math.floor(k / (Ho * Wo));
      const i = Math.floor((k % (Ho * Wo)) / Wo);
      const j = k % Wo;
      const a = (cache.argmax as Int32Array)[k];
      const h = Math.floor(a / W);
      const ww = a % W;
      expect(h).toBeGreaterThanOrEqual(i * c.stride);
      expect(h).toBeLessThan(i * c.stride + c.ph);
      expect(ww).toBeGreaterThanOrEqual(j * c.stride);
      expect(ww).toBeLessThan(j * c.stride + c.pw);
      expect(x.data[plane * H * W + a]).toBe(out.data[k]);
    }
  });

  test('defaults to 2x2 windows with stride 2', () => {
    const x = randn64([1, 2, 6, 4], 2);
    const { out } = MaxPool.forward(x);
    expectShape(out, [1, 2, 3, 2]);
    expectRel(out, ref.maxPoolForward(nd(x), 2, 2, 2), 1e-12);
  });

  test('a hand-computed example', () => {
    const x = Tensor.from([[[[1, 5, 2, 0], [3, 4, 9, 1], [-1, -2, -3, -4], [-8, -7, -6, -5]]]], { dtype: 'float64' });
    expect(MaxPool.forward(x).out.toArray()).toEqual([[[[5, 9], [-1, -3]]]]);
  });

  test('ties: the first maximum (row-major) of the window takes the whole gradient', () => {
    const x = Tensor.full([1, 1, 4, 4], 3, 'float64');
    const { cache } = MaxPool.forward(x, { poolHeight: 2, poolWidth: 2, stride: 2 });
    expect(Array.from(cache.argmax as Int32Array)).toEqual([0, 2, 8, 10]);
    const dx = MaxPool.backward(Tensor.from([1, 2, 3, 4], { shape: [1, 1, 2, 2], dtype: 'float64' }), cache);
    expect(Array.from(dx.data)).toEqual([1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0]);
  });

  test('negative inputs: the max is negative, not 0 (no implicit zero padding)', () => {
    const x = Tensor.full([1, 1, 3, 3], -2, 'float64');
    x.data[4] = -1;
    expect(Array.from(MaxPool.forward(x, { poolHeight: 2, poolWidth: 2, stride: 1 }).out.data)).toEqual([-1, -1, -1, -1]);
  });

  test('a NaN in a window gives NaN wherever it sits (2x2 fast path, its float32 SIMD lanes, general path)', () => {
    // The output must not depend on where in the window the NaN is: a NaN input either always
    // propagates (as max() in numpy / PyTorch pooling does) or never; here: always. Rows of 8
    // columns put four 2x2 windows side by side, so the float32 fast path takes its SIMD lanes.
    for (const dtype of ['float64', 'float32'] as const) {
      for (const p of [
        { poolHeight: 2, poolWidth: 2, stride: 2 },
        { poolHeight: 2, poolWidth: 2, stride: 1 },
      ]) {
        for (const win of [0, 2]) {
          for (let pos = 0; pos < 4; pos++) {
            const x = Tensor.from(Array.from({ length: 16 }, (_, i) => i + 1), { shape: [1, 1, 2, 8], dtype });
            const col = 2 * win + (pos % 2);
            x.data[Math.floor(pos / 2) * 8 + col] = NaN;
            const { out, cache } = MaxPool.forward(x, p);
            const o = p.stride === 2 ? win : 2 * win;  // the output whose window starts at column 2*win
            expect({ dtype, stride: p.stride, win, pos, out: out.data[o], argmax: (cache.argmax as Int32Array)[o] }).toEqual({ dtype, stride: p.stride, win, pos, out: NaN, argmax: Math.floor(pos / 2) * 8 + col });
          }
        }
      }
    }
  });

  test.each([
    [3, 3, 2],
    [2, 2, 2],
  ])('thread count does not change the result on a large input (%i x %i / %i)', (ph, pw, stride) => {
    const x = randn64([4, 8, 25, 24], 3);
    const p = { poolHeight: ph, poolWidth: pw, stride };
    const one = withThreads(1, () => MaxPool.forward(x, p));
    const two = withThreads(2, () => MaxPool.forward(x, p));
    expect(Array.from(two.out.data)).toEqual(Array.from(one.out.data));
    expect(Array.from(two.cache.argmax as Int32Array)).toEqual(Array.from(one.cache.argmax as Int32Array));
    expectRel(two.out, ref.maxPoolForward(nd(x), ph, pw, stride), 1e-12);
    const dout = randn64(one.out.shape, 4);
    const dx1 = withThreads(1, () => MaxPool.backward(dout, one.cache));
    const dx2 = withThreads(2, () => MaxPool.backward(dout, two.cache));
    expect(Array.from(dx2.data)).toEqual(Array.from(dx1.data));
    expectRel(dx2, ref.maxPoolBackward(nd(dout), nd(x), ph, pw, stride), 1e-12);
  });

  test('forwardAsync / backwardAsync give the sync results', async () => {
    const x = distinct64([2, 2, 6, 6], 5);
    const p = { poolHeight: 3, poolWidth: 2, stride: 1 };
    const s = MaxPool.forward(x, p);
    const a = await MaxPool.forwardAsync(x, p);
    expect(Array.from(a.out.data)).toEqual(Array.from(s.out.data));
    const dout = randn64(s.out.shape, 6);
    const ds = MaxPool.backward(dout, s.cache);
    const da = await MaxPool.backwardAsync(dout, a.cache);
    expect(Array.from(da.data)).toEqual(Array.from(ds.data));
  });
});

describe('MaxPool.backward (float64)', () => {
  test.each(cases)('$name: matches the reference backward and numeric gradients', (c) => {
    const x = distinct64(c.shape, 7);
    const p = { poolHeight: c.ph, poolWidth: c.pw, stride: c.stride };
    const { out, cache } = MaxPool.forward(x, p);
    const dout = randn64(out.shape, 8);
    const dx = MaxPool.backward(dout, cache);
    expectShape(dx, x.shape);
    expectRel(dx, ref.maxPoolBackward(nd(dout), nd(x), c.ph, c.pw, c.stride), 1e-12, 'vs reference backward');
    const dxNum = numGrad((xx) => MaxPool.forward(xx, p).out, x, dout);
    expectRel(dx, dxNum, 1e-7, 'vs numeric');
  });

  test('overlapping windows sharing a maximum add their gradients', () => {
    const x = Tensor.from([[[[0, 0, 0], [0, 9, 0], [0, 0, 0]]]], { dtype: 'float64' });
    const { cache } = MaxPool.forward(x, { poolHeight: 2, poolWidth: 2, stride: 1 });
    const dx = MaxPool.backward(Tensor.from([[[[1, 2], [3, 4]]]], { dtype: 'float64' }), cache);
    expect(Array.from(dx.data)).toEqual([0, 0, 0, 0, 10, 0, 0, 0, 0]);
  });
});

describe('MaxPool float32', () => {
  test.each(cases)('$name: float32 forward within 1e-5 of float64', (c) => {
    const x = randn64(c.shape, 9);
    const p = { poolHeight: c.ph, poolWidth: c.pw, stride: c.stride };
    const out64 = MaxPool.forward(x, p).out;
    const r32 = MaxPool.forward(x.astype('float32'), p);
    expect(r32.out.dtype).toBe('float32');
    expectRel(r32.out, out64, 1e-5, 'float32 forward');
    // The same decisions (the inputs have no ties): the same argmax.
    expect(Array.from(r32.cache.argmax as Int32Array)).toEqual(Array.from(MaxPool.forward(x, p).cache.argmax as Int32Array));
    const dout = randn64(out64.shape, 10);
    const dx64 = MaxPool.backward(dout, MaxPool.forward(x, p).cache);
    expectRel(MaxPool.backward(dout.astype('float32'), r32.cache), dx64, 1e-5, 'float32 backward');
  });
});
