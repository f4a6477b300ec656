/**
 * @jest-environment ./test/ort-environment.js
 */
// ONNX export, checked by running the exported graph in onnxruntime-node (an independent
// implementation of every op) against model.predict(), for every network kind.
// Tolerance: |onnxruntime - predict| <= 1e-4 on every score (both compute in float32; the
// differences come from summation order and are ~1e-6 for these sizes).
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as ort from 'onnxruntime-node';
import { DEFAULT_OPSET, onnxBytes, ONNX_OPSETS } from '../lib/interop/onnx';
import { FileFormatError } from '../lib/io/errors';
import { saveModel } from '../lib/io/model-file';
import { loadDataset } from '../lib/data';
import { findData } from '../lib/cli/find-data';
import { DeepConvNet, FullyConnectedNet, Model, ThreeLayerConvNet, TwoLayerNet } from '../lib/models';
import { normalize } from '../lib/data/dataset';
import { Tensor } from '../lib/tensor';
import { CASES, maxAbsDiff, pixelInput, randomInput, runCli, warmBatchnorm } from './interop-fixtures';
import { removeTempDirs, tempDir } from './fixtures';

const TOL = 1e-4;
afterAll(removeTempDirs);

async function runOnnx(bytes: Uint8Array, X: Tensor): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const x = X.dtype === 'float32' ? (X.data as Float32Array) : Float32Array.from(X.data);
  return session.run({ input: new ort.Tensor('float32', x, [...X.shape]) });
}

function softmaxRows(s: Tensor): Float64Array {
  const [N, C] = s.shape;
  const out = new Float64Array(N * C);
  for (let i = 0; i < N; i++) {
    const row = Array.from(s.data.subarray(i * C, (i + 1) * C));
    const m = Math.max(...row);
    const z = row.reduce((a, v) => a + Math.exp(v - m), 0);
    row.forEach((v, j) => (out[i * C + j] = Math.exp(v - m) / z));
  }
  return out;
}

describe.each(CASES)('ONNX export of $name', ({ make }) => {
  const model = warmBatchnorm(make('float32'), 10);

  test('onnxruntime gives predict()\'s scores on random inputs and on image-like pixels', async () => {
    const bytes = onnxBytes(model);
    for (const X of [randomInput(model, 7, 1), pixelInput(model, 5, 2)]) {
      const want = await model.predict(X);
      const out = await runOnnx(bytes, X);
      expect(Object.keys(out)).toEqual(['scores']);
      expect(out.scores.dims).toEqual([X.shape[0], model.numClasses]);
      expect(maxAbsDiff(out.scores.data as Float32Array, want.data)).toBeLessThanOrEqual(TOL);
    }
  });

  test('with normalization in the graph, raw pixel / 255 in gives the scores of the normalized input', async () => {
    const C = model.inputShape.length === 3 ? model.inputShape[0] : 3;
    const mean = Array.from({ length: C }, (_, c) => 0.4 + 0.05 * c);
    const std = Array.from({ length: C }, (_, c) => 0.2 + 0.03 * c);
    const raw = pixelInput(model, 6, 3);
    // The normalized input predict() takes: per channel for images, per block of features for vectors.
    const normed = model.inputShape.length === 3 ? normalize(raw, mean, std) : raw.reshape([6, C, model.inputShape[0] / C]);
    const x = model.inputShape.length === 3 ? normed : normalize(normed, mean, std).reshape(raw.shape);
    const want = await model.predict(x);
    const out = await runOnnx(onnxBytes(model, { normalize: { mean, std } }), raw);
    expect(maxAbsDiff(out.scores.data as Float32Array, want.data)).toBeLessThanOrEqual(TOL);
  });

  test('softmax: the output is "probabilities", softmax of the scores, rows summing to 1', async () => {
    const X = randomInput(model, 4, 4);
    const want = softmaxRows(await model.predict(X));
    const out = await runOnnx(onnxBytes(model, { softmax: true }), X);
    expect(Object.keys(out)).toEqual(['probabilities']);
    const p = out.probabilities.data as Float32Array;
    expect(maxAbsDiff(p, want)).toBeLessThanOrEqual(1e-5);
    for (let i = 0; i < 4; i++) expect(Math.abs(p.subarray(i * model.numClasses, (i + 1) * model.numClasses).reduce((a, v) => a + v, 0) - 1)).toBeLessThan(1e-5);
  });

  test('a float64 network exports as a float32 graph within the tolerance', async () => {
    const m64 = warmBatchnorm(make('float64'), 10);
    const X = randomInput(m64, 5, 5);
    const want = await m64.predict(X);
    const out = await runOnnx(onnxBytes(m64), X);
    expect(maxAbsDiff(out.scores.data as Float32Array, want.data)).toBeLessThanOrEqual(TOL);
  });
});

