// Solver: options (the seed's and the additions), histories and best parameters, determinism
// under a seed, learning-rate schedules, time limits, augmentation, custom update rules,
// checkpoints and resume.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DeepConvNet, FullyConnectedNet, loadModel, TwoLayerNet } from '../lib/models';
import { sgd } from '../lib/optim';
import { ProgressInfo, Solver, SolverOptions } from '../lib/solver';
import { Tensor } from '../lib/tensor';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepconv-solver-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A small learnable problem: the label is the brightest of 4 quadrant-channels, plus noise. */
function data(N: number, seed: number) {
  const X = Tensor.randn([N, 3, 8, 8], { seed, std: 0.5 });
  const y = new Int32Array(N);
  for (let n = 0; n < N; n++) {
    y[n] = n % 4;
    const c = y[n] % 3;
    for (let i = 0; i < 64; i++) X.data[n * 192 + c * 64 + i] += y[n] === 3 ? -1 : 1;
  }
  return { X, y };
}

const train = data(80, 1);
const val = data(40, 2);
const DATA = { xTrain: train.X, yTrain: train.y, xVal: val.X, yVal: val.y };

function deepNet(batchnorm = false) {
  return new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [6, 6], maxPools: [0, 1], numClasses: 4, batchnorm, weightScale: 'kaiming', seed: 1 });
}

function solver(model = deepNet(), opts: SolverOptions = {}) {
  return new Solver(model, DATA, { updateRule: 'adam', optimConfig: { learningRate: 1e-2 }, batchSize: 20, numEpochs: 3, verbose: false, seed: 7, ...opts });
}

describe('options', () => {
  test('an unknown option throws a TypeError naming it', () => {
    expect(() => solver(deepNet(), { learning_rate: 1 } as never)).toThrow(TypeError);
    expect(() => solver(deepNet(), { learning_rate: 1 } as never)).toThrow(/options.learning_rate is not a Solver option/);
  });

  test('bad values name the option', () => {
    expect(() => solver(deepNet(), { updateRule: 'adagrad' as never })).toThrow(/options.updateRule must be one of 'sgd', 'sgd_momentum', 'nesterov', 'rmsprop', 'adam', 'adamw' or a function/);
    expect(() => solver(deepNet(), { batchSize: 0 })).toThrow(/options.batchSize/);
    expect(() => solver(deepNet(), { lrDecay: -1 })).toThrow(/options.lrDecay/);
    expect(() => solver(deepNet(), { optimConfig: { lr: 1e-3 } })).toThrow(/options.optimConfig.lr is not a hyperparameter of 'adam'/);
    expect(() => solver(deepNet(), { lrSchedule: 'triangle' as never })).toThrow(/options.lrSchedule must be 'step', 'linear-warmup', 'cosine' or 'one-cycle'|options.lrSchedule/);
    expect(() => solver(deepNet(), { augment: { pad: 4, rotate: true } as never })).toThrow(/options.augment.rotate/);
    expect(() => solver(deepNet(), { lrSchedule: 'linear-warmup', lrDecay: 0.9 })).toThrow(/options.lrDecay must be 1 with lrSchedule 'linear-warmup'/);
    expect(() => solver(deepNet(), { checkpointName: 3 as never })).toThrow(/options.checkpointName/);
    expect(() => new Solver(deepNet(), { ...DATA, yTrain: new Int32Array(3) })).toThrow(/data.yTrain must hold 80 labels/);
    expect(() => new Solver(deepNet(), { ...DATA, yVal: Int32Array.from(val.y, (v) => v + 4) })).toThrow(/data.yVal\[0\] must be an integer label in \[0, 4\)/);
    expect(() => new Solver(deepNet(), { ...DATA, xTrain: train.X.astype('float64') })).toThrow(/data.xTrain must have dtype float32/);
    expect(() => new Solver({} as never, DATA)).toThrow(/model must be a deepconv Model/);
  });

  test('defaults are the seed\'s; labels may be Uint8Array or number[]', () => {
    const s = new Solver(deepNet(), { xTrain: train.X, yTrain: Uint8Array.from(train.y), xVal: val.X, yVal: Array.from(val.y) });
    expect([s.updateRule, s.lrDecay, s.batchSize, s.numEpochs, s.numTrainSamples, s.numValSamples, s.printEvery, s.printAccEvery, s.verbose, s.checkpointName]).toEqual(['sgd', 1, 100, 10, 1000, null, 10, 1, true, null]);
    expect(s.iterationsPerEpoch).toBe(1);
  });
});

