// The seed's Solver: minibatch training of a model with an update rule from optim.ts, accuracy
// checks each epoch, best-parameter tracking and checkpoints. Every training step runs forward
// and backward through model.lossAsync and the updates through the asynchronous native kernels,
// so `await solver.train()` leaves the event loop free between kernel calls.
//
// Beyond the seed: a seed for every random draw (minibatches, accuracy subsets, augmentation:
// derived from (seed, iteration), so a resumed run draws what the uninterrupted one would have),
// random crop + flip augmentation, an onProgress callback, a linear warmup / linear decay
// learning-rate schedule, and resume from a checkpoint.
import { randomCropFlip } from './data/augment';
import { readCheckpoint, writeCheckpoint } from './checkpoint';
import { Arena } from './engine/arena';
import { checkTta, checkTtaInput, Model, sliceRows, Tta } from './models/model';
import { UPDATE_RULES, UpdateRuleFn, UpdateRuleName, updateRuleName } from './optim';
import { checkLabelSmoothing } from './layers/loss';
import { Optimizer } from './optimizer';
import { WeightAverage } from './ema';
import { Schedule, SCHEDULES, ScheduleName } from './schedule';
import { Rng } from './random';
import { checkDevice, Device, stageOn, Tensor } from './tensor';
import { checkInt, checkLabels, checkNumber, checkOptions, checkTensor, describe, invalidType, Labels, shapeStr } from './validate';

export interface SolverData {
  /** Training samples (N, ...) in the model's dtype. */
  xTrain: Tensor;
  yTrain: Labels;
  /** Validation samples (may hold 0 samples: then no best-parameter selection happens). */
  xVal: Tensor;
  yVal: Labels;
}

export interface AugmentOptions {
  /** Zero padding of the random crop (default 4; 0 turns cropping off). */
  pad?: number;
  /** Random horizontal flips (default true). */
  flip?: boolean;
}

export interface ProgressInfo {
  /** Iterations done (1-based: the step just finished). */
  step: number;
  /** Iterations the run is planned for (numEpochs * iterations per epoch). */
  iterations: number;
  /** Completed epochs. */
  epoch: number;
  /** Loss of this step's minibatch (with the L2 term). */
  loss: number;
  /** Training throughput of this step (forward, backward and update). */
  imagesPerSecond: number;
  /** Seconds this step took (minibatch, forward, backward and update; no evaluation). */
  stepSeconds: number;
  /** Learning rate used by this step (of the first parameter). */
  learningRate: number;
  /** Seconds of training so far (across resumes). */
  elapsed: number;
}

export type LrSchedule = ScheduleName;

/** What onEval receives: the accuracies of an evaluation (after the first step, each epoch, the end). */
export interface EvalInfo {
  /** Completed epochs (0 for the evaluation after the first step). */
  epoch: number;
  /** Iterations done. */
  step: number;
  trainAcc: number;
  valAcc: number;
  /** Best validation accuracy so far (this one included). */
  bestValAcc: number;
  /** Seconds of training so far (across resumes). */
  elapsed: number;
}

/** What onEpochEnd receives. */
export interface EpochInfo {
  /** The epoch just completed (1-based). */
  epoch: number;
  step: number;
  /** Mean training loss over the epoch's steps. */
  meanLoss: number;
  elapsed: number;
}

export interface EarlyStoppingOptions {
  /** Evaluations without a validation accuracy above the best by more than minDelta before training stops. */
  patience: number;
  /** Default 0. */
  minDelta?: number;
}

