// First-order update rules, the seed's optim.py: each takes the weights w, their gradient dw and
// a config object (created when absent; missing fields get the defaults, state tensors are created
// on the first call), updates w IN PLACE with a native kernel and returns { w, config }.
// The config object passed in is the one returned (mutated, as the seed's setdefault does).
//
// Every rule also has an *Async variant that runs the kernel on the executor thread, and a prepared
// form (prepareUpdate) for generator-driven code.
import { native } from './binding';
import { Prepared, runAsync, runSync } from './engine/op';
import { Tensor } from './tensor';
import { checkInt, checkNumber, checkOptions, checkSameDtype, checkShape, checkTensor, describe } from './validate';

export interface SgdConfig {
  /** Default: RULE_DEFAULTS.sgd. */
  learningRate?: number;
}

export interface SgdMomentumConfig {
  /** Default: RULE_DEFAULTS.sgd_momentum. */
  learningRate?: number;
  /** Default: RULE_DEFAULTS.sgd_momentum. */
  momentum?: number;
  /** Moving average of the updates, shaped like w (zeros on the first call). */
  velocity?: Tensor;
}

/** Nesterov momentum: the fields of sgd_momentum, another step (see nesterov()). */
export type NesterovConfig = SgdMomentumConfig;

export interface RmspropConfig {
  /** Default: RULE_DEFAULTS.rmsprop. */
  learningRate?: number;
  /** Decay of the squared-gradient cache (default: RULE_DEFAULTS.rmsprop). */
  decayRate?: number;
  /** Default: RULE_DEFAULTS.rmsprop. */
  epsilon?: number;
  /** Moving average of squared gradients, shaped like w (zeros on the first call). */
  cache?: Tensor;
}

export interface AdamConfig {
  /** Default: RULE_DEFAULTS.adam. */
  learningRate?: number;
  /** Decay of the first moment (default: RULE_DEFAULTS.adam). */
  beta1?: number;
  /** Decay of the second moment (default: RULE_DEFAULTS.adam). */
  beta2?: number;
  /** Default: RULE_DEFAULTS.adam. */
  epsilon?: number;
  /** First moment, shaped like w (zeros on the first call). */
  m?: Tensor;
  /** Second moment, shaped like w (zeros on the first call). */
  v?: Tensor;
  /** Iteration count: incremented before use, so the first update runs with t = 1. */
  t?: number;
}

export interface AdamWConfig extends AdamConfig {
  /**
   * Decoupled weight decay (Loshchilov & Hutter; PyTorch's AdamW): before the Adam step,
   * w -= learningRate * weightDecay * w (default: RULE_DEFAULTS.adamw).
   */
  weightDecay?: number;
}

export type OptimConfig = SgdConfig | SgdMomentumConfig | NesterovConfig | RmspropConfig | AdamConfig | AdamWConfig;

export interface UpdateResult<C> {
  w: Tensor;
  config: C;
}

/** A user update rule: like sgd/adam, synchronous or returning a Promise. */
export type UpdateRuleFn = (w: Tensor, dw: Tensor, config: Record<string, unknown>) => UpdateResult<unknown> | Promise<UpdateResult<unknown>>;

export type UpdateRuleName = 'sgd' | 'sgd_momentum' | 'nesterov' | 'rmsprop' | 'adam' | 'adamw';

/**
 * The one table of the named rules' hyperparameters and their defaults (the seed's values): the
 * functional rules below, the Optimizer, the Solver and the CLI all read it.
 */