describe('training', () => {
  test('histories, best parameters, and learning: seed-style loop', async () => {
    const lines: string[] = [];
    const s = solver(deepNet(), { verbose: true, logger: (l) => lines.push(l), printEvery: 5 });
    const summary = await s.train();
    expect(s.numIterations).toBe(12);
    expect(s.lossHistory.length).toBe(12);
    expect(s.trainAccHistory.length).toBe(4); // first iteration + each of 3 epochs
    expect(s.valAccHistory.length).toBe(4);
    expect(summary).toMatchObject({ iterations: 12, epoch: 3, stoppedEarly: false });
    expect(s.bestValAcc).toBe(Math.max(...s.valAccHistory));
    expect(s.bestValAcc).toBeGreaterThan(0.6);
    expect(s.lossHistory[11]).toBeLessThan(s.lossHistory[0]);
    expect(lines[0]).toMatch(/^\(Iteration 1 \/ 12\) loss: \d/);
    expect(lines.filter((l) => l.startsWith('(Epoch')).length).toBe(4);
    // returnBestParams: the model holds (copies of) the best parameters.
    for (const k of Object.keys(s.bestParams)) {
      expect(Array.from(s.model.params[k].data)).toEqual(Array.from(s.bestParams[k].data));
      expect(s.model.params[k]).not.toBe(s.bestParams[k]);
    }
    expect(await s.checkAccuracy(val.X, val.y)).toBe(s.bestValAcc);
  });

  test('the same seed gives the same run; another seed another', async () => {
    const a = solver();
    const b = solver();
    const c = solver(deepNet(), { seed: 8 });
    await Promise.all([a.train(), b.train(), c.train()]);
    expect(b.lossHistory).toEqual(a.lossHistory);
    expect(c.lossHistory).not.toEqual(a.lossHistory);
  });

  test('lrDecay multiplies the learning rate after each epoch; sgd_momentum state per parameter', async () => {
    const s = solver(deepNet(), { updateRule: 'sgd_momentum', optimConfig: { learningRate: 1e-2, momentum: 0.8 }, lrDecay: 0.5 });
    await s.train();
    for (const c of Object.values(s.optimConfigs)) {
      expect(c.learningRate).toBeCloseTo(1e-2 * 0.5 ** 3, 15);
      expect(c.velocity).toBeInstanceOf(Tensor);
    }
    expect(new Set(Object.values(s.optimConfigs).map((c) => c.velocity)).size).toBe(Object.keys(s.model.params).length);
  });

  test('a custom update rule function is called per parameter with its config', async () => {
    const seen = new Set<string>();
    const calls = new Map<object, number>();
    const model = new TwoLayerNet({ inputDim: 192, hiddenDim: 10, numClasses: 4, weightScale: 0.1, seed: 1 });
    const s = new Solver(model, DATA, {
      updateRule: (w, dw, config) => {
        seen.add(String(w.shape));
        calls.set(config, (calls.get(config) ?? 0) + 1);
        return sgd(w, dw, config as { learningRate?: number });
      },
      optimConfig: { learningRate: 0.05 },
      batchSize: 40,
      numEpochs: 2,
      verbose: false,
      seed: 1,
    });
    await s.train();
    expect(Object.values(s.optimConfigs).map((c) => calls.get(c))).toEqual([4, 4, 4, 4]);
    expect(seen.size).toBe(4);
  });

  test("lrSchedule 'linear-warmup' over the planned iterations: warmup, then linear decay towards 0", async () => {
    const progress: ProgressInfo[] = [];
    const s = solver(deepNet(), { lrSchedule: 'linear-warmup', warmupFraction: 0.25, onProgress: (p) => progress.push(p), numEpochs: 5 });
    await s.train();
    const lrs = progress.map((p) => p.learningRate);
    expect(lrs.length).toBe(20);
    expect(lrs.slice(0, 5)).toEqual([1, 2, 3, 4, 5].map((i) => (1e-2 * i) / 5));
    expect(lrs[5]).toBeCloseTo(1e-2, 12);
    for (let i = 6; i < 20; i++) expect(lrs[i]).toBeLessThan(lrs[i - 1]);
    expect(lrs[19]).toBeCloseTo(1e-2 / 15, 12);
    expect(progress[19]).toMatchObject({ step: 20, iterations: 20, epoch: 5 });
    expect(progress.every((p) => p.imagesPerSecond > 0 && Number.isFinite(p.loss))).toBe(true);
  });

  test('timeLimit stops training early; time-driven linear-warmup keeps the rate in range', async () => {
    const lrs: number[] = [];
    const s = solver(deepNet(), { numEpochs: 10000, lrSchedule: 'linear-warmup', onProgress: (p) => lrs.push(p.learningRate) });
    const summary = await s.train({ timeLimit: 0.5 });
    expect(summary.stoppedEarly).toBe(true);
    expect(summary.seconds).toBeLessThan(1.5);
    expect(s.iteration).toBeGreaterThan(2);
    expect(Math.max(...lrs)).toBeLessThanOrEqual(1e-2);
    expect(lrs[lrs.length - 1]).toBeLessThan(Math.max(...lrs));
  });

  test('augment (crop + flip) changes the minibatches but still trains', async () => {
    const plain = solver();
    const aug = solver(deepNet(), { augment: { pad: 2 } });
    await plain.train();
    await aug.train();
    expect(aug.lossHistory).not.toEqual(plain.lossHistory);
    expect(aug.lossHistory.every(Number.isFinite)).toBe(true);
    expect(() => new Solver(new FullyConnectedNet({ hiddenDims: [4], inputDim: 192, numClasses: 4 }), { ...DATA, xTrain: train.X.reshape([80, 192]), xVal: val.X.reshape([40, 192]) }, { augment: true })).toThrow(/options.augment needs \(N, C, H, W\) images/);
  });

  test("sampling 'epoch' visits each sample once per epoch; 'replacement' draws with replacement", async () => {
    const rowId = new Map<number, number>();
    for (let n = 0; n < 80; n++) rowId.set(train.X.data[n * 192], n);
    for (const sampling of ['epoch', 'replacement'] as const) {
      const model = deepNet();
      const seen: number[] = [];
      const orig = model.lossAsync.bind(model);
      model.lossAsync = ((X: Tensor, y?: Int32Array | null, o?: object) => {
        if (y) for (let i = 0; i < X.shape[0]; i++) seen.push(rowId.get(X.data[i * 192])!);
        return orig(X, y as never, o);
      }) as typeof model.lossAsync;
      const s = solver(model, { sampling });
      await s.train();
      expect(seen.length).toBe(3 * 80);
      const epochs = [0, 1, 2].map((e) => new Set(seen.slice(e * 80, (e + 1) * 80)).size);
      if (sampling === 'epoch') expect(epochs).toEqual([80, 80, 80]);
      else expect(Math.max(...epochs)).toBeLessThan(80);
    }
  });

  test('an empty validation set: no best-parameter selection, the model keeps its trained parameters', async () => {
    const s = new Solver(deepNet(), { ...DATA, xVal: Tensor.zeros([0, 3, 8, 8]), yVal: new Int32Array(0) }, { batchSize: 40, numEpochs: 1, verbose: false, seed: 1 });
    const before = Array.from(s.model.params.W0.data);
    await s.train();
    expect(s.bestParams).toEqual({});
    expect(s.valAccHistory).toEqual([0, 0]); // after the first iteration and the epoch
    expect(Array.from(s.model.params.W0.data)).not.toEqual(before);
  });

  test('a second concurrent train() is refused; bad train options are named', async () => {
    const s = solver();
    const running = s.train();
    await expect(s.train()).rejects.toThrow(/already training/);
    await running;
    await expect(s.train({ timeLimit: -1 })).rejects.toThrow(/opts.timeLimit/);
    await expect(s.train({ time_limit: 1 } as never)).rejects.toThrow(/opts.time_limit is not a train\(\) option/);
  });

  test('checkAccuracy subsamples with numSamples and batches', async () => {
    const s = solver();
    const full = await s.checkAccuracy(val.X, val.y, { batchSize: 7 });
    const one = await s.checkAccuracy(val.X, val.y, { batchSize: 100 });
    expect(full).toBe(one);
    const sub = await s.checkAccuracy(val.X, val.y, { numSamples: 10 });
    expect(Math.round(sub * 10)).toBeCloseTo(sub * 10, 10);
    await expect(s.checkAccuracy(val.X, val.y, { numSamples: 0 })).rejects.toThrow(/opts.numSamples/);
  });
});

