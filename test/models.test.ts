// Networks of lib/models: full numeric gradient checks of every parameter (float64, h = 1e-6,
// relError < 1e-6) with batchnorm on and off, reg 0 and reg > 0, seeded dropout; initial loss of
// a fresh network near log(10); lossAsync === loss; overfitting a small set; predict; save / load;
// option checks; kaimingInitializer.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DeepConvNet, FullyConnectedNet, loadModel, Model, ThreeLayerConvNet, TwoLayerNet } from '../lib/models';
import { kaimingInitializer } from '../lib/init';
import { saveModel } from '../lib/io/model-file';
import { Solver } from '../lib/solver';
import { Tensor } from '../lib/tensor';
import { computeNumericGradient, relError } from '../lib/gradcheck';
import { randn64 } from './helpers';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepconv-models-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Keys whose true gradient is exactly 0: biases feeding a batchnorm (it subtracts them out). */
function biasesBeforeBatchnorm(model: Model): string[] {
  return Object.keys(model.params).filter((k) => /^b\d+$/.test(k) && `gamma${k.slice(1)}` in model.params);
}

/** Numeric gradient of every parameter against the analytic one; returns the worst relError. */
function gradCheck(model: Model, X: Tensor, y: number[], labelSmoothing = 0): number {
  const { grads } = model.loss(X, y, { labelSmoothing });
  expect(Object.keys(grads)).toEqual(Object.keys(model.params));
  const zero = biasesBeforeBatchnorm(model);
  let worst = 0;
  for (const k of Object.keys(model.params)) {
    const f = () => Tensor.from([model.loss(X, y, { labelSmoothing }).loss], { dtype: 'float64' });
    const num = computeNumericGradient(f, model.params[k], undefined, 1e-6);
    if (zero.includes(k)) {
      // Both should be 0 up to rounding.
      for (let i = 0; i < num.size; i++) {
        expect(Math.abs(num.data[i])).toBeLessThan(1e-7);
        expect(Math.abs(grads[k].data[i])).toBeLessThan(1e-10);
      }
      continue;
    }
    const e = relError(num, grads[k]);
    if (!(e < 1e-6)) throw new Error(`${model.className} ${k}: relError ${e}`);
    worst = Math.max(worst, e);
  }
  return worst;
}

const X4 = () => randn64([4, 3, 8, 8], 11);
const Y4 = [1, 2, 3, 9];

