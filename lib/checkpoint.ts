// Solver checkpoints: a model file (config, parameters, batchnorm statistics; loadModel() reads
// it) that also holds the training state: epoch, iteration, seed, seconds trained, histories, the
// optimizer's per-parameter configs (scalars in the metadata, state tensors under optim/<param>/),
// the best parameters so far (best/...) and the loss history. Written atomically.
import { FileFormatError } from './io/errors';
import { loadModelFile, saveModel } from './io/model-file';
import { Model, refuseNonFinite } from './models/model';
import { Tensor } from './tensor';

const CHECKPOINT_VERSION = 1;
const OPTIM_PREFIX = 'optim/';
const BEST_PREFIX = 'best/';
const LOSS_HISTORY = 'solver/lossHistory';
const EMA_PREFIX = 'ema/';

/** The run's plain values: stored in the file's `solver` metadata entry as they are. */
interface RunRecord {
  /** The rule's name, or 'custom' for a function. */
  updateRule: string;
  epoch: number;
  iteration: number;
  seed: number;
  elapsed: number;
  trainAccHistory: number[];
  valAccHistory: number[];
  bestValAcc: number;
  /** The schedule's base rate (kept for the record; a resumed Solver uses its own options). */
  baseLearningRate: number | null;
}

/** A training run's state beyond the model's own tensors. */
export interface TrainingState extends RunRecord {
  optimConfigs: Record<string, Record<string, unknown>>;
  bestParams: Record<string, Tensor>;
  bestState: Record<string, Tensor>;
  lossHistory: number[];
  /** The weight average (Solver option ema), when the run keeps one. */
  ema: { updates: number; params: Record<string, Tensor>; state: Record<string, Tensor> } | null;
}

/** The JSON in the file's `solver` metadata entry: the run record, and what locates the tensors. */
interface StoredState extends RunRecord {
  version: number;
  className: string;
  hasBest: boolean;
  /** Updates of the weight average (absent: the run kept none). */
  emaUpdates?: number;
  optimScalars: Record<string, Record<string, unknown>>;
}

/** Writes `model` and `s` to `path` (atomically). */
export function writeCheckpoint(path: string, model: Model, s: TrainingState): void {
  const { optimConfigs, bestParams, bestState, lossHistory, ema, ...record } = s;
  const extra: Record<string, Tensor> = { ...model.stateTensors() };
  const optimScalars: Record<string, Record<string, unknown>> = {};
  for (const [k, c] of Object.entries(optimConfigs)) {
    const scalars: Record<string, unknown> = {};
    for (const [f, v] of Object.entries(c)) {
      if (v instanceof Tensor) extra[`${OPTIM_PREFIX}${k}/${f}`] = v;
      else scalars[f] = v;
    }
    optimScalars[k] = scalars;
  }
  // A copy of the network under `prefix`: its parameters, and its batchnorm statistics under state/.
  const put = (prefix: string, params: Record<string, Tensor>, st: Record<string, Tensor>) => {
    for (const [k, v] of Object.entries(params)) extra[`${prefix}${k}`] = v;
    for (const [k, v] of Object.entries(st)) extra[`${prefix}state/${k}`] = v;
  };
  put(BEST_PREFIX, bestParams, bestState);
  if (ema) put(EMA_PREFIX, ema.params, ema.state);
  extra[LOSS_HISTORY] = Tensor.from(Float64Array.from(lossHistory));
  const stored: StoredState = {
    version: CHECKPOINT_VERSION, className: model.className, ...record, hasBest: Object.keys(bestParams).length > 0, optimScalars,
    ...(ema ? { emaUpdates: ema.updates } : {}),
  };
  saveModel(path, { config: model.config, params: model.params, extra, metadata: { solver: JSON.stringify(stored) } });
}

/**
 * Reads a checkpoint for `model` (which must have the checkpoint's class and options; reg and
 * seed may differ) trained with `updateRule`, loads the model's parameters and batchnorm
 * statistics from it, and returns the training state (tensors on the model's device). A parameter
 * without stored optimizer scalars gets a copy of `freshConfig`.
 */