export interface SolverOptions {
  /**
   * 'sgd' (default), 'sgd_momentum', 'rmsprop', 'adam', 'adamw', or a function like those of optim.ts:
   * (w, dw, config) => { w, config } or a Promise of it; the returned w becomes the parameter.
   * dw is recycled by the next step: copy it if the function keeps it.
   */
  updateRule?: UpdateRuleName | 'sgdMomentum' | UpdateRuleFn;
  /** Hyperparameters handed to the update rule (each parameter gets its own copy). */
  optimConfig?: Record<string, unknown>;
  /**
   * Moves the model to this device first ('cpu' or 'cuda'; default: where the model is). The data
   * stay on the cpu: each minibatch is copied to the device once per step, explicitly.
   */
  device?: Device;
  /** With lrSchedule 'step': the learning rate is multiplied by this after each epoch (default 1). */
  lrDecay?: number;
  /** Minibatch size (default 100). */
  batchSize?: number;
  /** Epochs to train (default 10). */
  numEpochs?: number;
  /** Training samples the per-epoch training accuracy is measured on (default 1000; null: all). */
  numTrainSamples?: number | null;
  /** Validation samples the per-epoch accuracy is measured on (default null: all). */
  numValSamples?: number | null;
  /** Log the loss every this many iterations (default 10). */
  printEvery?: number;
  /** Log accuracies every this many epochs (default 1). */
  printAccEvery?: number;
  /** Log progress (default true). */
  verbose?: boolean;
  /** Checkpoint file prefix: `${checkpointName}_epoch_${epoch}.safetensors` after each epoch (default null: none). */
  checkpointName?: string | null;
  /**
   * One checkpoint file kept current while training (default null: none): rewritten atomically
   * after each epoch's evaluation and after any step that ends checkpointEvery seconds of
   * training after the last write, so a killed run loses at most that much. resume() continues it.
   */
  checkpointFile?: string | null;
  /** Seconds of training between writes of checkpointFile within an epoch (default 60). */
  checkpointEvery?: number;
  /** Seed of minibatch draws, accuracy subsets and augmentation (random when absent). */
  seed?: number | null;
  /** Random crop (zero padding 4) and horizontal flip of (N, C, H, W) training batches: true or options. */
  augment?: boolean | AugmentOptions;
  /** 'replacement': each minibatch drawn with replacement, as in the seed (default); 'epoch': a fresh permutation each epoch. */
  sampling?: 'replacement' | 'epoch';
  /** Called after every training step (onProgress is its earlier name; give one of them). */
  onStep?: ((info: ProgressInfo) => void) | null;
  onProgress?: ((info: ProgressInfo) => void) | null;
  /** Called after each evaluation (after the first step, each epoch, and where a cut-short run stops). */
  onEval?: ((info: EvalInfo) => void) | null;
  /** Called when an epoch completes (before its evaluation). */
  onEpochEnd?: ((info: EpochInfo) => void) | null;
  /** Label smoothing of the training loss, in [0, 1) (default 0; see softmaxLoss). Evaluation is unaffected. */
  labelSmoothing?: number;
  /** Stop when validation accuracy has not improved for `patience` evaluations (default null: never). */
  earlyStopping?: EarlyStoppingOptions | null;
  /**
   * 'step' (default): lrDecay after each epoch, as in the seed. 'linear-warmup': linear warmup over
   * warmupFraction of the budget, then linear decay to 0 at its end; 'cosine': the same warm-up, then
   * a half cosine to 0; 'one-cycle': from rate/25 up to the rate over warmupFraction, then linearly
   * down (PyTorch's OneCycleLR, linear). The budget is train()'s timeLimit when given, else the
   * planned iterations (or maxSteps). See lib/schedule.ts.
   */
  lrSchedule?: LrSchedule;
  /** Fraction of the budget spent warming up with lrSchedule 'linear-warmup' (default 0.05). */
  warmupFraction?: number;
  /**
   * Keep an exponential moving average of the weights with this decay (e.g. 0.999; default null:
   * none) and evaluate, select the best parameters and end with the averaged weights (see ema.ts).
   */
  ema?: number | null;
  /** A checkpoint file to continue from (see resume()). */
  resume?: string | null;
  /** Where log lines go (default console.log). */
  logger?: (line: string) => void;
}

export interface TrainOptions {
  /**
   * Stop when the next iteration would end after this many seconds of training (counting the
   * time trained before a resume; default: no limit). Also the budget of lrSchedule 'linear-warmup'.
   */
  timeLimit?: number | null;
  /** Leave the model with the parameters of the best validation accuracy (default true). */
  returnBestParams?: boolean;
  /** Stop when this many iterations are done in total (across resumes; default: no cap). Also the schedules' budget when smaller than the planned iterations. */
  maxSteps?: number | null;
}

/** Why train() stopped: its planned iterations ran ('done'), or timeLimit, maxSteps, earlyStopping or stop(). */
export type StopReason = 'done' | 'timeLimit' | 'maxSteps' | 'earlyStopping' | 'stop';

export interface TrainSummary {
  /** Iterations done in total (across resumes). */
  iterations: number;
  epoch: number;
  /** True when train() stopped before its planned iterations (timeLimit or stop()). */
  stoppedEarly: boolean;
  /** True when stop() ended it. */
  interrupted: boolean;
  reason: StopReason;
  /** Seconds of training in this call. */
  seconds: number;
  bestValAcc: number;
}

export interface AccuracyOptions {
  /** Subsample this many samples (without replacement) when there are more (default: all). */
  numSamples?: number | null;
  /** Samples per forward pass (default 100). */
  batchSize?: number;
  /** Test-time augmentation, as model.predict's: 'flip' averages each image's and its mirror's scores (default 'none'). */
  tta?: Tta;
}

const OPTION_KEYS = [
  'updateRule', 'optimConfig', 'lrDecay', 'batchSize', 'numEpochs', 'numTrainSamples', 'numValSamples', 'printEvery',
  'printAccEvery', 'verbose', 'checkpointName', 'checkpointFile', 'checkpointEvery', 'seed', 'augment', 'sampling', 'onProgress', 'onStep', 'onEval',
  'onEpochEnd', 'earlyStopping', 'labelSmoothing', 'lrSchedule', 'warmupFraction', 'resume', 'logger', 'device', 'ema',
];
/** A 32-bit seed for the draw `salt` of iteration t (stateless, so resumes draw the same). */
function mix(seed: number, t: number, salt: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(t + 1, 0xc2b2ae35) ^ Math.imul(salt + 1, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}
const SALT_BATCH = 1;
const SALT_TRAIN_ACC = 2;
const SALT_VAL_ACC = 3;
const SALT_PERM = 4;

function labelsOf(name: string, y: unknown, N: number, C: number): Int32Array {
  return checkLabels(name, y, N, C);
}

function argmaxAccuracy(scores: Tensor, y: Int32Array, offset: number): number {
  const [n, C] = scores.shape;
  const d = scores.data;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bv = d[i * C];
    for (let c = 1; c < C; c++) {
      if (d[i * C + c] > bv) {
        bv = d[i * C + c];
        best = c;
      }
    }
    if (best === y[offset + i]) correct++;
  }
  return correct;
}