export const RULE_DEFAULTS = {
  sgd: { learningRate: 1e-2 },
  sgd_momentum: { learningRate: 1e-2, momentum: 0.9 },
  nesterov: { learningRate: 1e-2, momentum: 0.9 },
  rmsprop: { learningRate: 1e-2, decayRate: 0.99, epsilon: 1e-8 },
  adam: { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
  adamw: { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 1e-2 },
} as const satisfies Record<UpdateRuleName, Record<string, number>>;

function checkPair(w: Tensor, dw: Tensor): void {
  checkTensor('w', w);
  checkShape('dw', dw, w.shape, 'the shape of w');
  checkSameDtype({ w, dw });
}

function checkConfig<C extends object>(config: C | undefined, allowed: readonly string[]): C {
  const c = checkOptions('config', config);
  for (const k of Object.keys(c)) {
    if (!allowed.includes(k)) throw new TypeError(`config.${k} is not an option of this update rule (expected one of ${allowed.join(', ')})`);
  }
  return c;
}

function state(name: string, v: Tensor | undefined, w: Tensor): Tensor {
  if (v === undefined || v === null) return Tensor.zeros(w.shape, w.dtype, w.device);
  checkShape(`config.${name}`, v, w.shape, 'the shape of w');
  checkSameDtype({ w, [`config.${name}`]: v });
  return v;
}

const lrCheck = (name: string, v: unknown) => checkNumber(name, v, (x) => x >= 0, 'a finite number >= 0');
const unitOpen = (name: string, v: unknown) => checkNumber(name, v, (x) => x >= 0 && x < 1, 'a number in [0, 1)');
const unitClosed = (name: string, v: unknown) => checkNumber(name, v, (x) => x >= 0 && x <= 1, 'a number in [0, 1]');
const positive = (name: string, v: unknown) => checkNumber(name, v, (x) => x > 0, 'a positive finite number');

function prepareSgd(w: Tensor, dw: Tensor, config?: SgdConfig): Prepared<UpdateResult<Required<SgdConfig>>> {
  checkPair(w, dw);
  const c = checkConfig(config, ['learningRate']);
  c.learningRate = lrCheck('config.learningRate', c.learningRate ?? RULE_DEFAULTS.sgd.learningRate);
  const lr = c.learningRate;
  return { result: { w, config: c as Required<SgdConfig> }, call: (async) => native.sgdUpdate(w.size, lr, w.buffer, dw.buffer, async), writes: { w } };
}

// sgd_momentum and nesterov: one preparation (the same config and state), two kernels.
function prepareMomentumFamily(rule: 'sgd_momentum' | 'nesterov', w: Tensor, dw: Tensor, config?: SgdMomentumConfig): Prepared<UpdateResult<Required<SgdMomentumConfig>>> {
  checkPair(w, dw);
  const c = checkConfig(config, ['learningRate', 'momentum', 'velocity']);
  c.learningRate = lrCheck('config.learningRate', c.learningRate ?? RULE_DEFAULTS[rule].learningRate);
  c.momentum = unitOpen('config.momentum', c.momentum ?? RULE_DEFAULTS[rule].momentum);
  c.velocity = state('velocity', c.velocity, w);
  const { learningRate: lr, momentum, velocity } = c;
  const kernel = rule === 'nesterov' ? native.nesterovUpdate : native.sgdMomentumUpdate;
  return {
    result: { w, config: c as Required<SgdMomentumConfig> },
    call: (async) => kernel(w.size, lr, momentum, w.buffer, velocity.buffer, dw.buffer, async),
    writes: { w, 'config.velocity': velocity },
  };
}

const prepareSgdMomentum = (w: Tensor, dw: Tensor, config?: SgdMomentumConfig) => prepareMomentumFamily('sgd_momentum', w, dw, config);
const prepareNesterov = (w: Tensor, dw: Tensor, config?: NesterovConfig) => prepareMomentumFamily('nesterov', w, dw, config);

function prepareRmsprop(w: Tensor, dw: Tensor, config?: RmspropConfig): Prepared<UpdateResult<Required<RmspropConfig>>> {
  checkPair(w, dw);
  const c = checkConfig(config, ['learningRate', 'decayRate', 'epsilon', 'cache']);
  c.learningRate = lrCheck('config.learningRate', c.learningRate ?? RULE_DEFAULTS.rmsprop.learningRate);
  c.decayRate = unitClosed('config.decayRate', c.decayRate ?? RULE_DEFAULTS.rmsprop.decayRate);
  c.epsilon = positive('config.epsilon', c.epsilon ?? RULE_DEFAULTS.rmsprop.epsilon);
  c.cache = state('cache', c.cache, w);
  const { learningRate: lr, decayRate, epsilon, cache } = c;
  return {
    result: { w, config: c as Required<RmspropConfig> },
    call: (async) => native.rmspropUpdate(w.size, lr, decayRate, epsilon, w.buffer, cache.buffer, dw.buffer, async),
    writes: { w, 'config.cache': cache },
  };
}

// adam and adamw: one preparation, the defaults of `rule`; adamw's decoupled decay first.
function prepareAdamFamily(rule: 'adam' | 'adamw', w: Tensor, dw: Tensor, config?: AdamWConfig): Prepared<UpdateResult<Required<AdamWConfig>>> {
  checkPair(w, dw);
  const D: Readonly<Record<string, number>> = RULE_DEFAULTS[rule];
  const c = checkConfig(config, [...Object.keys(D), 'm', 'v', 't']);
  c.learningRate = lrCheck('config.learningRate', c.learningRate ?? D.learningRate);
  c.beta1 = unitOpen('config.beta1', c.beta1 ?? D.beta1);
  c.beta2 = unitOpen('config.beta2', c.beta2 ?? D.beta2);
  c.epsilon = positive('config.epsilon', c.epsilon ?? D.epsilon);
  if (rule === 'adamw') c.weightDecay = checkNumber('config.weightDecay', c.weightDecay ?? D.weightDecay, (x) => x >= 0 && x < 1, 'a number in [0, 1)');
  c.m = state('m', c.m, w);
  c.v = state('v', c.v, w);
  c.t = checkInt('config.t', c.t ?? 0, 0) + 1;
  const { learningRate: lr, beta1, beta2, epsilon, m, v, t } = c;
  const wd = c.weightDecay ?? 0;
  const adamStep = (async: boolean) => native.adamUpdate(w.size, lr, beta1, beta2, epsilon, t, w.buffer, m.buffer, v.buffer, dw.buffer, async);
  return {
    result: { w, config: c as Required<AdamWConfig> },
    call:
      wd > 0
        ? (async) => {
            // w -= lr wd w: the sgd kernel with w as its own gradient (elementwise, so in place is
            // exact), queued before the Adam step.
            const decay = native.sgdUpdate(w.size, lr * wd, w.buffer, w.buffer, async);
            const step = adamStep(async);
            return async ? Promise.all([decay, step]).then(() => undefined) : undefined;
          }
        : adamStep,
    writes: { w, 'config.m': m, 'config.v': v },
  };
}

const prepareAdam = (w: Tensor, dw: Tensor, config?: AdamConfig) => prepareAdamFamily('adam', w, dw, config);
const prepareAdamW = (w: Tensor, dw: Tensor, config?: AdamWConfig) => prepareAdamFamily('adamw', w, dw, config);

/** w -= learningRate * dw. */
export function sgd(w: Tensor, dw: Tensor, config?: SgdConfig): UpdateResult<Required<SgdConfig>> {
  return runSync(prepareSgd(w, dw, config));
}

/** velocity = momentum * velocity - learningRate * dw; w += velocity. */
export function sgdMomentum(w: Tensor, dw: Tensor, config?: SgdMomentumConfig): UpdateResult<Required<SgdMomentumConfig>> {
  return runSync(prepareSgdMomentum(w, dw, config));
}

/**
 * Nesterov momentum (Sutskever et al. 2013, in the course notes' velocity form; PyTorch's
 * SGD(nesterov=True) up to where the learning rate sits): velocity = momentum * velocity -
 * learningRate * dw; w += momentum * velocity - learningRate * dw.
 */
export function nesterov(w: Tensor, dw: Tensor, config?: NesterovConfig): UpdateResult<Required<NesterovConfig>> {
  return runSync(prepareNesterov(w, dw, config));
}

export function nesterovAsync(w: Tensor, dw: Tensor, config?: NesterovConfig): Promise<UpdateResult<Required<NesterovConfig>>> {
  return runAsync(prepareNesterov(w, dw, config));
}

/** cache = decayRate * cache + (1 - decayRate) dw^2; w -= learningRate * dw / (sqrt(cache) + epsilon). */
export function rmsprop(w: Tensor, dw: Tensor, config?: RmspropConfig): UpdateResult<Required<RmspropConfig>> {
  return runSync(prepareRmsprop(w, dw, config));
}

/**
 * t += 1; m = beta1 m + (1 - beta1) dw; v = beta2 v + (1 - beta2) dw^2;
 * w -= learningRate * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon).
 */
export function adam(w: Tensor, dw: Tensor, config?: AdamConfig): UpdateResult<Required<AdamConfig>> {
  return runSync(prepareAdam(w, dw, config));
}

/** AdamW: w -= learningRate * weightDecay * w, then adam's step. */
export function adamw(w: Tensor, dw: Tensor, config?: AdamWConfig): UpdateResult<Required<AdamWConfig>> {
  return runSync(prepareAdamW(w, dw, config));
}

export function adamwAsync(w: Tensor, dw: Tensor, config?: AdamWConfig): Promise<UpdateResult<Required<AdamWConfig>>> {
  return runAsync(prepareAdamW(w, dw, config));
}

export function sgdAsync(w: Tensor, dw: Tensor, config?: SgdConfig): Promise<UpdateResult<Required<SgdConfig>>> {
  return runAsync(prepareSgd(w, dw, config));
}

export function sgdMomentumAsync(w: Tensor, dw: Tensor, config?: SgdMomentumConfig): Promise<UpdateResult<Required<SgdMomentumConfig>>> {
  return runAsync(prepareSgdMomentum(w, dw, config));
}

export function rmspropAsync(w: Tensor, dw: Tensor, config?: RmspropConfig): Promise<UpdateResult<Required<RmspropConfig>>> {
  return runAsync(prepareRmsprop(w, dw, config));
}

export function adamAsync(w: Tensor, dw: Tensor, config?: AdamConfig): Promise<UpdateResult<Required<AdamConfig>>> {
  return runAsync(prepareAdam(w, dw, config));
}

/** The prepared (not yet run) form of each named rule, for driveSync / driveAsync generators. */
export const prepareUpdate: Record<UpdateRuleName, (w: Tensor, dw: Tensor, config?: Record<string, unknown>) => Prepared<UpdateResult<Record<string, unknown>>>> = {
  sgd: prepareSgd as never,
  sgd_momentum: prepareSgdMomentum as never,
  nesterov: prepareNesterov as never,
  rmsprop: prepareRmsprop as never,
  adam: prepareAdam as never,
  adamw: prepareAdamW as never,
};

/** The scalar hyperparameters each named rule reads (its config may also hold its state tensors). */
export const OPTIM_HYPERPARAMETERS: Readonly<Record<UpdateRuleName, readonly string[]>> = {
  sgd: Object.keys(RULE_DEFAULTS.sgd),
  sgd_momentum: Object.keys(RULE_DEFAULTS.sgd_momentum),
  nesterov: Object.keys(RULE_DEFAULTS.nesterov),
  rmsprop: Object.keys(RULE_DEFAULTS.rmsprop),
  adam: Object.keys(RULE_DEFAULTS.adam),
  adamw: Object.keys(RULE_DEFAULTS.adamw),
};

/** The names the Solver's updateRule accepts ('sgdMomentum' is read as 'sgd_momentum'). */
export const UPDATE_RULES: readonly UpdateRuleName[] = ['sgd', 'sgd_momentum', 'nesterov', 'rmsprop', 'adam', 'adamw'];

/** An update rule's name as given (snake or camel case), or a TypeError naming the choices. */
export function updateRuleName(name: string, what = 'updateRule'): UpdateRuleName {
  const n = name === 'sgdMomentum' ? 'sgd_momentum' : name;
  if (!(UPDATE_RULES as readonly string[]).includes(n)) {
    throw new TypeError(`${what} must be one of ${UPDATE_RULES.map((r) => `'${r}'`).join(', ')} or a function, got ${describe(name)}`);
  }
  return n as UpdateRuleName;
}
