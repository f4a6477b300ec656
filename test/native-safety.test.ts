// The raw binding is the last line of defence: whatever JavaScript passes (wrong lengths, wrong
// typed arrays, negative / NaN / huge sizes, bad labels, bad argmax indices), a call must throw a
// TypeError or RangeError, or handle the input, and never crash the process.
// Errors made by the addon come from the main realm, so classes are compared by constructor name.
// No numeric tolerance: results that are checked are exact.
import { spawnSync } from 'child_process';
import { native, packageRoot } from '../lib/binding';
import { expectThrow } from './helpers';

const F64 = (n: number) => new Float64Array(n);
const F32 = (n: number) => new Float32Array(n);

describe('sizes', () => {
  // reluForward(n, out, x)
  test.each([
    ['negative', -1],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['fractional', 2.5],
    ['beyond 2^40', 2 ** 41],
  ])('a %s size is a RangeError', (_label, n) => {
    expectThrow(() => native.reluForward(n, F64(4), F64(4)), 'RangeError', /^deepconv native: n must be a whole number in \[0, 1099511627776\], got /);
  });

  test('a non-number size is a TypeError', () => {
    expectThrow(() => native.reluForward('4' as never, F64(4), F64(4)), 'TypeError', /^deepconv native: n must be a number, got .+$/);
  });

  test('conv sizes below 1 are RangeErrors naming the size', () => {
    expectThrow(() => native.convForward(0, 1, 3, 3, 1, 3, 3, 1, 0, false, F64(1), F64(9), F64(9), F64(1)), 'RangeError', /^deepconv native: N must be a whole number in \[1, /);
    expectThrow(() => native.convForward(1, 1, 3, 3, 1, 3, 3, 0, 0, false, F64(1), F64(9), F64(9), F64(1)), 'RangeError', /^deepconv native: stride must be a whole number in \[1, /);
    expectThrow(() => native.convForward(1, 1, 3, 3, 1, 3, 3, 1, -1, false, F64(1), F64(9), F64(9), F64(1)), 'RangeError', /^deepconv native: pad must be a whole number in \[0, /);
  });

  test('a product of sizes that overflows is a RangeError, not a wrap-around', () => {
    const big = 2 ** 40;
    expectThrow(() => native.linearForward(big, big, 2, F64(1), F64(1), F64(1), F64(1)), 'RangeError', /^deepconv native: out is too large$/);
    expectThrow(() => native.convForward(big, big, 1, 1, 2, 1, 1, 1, 0, false, F64(1), F64(1), F64(1), F64(1)), 'RangeError', /^deepconv native: convolution im2col workspace C\*HH\*WW\*Ho\*Wo exceeds 2\^28 elements$/);
    expectThrow(() => native.gemm(false, false, big, big, 1, 1, 0, false, F64(1), F64(1), F64(1)), 'RangeError', /^deepconv native: C is too large$/);
    expectThrow(() => native.batchnormForwardTrain(2 ** 30, 2 ** 30, 2, 1e-5, 0.9, false, F64(1), F64(1), F64(1), F64(1), F64(1), F64(1), F64(1), F64(1)), 'RangeError', /^deepconv native: x is too large$/);
  });

  test('sizes whose output is not a whole number of windows are RangeErrors', () => {
    expectThrow(() => native.convForward(1, 1, 4, 4, 1, 3, 3, 2, 0, false, F64(4), F64(16), F64(9), F64(1)), 'RangeError', /^deepconv native: convolution output size is not a positive whole number$/);
    expectThrow(() => native.convForward(1, 1, 2, 2, 1, 3, 3, 1, 0, false, F64(1), F64(4), F64(9), F64(1)), 'RangeError', /not a positive whole number/);
    expectThrow(() => native.maxpoolForward(1, 1, 2, 2, 3, 1, 1, F64(1), new Int32Array(1), F64(4)), 'RangeError', /^deepconv native: pooling window is larger than the input$/);
  });

  test('setNumThreads refuses 0, NaN and absurd counts', () => {
    const before = native.getNumThreads();
    for (const n of [0, NaN, 1e6, -3]) expectThrow(() => native.setNumThreads(n), 'RangeError', /^deepconv native: threads must be a whole number in \[1, 1024\]/);
    expect(native.getNumThreads()).toBe(before);
  });
});

describe('buffers', () => {
  test('a buffer of the wrong length is a RangeError naming it, expected and actual length', () => {
    expectThrow(() => native.reluForward(4, F64(3), F64(4)), 'RangeError', /^deepconv native: out must hold 4 elements, got 3$/);
    expectThrow(() => native.reluForward(4, F64(4), F64(5)), 'RangeError', /^deepconv native: x must hold 4 elements, got 5$/);
    // conv: out (1, 1, 2, 2) = 4; x 9; w 4; b 1
    expectThrow(() => native.convForward(1, 1, 3, 3, 1, 2, 2, 1, 0, false, F64(4), F64(9), F64(3), F64(1)), 'RangeError', /^deepconv native: w must hold 4 elements, got 3$/);
    expectThrow(() => native.convBackward(1, 1, 3, 3, 1, 2, 2, 1, 0, false, true, F64(9), F64(4), F64(1), F64(5), F64(9), F64(4)), 'RangeError', /^deepconv native: dout must hold 4 elements, got 5$/);
    expectThrow(() => native.linearBackward(2, 3, 4, F64(6), F64(12), F64(3), F64(8), F64(6), F64(12)), 'RangeError', /^deepconv native: db must hold 4 elements, got 3$/);
    expectThrow(() => native.batchnormBackward(2, 3, 1, false, F64(6), F64(3), F64(3), F64(6), F64(6), F64(3), F64(3), F64(2)), 'RangeError', /^deepconv native: rstd must hold 3 elements, got 2$/);
    expectThrow(() => native.gemm(true, false, 2, 3, 4, 1, 0, false, F64(6), F64(8), F64(11)), 'RangeError', /^deepconv native: B must hold 12 elements, got 11$/);
    expectThrow(() => native.maxpoolForward(1, 1, 4, 4, 2, 2, 2, F64(4), new Int32Array(3), F64(16)), 'RangeError', /^deepconv native: argmax must hold 4 elements, got 3$/);
  });

  test('mixed float types are a TypeError naming the buffer and the type the call needs', () => {
    expectThrow(() => native.reluForward(4, F64(4), F32(4)), 'TypeError', /^deepconv native: x must be a Float64Array, got .+$/);
    expectThrow(() => native.reluForward(4, F32(4), F64(4)), 'TypeError', /^deepconv native: x must be a Float32Array, got .+$/);
    expectThrow(() => native.convForward(1, 1, 3, 3, 1, 2, 2, 1, 0, false, F64(4), F64(9), F32(4), F64(1)), 'TypeError', /^deepconv native: w must be a Float64Array, got .+$/);
  });

  test('other typed arrays, plain arrays, DataViews and non-objects are TypeErrors', () => {
    expectThrow(() => native.reluForward(2, F64(2), new Int32Array(2) as never), 'TypeError', /^deepconv native: x must be a Float64Array, got .+$/);
    expectThrow(() => native.reluForward(2, F64(2), [1, 2] as never), 'TypeError', /^deepconv native: x must be a Float64Array, got .+$/);
    expectThrow(() => native.reluForward(2, F64(2), new DataView(new ArrayBuffer(16)) as never), 'TypeError', /x must be a Float64Array/);
    expectThrow(() => native.reluForward(2, F64(2), null as never), 'TypeError', /x must be a Float64Array/);
    expectThrow(() => native.reluForward(2, new Uint8Array(2) as never, new Int32Array(2) as never), 'TypeError', /^deepconv native: expected Float32Array, Float64Array or float32 cuda buffer arguments$/);
    expectThrow(() => native.maxpoolForward(1, 1, 2, 2, 2, 2, 2, F64(1), F64(1) as never, F64(4)), 'TypeError', /^deepconv native: argmax must be an Int32Array, got .+$/);
  });

  test('missing arguments and non-boolean flags are TypeErrors', () => {
    expectThrow(() => (native.reluForward as (...a: unknown[]) => unknown)(2, F64(2)), 'TypeError', /^deepconv native: missing argument x$/);
    expectThrow(() => native.gemm(1 as never, false, 1, 1, 1, 1, 0, false, F64(1), F64(1), F64(1)), 'TypeError', /^deepconv native: transA must be a boolean, got .+$/);
    expectThrow(() => native.convForward(1, 1, 2, 2, 1, 2, 2, 1, 0, 'no' as never, F64(1), F64(4), F64(4), F64(1)), 'TypeError', /^deepconv native: naive must be a boolean, got .+$/);
    expectThrow(() => native.convBackward(1, 1, 2, 2, 1, 2, 2, 1, 0, false, 1 as never, F64(4), F64(4), F64(1), F64(1), F64(4), F64(4)), 'TypeError', /^deepconv native: needDx must be a boolean, got .+$/);
  });

  test('a detached buffer is a TypeError saying so, not a use-after-free', () => {
    const x = F64(4);
    structuredClone(x.buffer, { transfer: [x.buffer] });
    expectThrow(() => native.reluForward(4, F64(4), x), 'TypeError', /^deepconv native: x's ArrayBuffer is detached \(transferred or freed\): it holds no elements$/);
  });

  test('subarray views are read and written at their offset only', () => {
    const big = Float64Array.from([9, 9, -1, 2, -3, 4, 9, 9]);
    const out = F64(8).fill(7);
    native.reluForward(4, out.subarray(2, 6), big.subarray(2, 6));
    expect(Array.from(out)).toEqual([7, 7, 0, 2, 0, 4, 7, 7]);
  });

  test('non-finite hyper-parameters are RangeErrors', () => {
    expectThrow(() => native.dropoutForward(2, NaN, 1, F64(2), F64(2), F64(2)), 'RangeError', /^deepconv native: p must be finite, got .+$/);
    expectThrow(() => native.dropoutForward(2, 0, 1, F64(2), F64(2), F64(2)), 'RangeError', /^deepconv native: p must be in \(0, 1\]$/);
    expectThrow(() => native.dropoutForward(2, 1.5, 1, F64(2), F64(2), F64(2)), 'RangeError', /^deepconv native: p must be in \(0, 1\]$/);
    expectThrow(() => native.dropoutForward(2, 0.5, -1, F64(2), F64(2), F64(2)), 'RangeError', /^deepconv native: seed must be a whole number/);
    expectThrow(() => native.batchnormForwardTest(1, 1, 1, Infinity, false, F64(1), F64(1), F64(1), F64(1), F64(1), F64(1)), 'RangeError', /^deepconv native: eps must be finite, got inf$/);
    expectThrow(() => native.batchnormForwardTrain(1, 1, 1, 1e-5, NaN, false, F64(1), F64(1), F64(1), F64(1), F64(1), F64(1), F64(1), F64(1)), 'RangeError', /^deepconv native: momentum must be finite, got .+$/);
    expectThrow(() => native.gemm(false, false, 1, 1, 1, NaN, 0, false, F64(1), F64(1), F64(1)), 'RangeError', /^deepconv native: alpha must be finite, got .+$/);
    expectThrow(() => native.adamUpdate(1, 1e-3, 0.9, 0.999, 1e-8, 0, F64(1), F64(1), F64(1), F64(1)), 'RangeError', /^deepconv native: t must be a whole number in \[1, /);
  });

  test('asynchronous calls check their arguments before queueing (synchronous throw)', () => {
    expectThrow(() => native.reluForward(4, F64(3), F64(4), true), 'RangeError', /^deepconv native: out must hold 4 elements, got 3$/);
  });
});

describe('labels and argmax from JavaScript', () => {
  test.each([
    ['= C', Int32Array.from([0, 3])],
    ['negative', Int32Array.from([-1, 0])],
    ['huge', Int32Array.from([0, 2 ** 31 - 1])],
  ])('a label %s is a RangeError (softmax and SVM)', (_l, y) => {
    const bad = y[0] !== 0 ? 0 : 1;
    expectThrow(() => native.softmaxLoss(2, 3, 0, F64(6), F64(6), y, F64(1)), 'RangeError', new RegExp(`^deepconv native: y\\[${bad}\\] is out of range$`));
    expectThrow(() => native.svmLoss(2, 3, F64(6), F64(6), y, F64(1)), 'RangeError', /is out of range/);
  });

  test('labels of the wrong length or type, and a wrong loss buffer, are refused', () => {
    expectThrow(() => native.softmaxLoss(2, 3, 0, F64(6), F64(6), new Int32Array(3), F64(1)), 'RangeError', /^deepconv native: y must hold 2 elements, got 3$/);
    expectThrow(() => native.softmaxLoss(2, 3, 0, F64(6), F64(6), new Uint8Array(2) as never, F64(1)), 'TypeError', /^deepconv native: y must be an Int32Array, got .+$/);
    expectThrow(() => native.softmaxLoss(2, 3, 0, F64(6), F64(6), [0, 1] as never, F64(1)), 'TypeError', /y must be an Int32Array/);
    expectThrow(() => native.svmLoss(2, 3, F64(6), F64(6), new Int32Array(2), F64(2)), 'RangeError', /^deepconv native: loss must hold 1 elements, got 2$/);
    expectThrow(() => native.softmaxLoss(2, 3, 0, F32(6), F32(6), new Int32Array(2), F32(1) as never), 'TypeError', /^deepconv native: loss must be a Float64Array, got .+$/);
    for (const e of [1, -0.5, NaN]) {
      expectThrow(() => native.softmaxLoss(2, 3, e, F64(6), F64(6), new Int32Array(2), F64(1)), 'RangeError', /^deepconv native: smoothing must be (in \[0, 1\)|finite, got nan)$/);
    }
  });

  test("an argmax inside the plane but outside its own window is ignored, as the CUDA backend's gather does", () => {
    // One 4x4 plane pooled 2x2/2: window 0 covers pixels 0, 1, 4, 5. Index 10 lies in window 3.
    const dx = F64(16).fill(-7);
    native.maxpoolBackward(1, 1, 4, 4, 2, 2, 2, dx, Float64Array.from([1, 2, 3, 4]), Int32Array.from([10, 2, 8, 15]));
    const want = new Array(16).fill(0);
    want[2] = 2;
    want[8] = 3;
    want[15] = 4;
    expect(Array.from(dx)).toEqual(want);
  });

  test('float32 2x2/2 over rows of 9 windows: every dx value written, out-of-window indices ignored', () => {
    // A 5x19 plane: 2 rows of 9 windows (the float path takes four at a time), and a last row and
    // column in no window. dx starts as sentinels; windows 1, 6 and 11 name a pixel outside
    // themselves (the next window's, the uncovered column, the uncovered row).
    const H = 5, W = 19, Ho = 2, Wo = 9;
    const argmax = new Int32Array(Ho * Wo), dout = new Float32Array(Ho * Wo), want = new Array(H * W).fill(0);
    for (let oh = 0; oh < Ho; oh++)
      for (let ow = 0; ow < Wo; ow++) {
        const p = oh * Wo + ow;
        argmax[p] = (2 * oh + (p % 2)) * W + 2 * ow + ((p >> 1) % 2);
        dout[p] = p + 1;
      }
    argmax[1] = 4;
    argmax[6] = 18;
    argmax[11] = 4 * W + 4;
    for (let p = 0; p < Ho * Wo; p++) if (![1, 6, 11].includes(p)) want[argmax[p]] = dout[p];
    const dx = F32(H * W).fill(-7);
    native.maxpoolBackward(1, 1, H, W, 2, 2, 2, dx, dout, argmax);
    expect(Array.from(dx)).toEqual(want);
  });

  test('argmax indices outside the plane are ignored by maxpoolBackward (no out-of-bounds write)', () => {
    // Two planes of 2x2 pooled 2x2/2 -> one output each. Pad dx with sentinels to see stray writes.
    const dxBig = F64(12).fill(-7);
    const dx = dxBig.subarray(2, 10);
    const dout = Float64Array.from([5, 6]);
    for (const bad of [4, -1, 1000000, -2147483648, 2147483647]) {
      dxBig.fill(-7);
      native.maxpoolBackward(1, 2, 2, 2, 2, 2, 2, dx, dout, Int32Array.from([bad, 3]));
      expect(Array.from(dxBig)).toEqual([-7, -7, 0, 0, 0, 0, 0, 0, 0, 6, -7, -7]);
    }
  });
});

describe('kernels stay inside their buffers', () => {
  // Each buffer is a subarray of a larger one whose tail holds sentinels: NaN after inputs (a read
  // past the end poisons the result), -7 after outputs (a write past the end changes it).
  function guarded(n: number, fill: number, values?: ArrayLike<number>): { view: Float64Array; tail: () => number[] } {
    const big = new Float64Array(n + 4).fill(fill);
    const view = big.subarray(0, n);
    if (values) view.set(values);
    return { view, tail: () => Array.from(big.subarray(n)) };
  }

  test.each([
    // [label, N, C, H, W, F, HH, WW, stride, pad]
    ['3x3 pad 1', 2, 2, 4, 5, 2, 3, 3, 1, 1],
    ['width-1 input, 3x3 kernel, stride 2, pad 1', 1, 1, 3, 1, 1, 3, 3, 2, 1],
    ['kernel wider than input + pad, stride 2, pad 3', 1, 2, 5, 4, 2, 3, 8, 2, 3],
    ['6x6 kernel on 2x2 input, stride 3, pad 2', 2, 1, 2, 2, 2, 6, 6, 3, 2],
  ] as Array<[string, number, number, number, number, number, number, number, number, number]>)(
    'conv forward/backward (%s): no read or write outside x, w, dout, out, dx, dw',
    (_label, N, C, H, W, F, HH, WW, stride, pad) => {
      const Ho = 1 + (H + 2 * pad - HH) / stride;
      const Wo = 1 + (W + 2 * pad - WW) / stride;
      const seq = (n: number) => Array.from({ length: n }, (_, i) => ((i * 7) % 11) - 5);
      const x = guarded(N * C * H * W, NaN, seq(N * C * H * W));
      const w = guarded(F * C * HH * WW, NaN, seq(F * C * HH * WW));
      const bias = guarded(F, NaN, seq(F));
      const dout = guarded(N * F * Ho * Wo, NaN, seq(N * F * Ho * Wo));
      for (const naive of [false, true]) {
        const out = guarded(N * F * Ho * Wo, -7);
        native.convForward(N, C, H, W, F, HH, WW, stride, pad, naive, out.view, x.view, w.view, bias.view);
        const dx = guarded(N * C * H * W, -7);
        const dw = guarded(F * C * HH * WW, -7);
        const db = guarded(F, -7);
        native.convBackward(N, C, H, W, F, HH, WW, stride, pad, naive, true, dx.view, dw.view, db.view, dout.view, x.view, w.view);
        const sentinels = [-7, -7, -7, -7];
        expect({
          naive,
          outFinite: Array.from(out.view).every(Number.isFinite),
          gradsFinite: Array.from(dx.view).every(Number.isFinite) && Array.from(dw.view).every(Number.isFinite),
          outTail: out.tail(),
          dxTail: dx.tail(),
          dwTail: dw.tail(),
          dbTail: db.tail(),
        }).toEqual({ naive, outFinite: true, gradsFinite: true, outTail: sentinels, dxTail: sentinels, dwTail: sentinels, dbTail: sentinels });
      }
    },
  );

  test.each([
    [2, 2, 2],
    [3, 2, 1],
    [2, 3, 2],
  ])('max pool %i x %i / %i: no read or write outside x, out, dx', (ph, pw, stride) => {
    const [N, C, H, W] = [2, 2, 5, 7];
    const Ho = 1 + Math.floor((H - ph) / stride);
    const Wo = 1 + Math.floor((W - pw) / stride);
    const x = guarded(N * C * H * W, NaN, Array.from({ length: N * C * H * W }, (_, i) => -((i * 13) % 17)));
    const out = guarded(N * C * Ho * Wo, -7);
    const argmax = new Int32Array(N * C * Ho * Wo);
    native.maxpoolForward(N, C, H, W, ph, pw, stride, out.view, argmax, x.view);
    expect(Array.from(out.view).every(Number.isFinite)).toBe(true);
    expect(out.tail()).toEqual([-7, -7, -7, -7]);
    const dx = guarded(N * C * H * W, -7);
    native.maxpoolBackward(N, C, H, W, ph, pw, stride, dx.view, out.view, argmax);
    expect(dx.tail()).toEqual([-7, -7, -7, -7]);
  });
});

// A kernel's C++ exception inside an OpenMP region cannot be caught: it calls std::terminate and
// takes the whole process down. Run such probes in a child process (address space capped, so a
// huge allocation fails fast) and require that the child reports an exception instead of dying.
function probe(body: string): { status: number | null; signal: string | null; out: string } {
  const root = packageRoot();
  const script = `
    const path = require('path');
    const b = process.env.DEEPCONV_ADDON ? require(path.resolve(process.env.DEEPCONV_ADDON)) : require('node-gyp-build')(${JSON.stringify(root)});
    try { ${body}; console.log('returned'); } catch (e) { console.log('threw ' + e.constructor.name + ': ' + e.message); }
  `;
  // ulimit -v breaks sanitizer builds (DEEPCONV_ADDON), which reserve huge shadow mappings.
  const cap = process.env.DEEPCONV_ADDON ? '' : 'ulimit -v 8000000; ';
  const r = spawnSync('sh', ['-c', `${cap}exec "$NODE_BIN" -e "$PROBE"`], {
    cwd: root,
    env: { ...process.env, NODE_BIN: process.execPath, PROBE: script },
    encoding: 'utf8',
    timeout: 60000,
  });
  return { status: r.status, signal: r.signal, out: `${r.stdout}${r.stderr}`.trim() };
}

describe('huge workspaces (child process)', () => {
  // x (1, 1, 1000, 1000), w (1, 1, 1000, 1000), pad 500: every buffer is 8 MB and every size passes
  // the binding's checks, but the im2col workspace is C*HH*WW x Ho*Wo = 1e6 x 1001^2 doubles (8 TB).
  const args = 'const H = 1000, K = 1000, pad = 500, Ho = 1 + H + 2 * pad - K;';
  test('convForward with an 8 TB im2col workspace throws instead of aborting', () => {
    const r = probe(`${args} b.convForward(1, 1, H, H, 1, K, K, 1, pad, false, new Float64Array(Ho * Ho), new Float64Array(H * H), new Float64Array(K * K), new Float64Array(1))`);
    expect(r).toEqual({ status: 0, signal: null, out: expect.stringMatching(/^threw (RangeError|Error): /) });
  });
  test('convBackward with an 8 TB im2col workspace throws instead of aborting', () => {
    const r = probe(
      `${args} b.convBackward(1, 1, H, H, 1, K, K, 1, pad, false, true, new Float64Array(H * H), new Float64Array(K * K), new Float64Array(1), new Float64Array(Ho * Ho), new Float64Array(H * H), new Float64Array(K * K))`,
    );
    expect(r).toEqual({ status: 0, signal: null, out: expect.stringMatching(/^threw (RangeError|Error): /) });
  });
  test('the probe itself works: a bad call in the child reports its error', () => {
    const r = probe('b.reluForward(-1, new Float64Array(1), new Float64Array(1))');
    expect(r).toEqual({ status: 0, signal: null, out: expect.stringMatching(/^threw RangeError: deepconv native: n must be a whole number/) });
  });
});