test.each(ONNX_OPSETS.map((o) => [o]))('opset %d: onnxruntime runs the graph with the same scores', async (opset) => {
  const model = warmBatchnorm(CASES[0].make('float32'), 20);
  const X = randomInput(model, 3, 6);
  const out = await runOnnx(onnxBytes(model, { opset }), X);
  expect(maxAbsDiff(out.scores.data as Float32Array, (await model.predict(X)).data)).toBeLessThanOrEqual(TOL);
});

test('a batch of one and a batch of 300 run through the same graph (the batch axis is symbolic)', async () => {
  const model = warmBatchnorm(CASES[0].make('float32'), 30);
  const bytes = onnxBytes(model);
  for (const n of [1, 300]) {
    const X = randomInput(model, n, n);
    const out = await runOnnx(bytes, X);
    expect(maxAbsDiff(out.scores.data as Float32Array, (await model.predict(X)).data)).toBeLessThanOrEqual(TOL);
  }
});

describe('ONNX export options are checked', () => {
  const conv = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4], maxPools: [0], seed: 1 });
  const fc = new FullyConnectedNet({ hiddenDims: [5], inputDim: 12, seed: 1 });
  test.each([
    [{ opset: 16 }, RangeError, /^opts\.opset must be one of 17, 18, 19, 20, 21, got 16$/],
    [{ softmax: 'yes' }, TypeError, /^opts\.softmax must be a boolean, got the string "yes"$/],
    [{ normalize: { mean: [0.5, 0.5], std: [1, 1] } }, RangeError, /^opts\.normalize\.mean must be 3 values \(one per input channel of the model's \[3, 8, 8\] input\), got 2 values$/],
    [{ normalize: { mean: [0, 0, 0], std: [1, 0, 1] } }, TypeError, /^opts\.normalize\.std must be an array of finite numbers > 0/],
    [{ normalize: [0, 1] }, TypeError, /^opts\.normalize must be an object \{ mean, std \} or null/],
    [{ classes: ['a', 'b'] }, TypeError, /^opts\.classes must be 10 class names \(strings\), one per output of the model/],
    [{ softmx: true }, TypeError, /^opts\.softmx is not an ONNX export option \(normalize, softmax, classes, opset\)$/],
  ])('%j', (opts, cls, msg) => {
    expect(() => onnxBytes(conv, opts as never)).toThrow(cls);
    expect(() => onnxBytes(conv, opts as never)).toThrow(msg);
  });
  test('fc nets take as many channels as divide their input features', () => {
    expect(() => onnxBytes(fc, { normalize: { mean: [0, 0, 0, 0, 0], std: [1, 1, 1, 1, 1] } })).toThrow(/^opts\.normalize\.mean must be a number of channels that divides the model's 12 input features, got 5 values$/);
    expect(onnxBytes(fc, { normalize: { mean: [0.1, 0.2, 0.3], std: [1, 2, 3] } }).length).toBeGreaterThan(0);
  });
  test('toOnnx writes atomically and names a missing folder', () => {
    const dir = tempDir();
    const file = path.join(dir, 'm.onnx');
    conv.toOnnx(file);
    expect(fs.readFileSync(file)).toEqual(Buffer.from(onnxBytes(conv)));
    expect(fs.readdirSync(dir)).toEqual(['m.onnx']);
    expect(() => conv.toOnnx(path.join(dir, 'nope', 'm.onnx'))).toThrow(FileFormatError);
    expect(() => conv.toOnnx('' as string)).toThrow(/^path must be a non-empty string, got the string ""$/);
  });
});

describe('deepconv export --format onnx', () => {
  test('a train-style model file: the graph takes pixel / 255 and names the classes', async () => {
    const dir = tempDir();
    const model = warmBatchnorm(new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4, 4], maxPools: [0, 1], batchnorm: true, weightScale: 'kaiming', seed: 7 }), 40);
    const mean = [0.49, 0.48, 0.45];
    const std = [0.25, 0.24, 0.26];
    const data = { dataset: 'cifar10', mean, std, classes: 'abcdefghij'.split(''), shape: [3, 8, 8] };
    const file = path.join(dir, 'model.safetensors');
    saveModel(file, { config: model.config, params: model.params, extra: model.stateTensors(), metadata: { data: JSON.stringify(data) } });
    const r = runCli(['export', '--model', file, '--softmax']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/wrote .*model\.onnx: DeepConvNet, ONNX opset 17\n.*pixel \/ 255 in \[0, 1\] \(the graph normalizes it\)\n.*"probabilities" float32 \[N, 10\], classes a, b/);
    const raw = pixelInput(model, 4, 8);
    const want = softmaxRows(await model.predict(normalize(raw, mean, std)));
    const out = await runOnnx(fs.readFileSync(path.join(dir, 'model.onnx')), raw);
    expect(maxAbsDiff(out.probabilities.data as Float32Array, want)).toBeLessThanOrEqual(1e-5);
  });

  test('--opset outside the list is refused by name', () => {
    const r = runCli(['export', '--model', 'x.safetensors', '--opset', '9']);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/--opset must be one of 17, 18, 19, 20, 21, got "9"/);
  });
});

