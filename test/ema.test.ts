// The weight average (Solver option ema, lib/ema.ts): the kernel and the warm-up of the decay
// against values computed here in float64, the Solver evaluating and ending with the averaged
// network, and resume continuing the average exactly.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { WeightAverage } from '../lib/ema';
import { DeepConvNet, FullyConnectedNet } from '../lib/models';
import { Solver } from '../lib/solver';
import { Tensor } from '../lib/tensor';

function data(N: number, seed: number) {
  const X = Tensor.randn([N, 3, 8, 8], { seed, std: 0.5, dtype: 'float64' });
  const y = new Int32Array(N);
  for (let n = 0; n < N; n++) {
    y[n] = n % 3;
    for (let i = 0; i < 64; i++) X.data[n * 192 + y[n] * 64 + i] += 1;
  }
  return { X, y };
}

const deepNet = () => new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4], maxPools: [0], numClasses: 3, batchnorm: true, dtype: 'float64', seed: 3 });

describe('WeightAverage', () => {
  test('update: avg = d avg + (1 - d) w with d = min(decay, (1 + u) / (10 + u)), params and batchnorm statistics', async () => {
    const m = deepNet();
    const avg = new WeightAverage(0.5);
    avg.start(m);
    const w0 = Float64Array.from(m.params.W0.data);
    const ref = Float64Array.from(w0);
    const mean0 = Float64Array.from(m.stateTensors().runningMean0.data);
    for (let u = 0; u < 4; u++) {
      for (let i = 0; i < m.params.W0.size; i++) m.params.W0.data[i] += 0.1 * (u + 1) * Math.sin(i);
      m.stateTensors().runningMean0.data.fill(u + 1);
      const d = Math.min(0.5, (1 + u) / (10 + u));  // 0.1, 0.1818, 0.25, 0.3077
      expect(avg.currentDecay).toBeCloseTo(d, 15);
      await avg.update(m);
      for (let i = 0; i < ref.length; i++) ref[i] = d * ref[i] + (1 - d) * m.params.W0.data[i];
      if (u === 0) expect(avg.state.runningMean0.data[0]).toBeCloseTo(0.1 * mean0[0] + 0.9 * 1, 14);
    }
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(avg.params.W0.data[i] - ref[i]));
    expect(worst).toBeLessThan(1e-14);
    expect(avg.updates).toBe(4);
    expect(Array.from(avg.params.W0.data)).not.toEqual(Array.from(w0));
  });

  test('with() evaluates the averaged network and puts the live one back', async () => {
    const m = deepNet();
    const avg = new WeightAverage(0.9);
    avg.start(m);
    avg.params.W0.data.fill(0.25);
    avg.state.runningVar0.data.fill(7);
    const live = m.params;
    const liveVar = Array.from(m.stateTensors().runningVar0.data);
    const seen = await avg.with(m, async () => [m.params.W0.data[0], m.stateTensors().runningVar0.data[0]]);
    expect(seen).toEqual([0.25, 7]);
    expect(m.params).toBe(live);
    expect(Array.from(m.stateTensors().runningVar0.data)).toEqual(liveVar);
  });

  test('a decay outside (0, 1) is refused by name', () => {
    expect(() => new WeightAverage(1, 'options.ema')).toThrow(/options.ema must be a number in \(0, 1\)/);
    const d = data(30, 1);
    expect(() => new Solver(deepNet(), { xTrain: d.X, yTrain: d.y, xVal: d.X, yVal: d.y }, { ema: 0 })).toThrow(/options.ema must be a number in \(0, 1\), e.g. 0.999, got 0/);
  });
});

describe('Solver with ema', () => {
  const tr = data(60, 1);
  const va = data(30, 2);

  test('without validation data the run ends with the average of the weights after each step', async () => {
    const make = () => new FullyConnectedNet({ inputDim: 192, hiddenDims: [10], numClasses: 3, dtype: 'float64', seed: 4 });
    const opts = { updateRule: 'sgd_momentum' as const, optimConfig: { learningRate: 0.05 }, batchSize: 10, numEpochs: 2, verbose: false, seed: 5 };
    const X = Tensor.from(tr.X.data, { shape: [60, 192] });
    const empty = Tensor.zeros([0, 192], 'float64');
    // The same run without ema, recording the weights after every step.
    const plain = make();
    const after: Float64Array[] = [];
    const p = new Solver(plain, { xTrain: X, yTrain: tr.y, xVal: empty, yVal: new Int32Array(0) }, { ...opts, onStep: () => void after.push(Float64Array.from(plain.params.W1.data)) });
    const start = Float64Array.from(plain.params.W1.data);
    await p.train();
    const ref = Float64Array.from(start);
    after.forEach((w, u) => {
      const d = Math.min(0.9, (1 + u) / (10 + u));
      for (let i = 0; i < ref.length; i++) ref[i] = d * ref[i] + (1 - d) * w[i];
    });
    const averaged = make();
    await new Solver(averaged, { xTrain: X, yTrain: tr.y, xVal: empty, yVal: new Int32Array(0) }, { ...opts, ema: 0.9 }).train();
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(averaged.params.W1.data[i] - ref[i]));
    expect(worst).toBeLessThan(1e-12);
  });

  test('evaluations score the averaged network; the best parameters are averaged ones; resume continues the average exactly', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepconv-ema-'));
    try {
      const opts = { updateRule: 'adam' as const, optimConfig: { learningRate: 1e-2 }, batchSize: 10, verbose: false, seed: 7, ema: 0.8, numTrainSamples: null };
      const D = { xTrain: tr.X, yTrain: tr.y, xVal: va.X, yVal: va.y };
      const whole = new Solver(deepNet(), D, { ...opts, numEpochs: 3 });
      await whole.train();
      // The model now holds the best evaluated network: scoring it again gives the best accuracy.
      expect(await whole.checkAccuracy(va.X, va.y)).toBe(whole.bestValAcc);
      expect(whole.weightAverage!.updates).toBe(18);

      const file = path.join(tmp, 'ck.safetensors');
      const first = new Solver(deepNet(), D, { ...opts, numEpochs: 2, checkpointFile: file });
      await first.train({ returnBestParams: false });
      const resumed = new Solver(deepNet(), D, { ...opts, numEpochs: 3, resume: file });
      expect(resumed.weightAverage!.updates).toBe(12);
      await resumed.train();
      expect(resumed.valAccHistory).toEqual(whole.valAccHistory);
      for (const k of Object.keys(whole.model.params)) expect(Array.from(resumed.weightAverage!.params[k].data)).toEqual(Array.from(whole.weightAverage!.params[k].data));
      for (const k of Object.keys(whole.model.params)) expect(Array.from(resumed.model.params[k].data)).toEqual(Array.from(whole.model.params[k].data));
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
