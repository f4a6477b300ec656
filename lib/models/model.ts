// What every network shares: parameters, the loss written once as a generator of prepared
// native calls (run synchronously by loss() and off the main thread by lossAsync()), L2
// regularization, batched asynchronous prediction, and save / load.
import { FileFormatError } from '../io/errors';
import { loadModelFile, ModelFile, saveModel } from '../io/model-file';
import { Arena } from '../engine/arena';
import { cropFlip } from '../data/augment';
import { BatchNormParam } from '../layers/batchnorm';
import { checkLabelSmoothing } from '../layers/loss';
import { native } from '../binding';
import { barrier, driveAsync, driveSync, step, Steps } from '../engine/op';
import { checkDevice, Device, DType, hostArray, stageOn, Tensor, withAllocationLimit } from '../tensor';
import { checkInt, checkLabels, checkOptions, checkTensor, describe, invalidType, Labels, shapeStr } from '../validate';
import type { LayerSpec } from './architecture';
import { OnnxOptions, writeOnnx } from '../interop/onnx';
import { TorchExportOptions, writeTorch } from '../interop/torch';
import { formatSummary, ModelSummary, summarize } from './summary';

/** Loss and gradients of a training forward/backward pass (grads keyed like params). */
export interface LossAndGrads {
  loss: number;
  grads: Record<string, Tensor>;
}

export interface LossOptions {
  /**
   * Recycle the outputs of the previous call made with this arena (see engine/arena.ts): no
   * allocation in steady state, but the returned scores / grads are only valid until the next
   * call with the same arena.
   */
  arena?: Arena | null;
  /** With labels: label smoothing of the softmax loss, in [0, 1) (default 0; see softmaxLoss). */
  labelSmoothing?: number;
}

export interface PredictOptions {
  /** Samples per forward pass (default 256). */
  batchSize?: number;
  /**
   * Test-time augmentation: 'flip' averages the scores of each image and of its left-right mirror
   * image ((N, C, H, W) input on the cpu); 'none' (default) scores the images as they are.
   */
  tta?: Tta;
}

/** The test-time augmentations predict and checkAccuracy offer (the first is the default). */
export const TTAS = ['none', 'flip'] as const;
export type Tta = (typeof TTAS)[number];

/** opts.tta, checked: one of TTAS. */
export function checkTta(v: unknown): Tta {
  const tta = v ?? TTAS[0];
  if (!(TTAS as readonly unknown[]).includes(tta)) throw invalidType('opts.tta', TTAS.map((t) => `'${t}'`).join(' or '), tta);
  return tta as Tta;
}

/** 'flip' mirrors images: X must be (N, C, H, W). */
export function checkTtaInput(tta: Tta, X: Tensor): void {
  if (tta === 'flip' && X.ndim !== 4) throw new RangeError(`opts.tta 'flip' needs (N, C, H, W) images, got X of shape ${shapeStr(X.shape)}`);
}

/** What a model file's config holds: the class and its constructor options. */
export interface ModelConfig {
  class: string;
  options: Record<string, unknown>;
}

/** One batchnorm layer's state: running statistics (updated in place in train mode). */
export interface BnState {
  runningMean: Tensor;
  runningVar: Tensor;
  momentum?: number;
  eps?: number;
}

/** predict() arenas a model keeps between calls: enough for a couple of concurrent callers. */
const MAX_IDLE_ARENAS = 2;

type Factory = (options: Record<string, unknown>) => Model;
const registry = new Map<string, Factory>();

/** Makes `loadModel` able to rebuild a class from its name (each network registers itself). */
export function registerModel(className: string, factory: Factory): void {
  registry.set(className, factory);
}

/** A view of rows [start, end) of a (N, ...) cpu tensor, sharing its memory. */
export function sliceRows(X: Tensor, start: number, end: number): Tensor {
  const per = X.shape.slice(1).reduce((a, b) => a * b, 1);
  return new Tensor(X.data.subarray(start * per, end * per), [end - start, ...X.shape.slice(1)]);
}