/** Copies rows idx[from..to) of X into out (a (to - from, ...) tensor). */
function gatherRows(X: Tensor, idx: ArrayLike<number>, from: number, to: number, out: Tensor): void {
  const per = X.size / X.shape[0];
  const src = X.data;
  const dst = out.data;
  for (let i = from; i < to; i++) {
    const r = idx[i];
    dst.set(src.subarray(r * per, (r + 1) * per), (i - from) * per);
  }
}

/** The first k of a seeded partial Fisher-Yates shuffle of 0..N-1. */
function sampleWithoutReplacement(N: number, k: number, rng: Rng): Int32Array {
  const a = new Int32Array(N);
  for (let i = 0; i < N; i++) a[i] = i;
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(N - i);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a.subarray(0, k);
}

export class Solver {
  private stopRequested = false;
  readonly model: Model;
  readonly xTrain: Tensor;
  readonly yTrain: Int32Array;
  readonly xVal: Tensor;
  readonly yVal: Int32Array;

  readonly updateRule: UpdateRuleName | UpdateRuleFn;
  readonly optimConfig: Record<string, unknown>;
  readonly lrDecay: number;
  readonly batchSize: number;
  readonly numEpochs: number;
  readonly numTrainSamples: number | null;
  readonly numValSamples: number | null;
  readonly printEvery: number;
  readonly printAccEvery: number;
  readonly verbose: boolean;
  readonly checkpointName: string | null;
  readonly checkpointFile: string | null;
  readonly checkpointEvery: number;
  readonly seed: number;
  readonly augment: Required<AugmentOptions> | null;
  readonly sampling: 'replacement' | 'epoch';
  /** Called after every step (the onStep / onProgress option). */
  onProgress: ((info: ProgressInfo) => void) | null;
  onEval: ((info: EvalInfo) => void) | null;
  onEpochEnd: ((info: EpochInfo) => void) | null;
  readonly earlyStopping: Required<EarlyStoppingOptions> | null;
  readonly labelSmoothing: number;
  readonly lrSchedule: LrSchedule;
  /** The update rule, its hyperparameters (the current learning rate) and each parameter's state. */
  readonly optimizer: Optimizer;
  readonly warmupFraction: number;
  readonly logger: (line: string) => void;
  /** The moving average of the weights (the ema option), or null. */
  readonly weightAverage: WeightAverage | null;

  /** Completed epochs. */
  epoch = 0;
  /** Completed iterations. */
  iteration = 0;
  bestValAcc = 0;
  /** Copies of the parameters with the best validation accuracy so far ({} before the first check). */
  bestParams: Record<string, Tensor> = {};
  lossHistory: number[] = [];
  trainAccHistory: number[] = [];
  valAccHistory: number[] = [];
  /** One optimizer config per parameter (the update rule's state lives here): the optimizer's. */
  get optimConfigs(): Record<string, Record<string, unknown>> {
    return this.optimizer.configs;
  }
  set optimConfigs(v: Record<string, Record<string, unknown>>) {
    this.optimizer.configs = v;
  }
  /** Seconds trained so far, across resumes. */
  elapsed = 0;
  /** Path of the last checkpoint written (null before the first). */
  lastCheckpoint: string | null = null;

  private bestState: Record<string, Tensor> = {};
  private readonly rng: Rng;
  private readonly trainArena = new Arena();
  private readonly evalArena = new Arena();
  /** The schedule's rate: the learning rate given, or the rule's default (undefined: a custom rule given none). */
  private readonly scheduleBase: number | undefined;
  private running = false;