describe('gradient checks (float64, every parameter)', () => {
  test.each([0, 0.7])('ThreeLayerConvNet, reg %p', (reg) => {
    const model = new ThreeLayerConvNet({ inputDims: [3, 8, 8], numFilters: 3, filterSize: 3, hiddenDim: 7, weightScale: 0.1, reg, dtype: 'float64', seed: 1 });
    gradCheck(model, X4(), Y4);
  });

  test('DeepConvNet with batchnorm and label smoothing 0.2', () => {
    const model = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4, 5], maxPools: [0, 1], batchnorm: true, weightScale: 'kaiming', reg: 0.1, dtype: 'float64', seed: 4 });
    gradCheck(model, X4(), Y4, 0.2);
    expect(model.loss(X4(), Y4, { labelSmoothing: 0.2 }).loss).not.toBe(model.loss(X4(), Y4).loss);
  });

  test('ThreeLayerConvNet with a 5x5 filter on non-square input', () => {
    const model = new ThreeLayerConvNet({ inputDims: [2, 6, 10], numFilters: 2, filterSize: 5, hiddenDim: 5, numClasses: 4, weightScale: 0.2, reg: 0.1, dtype: 'float64', seed: 2 });
    gradCheck(model, randn64([3, 2, 6, 10], 5), [0, 3, 1]);
  });

  test.each([
    [false, 0],
    [false, 0.3],
    [true, 0],
    [true, 0.3],
  ])('DeepConvNet, batchnorm %p, reg %p', (batchnorm, reg) => {
    const model = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4, 5, 3], maxPools: [0, 2], batchnorm, weightScale: 'kaiming', reg, dtype: 'float64', seed: 3 });
    gradCheck(model, X4(), Y4);
  });

  test.each([
    [false, 0, 0],
    [false, 0.25, 0.2],
    [true, 0, 0.2],
    [true, 0.25, 0],
  ])('FullyConnectedNet, batchnorm %p, dropout %p (seeded), reg %p', (batchnorm, dropout, reg) => {
    const model = new FullyConnectedNet({ hiddenDims: [9, 7], inputDim: 12, numClasses: 6, batchnorm, dropout, reg, weightScale: 0.3, dtype: 'float64', seed: 4 });
    gradCheck(model, randn64([5, 12], 6), [0, 1, 5, 3, 3]);
  });

  test('FullyConnectedNet takes (N, C, H, W) input as flattened rows; no hidden layers works', () => {
    const model = new FullyConnectedNet({ hiddenDims: [], inputDim: 3 * 2 * 2, numClasses: 3, reg: 0.1, dtype: 'float64', seed: 5 });
    gradCheck(model, randn64([4, 3, 2, 2], 7), [0, 1, 2, 0]);
    expect(Object.keys(model.params)).toEqual(['W1', 'b1']);
  });

  test.each([0, 0.5])('TwoLayerNet, reg %p', (reg) => {
    const model = new TwoLayerNet({ inputDim: 12, hiddenDim: 9, numClasses: 5, weightScale: 0.3, reg, dtype: 'float64', seed: 6 });
    gradCheck(model, randn64([5, 12], 8), [0, 1, 2, 3, 4]);
  });

  test('L2 is reg * sum(W^2) on weights only (not biases, gamma, beta)', () => {
    const a = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4, 4], maxPools: [0], batchnorm: true, weightScale: 'kaiming', dtype: 'float64', seed: 9 });
    const X = X4();
    for (const k of Object.keys(a.params)) if (!k.startsWith('W')) a.params[k].data.fill(0.5);
    const base = a.loss(X, Y4);
    a.reg = 0.25;
    const withReg = a.loss(X, Y4);
    let s = 0;
    for (const k of ['W0', 'W1', 'W2']) for (const v of a.params[k].data) s += v * v;
    expect(withReg.loss - base.loss).toBeCloseTo(0.25 * s, 10);
    for (const k of Object.keys(a.params)) {
      const diff = withReg.grads[k].data.map((v, i) => v - base.grads[k].data[i]);
      const expected = k.startsWith('W') ? a.params[k].data.map((v) => 2 * 0.25 * v) : new Float64Array(diff.length);
      expect(relError(diff, expected)).toBeLessThan(1e-9);
    }
  });
});

describe('initial loss and scores', () => {
  const N = 20;
  const y = Array.from({ length: N }, (_, i) => i % 10);
  test.each([
    ['ThreeLayerConvNet', () => new ThreeLayerConvNet({ inputDims: [3, 16, 16], seed: 1 })],
    ['DeepConvNet', () => new DeepConvNet({ inputDims: [3, 16, 16], numFilters: [8, 8, 8], maxPools: [0, 1, 2], seed: 1 })],
    ['DeepConvNet batchnorm', () => new DeepConvNet({ inputDims: [3, 16, 16], numFilters: [8, 8], maxPools: [0, 1], batchnorm: true, seed: 1 })],
    ['FullyConnectedNet', () => new FullyConnectedNet({ hiddenDims: [50, 40], inputDim: 3 * 16 * 16, weightScale: 1e-3, seed: 1 })],
    ['TwoLayerNet', () => new TwoLayerNet({ inputDim: 3 * 16 * 16, seed: 1 })],
  ])('%s: small weights give loss near log(10); scores are (N, 10)', (_name, make) => {
    const model = make();
    const X = Tensor.randn([N, 3, 16, 16], { seed: 2 });
    const { loss } = model.loss(X, y);
    expect(Math.abs(loss - Math.log(10))).toBeLessThan(0.1);
    const scores = model.loss(X);
    expect([...scores.shape]).toEqual([N, 10]);
  });

  test('DeepConvNet with the defaults on 32x32 images', () => {
    const model = new DeepConvNet({ seed: 0 });
    expect(Object.keys(model.params)).toEqual(['W0', 'b0', 'W1', 'b1', 'W2', 'b2', 'W3', 'b3', 'W4', 'b4', 'W5', 'b5']);
    expect([...model.params.W5.shape]).toEqual([8, 10]);
    const { loss } = model.loss(Tensor.randn([10, 3, 32, 32], { seed: 1 }), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Math.abs(loss - Math.log(10))).toBeLessThan(0.1);
  });

  test('ThreeLayerConvNet parameter shapes', () => {
    const m = new ThreeLayerConvNet({ inputDims: [3, 32, 32], seed: 0, weightScale: 1e-2 });
    const shapes = Object.fromEntries(Object.entries(m.params).map(([k, v]) => [k, [...v.shape]]));
    expect(shapes).toEqual({ W1: [32, 3, 7, 7], b1: [32], W2: [32 * 16 * 16, 100], b2: [100], W3: [100, 10], b3: [10] });
  });
});

