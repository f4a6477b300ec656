// An exponential moving average of a model's weights (Polyak averaging as TensorFlow's
// ExponentialMovingAverage and timm's ModelEma keep it), updated after every optimizer step by a
// native kernel and used in place of the live weights for evaluation. Batchnorm's running
// statistics are averaged with the weights, so the averaged network is evaluated with statistics
// that moved with it.
//
// Early on the decay is min(decay, (1 + u) / (10 + u)) after u updates (TensorFlow's num_updates
// form), so the average is not dominated by the initial weights in a run of a few hundred steps.
import { native } from './binding';
import { runAsync, settleAll } from './engine/op';
import type { Model } from './models/model';
import { Tensor } from './tensor';
import { checkNumber } from './validate';

export class WeightAverage {
  readonly decay: number;
  /** Updates so far (the warm-up of the decay reads it). */
  updates = 0;
  /** The averaged parameters, keyed like model.params. */
  params: Record<string, Tensor> = {};
  /** The averaged batchnorm statistics, keyed like model.stateTensors(). */
  state: Record<string, Tensor> = {};

  constructor(decay: number, what = 'decay') {
    this.decay = checkNumber(what, decay, (v) => v > 0 && v < 1, 'a number in (0, 1), e.g. 0.999');
  }

  /** Starts the average at the model's current weights. */
  start(model: Model): void {
    this.updates = 0;
    this.params = Object.fromEntries(Object.entries(model.params).map(([k, t]) => [k, t.clone()]));
    this.state = Object.fromEntries(Object.entries(model.stateTensors()).map(([k, t]) => [k, t.clone()]));
  }

  /** The decay the next update uses. */
  get currentDecay(): number {
    return Math.min(this.decay, (1 + this.updates) / (10 + this.updates));
  }

  /** avg = d avg + (1 - d) w for every parameter and statistic (queued on the executor thread). */
  async update(model: Model): Promise<void> {
    const d = this.currentDecay;
    const pending: Promise<unknown>[] = [];
    const queue = (avg: Tensor, w: Tensor) =>
      pending.push(runAsync({ result: undefined, call: (async) => native.emaUpdate(w.size, d, avg.buffer, w.buffer, async), writes: { avg } }));
    for (const [k, w] of Object.entries(model.params)) queue(this.params[k], w);
    for (const [k, s] of Object.entries(model.stateTensors())) if (this.state[k]) queue(this.state[k], s);
    await settleAll(pending);
    this.updates++;
  }

  /**
   * Runs fn with the averaged weights and statistics in the model, then puts the live ones back
   * (parameters by reference, statistics copied: they live inside the model's batchnorm state).
   */
  async with<R>(model: Model, fn: () => Promise<R>): Promise<R> {
    const live = model.params;
    const liveState = Object.entries(model.stateTensors()).map(([k, t]) => [k, t, t.clone()] as const);
    model.params = { ...this.params };
    for (const [k, t] of liveState) if (this.state[k]) t.copyFrom(this.state[k]);
    try {
      return await fn();
    } finally {
      model.params = live;
      for (const [, t, saved] of liveState) t.copyFrom(saved);
    }
  }
}
