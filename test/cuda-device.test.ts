// The Node side of the CUDA backend (device tensors, dispatch, models, Solver, CLI) on a machine
// without a GPU: this file loads the addon built against the host CUDA emulator
// (native/emulator, `npm run build:emulator`, built by `npm test`'s pretest step), whose "device
// memory" is host memory and whose kernels are the CPU ones. So every cuda result here must equal
// the cpu result bit for bit (tolerance 0), and what these tests check is the plumbing: that each
// call reaches the device path with the right buffers, sizes and order, and that nothing reads or
// writes device memory from JavaScript. The kernels themselves are checked against the CPU on a
// real GPU by native/test/cuda_parity.cu (scripts/gpu-check.sh).
//
// DEEPCONV_CUDA_TEST_ADDON points the file at another build: the sanitizer build of the emulator
// (npm run test:asan), or a real CUDA build on a machine with a GPU
// (DEEPCONV_CUDA_TEST_ADDON=build/Release/deepconv.node npx jest test/cuda-device), where results
// are compared with tolerances instead: a normalised error (max |gpu - cpu| / max |cpu|) under
// 1e-4 for one layer and 1e-3 for whole networks and training runs, and accuracies not at all.
import * as fs from 'fs';
import * as path from 'path';
import type * as Lib from '../lib';
import type * as Cli from '../lib/cli/main';
import type * as Bind from '../lib/binding';
import type * as Helpers from './helpers';
import { cifarFiles, removeTempDirs, tempDir, writeCifarFolder } from './fixtures';

const addon = process.env.DEEPCONV_CUDA_TEST_ADDON ?? path.join(__dirname, '..', 'build-emulator', 'Release', 'deepconv.node');
if (!fs.existsSync(addon)) {
  throw new Error(`${addon} is missing: build it with \`npm run build:emulator\` (npm test does it first)`);
}
// The loader reads DEEPCONV_ADDON once, when lib/binding is first required (this file has its own
// module registry); put it back afterwards so the other test files of this worker see what they
// would have (npm run test:asan sets it for them).
const previousAddon = process.env.DEEPCONV_ADDON;
process.env.DEEPCONV_ADDON = addon;
/* eslint-disable @typescript-eslint/no-var-requires */
const dc = require('../lib') as typeof Lib;
const cli = require('../lib/cli/main') as typeof Cli;
const { native } = require('../lib/binding') as typeof Bind;
const { expectThrow } = require('./helpers') as typeof Helpers;  // it imports lib too
if (previousAddon === undefined) delete process.env.DEEPCONV_ADDON;
else process.env.DEEPCONV_ADDON = previousAddon;

const { Tensor } = dc;
type T = Lib.Tensor;

afterAll(removeTempDirs);

/** The emulator runs the CPU kernels: results must be bitwise equal. A GPU gets tolerances. */
const EXACT = dc.buildInfo().cudaEmulator;
const LAYER = EXACT ? 0 : 1e-4;
const NETWORK = EXACT ? 0 : 1e-3;

function closeTo(actual: number, expected: number, tol: number, what = ''): void {
  if (tol === 0) expect({ what, value: actual }).toEqual({ what, value: expected });
  else expect({ what, relError: Math.abs(actual - expected) / Math.max(1, Math.abs(expected)) <= tol }).toEqual({ what, relError: true });
}

function closeArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ''): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) closeTo(actual[i], expected[i], tol, `${what}[${i}]`);
}

function host(t: T): Float32Array {
  return t.toDevice('cpu').data as Float32Array;
}

/**
 * A cuda result against its cpu twin: bitwise on the emulator, else within `tol` normalised error
 * (max |a - b| / max |b|).
 */
function same(cudaT: T, cpuT: T, what = '', tol = LAYER): void {
  expect(cudaT.device).toBe('cuda');
  expect(cpuT.device).toBe('cpu');
  expect(cudaT.shape).toEqual(cpuT.shape);
  const a = host(cudaT);
  const b = cpuT.data;
  if (!EXACT) {
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(b[i]));
    }
    const err = scale > 0 ? diff / scale : diff;
    expect({ what, withinTolerance: err <= tol || err }).toEqual({ what, withinTolerance: true });
    return;
  }
  let bad = -1;
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) {
      bad = i;
      break;
    }
  }
  expect({ what, firstDifference: bad }).toEqual({ what, firstDifference: -1 });
}