describe('lossAsync runs the same computation', () => {
  test.each([
    ['ThreeLayerConvNet', () => new ThreeLayerConvNet({ inputDims: [3, 8, 8], numFilters: 4, filterSize: 3, hiddenDim: 6, weightScale: 0.1, reg: 0.1, seed: 1 })],
    ['DeepConvNet batchnorm', () => new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4, 4], maxPools: [1], batchnorm: true, weightScale: 'kaiming', reg: 0.1, seed: 1 })],
    ['FullyConnectedNet dropout + batchnorm', () => new FullyConnectedNet({ hiddenDims: [10, 10], inputDim: 192, dropout: 0.3, batchnorm: true, reg: 0.1, seed: 1 })],
    ['TwoLayerNet', () => new TwoLayerNet({ inputDim: 192, hiddenDim: 10, weightScale: 0.1, seed: 1 })],
  ])('%s: loss, grads and scores equal exactly', async (_name, make) => {
    const model = make();
    const X = Tensor.randn([6, 3, 8, 8], { seed: 3 });
    const y = [0, 1, 2, 3, 4, 5];
    const a = model.loss(X, y);
    const b = await model.lossAsync(X, y);
    expect(b.loss).toBe(a.loss);
    for (const k of Object.keys(a.grads)) expect(Array.from(b.grads[k].data)).toEqual(Array.from(a.grads[k].data));
    const s = model.loss(X);
    const t = await model.lossAsync(X);
    expect(Array.from(t.data)).toEqual(Array.from(s.data));
  });

  test('argument errors reject (not throw) from lossAsync', async () => {
    const model = new TwoLayerNet({ inputDim: 12, seed: 1 });
    await expect(model.lossAsync(Tensor.zeros([2, 12]), [0, 10])).rejects.toThrow(/y\[1\] must be an integer label in \[0, 10\)/);
    await expect(model.lossAsync(Tensor.zeros([2, 12], 'float64'))).rejects.toThrow(/X must have dtype float32/);
    expect(() => model.loss(Tensor.zeros([2, 13]))).toThrow(/12 values per sample/);
  });
});