describe('callbacks, early stopping, maxSteps', () => {
  test('onStep, onEpochEnd and onEval come in loop order with their figures', async () => {
    const events: string[] = [];
    const s = solver(deepNet(), {
      numEpochs: 2,
      onStep: (p) => events.push(`step ${p.step}`),
      onEpochEnd: (e) => {
        expect(Number.isFinite(e.meanLoss)).toBe(true);
        events.push(`epoch ${e.epoch} at ${e.step}`);
      },
      onEval: (e) => {
        expect(e.valAcc).toBe(s.valAccHistory[s.valAccHistory.length - 1]);
        expect(e.bestValAcc).toBe(s.bestValAcc);
        events.push(`eval ${e.epoch} at ${e.step}`);
      },
    });
    const summary = await s.train();
    expect(summary.reason).toBe('done');
    // 4 steps an epoch; evaluations after the first step and each epoch
    expect(events).toEqual([
      'step 1', 'eval 0 at 1', 'step 2', 'step 3', 'step 4', 'epoch 1 at 4', 'eval 1 at 4',
      'step 5', 'step 6', 'step 7', 'step 8', 'epoch 2 at 8', 'eval 2 at 8',
    ]);
  });

  test('onProgress is onStep under its earlier name; both at once is refused', async () => {
    const steps: number[] = [];
    await solver(deepNet(), { numEpochs: 1, onProgress: (p) => steps.push(p.step) }).train();
    expect(steps).toEqual([1, 2, 3, 4]);
    expect(() => solver(deepNet(), { onStep: () => {}, onProgress: () => {} })).toThrow(/options.onStep and options.onProgress are one callback under two names/);
  });

  test('early stopping ends training after `patience` evaluations without a better validation accuracy', async () => {
    // learning rate 0: validation accuracy never moves, so the evaluations after the first cannot beat it
    const s = solver(deepNet(), { numEpochs: 50, optimConfig: { learningRate: 0 }, earlyStopping: { patience: 2 } });
    const summary = await s.train();
    expect(summary.reason).toBe('earlyStopping');
    expect(s.valAccHistory.length).toBe(3);  // after step 1, epoch 1, epoch 2
    expect(summary.iterations).toBe(8);
    expect(() => solver(deepNet(), { earlyStopping: { patience: 0 } })).toThrow(/options.earlyStopping.patience/);
    expect(() => solver(deepNet(), { earlyStopping: { wait: 2 } as never })).toThrow(/options.earlyStopping.wait is not an early-stopping option/);
  });

  test('maxSteps caps the iterations, evaluates where it stops and is the schedule budget', async () => {
    const lrs: number[] = [];
    const s = solver(deepNet(), { numEpochs: 100, lrSchedule: 'linear-warmup', warmupFraction: 0.2, onStep: (p) => lrs.push(p.learningRate) });
    const summary = await s.train({ maxSteps: 10 });
    expect(summary).toMatchObject({ iterations: 10, reason: 'maxSteps', stoppedEarly: true });
    expect(lrs.length).toBe(10);
    expect(lrs[1]).toBeCloseTo(1e-2, 12);  // warm-up over round(0.2 * 10) = 2 steps
    expect(lrs[9]).toBeCloseTo(1e-2 / 8, 12);  // (10 - 9) / (10 - 2)
    expect(s.valAccHistory.length).toBe(4);  // after step 1, epochs 1 and 2, and at step 10
    expect(() => s.train({ maxSteps: 0 })).rejects.toThrow(/opts.maxSteps/);
  });

  test("updateRule 'adamw' trains and shrinks the weights more than 'adam'", async () => {
    const norm = (s: Solver) => Object.values(s.model.params).filter((t) => t.ndim >= 2).reduce((acc, t) => acc + Array.from(t.data).reduce((x, v) => x + v * v, 0), 0);
    const a = solver(deepNet(), { numEpochs: 2 });
    const w = solver(deepNet(), { numEpochs: 2, updateRule: 'adamw', optimConfig: { learningRate: 1e-2, weightDecay: 0.5 } });
    await a.train({ returnBestParams: false });
    await w.train({ returnBestParams: false });
    expect(w.lossHistory.every(Number.isFinite)).toBe(true);
    expect(norm(w)).toBeLessThan(norm(a));
    expect(() => solver(deepNet(), { optimConfig: { weightDecay: 0.1 } })).toThrow(/options.optimConfig.weightDecay is not a hyperparameter of 'adam'/);
  });

  test('labelSmoothing smooths the training loss (not the evaluation); bad values are refused', async () => {
    const plain = solver(deepNet(), { numEpochs: 1 });
    const smooth = solver(deepNet(), { numEpochs: 1, labelSmoothing: 0.2 });
    await plain.train();
    await smooth.train();
    expect(smooth.lossHistory[0]).not.toBe(plain.lossHistory[0]);
    expect(smooth.lossHistory.every(Number.isFinite)).toBe(true);
    expect(() => solver(deepNet(), { labelSmoothing: 1 })).toThrow(/^options.labelSmoothing must be a number in \[0, 1\), got 1$/);
  });

  test("lrSchedule 'cosine' and 'one-cycle' train, and their rates follow lib/schedule.ts", async () => {
    for (const kind of ['cosine', 'one-cycle'] as const) {
      const lrs: number[] = [];
      const s = solver(deepNet(), { lrSchedule: kind, warmupFraction: 0.25, onStep: (p) => lrs.push(p.learningRate) });
      await s.train();
      expect(lrs.length).toBe(12);
      expect(Math.max(...lrs)).toBeCloseTo(1e-2, 12);
      expect(lrs[11]).toBeLessThan(lrs[3]);
      expect(s.lossHistory.every(Number.isFinite)).toBe(true);
    }
  });
});