  constructor(model: Model, data: SolverData, options?: SolverOptions) {
    if (!(model instanceof Model)) throw invalidType('model', 'a deepconv Model (ThreeLayerConvNet, DeepConvNet, FullyConnectedNet, TwoLayerNet, ...)', model);
    this.model = model;
    const d = checkOptions('data', data);
    const C = model.numClasses;
    const checkX = (name: string, X: unknown, empty = false): Tensor => {
      const t = checkTensor(name, X, undefined, undefined, empty);
      if (t.ndim < 2) throw new RangeError(`${name} must have shape (N, ...), got ${shapeStr(t.shape)}`);
      if (t.dtype !== model.dtype) throw new TypeError(`${name} must have dtype ${model.dtype} like the model, got ${t.dtype}`);
      if (t.device !== 'cpu') throw new TypeError(`${name} must be a cpu tensor (the Solver copies each minibatch to the model's device), got one on ${t.device}`);
      return t;
    };
    this.xTrain = checkX('data.xTrain', d.xTrain);
    if (this.xTrain.shape[0] < 1) throw new RangeError('data.xTrain must hold at least one sample, got 0');
    this.yTrain = labelsOf('data.yTrain', d.yTrain, this.xTrain.shape[0], C);
    this.xVal = checkX('data.xVal', d.xVal, true);
    this.yVal = labelsOf('data.yVal', d.yVal, this.xVal.shape[0], C);
    if (this.xVal.shape.slice(1).join() !== this.xTrain.shape.slice(1).join()) {
      throw new RangeError(`data.xVal must have samples shaped like data.xTrain's ${shapeStr(this.xTrain.shape.slice(1))}, got ${shapeStr(this.xVal.shape.slice(1))}`);
    }

    const o = checkOptions('options', options) as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!OPTION_KEYS.includes(k)) throw new TypeError(`options.${k} is not a Solver option (expected one of ${OPTION_KEYS.join(', ')})`);
    }
    if (o.device !== undefined) model.toDevice(checkDevice('options.device', o.device));
    const rule = o.updateRule ?? 'sgd';
    if (typeof rule === 'function') this.updateRule = rule as UpdateRuleFn;
    else if (typeof rule === 'string') this.updateRule = updateRuleName(rule, 'options.updateRule');
    else throw invalidType('options.updateRule', `${UPDATE_RULES.map((r) => `'${r}'`).join(', ')} or a function`, rule);
    const oc = o.optimConfig ?? {};
    if (oc === null || typeof oc !== 'object' || Array.isArray(oc)) throw invalidType('options.optimConfig', 'an object of update-rule hyperparameters', oc);
    this.optimConfig = { ...(oc as Record<string, unknown>) };
    this.optimizer = new Optimizer(this.updateRule, this.optimConfig, 'options.optimConfig');
    this.scheduleBase = this.optimizer.learningRate;
    this.lrDecay = checkNumber('options.lrDecay', o.lrDecay ?? 1, (v) => v > 0, 'a positive finite number');
    this.batchSize = checkInt('options.batchSize', o.batchSize ?? 100, 1);
    this.numEpochs = checkInt('options.numEpochs', o.numEpochs ?? 10, 0);
    this.numTrainSamples = o.numTrainSamples === null ? null : checkInt('options.numTrainSamples', o.numTrainSamples ?? 1000, 1);
    this.numValSamples = o.numValSamples === undefined || o.numValSamples === null ? null : checkInt('options.numValSamples', o.numValSamples, 1);
    this.printEvery = checkInt('options.printEvery', o.printEvery ?? 10, 1);
    this.printAccEvery = checkInt('options.printAccEvery', o.printAccEvery ?? 1, 1);
    const verbose = o.verbose ?? true;
    if (typeof verbose !== 'boolean') throw invalidType('options.verbose', 'a boolean', verbose);
    this.verbose = verbose;
    const cp = o.checkpointName ?? null;
    if (cp !== null && (typeof cp !== 'string' || cp === '')) throw invalidType('options.checkpointName', 'a non-empty string (file prefix) or null', cp);
    this.checkpointName = cp;
    const cf = o.checkpointFile ?? null;
    if (cf !== null && (typeof cf !== 'string' || cf === '')) throw invalidType('options.checkpointFile', 'a non-empty string (file path) or null', cf);
    this.checkpointFile = cf;
    this.checkpointEvery = checkNumber('options.checkpointEvery', o.checkpointEvery ?? 60, (v) => v >= 0, 'a finite number of seconds >= 0');
    this.seed = o.seed === undefined || o.seed === null ? new Rng().seed() : checkInt('options.seed', o.seed, 0);
    this.augment = this.readAugment(o.augment);
    const sampling = o.sampling ?? 'replacement';
    if (sampling !== 'replacement' && sampling !== 'epoch') throw invalidType('options.sampling', "'replacement' or 'epoch'", sampling);
    this.sampling = sampling;
    const fn = <T>(name: string): T | null => {
      const f = o[name] ?? null;
      if (f !== null && typeof f !== 'function') throw invalidType(`options.${name}`, 'a function or null', f);
      return f as T | null;
    };
    if (o.onStep != null && o.onProgress != null) throw new TypeError('options.onStep and options.onProgress are one callback under two names: give one');
    this.onProgress = fn<(info: ProgressInfo) => void>('onStep') ?? fn<(info: ProgressInfo) => void>('onProgress');
    this.onEval = fn<(info: EvalInfo) => void>('onEval');
    this.onEpochEnd = fn<(info: EpochInfo) => void>('onEpochEnd');
    this.earlyStopping = this.readEarlyStopping(o.earlyStopping);
    this.labelSmoothing = checkLabelSmoothing('options.labelSmoothing', o.labelSmoothing);
    const sched = o.lrSchedule ?? 'step';
    if (!(SCHEDULES as readonly unknown[]).includes(sched)) throw invalidType('options.lrSchedule', SCHEDULES.map((x) => `'${x}'`).join(', '), sched);
    this.lrSchedule = sched as LrSchedule;
    this.warmupFraction = checkNumber('options.warmupFraction', o.warmupFraction ?? 0.05, (v) => v >= 0 && v < 1, 'a fraction in [0, 1)');
    const logger = o.logger ?? ((line: string) => console.log(line));
    if (typeof logger !== 'function') throw invalidType('options.logger', 'a function (line: string) => void', logger);
    this.logger = logger as (line: string) => void;
    if (sched !== 'step') {
      if (o.lrDecay !== undefined && this.lrDecay !== 1) throw new RangeError(`options.lrDecay must be 1 with lrSchedule '${sched}' (that schedule sets the learning rate itself), got ${this.lrDecay}`);
      if (this.scheduleBase === undefined) throw new TypeError(`options.optimConfig.learningRate must be given for lrSchedule '${sched}' with a custom update rule`);
    }
    this.weightAverage = o.ema === undefined || o.ema === null ? null : new WeightAverage(o.ema as number, 'options.ema');
    if (this.augment && this.xTrain.ndim !== 4) throw new RangeError(`options.augment needs (N, C, H, W) images, but data.xTrain has shape ${shapeStr(this.xTrain.shape)}`);
    this.rng = new Rng(this.seed);
    this.reset();
    if (o.resume !== undefined && o.resume !== null) {
      if (typeof o.resume !== 'string') throw invalidType('options.resume', 'a checkpoint path', o.resume);
      this.resume(o.resume);
    }
  }

  private readEarlyStopping(v: unknown): Required<EarlyStoppingOptions> | null {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) throw invalidType('options.earlyStopping', '{ patience, minDelta? } or null', v);
    const e = v as Record<string, unknown>;
    for (const k of Object.keys(e)) if (k !== 'patience' && k !== 'minDelta') throw new TypeError(`options.earlyStopping.${k} is not an early-stopping option (expected patience, minDelta)`);
    return {
      patience: checkInt('options.earlyStopping.patience', e.patience, 1),
      minDelta: checkNumber('options.earlyStopping.minDelta', e.minDelta ?? 0, (x) => x >= 0 && x < 1, 'a number in [0, 1)'),
    };
  }

  private readAugment(v: unknown): Required<AugmentOptions> | null {
    if (v === undefined || v === false || v === null) return null;
    if (v === true) return { pad: 4, flip: true };
    if (typeof v !== 'object' || Array.isArray(v)) throw invalidType('options.augment', 'a boolean or { pad?, flip? }', v);
    const a = v as Record<string, unknown>;
    for (const k of Object.keys(a)) if (k !== 'pad' && k !== 'flip') throw new TypeError(`options.augment.${k} is not an augment option (expected pad, flip)`);
    const pad = checkInt('options.augment.pad', a.pad ?? 4, 0);
    const flip = a.flip ?? true;
    if (typeof flip !== 'boolean') throw invalidType('options.augment.flip', 'a boolean', flip);
    return { pad, flip };
  }

  /** The seed's _reset: fresh histories and one copy of optimConfig per parameter. */
  reset(): void {
    this.epoch = 0;
    this.iteration = 0;
    this.bestValAcc = 0;
    this.bestParams = {};
    this.bestState = {};
    this.lossHistory = [];
    this.trainAccHistory = [];
    this.valAccHistory = [];
    this.elapsed = 0;
    this.optimizer.learningRate = this.scheduleBase;
    this.optimizer.reset(Object.keys(this.model.params));
    this.weightAverage?.start(this.model);
  }

  get iterationsPerEpoch(): number {
    return Math.max(Math.floor(this.xTrain.shape[0] / this.batchSize), 1);
  }

  /** Iterations the run is planned for: numEpochs * iterationsPerEpoch. */
  get numIterations(): number {
    return this.numEpochs * this.iterationsPerEpoch;
  }

  private log(line: string): void {
    if (this.verbose) this.logger(line);
  }

  // Scratch buffers of the training step.
  private batchX: Tensor | null = null;
  private augX: Tensor | null = null;
  private deviceX: Tensor | null = null;  // the minibatch on a cuda model's device
  private evalX: Tensor | null = null;  // an evaluation batch on a cuda model's device

  /** x (cpu) as the model's input: itself, or copied into `slot`'s device memory. */
  private async onModelDevice(x: Tensor, slot: 'deviceX' | 'evalX'): Promise<Tensor> {
    const device = this.model.device;
    return device === 'cpu' ? x : (this[slot] = await stageOn(device, x, this[slot]));
  }
  private batchY = new Int32Array(0);
  private perm: Int32Array | null = null;
  private permEpoch = -1;

  private batchIndices(t: number, rng: Rng): Int32Array {
    const N = this.xTrain.shape[0];
    const B = this.batchSize;
    const idx = new Int32Array(B);
    if (this.sampling === 'replacement') {
      for (let i = 0; i < B; i++) idx[i] = rng.int(N);
      return idx;
    }
    const ipe = this.iterationsPerEpoch;
    const e = Math.floor(t / ipe);
    if (this.permEpoch !== e || !this.perm) {
      const p = new Int32Array(N);
      for (let i = 0; i < N; i++) p[i] = i;
      new Rng(mix(this.seed, e, SALT_PERM)).shuffle(p);
      this.perm = p;
      this.permEpoch = e;
    }
    const start = (t % ipe) * B;
    for (let i = 0; i < B; i++) idx[i] = this.perm[(start + i) % N];
    return idx;
  }

  /** One training step: minibatch, forward + backward (async), updates (async). Returns the loss. */
  private async step(t: number): Promise<number> {
    const X = this.xTrain;
    const B = this.batchSize;
    const rng = new Rng(mix(this.seed, t, SALT_BATCH));
    const idx = this.batchIndices(t, rng);
    if (!this.batchX) this.batchX = Tensor.zeros([B, ...X.shape.slice(1)], X.dtype);
    const bx = this.batchX;
    gatherRows(X, idx, 0, B, bx);
    if (this.batchY.length !== B) this.batchY = new Int32Array(B);
    for (let i = 0; i < B; i++) this.batchY[i] = this.yTrain[idx[i]];
    let input = bx;
    if (this.augment) {
      if (!this.augX) this.augX = Tensor.zeros(bx.shape, bx.dtype);
      const [, Cc, H, W] = bx.shape;
      randomCropFlip(bx.data, B, Cc, H, W, rng, { pad: this.augment.pad, flip: this.augment.flip, out: this.augX.data });
      input = this.augX;
    }
    input = await this.onModelDevice(input, 'deviceX');
    const { loss, grads } = await this.model.lossAsync(input, this.batchY, { arena: this.trainArena, labelSmoothing: this.labelSmoothing });
    await this.optimizer.step(this.model.params, grads);
    await this.weightAverage?.update(this.model);
    return loss;
  }

  /**
   * Accuracy of the model on (X, y): the fraction of samples whose highest score is their label.
   * Runs off the main thread (lossAsync in batches).
   */
  async checkAccuracy(X: Tensor, y: Labels, opts?: AccuracyOptions): Promise<number> {
    const o = checkOptions('opts', opts);
    const numSamples = o.numSamples === undefined || o.numSamples === null ? null : checkInt('opts.numSamples', o.numSamples, 1);
    const batchSize = checkInt('opts.batchSize', o.batchSize ?? 100, 1);
    const tta = checkTta(o.tta);
    checkTensor('X', X);
    if (X.ndim < 2) throw new RangeError(`X must have shape (N, ...), got ${shapeStr(X.shape)}`);
    checkTtaInput(tta, X);
    const labels = labelsOf('y', y, X.shape[0], this.model.numClasses);
    return this.accuracy(X, labels, numSamples, batchSize, this.rng, tta);
  }

  private async accuracy(X: Tensor, y: Int32Array, numSamples: number | null, batchSize: number, rng: Rng, tta: Tta = 'none'): Promise<number> {
    const N = X.shape[0];
    if (N === 0) return 0;
    let idx: Int32Array | null = null;
    let n = N;
    if (numSamples !== null && N > numSamples) {
      idx = sampleWithoutReplacement(N, numSamples, rng);
      n = numSamples;
    }
    let correct = 0;
    let buf: Tensor | null = null;
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(n, start + batchSize);
      let xb: Tensor;
      let yb: Int32Array;
      if (idx) {
        if (!buf || buf.shape[0] !== end - start) buf = Tensor.zeros([end - start, ...X.shape.slice(1)], X.dtype);
        gatherRows(X, idx, start, end, buf);
        xb = buf;
        yb = new Int32Array(end - start);
        for (let i = start; i < end; i++) yb[i - start] = y[idx[i]];
      } else {
        xb = sliceRows(X, start, end);
        yb = y.subarray(start, end);
      }
      if (tta === 'flip') {
        correct += argmaxAccuracy(await this.model.predict(xb, { batchSize, tta }), yb, 0);
        continue;
      }
      const scores = await this.model.lossAsync(await this.onModelDevice(xb, 'evalX'), null, { arena: this.evalArena });
      correct += argmaxAccuracy(scores.device === 'cpu' ? scores : await scores.toDeviceAsync('cpu'), yb, 0);
    }
    return correct / n;
  }

  /**
   * Asks a running train() to stop after the step in progress (e.g. on Ctrl-C); train() then
   * resolves with interrupted: true, and the model and solver state can be checkpointed.
   */
  stop(): void {
    this.stopRequested = true;
  }

  /**
   * Trains for numEpochs (continuing from the current iteration after a resume), checking
   * accuracies after the first iteration, after each epoch and at the end.
   */
  async train(opts?: TrainOptions): Promise<TrainSummary> {
    const o = checkOptions('opts', opts);
    const keys = ['timeLimit', 'returnBestParams', 'maxSteps'];
    for (const k of Object.keys(o)) {
      if (!keys.includes(k)) throw new TypeError(`opts.${k} is not a train() option (expected ${keys.join(', ')})`);
    }
    const timeLimit = o.timeLimit === undefined || o.timeLimit === null ? null : checkNumber('opts.timeLimit', o.timeLimit, (v) => v > 0, 'a positive number of seconds');
    const maxSteps = o.maxSteps === undefined || o.maxSteps === null ? null : checkInt('opts.maxSteps', o.maxSteps, 1);
    const returnBest = o.returnBestParams ?? true;
    if (typeof returnBest !== 'boolean') throw invalidType('opts.returnBestParams', 'a boolean', returnBest);
    if (this.running) throw new Error('this Solver is already training (await the running train() first)');
    this.running = true;
    this.stopRequested = false;
    try {
      return await this.trainLoop(timeLimit, maxSteps, returnBest);
    } finally {
      this.running = false;
    }
  }

  /** The learning-rate schedule of a train() call (null: a custom rule that sets its own rate). */
  private schedule(timeLimit: number | null, lastStep: number): Schedule | null {
    if (this.scheduleBase === undefined) return null;
    return new Schedule({
      kind: this.lrSchedule,
      baseRate: this.scheduleBase,
      warmupFraction: this.warmupFraction,
      decay: this.lrDecay,
      stepsPerEpoch: this.iterationsPerEpoch,
      totalSteps: lastStep,
      timeLimit,
    });
  }

  private async trainLoop(timeLimit: number | null, maxSteps: number | null, returnBest: boolean): Promise<TrainSummary> {
    const numIterations = this.numIterations;
    const lastStep = maxSteps === null ? numIterations : Math.min(numIterations, maxSteps);
    const schedule = this.schedule(timeLimit, lastStep);
    const ipe = this.iterationsPerEpoch;
    const now = () => performance.now() / 1000;
    const startTime = now();
    const elapsedBefore = this.elapsed;
    let prevTime = startTime;
    const first = this.iteration;
    let reason: StopReason = 'done';
    let lastEvaluated = -1;
    let lastWrite = this.elapsed;  // training seconds at the last write of checkpointFile
    let epochLoss = 0;
    let epochSteps = 0;
    for (let t = this.iteration; t < numIterations; t++) {
      if (this.stopRequested) {
        this.log(`(Iteration ${t} / ${numIterations}) stopping: stop() was called`);
        reason = 'stop';
        break;
      }
      if (t >= lastStep) {
        this.log(`(Iteration ${t} / ${numIterations}) stopping: maxSteps ${maxSteps} reached`);
        reason = 'maxSteps';
        break;
      }
      const curTime = now();
      if (timeLimit !== null && t > first) {
        const nextTime = curTime - prevTime;
        if (elapsedBefore + curTime - startTime + nextTime > timeLimit) {
          this.log(`(Iteration ${t} / ${numIterations}) stopping: the time limit of ${timeLimit} s would be exceeded`);
          reason = 'timeLimit';
          break;
        }
      }
      prevTime = curTime;
      if (schedule) this.optimizer.learningRate = schedule.rate(t, elapsedBefore + curTime - startTime);
      const lr = this.optimizer.learningRate ?? NaN;
      const stepStart = now();
      const loss = await this.step(t);
      const stepTime = now() - stepStart;
      this.iteration = t + 1;
      this.elapsed = elapsedBefore + now() - startTime;
      // The configs show the rate the next step will use (the seed's per-epoch decay, visible in optimConfigs).
      if (schedule) this.optimizer.learningRate = schedule.rate(t + 1, this.elapsed);
      this.lossHistory.push(loss);
      epochLoss += loss;
      epochSteps++;
      if (!Number.isFinite(loss)) throw new RangeError(`the training loss became ${loss} at iteration ${t + 1} (try a smaller learning rate)`);
      const epochEnds = (t + 1) % ipe === 0 || t === 0 || t === numIterations - 1;
      if (this.checkpointFile !== null && !epochEnds && this.elapsed - lastWrite >= this.checkpointEvery) {
        this.saveCheckpoint(this.checkpointFile);  // the evaluations below write it at epoch ends
        lastWrite = this.elapsed;
      }
      if (t % this.printEvery === 0) this.log(`(Iteration ${t + 1} / ${numIterations}) loss: ${loss.toFixed(6)}`);
      if ((t + 1) % ipe === 0) this.epoch += 1;
      this.onProgress?.({ step: t + 1, iterations: numIterations, epoch: this.epoch, loss, imagesPerSecond: this.batchSize / Math.max(stepTime, 1e-9), stepSeconds: stepTime, learningRate: lr, elapsed: this.elapsed });
      if ((t + 1) % ipe === 0) {
        this.onEpochEnd?.({ epoch: this.epoch, step: t + 1, meanLoss: epochLoss / Math.max(1, epochSteps), elapsed: this.elapsed });
        epochLoss = 0;
        epochSteps = 0;
      }
      if (epochEnds) {
        await this.evaluate(t);
        this.elapsed = elapsedBefore + now() - startTime;
        this.saveCheckpoint();
        if (this.checkpointFile !== null) {
          this.saveCheckpoint(this.checkpointFile);
          lastWrite = this.elapsed;
        }
        lastEvaluated = t;
        if (this.patienceExhausted()) {
          this.log(`(Iteration ${t + 1} / ${numIterations}) stopping: no validation improvement in ${this.earlyStopping!.patience} evaluations`);
          reason = 'earlyStopping';
          break;
        }
      }
    }
    const interrupted = reason === 'stop';
    // A run cut short by its time limit or step cap is evaluated where it stopped, so that the best
    // parameters include its last stretch of training.
    if ((reason === 'timeLimit' || reason === 'maxSteps') && this.iteration > 0 && lastEvaluated !== this.iteration - 1 && this.iteration > first) await this.evaluate(this.iteration - 1);
    // After stop() the model keeps its current parameters, so that a checkpoint resumes exactly.
    if (returnBest && !interrupted && Object.keys(this.bestParams).length > 0) this.restore(this.bestParams, this.bestState);
    else if (returnBest && !interrupted && this.weightAverage) this.restore(this.weightAverage.params, this.weightAverage.state);
    return { iterations: this.iteration, epoch: this.epoch, stoppedEarly: reason !== 'done', interrupted, reason, seconds: now() - startTime, bestValAcc: this.bestValAcc };
  }

  /** Whether the last earlyStopping.patience evaluations all failed to beat the best before them by minDelta. */
  private patienceExhausted(): boolean {
    const e = this.earlyStopping;
    const h = this.valAccHistory;
    if (!e || this.xVal.shape[0] === 0 || h.length <= e.patience) return false;
    const before = Math.max(...h.slice(0, h.length - e.patience));
    return h.slice(h.length - e.patience).every((v) => v <= before + e.minDelta);
  }

  /** Training and validation accuracy after iteration t; keeps the best parameters so far. */
  private async evaluate(t: number): Promise<void> {
    // With a weight average, the averaged network is the one evaluated and kept as the best.
    if (this.weightAverage) return this.weightAverage.with(this.model, () => this.evaluateModel(t));
    return this.evaluateModel(t);
  }

  private async evaluateModel(t: number): Promise<void> {
    const trainAcc = await this.accuracy(this.xTrain, this.yTrain, this.numTrainSamples, 100, new Rng(mix(this.seed, t, SALT_TRAIN_ACC)));
    const valAcc = await this.accuracy(this.xVal, this.yVal, this.numValSamples, 100, new Rng(mix(this.seed, t, SALT_VAL_ACC)));
    this.trainAccHistory.push(trainAcc);
    this.valAccHistory.push(valAcc);
    if (this.epoch % this.printAccEvery === 0) {
      this.log(`(Epoch ${this.epoch} / ${this.numEpochs}) train acc: ${trainAcc.toFixed(6)}; val_acc: ${valAcc.toFixed(6)}`);
    }
    if (this.xVal.shape[0] > 0 && (valAcc > this.bestValAcc || Object.keys(this.bestParams).length === 0)) {
      this.bestValAcc = valAcc;
      this.bestParams = {};
      for (const [k, v] of Object.entries(this.model.params)) this.bestParams[k] = v.clone();
      this.bestState = {};
      for (const [k, v] of Object.entries(this.model.stateTensors())) this.bestState[k] = v.clone();
    }
    this.onEval?.({ epoch: this.epoch, step: t + 1, trainAcc, valAcc, bestValAcc: this.bestValAcc, elapsed: this.elapsed });
  }

  /**
   * Puts copies of `params` and batchnorm statistics `state` into the model: the best ones kept by
   * the evaluations, or the weight average at the end of a run without validation data.
   */
  private restore(params: Record<string, Tensor>, state: Record<string, Tensor>): void {
    for (const [k, v] of Object.entries(params)) this.model.params[k] = v.clone();
    const live = this.model.stateTensors();
    for (const [k, v] of Object.entries(state)) if (live[k]) live[k].copyFrom(v);
  }

  /** The checkpoint file of the current epoch (null without checkpointName). */
  checkpointPath(epoch = this.epoch): string | null {
    return this.checkpointName === null ? null : `${this.checkpointName}_epoch_${epoch}.safetensors`;
  }

  /**
   * Writes model (config, params, batchnorm statistics) and solver state (epoch, iteration,
   * histories, optimizer configs and moments, best parameters) to checkpointPath(), atomically
   * (lib/checkpoint.ts). A checkpoint is also a model file: loadModel() reads it.
   */
  saveCheckpoint(path: string | null = this.checkpointPath()): void {
    if (path === null) return;
    writeCheckpoint(path, this.model, {
      updateRule: this.ruleName(),
      epoch: this.epoch,
      iteration: this.iteration,
      seed: this.seed,
      elapsed: this.elapsed,
      trainAccHistory: this.trainAccHistory,
      valAccHistory: this.valAccHistory,
      bestValAcc: this.bestValAcc,
      optimConfigs: this.optimConfigs,
      bestParams: this.bestParams,
      bestState: this.bestState,
      lossHistory: this.lossHistory,
      baseLearningRate: this.scheduleBase ?? null,
      ema: this.weightAverage ? { updates: this.weightAverage.updates, params: this.weightAverage.params, state: this.weightAverage.state } : null,
    });
    this.lastCheckpoint = path;
  }

  private ruleName(): string {
    return typeof this.updateRule === 'string' ? this.updateRule : 'custom';
  }

  /**
   * Continues from a checkpoint written by this kind of Solver and model: loads the model's
   * parameters and batchnorm statistics, the optimizer state, histories, epoch and iteration
   * (train() then runs the remaining iterations of numEpochs). The model must have the
   * checkpoint's class and options.
   */
  resume(path: string): void {
    const st = readCheckpoint(path, this.model, this.ruleName(), this.optimConfig);
    this.optimConfigs = st.optimConfigs;
    this.bestParams = st.bestParams;
    this.bestState = st.bestState;
    this.lossHistory = st.lossHistory;
    this.trainAccHistory = st.trainAccHistory;
    this.valAccHistory = st.valAccHistory;
    this.bestValAcc = st.bestValAcc;
    this.epoch = st.epoch;
    this.iteration = st.iteration;
    this.elapsed = st.elapsed;
    (this as { seed: number }).seed = st.seed;
    this.permEpoch = -1;
    if (this.weightAverage) {
      // A checkpoint without an average (written without the ema option) starts one at its weights.
      if (st.ema) Object.assign(this.weightAverage, { updates: st.ema.updates, params: st.ema.params, state: st.ema.state });
      else this.weightAverage.start(this.model);
    }
    this.lastCheckpoint = path;
  }
}
