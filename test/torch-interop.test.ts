// PyTorch-layout export and import. Without Python: the round trip is exact and bad files are
// refused by key, layer and argument. With /usr/bin/python3 and torch (Debian's python3-torch):
// the export loads into nn.Sequential with strict=True and predicts what deepconv predicts, and
// networks made in PyTorch import and predict what PyTorch predicts.
// Tolerance: |PyTorch - deepconv| <= 1e-4 on every score (both float32).
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { importTorch } from '../lib/interop/torch-import';
import { FileFormatError } from '../lib/io/errors';
import { loadSafetensors, saveSafetensors } from '../lib/io/safetensors';
import { saveModel } from '../lib/io/model-file';
import { readModel } from '../lib/cli/read-model';
import { DeepConvNet, FullyConnectedNet, TwoLayerNet } from '../lib/models';
import { Tensor } from '../lib/tensor';
import { CASES, maxAbsDiff, randomInput, runCli, warmBatchnorm } from './interop-fixtures';
import { removeTempDirs, tempDir } from './fixtures';

const TOL = 1e-4;
afterAll(removeTempDirs);

describe.each(CASES)('PyTorch layout of $name', ({ make }) => {
  test('export then import gives the same network, tensor for tensor', async () => {
    const model = warmBatchnorm(make('float32'), 11);
    const file = path.join(tempDir(), 'm.torch.safetensors');
    model.toTorch(file);
    const { model: back, data } = importTorch(file);
    expect(data).toBeNull();
    expect(back.className).toBe(model.className);
    expect(back.options).toEqual(model.options);
    for (const [k, t] of Object.entries({ ...model.params, ...model.stateTensors() })) {
      const u = { ...back.params, ...back.stateTensors() }[k];
      expect(Array.from(u.data)).toEqual(Array.from(t.data));
    }
    const X = randomInput(model, 4, 12);
    expect(maxAbsDiff((await back.predict(X)).data, (await model.predict(X)).data)).toBe(0);
  });
});

test("the file holds PyTorch's names and layouts: transposed Linear weights, int64 num_batches_tracked", () => {
  const model = new DeepConvNet({ inputDims: [3, 4, 4], numFilters: [2], maxPools: [0], batchnorm: true, numClasses: 3, seed: 1 });
  const file = path.join(tempDir(), 'm.safetensors');
  model.toTorch(file);
  const f = loadSafetensors(file, { raw: ['I64'] });
  expect(Object.keys(f.tensors).sort()).toEqual(['0.bias', '0.weight', '1.bias', '1.running_mean', '1.running_var', '1.weight', '5.bias', '5.weight']);
  expect(f.tensors['5.weight'].shape).toEqual([3, 8]);
  const W = model.params.W1;  // (8, 3)
  expect(f.tensors['5.weight'].data[1 * 8 + 5]).toBe(W.data[5 * 3 + 1]);
  expect(f.raw['1.num_batches_tracked']).toEqual({ dtype: 'I64', shape: [], bytes: new Uint8Array(8) });
  expect(f.metadata.format).toBe('pt');
  expect(JSON.parse(f.metadata['deepconv.sequential']).map((l: { type: string }) => l.type)).toEqual(['Conv2d', 'BatchNorm2d', 'ReLU', 'MaxPool2d', 'Flatten', 'Linear']);
  expect(JSON.parse(f.metadata['deepconv.sequential'])[1].args).toEqual({ num_features: 2, eps: 1e-5, momentum: 0.1 });
});