export function readCheckpoint(path: string, model: Model, updateRule: string, freshConfig: Readonly<Record<string, unknown>>): TrainingState {
  const file = loadModelFile(path);
  const fail = (problem: string) => new FileFormatError(path, problem);
  if (file.metadata.solver === undefined) throw fail('is a model file without solver state (not a Solver checkpoint)');
  let state: StoredState;
  try {
    state = JSON.parse(file.metadata.solver) as StoredState;
  } catch (e) {
    throw fail(`solver state is not valid JSON (${(e as Error).message})`);
  }
  if (state.version !== CHECKPOINT_VERSION) throw fail(`solver state version ${state.version} is not ${CHECKPOINT_VERSION}`);
  const cfg = file.config as { class?: unknown; options?: Record<string, unknown> };
  const mine = model.config;
  if (cfg.class !== mine.class) throw fail(`holds a ${String(cfg.class)}, but this Solver's model is a ${mine.class}`);
  const strip = (opts: Record<string, unknown> | undefined) => JSON.stringify({ ...(opts ?? {}), reg: undefined, seed: undefined });
  if (strip(cfg.options) !== strip(mine.options)) {
    throw fail(`model options ${JSON.stringify(cfg.options)} differ from this Solver's model ${JSON.stringify(mine.options)}`);
  }
  if (state.updateRule !== updateRule) throw fail(`was written with updateRule '${state.updateRule}', this Solver uses '${updateRule}'`);
  // Parameters, batchnorm statistics, optimizer moments and best parameters: a NaN in any of them
  // would train on silently (or poison the first step), so the file is refused before anything is loaded.
  refuseNonFinite(path, { ...file.params, ...Object.fromEntries(Object.entries(file.extra).map(([k, t]) => [`extra/${k}`, t])) });
  model.assign(file.params, file.extra, path);
  const optimConfigs: Record<string, Record<string, unknown>> = {};
  for (const k of Object.keys(model.params)) {
    const c: Record<string, unknown> = { ...(state.optimScalars[k] ?? freshConfig) };
    const prefix = `${OPTIM_PREFIX}${k}/`;
    for (const [name, t] of Object.entries(file.extra)) if (name.startsWith(prefix)) c[name.slice(prefix.length)] = t.toDevice(model.device);
    optimConfigs[k] = c;
  }
  // A copy of the network stored under `prefix` (the best one, the weight average): every
  // parameter, and the batchnorm statistics it has, each shaped and typed as the model's.
  const stored = (prefix: string, what: string) => {
    const params: Record<string, Tensor> = {};
    const st: Record<string, Tensor> = {};
    const take = (name: string, like: Tensor, required: boolean, into: Record<string, Tensor>, key: string) => {
      const t = file.extra[name];
      if (!t) {
        if (required) throw fail(`${what} parameter ${JSON.stringify(name)} is missing`);
        return;
      }
      if (t.shape.join() !== like.shape.join() || t.dtype !== like.dtype) {
        throw fail(`${what} ${JSON.stringify(name)} is ${t.dtype} [${t.shape.join(', ')}], the model's ${key} is ${like.dtype} [${like.shape.join(', ')}]`);
      }
      into[key] = t.toDevice(model.device);
    };
    for (const [k, like] of Object.entries(model.params)) take(`${prefix}${k}`, like, true, params, k);
    for (const [k, like] of Object.entries(model.stateTensors())) take(`${prefix}state/${k}`, like, false, st, k);
    return { params, state: st };
  };
  const best = state.hasBest ? stored(BEST_PREFIX, 'best') : { params: {}, state: {} };
  const ema: TrainingState['ema'] = state.emaUpdates === undefined ? null : { updates: state.emaUpdates, ...stored(EMA_PREFIX, 'averaged') };
  const lh = file.extra[LOSS_HISTORY];
  return {
    ema,
    updateRule: state.updateRule,
    epoch: state.epoch,
    iteration: state.iteration,
    seed: state.seed,
    elapsed: state.elapsed,
    trainAccHistory: [...state.trainAccHistory],
    valAccHistory: [...state.valAccHistory],
    bestValAcc: state.bestValAcc,
    optimConfigs,
    bestParams: best.params,
    bestState: best.state,
    lossHistory: lh ? Array.from(lh.data) : [],
    baseLearningRate: state.baseLearningRate ?? null,
  };
}