describe('training behaviour', () => {
  test('DeepConvNet overfits 50 random images with random labels to 100% training accuracy within 30 epochs', async () => {
    const N = 50;
    const X = Tensor.randn([N, 3, 16, 16], { seed: 1 });
    const y = Int32Array.from({ length: N }, (_, i) => (i * 7 + 3) % 10);
    const model = new DeepConvNet({ inputDims: [3, 16, 16], numFilters: [16, 16, 16], maxPools: [0, 1, 2], weightScale: 'kaiming', seed: 0 });
    const solver = new Solver(model, { xTrain: X, yTrain: y, xVal: X, yVal: y }, { updateRule: 'adam', optimConfig: { learningRate: 3e-3 }, batchSize: 10, numEpochs: 30, verbose: false, seed: 0 });
    await solver.train();
    expect(solver.trainAccHistory.length).toBe(31);
    expect(Math.max(...solver.trainAccHistory)).toBe(1);
    expect(solver.bestValAcc).toBe(1);
    const scores = await model.predict(X);
    let correct = 0;
    for (let i = 0; i < N; i++) {
      const row = Array.from(scores.data.subarray(i * 10, i * 10 + 10));
      if (row.indexOf(Math.max(...row)) === y[i]) correct++;
    }
    expect(correct).toBe(N);
  });

  test('batchnorm: train mode updates the running statistics, test mode uses them', () => {
    const model = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4], maxPools: [0], batchnorm: true, weightScale: 'kaiming', seed: 2 });
    const X = Tensor.randn([8, 3, 8, 8], { seed: 4, std: 3 });
    const before = model.loss(X);
    const rm = model.bnParams['0'].runningMean;
    expect(Array.from(rm.data)).toEqual([0, 0, 0, 0]);
    model.loss(X, [0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(rm.data).some((v) => v !== 0)).toBe(true);
    const after = model.loss(X);
    expect(relError(after, before)).toBeGreaterThan(1e-3);
    expect(Array.from(model.loss(X).data)).toEqual(Array.from(after.data)); // test mode changes nothing
  });

  test('FullyConnectedNet dropout: seeded masks repeat, test mode is deterministic and mask-free', () => {
    const m = new FullyConnectedNet({ hiddenDims: [20], inputDim: 10, dropout: 0.5, weightScale: 0.3, seed: 3 });
    const X = Tensor.randn([4, 10], { seed: 1 });
    expect(m.loss(X, [0, 1, 2, 3]).loss).toBe(m.loss(X, [0, 1, 2, 3]).loss);
    const noDrop = new FullyConnectedNet({ hiddenDims: [20], inputDim: 10, dropout: 0, weightScale: 0.3, seed: 3 });
    expect(Array.from(m.loss(X).data)).toEqual(Array.from(noDrop.loss(X).data));
    expect(m.loss(X, [0, 1, 2, 3]).loss).not.toBe(noDrop.loss(X, [0, 1, 2, 3]).loss);
    const unseeded = new FullyConnectedNet({ hiddenDims: [50], inputDim: 10, dropout: 0.5, weightScale: 0.3 });
    expect(unseeded.loss(X, [0, 1, 2, 3]).loss).not.toBe(unseeded.loss(X, [0, 1, 2, 3]).loss);
  });
});

describe('predict', () => {
  test('batched scores equal one test-mode pass; works on views and a batch larger than N', async () => {
    const model = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4, 4], maxPools: [0, 1], batchnorm: true, weightScale: 'kaiming', seed: 5 });
    const X = Tensor.randn([7, 3, 8, 8], { seed: 6 });
    model.loss(X, [0, 1, 2, 3, 4, 5, 6]); // non-trivial running statistics
    const whole = model.loss(X);
    const p3 = await model.predict(X, { batchSize: 3 });
    expect(relError(p3, whole)).toBeLessThan(1e-6);
    const p100 = await model.predict(X);
    expect(Array.from(p100.data)).toEqual(Array.from(whole.data));
    await expect(model.predict(X, { batchSize: 0 })).rejects.toThrow(/opts.batchSize/);
  });

  /** X with every image mirrored left-right, by plain loops. */
  function mirrored(X: Tensor): Tensor {
    const [N, C, H, W] = X.shape;
    const out = X.clone();
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++)
        for (let h = 0; h < H; h++)
          for (let w = 0; w < W; w++) out.data[((n * C + c) * H + h) * W + w] = X.data[((n * C + c) * H + h) * W + (W - 1 - w)];
    return out;
  }

  test("tta 'flip' averages the scores of each image and of its mirror image, batch by batch", async () => {
    const model = new DeepConvNet({ inputDims: [3, 8, 6], numFilters: [4], maxPools: [0], numClasses: 5, weightScale: 'kaiming', dtype: 'float64', seed: 5 });
    const X = randn64([5, 3, 8, 6], 21);
    const plain = await model.predict(X);
    const flipped = await model.predict(mirrored(X));
    const tta = await model.predict(X, { tta: 'flip', batchSize: 2 });
    for (let i = 0; i < tta.size; i++) expect(tta.data[i]).toBeCloseTo(0.5 * (plain.data[i] + flipped.data[i]), 12);
    expect(relError(tta, plain)).toBeGreaterThan(1e-6);  // the mirror image scores differently
    // an image that is its own mirror scores the same either way
    const sym = X.clone();
    const m = mirrored(X);
    for (let i = 0; i < sym.size; i++) sym.data[i] = 0.5 * (X.data[i] + m.data[i]);
    const symTta = await model.predict(sym, { tta: 'flip' });
    expect(relError(symTta, await model.predict(sym))).toBeLessThan(1e-12);
    await expect(model.predict(X, { tta: 'rotate' as never })).rejects.toThrow(/opts.tta must be 'none' or 'flip'/);
    const fc = new FullyConnectedNet({ inputDim: 12, hiddenDims: [4], numClasses: 3, dtype: 'float64', seed: 1 });
    await expect(fc.predict(randn64([2, 12], 3), { tta: 'flip' })).rejects.toThrow(/^opts.tta 'flip' needs \(N, C, H, W\) images, got X of shape \[2, 12\]$/);
  });

  test("Solver.checkAccuracy with tta 'flip' counts the argmax of the averaged scores", async () => {
    const model = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4], maxPools: [0], numClasses: 4, weightScale: 'kaiming', dtype: 'float64', seed: 8 });
    const X = randn64([12, 3, 8, 8], 22);
    const y = Int32Array.from({ length: 12 }, (_, i) => i % 4);
    const solver = new Solver(model, { xTrain: X, yTrain: y, xVal: X, yVal: y }, { verbose: false, seed: 0 });
    const scores = await model.predict(X, { tta: 'flip' });
    let correct = 0;
    for (let n = 0; n < 12; n++) {
      const row = Array.from(scores.data.subarray(n * 4, n * 4 + 4));
      if (row.indexOf(Math.max(...row)) === y[n]) correct++;
    }
    expect(await solver.checkAccuracy(X, y, { tta: 'flip', batchSize: 5 })).toBe(correct / 12);
  });
});