const randn = (shape: number[], seed: number) => Tensor.randn(shape, { seed });
const cuda = (t: T) => t.toDevice('cuda');

describe('the emulator build', () => {
  test('reports a CUDA backend with a device (one, emulated, unless DEEPCONV_CUDA_TEST_ADDON says otherwise)', () => {
    const info = dc.buildInfo();
    expect(info.cuda).toBe(true);
    expect(info.cudaEmulator).toBe(process.env.DEEPCONV_CUDA_TEST_ADDON === undefined ? true : info.cudaEmulator);
    expect(dc.cudaDeviceCount()).toBeGreaterThanOrEqual(1);
  });
});

describe('cuda tensors', () => {
  test('toDevice round trip, zeros, full, clone, reshape, copyFrom', async () => {
    const x = randn([3, 4], 1);
    const xc = x.toDevice('cuda');
    expect(xc.device).toBe('cuda');
    expect(xc.toString()).toBe('Tensor(float32, [3, 4], cuda)');
    expect(xc.toDevice('cuda')).toBe(xc);
    expect(Array.from(host(xc))).toEqual(Array.from(x.data));
    expect(Array.from((await xc.toDeviceAsync('cpu')).data)).toEqual(Array.from(x.data));
    expect(Array.from(host(Tensor.zeros([5], 'float32', 'cuda')))).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(host(Tensor.full([2], 7, 'float32', 'cuda')))).toEqual([7, 7]);
    const c = xc.clone();
    c.copyFrom(Tensor.zeros([3, 4]));
    expect(Array.from(host(c))).toEqual(new Array(12).fill(0));
    expect(Array.from(host(xc))).toEqual(Array.from(x.data));  // the clone was a copy
    const r = xc.reshape([12]);
    expect(r.shape).toEqual([12]);
    expect(r.buffer).toBe(xc.buffer);  // a view
    await c.copyFromAsync(xc);
    expect(Array.from(host(c))).toEqual(Array.from(x.data));
    expect(Array.from(host(xc.astype('float32')))).toEqual(Array.from(x.data));
  });

  test('a cuda tensor has no .data, and says how to read it', () => {
    const xc = cuda(randn([2], 1));
    expectThrow(() => xc.data, 'Error', /^this Tensor\(float32, \[2\], cuda\) is on cuda: copy it to the host with \.toDevice\('cpu'\)/);
    expectThrow(() => xc.toArray(), 'Error', /is on cuda/);
  });

  test('cuda tensors are float32', () => {
    expectThrow(() => Tensor.zeros([2], 'float64', 'cuda'), 'TypeError', /^cuda tensors are float32, got dtype "float64"$/);
    expectThrow(() => Tensor.zeros([2], 'float64').toDevice('cuda'), 'TypeError', /^cuda tensors are float32: convert this Tensor\(float64, \[2\]\) with \.astype\('float32'\) first$/);
    expectThrow(() => cuda(randn([2], 1)).astype('float64'), 'TypeError', /^cuda tensors are float32: move this/);
    expectThrow(() => Tensor.zeros([2], 'float32', 'gpu' as never), 'TypeError', /^device must be 'cpu' or 'cuda', got "gpu"$/);
  });

  test('copyFrom checks size and dtype', () => {
    const xc = Tensor.zeros([4], 'float32', 'cuda');
    expectThrow(() => xc.copyFrom(Tensor.zeros([5])), 'RangeError', /^src must hold 4 elements like this Tensor\(float32, \[4\], cuda\), got Tensor\(float32, \[5\]\)$/);
    expectThrow(() => xc.copyFrom(Tensor.zeros([4], 'float64')), 'TypeError', /^src must have dtype float32, got float64$/);
  });

  test('dispose frees now; later use is refused, not a crash', () => {
    const xc = cuda(randn([4], 1));
    const out = Tensor.zeros([4], 'float32', 'cuda');
    xc.dispose();
    xc.dispose();  // twice is fine
    expect((xc.buffer as Lib.CudaBuffer).disposed).toBe(true);
    expectThrow(() => dc.ReLU.forward(xc), 'TypeError', /x is a disposed cuda buffer/);
    expectThrow(() => native.reluForward(4, out.buffer, xc.buffer), 'TypeError', /^deepconv native: x is a disposed cuda buffer$/);
    expectThrow(() => native.reluForward(4, xc.buffer, out.buffer), 'TypeError', /^deepconv native: out is a disposed cuda buffer$/);
    expectThrow(() => xc.toDevice('cpu'), 'TypeError', /src is a disposed cuda buffer/);
  });

  test('dispose while kernels are queued waits for them', async () => {
    const x = randn([1000], 3);
    const xc = cuda(x);
    const outs = [0, 1, 2, 3].map(() => dc.ReLU.forwardAsync(xc));
    xc.dispose();  // freed after the queued kernels have run
    for (const r of await Promise.all(outs)) same(r.out, dc.ReLU.forward(x).out, 'relu');
  });

  test('CudaBuffers cannot be forged or constructed', () => {
    const Ctor = native.CudaBuffer as unknown as new (...a: unknown[]) => unknown;
    expectThrow(() => new Ctor(), 'TypeError', /^CudaBuffer cannot be constructed directly/);
    const fake = Object.create(Ctor.prototype) as Lib.CudaBuffer;
    const out = Tensor.zeros([2], 'float32', 'cuda');
    expectThrow(() => native.reluForward(2, out.buffer, fake), 'TypeError', /^deepconv native: x must be a Float32Array, got an object$/);
    expectThrow(() => new Tensor(fake, [2]), 'TypeError', /^data must be a Float32Array, Float64Array or float32 CudaBuffer/);
  });

  test('the native side checks device buffers like typed arrays', () => {
    const a = Tensor.zeros([4], 'float32', 'cuda').buffer;
    const b = Tensor.zeros([5], 'float32', 'cuda').buffer;
    const i = native.cudaAlloc('int32', 4, true);
    expectThrow(() => native.reluForward(4, a, b), 'RangeError', /^deepconv native: x must hold 4 elements, got 5$/);
    expectThrow(() => native.reluForward(4, a, i), 'TypeError', /^deepconv native: x must be a float32 cuda buffer, got a int32 one$/);
    expectThrow(() => native.reluForward(4, a, new Float32Array(4)), 'TypeError', /^deepconv native: x is a cpu typed array but out is a cuda buffer: all tensors of one call must be on the same device$/);
    expectThrow(() => native.reluForward(4, new Float64Array(4), a), 'TypeError', /^deepconv native: x must be a Float64Array \(cuda buffers hold float32 or int32\), got a float32 cuda buffer$/);
    expectThrow(() => native.cudaAlloc('float64' as never, 4, true), 'RangeError', /^deepconv native: kind must be 'float32' or 'int32', got 'float64'$/);
    expectThrow(() => native.cudaUpload(4, new Float32Array(4) as never, new Float32Array(4)), 'TypeError', /^deepconv native: dst must be a cuda buffer$/);
    expectThrow(() => native.cudaAlloc('float32', -1, true), 'RangeError', /^deepconv native: n must be a whole number/);
  });
});