export abstract class Model {
  /** Learnable parameters by name (the seed's keys). */
  params: Record<string, Tensor> = {};
  /** L2 strength: loss += reg * sum(W^2) over conv and linear weights. */
  reg: number;
  readonly dtype: DType;
  readonly numClasses: number;
  /** The class name written to model files. */
  abstract readonly className: string;
  /** Batchnorm state per batchnorm layer, keyed by the suffix of its gamma / beta (e.g. '0' for gamma0). */
  protected bnState: Record<string, BnState> = {};
  /** cpu predict() arenas not in use (see predict). */
  private idleArenas: Arena[] = [];

  protected constructor(reg: number, dtype: DType, numClasses: number) {
    this.reg = reg;
    this.dtype = dtype;
    this.numClasses = numClasses;
  }

  /** The constructor options that rebuild this network (defaults filled in, current reg; not the device). */
  abstract get options(): Record<string, unknown>;

  /** Where the parameters live: 'cpu', or 'cuda' (see toDevice). */
  get device(): Device {
    const first = Object.values(this.params)[0];
    return first ? first.device : 'cpu';
  }

  /**
   * Moves the parameters and batchnorm statistics to `device` (copies; the old tensors are left to
   * the garbage collector) and returns the model. cuda models are float32. Inputs must then be on
   * the same device: loss(X) takes X there; predict() and the Solver move batches themselves.
   */
  toDevice(device: Device): this {
    const d = checkDevice('device', device);
    if (d === 'cuda' && this.dtype !== 'float32') {
      throw new TypeError(`cuda models are float32, but this ${this.className} has dtype ${this.dtype}: build it with dtype 'float32'`);
    }
    if (d === this.device) return this;
    this.idleArenas = [];
    for (const k of Object.keys(this.params)) this.params[k] = this.params[k].toDevice(d);
    for (const s of Object.values(this.bnState)) {
      s.runningMean = s.runningMean.toDevice(d);
      s.runningVar = s.runningVar.toDevice(d);
    }
    return this;
  }

  /** { class, options }: what save() writes as the file's config. */
  get config(): ModelConfig {
    return { class: this.className, options: this.options };
  }

  /** The names of the weights L2 applies to (conv and linear weights). */
  protected abstract weightKeys(): string[];

  /** The shape of one input sample: [C, H, W] for the conv nets, [D] for the fully connected ones. */
  abstract get inputShape(): number[];

  /**
   * The network as nn.Sequential would hold it (see architecture.ts): what the ONNX and PyTorch
   * exports write. Inference only: dropout is listed, batchnorm with its running statistics.
   */
  abstract architecture(): LayerSpec[];

  /** Checks X (shape per sample and dtype) and returns N. */
  protected abstract checkInput(X: Tensor): number;

  /**
   * The network's computation, written once: scores (test mode) when y is null, else loss and
   * gradients (train mode) without the L2 term (added by steps()).
   */
  protected abstract forwardBackward(X: Tensor, y: Int32Array | null, labelSmoothing?: number): Steps<Tensor | LossAndGrads>;

  /** The whole computation with its checks and regularization, as a generator of native calls. */
  *steps(X: Tensor, y?: Labels | null, labelSmoothing = 0): Steps<Tensor | LossAndGrads> {
    const labels = this.checkCall(X, y);
    const r = yield* this.forwardBackward(X, labels, labelSmoothing);
    if (labels === null) return r;
    const out = r as LossAndGrads;
    const reg = this.reg;
    if (reg !== 0) {
      // dw += 2 reg w and sum(w^2), natively on the parameters' device.
      const keys = this.weightKeys();
      const sums = keys.map(() => hostArray('float64', 1));
      for (let i = 0; i < keys.length; i++) {
        const w = this.params[keys[i]];
        const g = out.grads[keys[i]];
        const sumSq = sums[i];
        yield* step({ result: undefined, call: (async) => native.l2Penalty(w.size, reg, g.buffer, w.buffer, sumSq, async) });
      }
      yield* barrier();
      for (const s of sums) out.loss += reg * s[0];
    }
    return out;
  }