// Real images: the CIFAR-10 test set where this machine has it (not needed for the suite), through
// each network kind built for 32x32 RGB (the fc nets on the flattened image).
const cifar = findData('cifar10');
let realImages: ReturnType<typeof loadDataset> | undefined;
const REAL: Array<[string, () => Model]> = [
  ['DeepConvNet', () => new DeepConvNet({ numFilters: [8, 16], maxPools: [0, 1], batchnorm: true, weightScale: 'kaiming', seed: 9 })],
  ['ThreeLayerConvNet', () => new ThreeLayerConvNet({ numFilters: 8, hiddenDim: 20, weightScale: 0.02, seed: 9 })],
  ['FullyConnectedNet', () => new FullyConnectedNet({ hiddenDims: [32], batchnorm: true, dropout: 0.1, weightScale: 0.02, seed: 9 })],
  ['TwoLayerNet', () => new TwoLayerNet({ hiddenDim: 16, weightScale: 0.02, seed: 9 })],
];
(cifar ? test.each(REAL) : test.skip.each(REAL))('real CIFAR-10 test images through an exported %s match predict()', async (_, make) => {
  realImages ??= loadDataset('cifar10', cifar!.path, { parts: ['test'], maxTest: 64, normalize: false });
  const ds = await realImages;  // read once for the four networks
  const model = warmBatchnorm(make(), 50);
  const mean = [0.49, 0.48, 0.45];
  const std = [0.25, 0.24, 0.26];
  const normed = normalize(ds.xTest, mean, std);
  const flat = model.inputShape.length === 1;
  const raw = flat ? ds.xTest.reshape([64, 3072]) : ds.xTest;
  const out = await runOnnx(onnxBytes(model, { normalize: { mean, std } }), raw);
  const want = await model.predict(flat ? normed.reshape([64, 3072]) : normed);
  expect(maxAbsDiff(out.scores.data as Float32Array, want.data)).toBeLessThanOrEqual(TOL);
});
if (!cifar) console.log('onnx.test: no CIFAR-10 found where deepconv train looks, so the real-image case is skipped');

// Debian's python3-onnx: the reference checker, with its shape inference, on what deepconv writes.
const hasOnnx = spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0;
if (!hasOnnx) console.log('onnx.test: /usr/bin/python3 has no onnx module (apt-get install python3-onnx), so the onnx.checker case is skipped');
(hasOnnx ? test : test.skip)(`onnx.checker (full_check) accepts every network at opset ${DEFAULT_OPSET}`, () => {
  const dir = tempDir();
  const files = CASES.map((c, i) => {
    const f = path.join(dir, `${i}.onnx`);
    const m: Model = c.make('float32');
    m.toOnnx(f, { softmax: i % 2 === 0, normalize: m.inputShape.length === 3 ? { mean: new Array(m.inputShape[0]).fill(0.5), std: new Array(m.inputShape[0]).fill(0.25) } : null });
    return f;
  });
  const code = 'import onnx, sys\nfor f in sys.argv[1:]:\n    m = onnx.load(f)\n    onnx.checker.check_model(m, full_check=True)\n    assert m.ir_version == 8 and m.opset_import[0].version == 17, (m.ir_version, m.opset_import)\nprint("ok")';
  const r = spawnSync('/usr/bin/python3', ['-c', code, ...files], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.stdout.trim()).toBe('ok');
});