describe('save / load', () => {
  test('DeepConvNet with batchnorm: load gives identical scores, running statistics included', async () => {
    const model = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4, 6], maxPools: [0], batchnorm: true, weightScale: 'kaiming', reg: 0.01, seed: 7 });
    const X = Tensor.randn([5, 3, 8, 8], { seed: 8 });
    for (let i = 0; i < 3; i++) model.loss(X, [0, 1, 2, 3, 4]);
    const file = path.join(tmp, 'deep.safetensors');
    model.save(file);
    const loaded = DeepConvNet.load(file);
    expect(loaded).toBeInstanceOf(DeepConvNet);
    expect(loaded.options).toEqual(model.options);
    expect(Array.from(loaded.loss(X).data)).toEqual(Array.from(model.loss(X).data));
    expect(Array.from(loaded.bnParams['1'].runningVar.data)).toEqual(Array.from(model.bnParams['1'].runningVar.data));
    const any = loadModel(file);
    expect(any).toBeInstanceOf(DeepConvNet);
    expect(() => ThreeLayerConvNet.load(file)).toThrow(/holds a DeepConvNet, not a ThreeLayerConvNet/);
  });

  test.each([
    ['ThreeLayerConvNet', () => new ThreeLayerConvNet({ inputDims: [1, 6, 6], numFilters: 2, filterSize: 3, hiddenDim: 4, numClasses: 3, dtype: 'float64', seed: 1, weightScale: 0.1 })],
    ['FullyConnectedNet', () => new FullyConnectedNet({ hiddenDims: [5], inputDim: 36, numClasses: 3, batchnorm: true, dropout: 0.1, seed: 1 })],
    ['TwoLayerNet', () => new TwoLayerNet({ inputDim: 36, hiddenDim: 4, numClasses: 3, weightScale: 0.1 })],
  ])('%s round-trips through loadModel', (name, make) => {
    const model = make();
    const file = path.join(tmp, `${name}.safetensors`);
    model.save(file);
    const loaded = loadModel(file);
    expect(loaded.className).toBe(name);
    expect(loaded.constructor).toBe(model.constructor);
    const X = Tensor.randn([2, 1, 6, 6], { seed: 1, dtype: model.dtype });
    expect(Array.from(loaded.loss(X).data)).toEqual(Array.from(model.loss(X).data));
  });

  test('a parameter with the wrong shape, a missing or an unknown one: errors name the key', () => {
    const model = new TwoLayerNet({ inputDim: 6, hiddenDim: 4, numClasses: 3, seed: 1 });
    const file = path.join(tmp, 'bad.safetensors');
    const config = model.config;
    saveModel(file, { config, params: { ...model.params, W2: Tensor.zeros([4, 4]) } });
    expect(() => loadModel(file)).toThrow(/parameter "W2" has shape \[4, 4\], but the config TwoLayerNet .* needs \[4, 3\]/);
    const { b2: _b2, ...rest } = model.params;
    saveModel(file, { config, params: rest });
    expect(() => loadModel(file)).toThrow(/parameter "b2" is missing/);
    saveModel(file, { config, params: { ...model.params, W9: Tensor.zeros([1]) } });
    expect(() => loadModel(file)).toThrow(/parameter "W9" is not one of the config's/);
    saveModel(file, { config: { class: 'ResNet', options: {} }, params: model.params });
    expect(() => loadModel(file)).toThrow(/config.class "ResNet" is not a known network/);
    saveModel(file, { config: { class: 'TwoLayerNet', options: { hiddenDim: -1 } }, params: model.params });
    expect(() => loadModel(file)).toThrow(/options.hiddenDim/);
    const bn = new DeepConvNet({ inputDims: [3, 4, 4], numFilters: [2], maxPools: [], batchnorm: true, seed: 1 });
    saveModel(file, { config: bn.config, params: bn.params });
    expect(() => loadModel(file)).toThrow(/state tensor "runningMean0" is missing/);
  });
});

