// An update rule applied to a model's parameters: the rule, its hyperparameters (the one current
// learning rate among them; defaults from RULE_DEFAULTS) and each parameter's state. The Solver
// owns one and sets its learning rate before every step from its Schedule.
//
// Each parameter's config is the object the functional rule (sgd, adam, ...) or a custom rule
// function receives and fills: the seed's optim_configs, kept under that shape (solver.optimConfigs)
// so checkpoints and user code see what they always saw. The optimizer writes the current learning
// rate into each before the update; nothing else sets it.
import { runAsync, settleAll } from './engine/op';
import { OPTIM_HYPERPARAMETERS, prepareUpdate, RULE_DEFAULTS, UpdateRuleFn, UpdateRuleName } from './optim';
import { Tensor } from './tensor';
import { checkNumber, describe } from './validate';

export class Optimizer {
  readonly rule: UpdateRuleName | UpdateRuleFn;
  /** The hyperparameters as given (a named rule fills in the rest from RULE_DEFAULTS when it runs). */
  readonly given: Readonly<Record<string, unknown>>;
  /** Per-parameter configs: hyperparameters and the rule's state (moments, velocity, t). */
  configs: Record<string, Record<string, unknown>> = {};
  private rate: number | undefined;

  /** `what` names the hyperparameters in messages (e.g. 'options.optimConfig'). */
  constructor(rule: UpdateRuleName | UpdateRuleFn, hyperparameters: Record<string, unknown> = {}, what = 'hyperparameters') {
    this.rule = rule;
    if (typeof rule === 'string') {
      const allowed = OPTIM_HYPERPARAMETERS[rule];
      for (const k of Object.keys(hyperparameters)) {
        if (!allowed.includes(k)) throw new TypeError(`${what}.${k} is not a hyperparameter of '${rule}' (expected one of ${allowed.join(', ')})`);
      }
    }
    this.given = Object.freeze({ ...hyperparameters });
    const lr = hyperparameters.learningRate ?? (typeof rule === 'string' ? RULE_DEFAULTS[rule].learningRate : undefined);
    this.rate = lr === undefined ? undefined : checkNumber(`${what}.learningRate`, lr, (v) => v >= 0, 'a finite number >= 0');
  }

  /** The current learning rate (undefined: a custom rule given none, which then manages its own). */
  get learningRate(): number | undefined {
    return this.rate;
  }

  set learningRate(v: number | undefined) {
    if (v !== undefined) checkNumber('learningRate', v, (x) => x >= 0, 'a finite number >= 0');
    this.rate = v;
    if (v !== undefined) for (const c of Object.values(this.configs)) c.learningRate = v;
  }

  /** Fresh state: one copy of the given hyperparameters per parameter. */
  reset(names: readonly string[]): void {
    this.configs = {};
    for (const k of names) this.configs[k] = this.freshConfig();
  }

  private freshConfig(): Record<string, unknown> {
    const c: Record<string, unknown> = { ...this.given };
    if (this.rate !== undefined) c.learningRate = this.rate;
    return c;
  }

  /**
   * Updates every parameter in place (named rules: asynchronous native kernels queued in order; a
   * custom rule: awaited one by one, its returned w replacing the parameter).
   */
  async step(params: Record<string, Tensor>, grads: Record<string, Tensor>): Promise<void> {
    const updates: Promise<unknown>[] = [];
    for (const k of Object.keys(params)) {
      const config = this.configs[k] ?? (this.configs[k] = this.freshConfig());
      if (this.rate !== undefined) config.learningRate = this.rate;
      // AdamW decays weights (2+ dimensions), not biases or batchnorm's gamma and beta.
      if (this.rule === 'adamw' && params[k].ndim < 2) config.weightDecay = 0;
      const dw = grads[k];
      if (typeof this.rule === 'string') {
        updates.push(runAsync(prepareUpdate[this.rule](params[k], dw, config)));
      } else {
        const r = await this.rule(params[k], dw, config);
        if (!r || !(r.w instanceof Tensor)) throw new TypeError(`the updateRule function must return { w: Tensor, config }, got ${describe(r)} for parameter ${k}`);
        params[k] = r.w;
        this.configs[k] = (r.config ?? config) as Record<string, unknown>;
      }
    }
    await settleAll(updates);
  }
}