describe('layers on cuda equal the cpu', () => {
  const x = randn([4, 3, 8, 8], 1);
  const w = randn([5, 3, 3, 3], 2);
  const b = randn([5], 3);

  test('conv forward / backward (and the mixed-device and naive checks)', () => {
    const p = { stride: 1, pad: 1 };
    const f = dc.Conv.forward(x, w, b, p);
    const fc = dc.Conv.forward(cuda(x), cuda(w), cuda(b), p);
    same(fc.out, f.out, 'out');
    const dout = randn([4, 5, 8, 8], 4);
    const g = dc.Conv.backward(dout, f.cache);
    const gc = dc.Conv.backward(cuda(dout), fc.cache);
    same(gc.dx, g.dx, 'dx');
    same(gc.dw, g.dw, 'dw');
    same(gc.db, g.db, 'db');
    expectThrow(() => dc.Conv.forward(cuda(x), w, b, p), 'TypeError', /^w must be on cuda like x, got a tensor on cpu \(move it with \.toDevice\('cuda'\)\)$/);
    expectThrow(() => dc.Conv.forwardNaive(cuda(x), cuda(w), cuda(b), p), 'TypeError', /^the naive convolution runs on the cpu only, got x on cuda$/);
    expectThrow(() => dc.Conv.backward(dout, fc.cache), 'TypeError', /^dout must be on cuda like x/);
  });

  test('max pool, relu, dropout', async () => {
    const pool = dc.MaxPool.forward(x, {});
    const poolc = dc.MaxPool.forward(cuda(x), {});
    same(poolc.out, pool.out, 'pool out');
    const dp = randn([4, 3, 4, 4], 5);
    same(dc.MaxPool.backward(cuda(dp), poolc.cache), dc.MaxPool.backward(dp, pool.cache), 'pool dx');
    const r = dc.ReLU.forward(x);
    const rc = dc.ReLU.forward(cuda(x));
    same(rc.out, r.out, 'relu');
    same(dc.ReLU.backward(cuda(x), rc.cache), dc.ReLU.backward(x, r.cache), 'relu dx');
    const dpar = { p: 0.7, mode: 'train' as const, seed: 9 };
    const d = dc.Dropout.forward(x, dpar);
    const dcu = await dc.Dropout.forwardAsync(cuda(x), dpar);
    same(dcu.out, d.out, 'dropout');
    same(dc.Dropout.backward(cuda(x), dcu.cache), dc.Dropout.backward(x, d.cache), 'dropout dx');
  });

  test('linear, softmax and svm losses', () => {
    const xl = randn([6, 10], 6);
    const wl = randn([10, 4], 7);
    const bl = randn([4], 8);
    const f = dc.Linear.forward(xl, wl, bl);
    const fc = dc.Linear.forward(cuda(xl), cuda(wl), cuda(bl));
    same(fc.out, f.out, 'linear');
    const dout = randn([6, 4], 9);
    const g = dc.Linear.backward(dout, f.cache);
    const gc = dc.Linear.backward(cuda(dout), fc.cache);
    same(gc.dx, g.dx, 'dx');
    same(gc.dw, g.dw, 'dw');
    same(gc.db, g.db, 'db');
    const y = [0, 1, 2, 3, 0, 1];
    for (const fn of [dc.softmaxLoss, dc.svmLoss]) {
      const l = fn(f.out, y);
      const lc = fn(fc.out, y);
      closeTo(lc.loss, l.loss, LAYER, 'loss');
      same(lc.dx, l.dx, 'loss dx');
    }
    const ls = dc.softmaxLoss(f.out, y, { labelSmoothing: 0.1 });
    const lsc = dc.softmaxLoss(fc.out, y, { labelSmoothing: 0.1 });
    closeTo(lsc.loss, ls.loss, LAYER, 'smoothed loss');
    same(lsc.dx, ls.dx, 'smoothed loss dx');
    expect(ls.loss).not.toBe(dc.softmaxLoss(f.out, y).loss);
    expectThrow(() => dc.softmaxLoss(fc.out, [0, 1, 2, 3, 0, 4]), 'RangeError', /^y\[5\] must be an integer label in \[0, 4\), got 4$/);
  });

  test('batchnorm and spatial batchnorm: train (running stats on the device), test, both backwards', () => {
    for (const [family, xs] of [[dc.BatchNorm, randn([8, 5], 10)], [dc.SpatialBatchNorm, randn([4, 5, 3, 3], 11)]] as const) {
      const gamma = randn([5], 12);
      const beta = randn([5], 13);
      const bp: Lib.BatchNormParam = { mode: 'train' };
      const bpc: Lib.BatchNormParam = { mode: 'train' };
      const f = family.forward(xs, gamma, beta, bp);
      const fc = family.forward(cuda(xs), cuda(gamma), cuda(beta), bpc);
      same(fc.out, f.out, 'bn out');
      expect(bpc.runningMean!.device).toBe('cuda');
      same(bpc.runningMean!, bp.runningMean!, 'running mean');
      same(bpc.runningVar!, bp.runningVar!, 'running var');
      const dout = randn([...xs.shape], 14);
      for (const k of ['backward', 'backwardAlt'] as const) {
        const g = family[k](dout, f.cache);
        const gc = family[k](cuda(dout), fc.cache);
        same(gc.dx, g.dx, `${k} dx`);
        same(gc.dgamma, g.dgamma, `${k} dgamma`);
        same(gc.dbeta, g.dbeta, `${k} dbeta`);
      }
      same(family.forward(cuda(xs), cuda(gamma), cuda(beta), { ...bpc, mode: 'test' }).out, family.forward(xs, gamma, beta, { ...bp, mode: 'test' }).out, 'bn test');
    }
  });

  test('a sandwich layer (conv - batchnorm - relu - pool)', () => {
    const gamma = randn([5], 15);
    const beta = randn([5], 16);
    const f = dc.ConvBatchNormReLUPool.forward(x, w, b, gamma, beta, { pad: 1 }, { mode: 'train' }, {});
    const fc = dc.ConvBatchNormReLUPool.forward(cuda(x), cuda(w), cuda(b), cuda(gamma), cuda(beta), { pad: 1 }, { mode: 'train' }, {});
    same(fc.out, f.out, 'out');
    const dout = randn([4, 5, 4, 4], 17);
    const g = dc.ConvBatchNormReLUPool.backward(dout, f.cache);
    const gc = dc.ConvBatchNormReLUPool.backward(cuda(dout), fc.cache);
    same(gc.dx, g.dx, 'dx');
    same(gc.dw, g.dw, 'dw');
  });

  test('every update rule, its state on the device', () => {
    for (const [rule, cfg] of [[dc.sgd, {}], [dc.sgdMomentum, {}], [dc.rmsprop, {}], [dc.adam, {}]] as const) {
      let w = randn([50], 20);
      let wc = cuda(w);
      let c: Record<string, unknown> = { ...cfg };
      let cc: Record<string, unknown> = { ...cfg };
      for (let step = 0; step < 3; step++) {
        const dw = randn([50], 21 + step);
        const r = (rule as (w: T, dw: T, c: Record<string, unknown>) => { w: T; config: Record<string, unknown> })(w, dw, c);
        const rc = (rule as (w: T, dw: T, c: Record<string, unknown>) => { w: T; config: Record<string, unknown> })(wc, cuda(dw), cc);
        w = r.w;
        wc = rc.w;
        c = r.config;
        cc = rc.config;
      }
      same(wc, w, rule.name);
      for (const [k, v] of Object.entries(cc)) if (v instanceof Tensor) same(v, c[k] as T, `${rule.name} ${k}`);
    }
  });
});