describe('constructor options', () => {
  test('unknown options and bad values throw errors naming the option, expected and got', () => {
    expect(() => new DeepConvNet({ numFilter: [8] } as never)).toThrow(/options.numFilter is not a DeepConvNet option/);
    expect(() => new DeepConvNet({ numFilters: [] })).toThrow(RangeError);
    expect(() => new DeepConvNet({ numFilters: [8, 0] })).toThrow(/options.numFilters\[1\] must be an integer >= 1, got 0/);
    expect(() => new DeepConvNet({ numFilters: [8], maxPools: [1] })).toThrow(/options.maxPools\[0\] must be a conv layer index/);
    expect(() => new DeepConvNet({ inputDims: [3, 4, 4], numFilters: [2, 2, 2], maxPools: [0, 1, 2] })).toThrow(/max pool after conv layer 2/);
    expect(() => new DeepConvNet({ weightScale: 'xavier' as never })).toThrow(/options.weightScale must be a finite number >= 0 or 'kaiming', got the string "xavier"/);
    expect(() => new DeepConvNet({ dtype: 'float16' as never })).toThrow(TypeError);
    expect(() => new DeepConvNet({ batchnorm: 1 as never })).toThrow(/options.batchnorm must be a boolean/);
    expect(() => new ThreeLayerConvNet({ filterSize: 4 })).toThrow(/options.filterSize must be odd/);
    expect(() => new ThreeLayerConvNet({ reg: -1 })).toThrow(/options.reg must be a finite number >= 0, got -1/);
    expect(() => new ThreeLayerConvNet({ inputDims: [3, 32] as never })).toThrow(/options.inputDims/);
    expect(() => new FullyConnectedNet({} as never)).toThrow(/options.hiddenDims/);
    expect(() => new FullyConnectedNet({ hiddenDims: [10], dropout: 1 })).toThrow(/options.dropout must be a drop probability in \[0, 1\), got 1/);
    expect(() => new TwoLayerNet({ seed: -3 })).toThrow(/options.seed/);
    expect(() => new TwoLayerNet({ hiddenDim: 2.5 })).toThrow(/options.hiddenDim must be an integer >= 1, got 2.5/);
    expect(() => new TwoLayerNet({ hiddenDim: '3' as never })).toThrow(TypeError);
  });

  test('same seed, same parameters', () => {
    const a = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4], maxPools: [0], weightScale: 'kaiming', seed: 42 });
    const b = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4], maxPools: [0], weightScale: 'kaiming', seed: 42 });
    for (const k of Object.keys(a.params)) expect(Array.from(b.params[k].data)).toEqual(Array.from(a.params[k].data));
  });
});