describe('bad PyTorch-layout files are refused by key, layer or argument', () => {
  const model = new FullyConnectedNet({ hiddenDims: [6], inputDim: 4, numClasses: 3, batchnorm: true, seed: 2 });
  const src = path.join(tempDir(), 'good.safetensors');
  model.toTorch(src);
  const good = loadSafetensors(src, { raw: ['I64'] });
  /** The good file changed by `edit`, written and imported: the FileFormatError's message. */
  function importEdited(edit: (t: Record<string, Tensor>, m: Record<string, string>) => void): string {
    const tensors = { ...good.tensors };
    const metadata = { ...good.metadata };
    edit(tensors, metadata);
    const file = path.join(tempDir(), 'bad.safetensors');
    saveSafetensors(file, tensors, metadata, { raw: good.raw });
    try {
      importTorch(file);
    } catch (e) {
      expect(e).toBeInstanceOf(FileFormatError);
      expect((e as Error).message.startsWith(`${file}: `)).toBe(true);
      return (e as Error).message.slice(file.length + 2);
    }
    throw new Error('imported a bad file');
  }
  const layers = (m: Record<string, string>) => JSON.parse(m['deepconv.sequential']);
  const setLayers = (m: Record<string, string>, f: (l: { type: string; args: Record<string, unknown> }[]) => void) => {
    const l = layers(m);
    f(l);
    m['deepconv.sequential'] = JSON.stringify(l);
  };
  test.each<[string, (t: Record<string, Tensor>, m: Record<string, string>) => void, RegExp]>([
    ['a missing key', (t) => delete t['0.weight'], /^tensor "0\.weight" is missing \(Linear layer 0 needs it with shape \[6, 4\]\)$/],
    ['a Linear weight in deepconv\'s (in, out) layout', (t) => (t['3.weight'] = Tensor.zeros([6, 3])), /^tensor "3\.weight" has shape \[6, 3\], but Linear layer 3 needs \[3, 6\] \(it looks transposed: PyTorch keeps Linear weights as \(out_features, in_features\)\)$/],
    ['a wrong shape', (t) => (t['1.running_var'] = Tensor.zeros([5])), /^tensor "1\.running_var" has shape \[5\], but BatchNorm1d layer 1 needs \[6\]$/],
    ['an extra key', (t) => (t['9.weight'] = Tensor.zeros([2])), /^tensors "9\.weight" belong to no layer of the FullyConnectedNet the metadata describes$/],
    ['an unsupported op', (_, m) => setLayers(m, (l) => (l[2] = { type: 'GELU', args: {} })), /^layer 2 is nn\.GELU, which deepconv has no counterpart for \(it imports Conv2d, BatchNorm2d, BatchNorm1d, ReLU, MaxPool2d, Flatten, Linear, Dropout\)$/],
    ['an argument deepconv does not compute', (_, m) => setLayers(m, (l) => (l[1].args.affine = false)), /^layer 1 \(BatchNorm1d\): affine=false is not supported \(deepconv computes affine=true\)$/],
    ['another batchnorm eps', (_, m) => setLayers(m, (l) => (l[1].args.eps = 1e-3)), /^layer 1 \(BatchNorm1d\) has eps=0\.001, but deepconv's network needs 0\.00001 \(deepconv's networks use eps 0\.00001\)$/],
    ['an architecture deepconv has no network for', (_, m) => setLayers(m, (l) => l.splice(2, 1)), /^layer 2 \(Linear\): expected ReLU after the Linear \(and its BatchNorm1d\)$/],
    ['no layer list', (_, m) => delete m['deepconv.sequential'], /^__metadata__\["deepconv\.sequential"\] is missing: not a PyTorch file deepconv can import; write it with save_for_deepconv\(\) from scripts\/load_in_torch\.py, or with `deepconv export --format torch`$/],
    ['no input shape', (_, m) => delete m['deepconv.input_shape'], /^__metadata__\["deepconv\.input_shape"\] is missing: the shape of one input sample \(\[C, H, W\] or \[D\]\) is needed to rebuild the network$/],
    ['mixed dtypes', (t) => (t['0.bias'] = Tensor.zeros([6], 'float64')), /^mixes F32 and F64 tensors: deepconv networks hold one dtype \(convert with module\.float\(\) or \.double\(\)\)$/],
    ['a non-finite weight', (t) => (t['0.weight'] = Tensor.full([6, 4], NaN)), /^tensor "0\.weight" holds 24 non-finite values/],
  ])('%s', (_, edit, msg) => {
    expect(importEdited(edit)).toMatch(msg);
  });
  test('a float16 tensor is named with its dtype', () => {
    const file = path.join(tempDir(), 'f16.safetensors');
    const buf = fs.readFileSync(src);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString());
    header['0.bias'].dtype = 'F16';  // 6 x 4 bytes read as 12 x 2: shape changed to match
    header['0.bias'].shape = [12];
    let text = JSON.stringify(header);
    text += ' '.repeat((8 - (text.length % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(text.length));
    fs.writeFileSync(file, Buffer.concat([len, Buffer.from(text), buf.subarray(8 + n)]));
    expect(() => importTorch(file)).toThrow(/tensor "0\.bias": dtype F16 is not supported \(deepconv reads F32 and F64 here, and I64\)/);
  });
});

test('TwoLayerNet keeps its class and options (reg) through the file', () => {
  const m = new TwoLayerNet({ inputDim: 6, hiddenDim: 4, numClasses: 3, reg: 0.25, seed: 3 });
  const file = path.join(tempDir(), 't.safetensors');
  m.toTorch(file);
  const back = importTorch(file).model;
  expect(back).toBeInstanceOf(TwoLayerNet);
  expect(back.reg).toBe(0.25);
});

test("batchnorm momentum travels as PyTorch's (1 - deepconv's) and comes back", () => {
  const m = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4], maxPools: [0], batchnorm: true, bnMomentum: 0.7, seed: 2 });
  const file = path.join(tempDir(), 'bn.safetensors');
  m.toTorch(file);
  const layers = JSON.parse(loadSafetensors(file, { raw: ['I64'] }).metadata['deepconv.sequential']);
  expect(layers.find((l: { type: string }) => l.type === 'BatchNorm2d').args.momentum).toBeCloseTo(0.3, 12);
  expect((importTorch(file).model as DeepConvNet).bnMomentum).toBe(0.7);
});