describe('models on cuda', () => {
  const opts = { numFilters: [4, 6], maxPools: [0, 1], batchnorm: true, weightScale: 'kaiming' as const, seed: 3, reg: 0.01 };
  const X = randn([6, 3, 8, 8], 30);
  const y = [0, 1, 2, 3, 4, 5];

  test('DeepConvNet: loss, grads (with L2), lossAsync, running statistics', async () => {
    const m = new dc.DeepConvNet({ ...opts, inputDims: [3, 8, 8] });
    const mc = new dc.DeepConvNet({ ...opts, inputDims: [3, 8, 8], device: 'cuda' });
    expect(mc.device).toBe('cuda');
    expect(mc.options).not.toHaveProperty('device');
    const r = m.loss(X, y);
    const rc = mc.loss(cuda(X), y);
    closeTo(rc.loss, r.loss, NETWORK, 'loss');
    for (const k of Object.keys(r.grads)) same(rc.grads[k], r.grads[k], k, NETWORK);
    const ra = await mc.lossAsync(cuda(X), y);
    closeTo(ra.loss, m.loss(X, y).loss, NETWORK, 'async loss');
    same(mc.bnParams['0'].runningMean, m.bnParams['0'].runningMean, 'running mean', NETWORK);
    same(mc.loss(cuda(X)), m.loss(X), 'scores', NETWORK);
    expectThrow(() => mc.loss(X, y), 'TypeError', /^X must be on cuda like the model's parameters, got a tensor on cpu \(move it with X\.toDevice\('cuda'\)\)$/);
  });

  test('FullyConnectedNet with dropout and batchnorm, ThreeLayerConvNet', () => {
    const fo = { hiddenDims: [7, 5], inputDim: 3 * 8 * 8, numClasses: 6, dropout: 0.3, batchnorm: true, seed: 4, reg: 0.1 };
    const f = new dc.FullyConnectedNet(fo).loss(X, y);
    const fc = new dc.FullyConnectedNet({ ...fo, device: 'cuda' }).loss(cuda(X), y);
    closeTo(fc.loss, f.loss, NETWORK, 'fc loss');
    for (const k of Object.keys(f.grads)) same(fc.grads[k], f.grads[k], k, NETWORK);
    const to = { inputDims: [3, 8, 8] as [number, number, number], numFilters: 3, filterSize: 3, hiddenDim: 5, numClasses: 6, seed: 5, reg: 0.05 };
    const t = new dc.ThreeLayerConvNet(to).loss(X, y);
    const tc = new dc.ThreeLayerConvNet({ ...to, device: 'cuda' }).loss(cuda(X), y);
    closeTo(tc.loss, t.loss, NETWORK, 'three-layer loss');
    for (const k of Object.keys(t.grads)) same(tc.grads[k], t.grads[k], k, NETWORK);
  });

  test('predict takes cpu or cuda inputs and returns cpu scores', async () => {
    const m = new dc.DeepConvNet({ ...opts, inputDims: [3, 8, 8] });
    const mc = new dc.DeepConvNet({ ...opts, inputDims: [3, 8, 8] }).toDevice('cuda');
    const p = await m.predict(X, { batchSize: 4 });
    const pc = await mc.predict(X, { batchSize: 4 });
    expect(pc.device).toBe('cpu');
    closeArrays(pc.data, p.data, NETWORK, 'predict');
    closeArrays((await mc.predict(cuda(X))).data, p.data, NETWORK, 'predict from cuda');
    await expect(m.predict(cuda(X))).rejects.toThrow(/^X must be on cpu like the model's parameters, got a tensor on cuda/);
    // flip TTA on a cuda model: each batch and its mirror go up in turn
    const t = await m.predict(X, { batchSize: 4, tta: 'flip' });
    closeArrays((await mc.predict(X, { batchSize: 4, tta: 'flip' })).data, t.data, NETWORK, 'predict with tta');
    await expect(mc.predict(cuda(X), { tta: 'flip' })).rejects.toThrow(/^opts.tta 'flip' needs X on the cpu/);
  });

  test('toDevice moves back and forth; float64 models stay on the cpu', () => {
    const m = new dc.DeepConvNet({ ...opts, inputDims: [3, 8, 8] });
    const before = m.loss(X, y).loss;
    expect(m.toDevice('cuda').toDevice('cpu').device).toBe('cpu');
    closeTo(m.loss(X, y).loss, before, 0, 'loss after the round trip');
    expectThrow(() => new dc.DeepConvNet({ ...opts, dtype: 'float64', device: 'cuda' }), 'TypeError', /^cuda models are float32, but this DeepConvNet has dtype float64/);
    expectThrow(() => new dc.DeepConvNet({ ...opts, device: 'tpu' as never }), 'TypeError', /^options\.device must be 'cpu' or 'cuda', got "tpu"$/);
  });

  test('save from cuda, load onto either device', () => {
    const mc = new dc.DeepConvNet({ ...opts, inputDims: [3, 8, 8], device: 'cuda' });
    mc.loss(cuda(X), y);  // moves the running statistics
    const file = path.join(tempDir(), 'm.safetensors');
    mc.save(file);
    const onCpu = dc.loadModel(file);
    const onCuda = dc.DeepConvNet.load(file, { device: 'cuda' });
    expect(onCpu.device).toBe('cpu');
    expect(onCuda.device).toBe('cuda');
    same(onCuda.loss(cuda(X)), onCpu.loss(X), 'scores after load', NETWORK);
    same(mc.bnParams['1'].runningVar, onCpu.bnParams['1'].runningVar, 'running var', 0);
  });

  test('an arena keeps the device memory of a step: no new buffers in steady state', async () => {
    const mc = new dc.DeepConvNet({ ...opts, inputDims: [3, 8, 8], device: 'cuda' });
    const arena = new dc.Arena();
    const Xc = cuda(X);
    const first = await mc.lossAsync(Xc, y, { arena });
    const bytes = arena.bytes;
    const firstDx = first.grads.W0.buffer;
    const second = await mc.lossAsync(Xc, y, { arena });
    expect(arena.bytes).toBe(bytes);
    expect(second.grads.W0.buffer).toBe(firstDx);
    arena.dispose();
    expect(arena.bytes).toBe(0);
    expect((firstDx as Lib.CudaBuffer).disposed).toBe(true);
  });
});

describe('the Solver and the CLI on cuda', () => {
  function data(seed: number) {
    const xTrain = randn([40, 3, 8, 8], seed);
    const yTrain = Int32Array.from({ length: 40 }, (_, i) => i % 10);
    const xVal = randn([10, 3, 8, 8], seed + 1);
    const yVal = Int32Array.from({ length: 10 }, (_, i) => i % 10);
    return { xTrain, yTrain, xVal, yVal };
  }
  const modelOpts = { inputDims: [3, 8, 8] as [number, number, number], numFilters: [4], maxPools: [0], batchnorm: true, weightScale: 'kaiming' as const, seed: 1 };
  const solverOpts = { updateRule: 'adam' as const, batchSize: 10, numEpochs: 2, seed: 2, verbose: false, augment: { pad: 2, flip: true } };

  test('training on cuda follows training on cpu step for step; checkpoints resume on cuda', async () => {
    const s = new dc.Solver(new dc.DeepConvNet(modelOpts), data(50), solverOpts);
    const mc = new dc.DeepConvNet(modelOpts);
    const file = path.join(tempDir(), 'run');
    const sc = new dc.Solver(mc, data(50), { ...solverOpts, device: 'cuda', checkpointName: file });
    expect(mc.device).toBe('cuda');
    await s.train();
    await sc.train();
    closeArrays(sc.lossHistory, s.lossHistory, NETWORK, 'loss history');
    for (const k of Object.keys(s.model.params)) same(sc.model.params[k], s.model.params[k], k, NETWORK);
    if (EXACT) {
      expect(sc.valAccHistory).toEqual(s.valAccHistory);
      expect(await sc.checkAccuracy(data(60).xTrain, data(60).yTrain)).toBe(await s.checkAccuracy(data(60).xTrain, data(60).yTrain));
    }

    // Resume the epoch-1 checkpoint on cuda for the second epoch: the same end state.
    const resumed = new dc.Solver(new dc.DeepConvNet(modelOpts), data(50), { ...solverOpts, device: 'cuda', resume: `${file}_epoch_1.safetensors` });
    await resumed.train();
    closeArrays(resumed.lossHistory, sc.lossHistory, NETWORK, 'resumed loss history');
    for (const k of Object.keys(s.model.params)) same(resumed.model.params[k], s.model.params[k], `resumed ${k}`, NETWORK);
  });

  test('the Solver wants its data on the cpu', () => {
    const d = data(70);
    expectThrow(() => new dc.Solver(new dc.DeepConvNet(modelOpts), { ...d, xTrain: cuda(d.xTrain) }, solverOpts), 'TypeError', /^data\.xTrain must be a cpu tensor \(the Solver copies each minibatch to the model's device\), got one on cuda$/);
  });

  test('deepconv train --device cuda, then eval --device cuda', async () => {
    const dataDir = writeCifarFolder(tempDir(), cifarFiles(20, 10));
    const out = path.join(tempDir(), 'cli');
    const logs: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void logs.push(a.join(' ')));
    try {
      const code = await cli.main(['node', 'deepconv', 'train', '--dataset', 'cifar10', '--data', dataDir, '--filters', '4', '--epochs', '1', '--time-limit', '0', '--batch-size', '20', '--val', '20', '--out', out, '--quiet', '--device', 'cuda']);
      expect(code).toBe(0);
      expect(logs.join('\n')).toMatch(/training on cuda: adam/);
      expect(fs.existsSync(path.join(out, 'filters.png'))).toBe(true);
      logs.length = 0;
      expect(await cli.main(['node', 'deepconv', 'eval', '--model', path.join(out, 'model.safetensors'), '--data', dataDir, '--device', 'cuda'])).toBe(0);
      expect(logs.join('\n')).toMatch(/^cifar10 test accuracy: \d+\.\d\d%/);
    } finally {
      log.mockRestore();
    }
  });
});