  private checkCall(X: Tensor, y: Labels | null | undefined): Int32Array | null {
    checkTensor('X', X);
    if (X.dtype !== this.dtype) throw new TypeError(`X must have dtype ${this.dtype} like the model's parameters, got ${X.dtype}`);
    if (X.device !== this.device) {
      throw new TypeError(`X must be on ${this.device} like the model's parameters, got a tensor on ${X.device} (move it with X.toDevice('${this.device}'))`);
    }
    const N = this.checkInput(X);
    if (N < 1) throw new RangeError(`X must hold at least one sample, got shape ${shapeStr(X.shape)}`);
    if (typeof this.reg !== 'number' || !Number.isFinite(this.reg) || this.reg < 0) {
      throw new RangeError(`reg must be a finite number >= 0, got ${describe(this.reg)}`);
    }
    return y === undefined || y === null ? null : checkLabels('y', y, N, this.numClasses);
  }

  /**
   * Without y: class scores (N, numClasses), test mode (batchnorm running statistics, no dropout).
   * With y: { loss, grads }, train mode (batch statistics, updating the running ones; dropout on).
   */
  loss(X: Tensor, y?: null, opts?: LossOptions): Tensor;
  loss(X: Tensor, y: Labels, opts?: LossOptions): LossAndGrads;
  loss(X: Tensor, y?: Labels | null, opts?: LossOptions): Tensor | LossAndGrads {
    const o = checkOptions('opts', opts);
    return driveSync(this.steps(X, y, checkLabelSmoothing('opts.labelSmoothing', o.labelSmoothing)), o.arena ?? null);
  }