test('deepconv export --format torch, then deepconv import: the data metadata comes back for eval and predict', () => {
  const dir = tempDir();
  const model = warmBatchnorm(new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4, 4], maxPools: [0, 1], batchnorm: true, weightScale: 'kaiming', seed: 5 }), 30);
  const data = { dataset: 'cifar10', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], classes: 'abcdefghij'.split(''), shape: [3, 8, 8] };
  const file = path.join(dir, 'model.safetensors');
  saveModel(file, { config: model.config, params: model.params, extra: model.stateTensors(), metadata: { data: JSON.stringify(data) } });
  const e = runCli(['export', '--model', file, '--format', 'torch']);
  expect(e.err).toBe('');
  expect(e.out).toMatch(/^wrote .*model\.torch\.safetensors: the state_dict of the nn\.Sequential matching this DeepConvNet\n {2}load it with: python3 .*scripts\/load_in_torch\.py /);
  const back = path.join(dir, 'back.safetensors');
  const i = runCli(['import', path.join(dir, 'model.torch.safetensors'), '--out', back]);
  expect(i.err).toBe('');
  expect(i.out).toMatch(/^wrote .*back\.safetensors: DeepConvNet \{"inputDims":\[3,8,8\],"numFilters":\[4,4\].*\}, \d+ parameters, input \[3, 8, 8\]\n$/);
  const { model: m2, info } = readModel(back);
  expect(info).toEqual(data);
  expect(Array.from(m2.params.W2.data)).toEqual(Array.from(model.params.W2.data));
  expect(runCli(['import', path.join(dir, 'model.torch.safetensors'), '--out', path.join(dir, 'model.torch.safetensors')]).err).toMatch(/--out .* is the file being imported/);
});

// The real thing, where /usr/bin/python3 has torch.
const PY = '/usr/bin/python3';
const probe = spawnSync(PY, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
const hasTorch = probe.status === 0;
if (!hasTorch) console.log(`torch-interop.test: ${PY} cannot import torch (${(probe.error?.message ?? probe.stderr.trim().split('\n').pop()) || 'no output'}); the PyTorch cases are skipped (apt-get install python3-torch)`);
const withTorch = hasTorch ? describe : describe.skip;
const LOADER = path.join(__dirname, '..', 'scripts', 'load_in_torch.py');

withTorch('with PyTorch', () => {
  test.each(CASES.map((c) => [c.name, c]))('%s: load_in_torch.py loads the export strictly and predicts the same scores', async (_, c) => {
    const model = warmBatchnorm(c.make('float32'), 13);
    const dir = tempDir();
    const file = path.join(dir, 'm.torch.safetensors');
    model.toTorch(file);
    const X = randomInput(model, 6, 14);
    saveSafetensors(path.join(dir, 'x.safetensors'), { x: X });
    const r = spawnSync(PY, [LOADER, file, '--input', path.join(dir, 'x.safetensors'), '--output', path.join(dir, 'y.safetensors')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const scores = loadSafetensors(path.join(dir, 'y.safetensors')).tensors.scores;
    expect(scores.shape).toEqual([6, model.numClasses]);
    expect(maxAbsDiff(scores.data, (await model.predict(X)).data)).toBeLessThanOrEqual(TOL);
  });

  test('networks made in PyTorch import and predict what PyTorch predicts; what deepconv lacks is named', async () => {
    const dir = tempDir();
    const r = spawnSync(PY, [path.join(__dirname, 'interop', 'torch_made.py'), dir], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^refused: layer 1: nn\.Tanh has no counterpart in deepconv/);
    const kinds: Record<string, string> = { conv_bn: 'DeepConvNet', three_layer: 'ThreeLayerConvNet', fc_bn_dropout: 'FullyConnectedNet' };
    for (const [name, cls] of Object.entries(kinds)) {
      const { model, data } = importTorch(path.join(dir, `${name}.safetensors`));
      expect(model.className).toBe(cls);
      if (name === 'conv_bn') expect(JSON.parse(data!).classes).toHaveLength(10);
      const io = loadSafetensors(path.join(dir, `${name}.io.safetensors`)).tensors;
      expect(maxAbsDiff((await model.predict(io.x)).data, io.scores.data)).toBeLessThanOrEqual(TOL);
    }
    expect(() => importTorch(path.join(dir, 'dilated.safetensors'))).toThrow(/layer 0 \(Conv2d\): dilation=2 is not supported \(deepconv computes dilation=1\)$/);
  });
});