describe('kaimingInitializer', () => {
  function std(t: Tensor): number {
    let s = 0;
    let ss = 0;
    for (const v of t.data) {
      s += v;
      ss += v * v;
    }
    const m = s / t.size;
    return Math.sqrt(ss / t.size - m * m);
  }

  test('linear (Din, Dout): std sqrt(2 / Din) with relu, sqrt(1 / Din) without', () => {
    const w = kaimingInitializer(200, 150, { seed: 1 });
    expect([...w.shape]).toEqual([200, 150]);
    expect(w.dtype).toBe('float32');
    expect(std(w) / Math.sqrt(2 / 200)).toBeCloseTo(1, 1);
    const v = kaimingInitializer(200, 150, { relu: false, dtype: 'float64', seed: 1 });
    expect(v.dtype).toBe('float64');
    expect(std(v) / Math.sqrt(1 / 200)).toBeCloseTo(1, 1);
  });

  test('conv (Dout, Din, K, K): fanIn = Din * K * K; seeded draws repeat', () => {
    const w = kaimingInitializer(16, 64, { K: 3, seed: 2 });
    expect([...w.shape]).toEqual([64, 16, 3, 3]);
    expect(std(w) / Math.sqrt(2 / (16 * 9))).toBeCloseTo(1, 1);
    expect(Array.from(kaimingInitializer(16, 64, { K: 3, seed: 2 }).data)).toEqual(Array.from(w.data));
  });

  test('argument checks', () => {
    expect(() => kaimingInitializer(0, 3)).toThrow(/Din must be an integer >= 1/);
    expect(() => kaimingInitializer(3, 3, { K: 0 })).toThrow(/opts.K/);
    expect(() => kaimingInitializer(3, 3, { gain: 2 } as never)).toThrow(/opts.gain is not a kaimingInitializer option/);
  });
});

describe('bnMomentum (issue 12)', () => {
  test('the running statistics move by (1 - bnMomentum) of the batch: one training pass, checked by hand', () => {
    const m = new FullyConnectedNet({ inputDim: 3, hiddenDims: [2], numClasses: 2, batchnorm: true, bnMomentum: 0.25, dtype: 'float64', seed: 1 });
    const X = Tensor.from(Float64Array.of(1, 2, 3, -1, 0, 4), { shape: [2, 3] });
    m.loss(X, Int32Array.of(0, 1));
    const W = m.params.W1.data;
    const b = m.params.b1.data;
    for (let j = 0; j < 2; j++) {
      const h = [0, 1].map((n) => b[j] + [0, 1, 2].reduce((a, i) => a + X.data[n * 3 + i] * W[i * 2 + j], 0));
      const mean = (h[0] + h[1]) / 2;
      // running = 0.25 * 0 + 0.75 * batch mean
      expect(m.stateTensors().runningMean1.data[j]).toBeCloseTo(0.75 * mean, 12);
    }
    expect(m.options.bnMomentum).toBe(0.25);
    expect(m.architecture().find((l) => l.type === 'BatchNorm1d')!.args).toMatchObject({ momentum: 0.75 });
  });

  test('the default is BN_MOMENTUM; a save and load keeps it; out-of-range values are refused by name', () => {
    expect(new DeepConvNet({ batchnorm: true }).bnMomentum).toBe(0.9);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deepconv-bnm-'));
    try {
      const f = path.join(dir, 'm.safetensors');
      new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4], maxPools: [0], batchnorm: true, bnMomentum: 0.5 }).save(f);
      expect((loadModel(f) as DeepConvNet).bnMomentum).toBe(0.5);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(() => new DeepConvNet({ batchnorm: true, bnMomentum: 1 })).toThrow(/options.bnMomentum must be a number in \[0, 1\).*got 1/);
    expect(() => new FullyConnectedNet({ hiddenDims: [4], bnMomentum: -0.1 })).toThrow(/options.bnMomentum/);
  });
});