describe('checkpoints and resume', () => {
  const opts = (name: string, numEpochs: number): SolverOptions => ({ checkpointName: path.join(tmp, name), numEpochs });

  test('a checkpoint holding NaN or Infinity (a parameter, an optimizer moment, a best parameter) is refused, naming the tensor', async () => {
    const corrupt: Array<[string, (s: Solver) => void, RegExp]> = [
      ['param', (s) => { s.model.params.W0.data[1] = NaN; }, /tensor "W0" holds 1 non-finite values/],
      ['moment', (s) => { (s.optimConfigs.W0.v as Tensor).data[0] = Infinity; }, /tensor "extra\/optim\/W0\/v" holds 1 non-finite values/],
      ['best', (s) => { s.bestParams.W0.data[0] = -Infinity; }, /tensor "extra\/best\/W0" holds 1 non-finite values/],
    ];
    for (const [name, mutate, message] of corrupt) {
      const s = solver(deepNet(), { numEpochs: 1 });
      await s.train();
      mutate(s);
      const file = path.join(tmp, `nonfinite-${name}.safetensors`);
      s.saveCheckpoint(file);
      const model = deepNet();
      const before = Array.from(model.params.W0.data);
      expect(() => solver(model, { resume: file })).toThrow(message);
      expect(Array.from(model.params.W0.data)).toEqual(before);  // nothing was loaded
    }
  });

  test('a checkpoint per epoch; resuming continues exactly where the uninterrupted run would be', async () => {
    const whole = solver(deepNet(true), opts('whole', 4));
    await whole.train();
    for (const e of [0, 1, 2, 3, 4]) expect(fs.existsSync(path.join(tmp, `whole_epoch_${e}.safetensors`))).toBe(true);
    expect(whole.lastCheckpoint).toBe(path.join(tmp, 'whole_epoch_4.safetensors'));

    const first = solver(deepNet(true), opts('part', 2));
    await first.train();
    const resumed = solver(new DeepConvNet({ ...deepNet(true).options, seed: 99 }), { ...opts('part', 4), resume: path.join(tmp, 'part_epoch_2.safetensors') });
    expect(resumed.epoch).toBe(2);
    expect(resumed.iteration).toBe(8);
    expect(resumed.lossHistory).toEqual(first.lossHistory);
    expect(Object.values(resumed.optimConfigs)[0].t).toBe(8);
    await resumed.train();
    expect(resumed.lossHistory).toEqual(whole.lossHistory);
    expect(resumed.trainAccHistory).toEqual(whole.trainAccHistory);
    expect(resumed.valAccHistory).toEqual(whole.valAccHistory);
    expect(resumed.bestValAcc).toBe(whole.bestValAcc);
    for (const k of Object.keys(whole.model.params)) expect(Array.from(resumed.model.params[k].data)).toEqual(Array.from(whole.model.params[k].data));

    // A checkpoint is a model file too.
    const m = loadModel(path.join(tmp, 'whole_epoch_4.safetensors'));
    expect(m).toBeInstanceOf(DeepConvNet);
  });

  test('checkpointFile is kept current within epochs; a run killed mid-epoch resumes exactly (issue 9)', async () => {
    const whole = solver(deepNet(true), { numEpochs: 3 });
    await whole.train();
    const file = path.join(tmp, 'rolling.safetensors');
    // checkpointEvery 0: a write after every step. The "kill" comes right after step 6's write,
    // mid-epoch (4 steps an epoch), from a progress callback that throws.
    const killed = solver(deepNet(true), {
      numEpochs: 3, checkpointFile: file, checkpointEvery: 0,
      onProgress: (p) => {
        if (p.step === 6) throw new Error('killed');
      },
    });
    await expect(killed.train()).rejects.toThrow('killed');
    const resumed = solver(new DeepConvNet({ ...deepNet(true).options, seed: 99 }), { numEpochs: 3, resume: file });
    expect(resumed.iteration).toBe(6);
    await resumed.train();
    expect(resumed.lossHistory).toEqual(whole.lossHistory);
    expect(resumed.valAccHistory).toEqual(whole.valAccHistory);
    for (const k of Object.keys(whole.model.params)) expect(Array.from(resumed.model.params[k].data)).toEqual(Array.from(whole.model.params[k].data));
  });

  test('checkpointEvery spaces the writes within an epoch by seconds of training', async () => {
    const file = path.join(tmp, 'spaced.safetensors');
    const writes: number[] = [];
    const s = solver(deepNet(true), { numEpochs: 2, checkpointFile: file, checkpointEvery: 3600 });
    const save = s.saveCheckpoint.bind(s);
    s.saveCheckpoint = (p) => {
      if (p === file) writes.push(s.iteration);
      save(p);
    };
    await s.train();
    expect(writes).toEqual([1, 4, 8]);  // the evaluations (first step, epoch ends) only: an hour never passed
    expect(() => solver(deepNet(true), { checkpointEvery: -1 })).toThrow(/options\.checkpointEvery must be a finite number of seconds >= 0, got -1/);
  });

  test('resume refuses a checkpoint of another model or update rule, and a plain model file', () => {
    const file = path.join(tmp, 'part_epoch_2.safetensors');
    const other = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [6, 7], maxPools: [0, 1], numClasses: 4, seed: 1 });
    expect(() => solver(other, { resume: file })).toThrow(/model options .* differ/);
    expect(() => solver(deepNet(true), { resume: file, updateRule: 'sgd' })).toThrow(/updateRule 'adam'/);
    const plain = path.join(tmp, 'plain.safetensors');
    deepNet(true).save(plain);
    expect(() => solver(deepNet(true), { resume: plain })).toThrow(/not a Solver checkpoint/);
  });
});