  /** loss() with every native call on the addon's executor thread: the event loop stays free. */
  lossAsync(X: Tensor, y?: null, opts?: LossOptions): Promise<Tensor>;
  lossAsync(X: Tensor, y: Labels, opts?: LossOptions): Promise<LossAndGrads>;
  lossAsync(X: Tensor, y?: Labels | null, opts?: LossOptions): Promise<Tensor | LossAndGrads> {
    try {
      const o = checkOptions('opts', opts);
      return driveAsync(this.steps(X, y, checkLabelSmoothing('opts.labelSmoothing', o.labelSmoothing)), o.arena ?? null);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Class scores (N, numClasses) of X, computed off the main thread; always a cpu tensor. A cpu X
   * goes in batches (each copied to the model's device first when that is cuda); a cuda X, which
   * cannot be sliced, goes in one pass.
   */
  async predict(X: Tensor, opts?: PredictOptions): Promise<Tensor> {
    const o = checkOptions('opts', opts);
    const batchSize = checkInt('opts.batchSize', o.batchSize ?? 256, 1);
    const tta = checkTta(o.tta);
    checkTensor('X', X);
    checkTtaInput(tta, X);
    if (tta === 'flip' && X.device !== 'cpu') throw new TypeError("opts.tta 'flip' needs X on the cpu (it mirrors the images there, batch by batch)");
    if (X.dtype !== this.dtype) throw new TypeError(`X must have dtype ${this.dtype} like the model's parameters, got ${X.dtype}`);
    const N = this.checkInput(X);
    const C = this.numClasses;
    const device = this.device;
    if (X.device === 'cuda') return (await this.lossAsync(X)).toDeviceAsync('cpu');  // lossAsync checks the device
    const out = Tensor.zeros([N, C], this.dtype);
    // The batches share one set of buffers: on cuda no cudaMalloc per batch; on the cpu an arena
    // kept from earlier calls, so a steady stream of predict() calls allocates nothing but `out`.
    // Calls in flight together each take their own.
    const arena = device === 'cuda' ? new Arena() : (this.idleArenas.pop() ?? new Arena());
    let staged: Tensor | null = null;  // the batch on the model's device
    let mirror: Tensor | null = null;  // tta 'flip': the batch mirrored (cpu)
    let mirrorScores: Tensor | null = null;
    try {
      for (let start = 0; start < N; start += batchSize) {
        const end = Math.min(N, start + batchSize);
        const rows = sliceRows(X, start, end);
        const dst = new Tensor(out.data.subarray(start * C, end * C), [end - start, C]);
        const score = async (x: Tensor, into: Tensor) => {
          const xb = device === 'cuda' ? (staged = await stageOn(device, x, staged)) : x;
          const scores = await this.lossAsync(xb, null, { arena });
          if (scores.device === 'cpu') into.data.set(scores.data);
          else await into.copyFromAsync(scores);
        };
        await score(rows, dst);
        if (tta === 'flip') {
          const [n, Cin, H, W] = rows.shape;
          if (!mirror || mirror.shape[0] !== n) {
            mirror = Tensor.zeros(rows.shape, rows.dtype);
            mirrorScores = Tensor.zeros([n, C], this.dtype);
          }
          const none = new Int32Array(n);
          cropFlip(rows.data, mirror.data, n, Cin, H, W, none, none, new Int32Array(n).fill(1));
          await score(mirror, mirrorScores!);
          const d = dst.data, m = mirrorScores!.data;
          for (let i = 0; i < d.length; i++) d[i] = 0.5 * (d[i] + m[i]);
        }
      }
    } finally {
      (staged as Tensor | null)?.dispose();  // assigned inside score()
      if (device === 'cuda') arena.dispose();
      else if (this.idleArenas.length < MAX_IDLE_ARENAS) this.idleArenas.push(arena);
    }
    return out;
  }

  /** Batchnorm running statistics, by layer suffix ('0' for gamma0 / beta0). */
  get bnParams(): Record<string, BnState> {
    return this.bnState;
  }

  /** The per-call batchnorm parameter of layer `key` (running statistics shared, updated in place). */
  protected bnParam(key: string, mode: 'train' | 'test'): BatchNormParam {
    const s = this.bnState[key];
    return { mode, runningMean: s.runningMean, runningVar: s.runningVar, momentum: s.momentum, eps: s.eps };
  }

  /** Non-parameter state saved with the model: runningMean{k} and runningVar{k} per batchnorm layer. */
  stateTensors(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [k, s] of Object.entries(this.bnState)) {
      out[`runningMean${k}`] = s.runningMean;
      out[`runningVar${k}`] = s.runningVar;
    }
    return out;
  }

  /**
   * Each layer's output shape, parameter count and forward FLOPs per sample, with the totals
   * (see summary.ts); `summary().text` is the printable table.
   */
  summary(): ModelSummary & { text: string } {
    const s = summarize(this.className, this.inputShape, this.architecture(), this.dtype);
    return { ...s, text: formatSummary(s) };
  }

  /**
   * Writes the network's inference graph as an ONNX file (atomically), for onnxruntime and other
   * ONNX runtimes: see OnnxOptions (input normalization, softmax, class names, opset).
   */
  toOnnx(path: string, opts?: OnnxOptions): void {
    writeOnnx(this, path, opts);
  }

  /**
   * Writes the network as the state_dict of the matching PyTorch nn.Sequential (a safetensors
   * file, atomically); scripts/load_in_torch.py builds the module and loads it strictly.
   */
  toTorch(path: string, opts?: TorchExportOptions): void {
    writeTorch(this, path, opts);
  }

  /**
   * Writes config, params and batchnorm statistics to a safetensors file (atomically), with the
   * caller's own metadata strings beside them (opts.metadata; `deepconv train` keeps its "data" there).
   */
  save(path: string, opts?: { metadata?: Record<string, string> }): void {
    saveModel(path, { config: this.config, params: this.params, extra: this.stateTensors(), metadata: checkOptions('opts', opts).metadata });
  }

  /**
   * Replaces params and state with `params` / `extra` after checking names, shapes and dtypes
   * against this network (errors name the key and the file). Extra tensors the model does not
   * know (e.g. a solver's optimizer state) are ignored.
   */
  assign(params: Record<string, Tensor>, extra: Record<string, Tensor>, file = '<model>'): void {
    const fail = (problem: string) => new FileFormatError(file, problem);
    const want = this.params;
    const desc = `${this.className} ${JSON.stringify(this.options)}`;
    for (const k of Object.keys(params)) {
      if (!(k in want)) throw fail(`parameter ${JSON.stringify(k)} is not one of the config's (${desc}: ${Object.keys(want).join(', ')})`);
    }
    const check = (kind: string, k: string, t: Tensor | undefined, like: Tensor) => {
      if (t === undefined) throw fail(`${kind} ${JSON.stringify(k)} is missing (the config ${desc} needs it with shape ${shapeStr(like.shape)})`);
      if (t.shape.length !== like.shape.length || t.shape.some((d, i) => d !== like.shape[i])) {
        throw fail(`${kind} ${JSON.stringify(k)} has shape ${shapeStr(t.shape)}, but the config ${desc} needs ${shapeStr(like.shape)}`);
      }
      if (t.dtype !== like.dtype) throw fail(`${kind} ${JSON.stringify(k)} has dtype ${t.dtype}, but the config says ${like.dtype}`);
    };
    for (const k of Object.keys(want)) check('parameter', k, params[k], want[k]);
    const state = this.stateTensors();
    for (const k of Object.keys(state)) check('state tensor', k, extra[k], state[k]);
    const device = this.device;  // the tensors move to where the model is
    for (const k of Object.keys(want)) want[k] = params[k].toDevice(device);
    for (const [k, s] of Object.entries(this.bnState)) {
      s.runningMean = extra[`runningMean${k}`].toDevice(device);
      s.runningVar = extra[`runningVar${k}`].toDevice(device);
    }
  }

  /** Loads a model file written by save() as this class (a TypeError if the file holds another). */
  static load<T extends Model>(this: abstract new (...args: never[]) => T, path: string, opts?: LoadOptions): T {
    const m = loadModel(path, opts);
    if (!(m instanceof this)) throw new TypeError(`${path} holds a ${m.className}, not a ${this.name}; use loadModel() to load any network`);
    return m;
  }
}

export interface LoadOptions {
  /** Where the loaded parameters go (default 'cpu'). */
  device?: Device;
}

function countNonFinite(t: Tensor): number {
  const d = t.data;
  let bad = 0;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) bad++;
  return bad;
}

/** A FileFormatError naming the first of `tensors` (read from `path`) that holds NaN or Infinity. */
export function refuseNonFinite(path: string, tensors: Record<string, Tensor>): void {
  for (const [k, t] of Object.entries(tensors)) {
    const bad = countNonFinite(t);
    if (bad > 0) throw new FileFormatError(path, `tensor ${JSON.stringify(k)} holds ${bad} non-finite values (NaN or Infinity) of ${t.size}: the model diverged or the file is corrupt`);
  }
}

/** Rebuilds the network a file written by model.save() (or a Solver checkpoint) holds, of the right class. */
export function loadModel(path: string, opts?: LoadOptions): Model {
  const o = checkOptions('opts', opts);
  const device = checkDevice('opts.device', o.device ?? 'cpu');
  return modelFromFile(loadModelFile(path), path, device);
}

/** loadModel() of a file already read (by loadModelFile, from `path`), for callers that also need its metadata. */
export function modelFromFile(file: ModelFile, path: string, device: Device): Model {
  const cfg = file.config as Partial<ModelConfig>;
  if (typeof cfg.class !== 'string' || cfg.options === null || typeof cfg.options !== 'object' || Array.isArray(cfg.options)) {
    throw new FileFormatError(path, `config must be { class, options } as model.save() writes it, got ${JSON.stringify(file.config).slice(0, 80)}`);
  }
  const tensors = { ...file.params, ...Object.fromEntries(Object.entries(file.extra).map(([k, t]) => [`extra/${k}`, t])) };
  refuseNonFinite(path, tensors);
  const model = buildModel(cfg as ModelConfig, path, Object.values(tensors).reduce((n, t) => n + t.size, 0));
  model.assign(file.params, file.extra, path);
  return model.toDevice(device);
}

/**
 * A fresh network of config.class built from config.options, for a file (`path`) whose tensors
 * hold `held` elements: the network it describes can hold no more than they fill (twice that,
 * for the initializer's scratch), so a config asking for more is refused before it is allocated.
 */
export function buildModel(cfg: ModelConfig, path: string, held: number): Model {
  const factory = registry.get(cfg.class);
  if (!factory) throw new FileFormatError(path, `config.class ${JSON.stringify(cfg.class)} is not a known network (${[...registry.keys()].join(', ')})`);
  try {
    return withAllocationLimit(
      2 * held + 4096,
      () => new FileFormatError(path, `config.options describe a ${cfg.class} larger than the ${held} elements the file's tensors hold: its config and its tensors disagree`),
      () => factory(cfg.options),
    );
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    throw new FileFormatError(path, `config.options do not build a ${cfg.class}: ${(e as Error).message}`, { cause: e });
  }
}
