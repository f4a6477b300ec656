// Learning-rate schedules: the rate of step t (0-based) after `elapsed` seconds of training. The
// Solver asks before every step and hands the answer to its Optimizer, so the rate lives in one
// place. A budget is either a number of steps or, when a time limit is given, seconds: then the
// fraction of the budget used is elapsed / timeLimit, and the schedule fits whatever number of
// steps the machine manages.
import { checkInt, checkNumber, invalidType } from './validate';

export const SCHEDULES = ['step', 'linear-warmup', 'cosine', 'one-cycle'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

export interface ScheduleOptions {
  /**
   * 'step': baseRate * decay^epoch (the seed's lr_decay per epoch). 'linear-warmup': linear warm-up
   * over warmupFraction of the budget, then linear decay to 0 at its end. 'cosine': the same warm-up,
   * then half a cosine down to 0. 'one-cycle': from baseRate / 25 up to baseRate over warmupFraction,
   * then linearly down to baseRate / 25e4 (PyTorch's OneCycleLR with linear annealing).
   */
  kind: ScheduleName;
  /** The peak (or, for 'step', the initial) learning rate. */
  baseRate: number;
  /** Fraction of the budget spent warming up (not used by 'step'). */
  warmupFraction?: number;
  /** 'step': the factor per epoch. */
  decay?: number;
  /** 'step': steps per epoch. */
  stepsPerEpoch?: number;
  /** The budget in steps, used when there is no time limit. */
  totalSteps?: number;
  /** The budget in seconds of training (null: the budget is totalSteps). */
  timeLimit?: number | null;
}

/** One-cycle's start (baseRate / ONE_CYCLE_DIV) and end (start / ONE_CYCLE_FINAL_DIV), as PyTorch's defaults. */
const ONE_CYCLE_DIV = 25;
const ONE_CYCLE_FINAL_DIV = 1e4;

export class Schedule {
  readonly kind: ScheduleName;
  readonly baseRate: number;
  readonly warmupFraction: number;
  readonly decay: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly timeLimit: number | null;

  constructor(opts: ScheduleOptions) {
    if (!(SCHEDULES as readonly string[]).includes(opts.kind)) throw invalidType('schedule', SCHEDULES.map((s) => `'${s}'`).join(', '), opts.kind);
    this.kind = opts.kind;
    this.baseRate = checkNumber('learningRate', opts.baseRate, (v) => v >= 0, 'a finite number >= 0');
    this.warmupFraction = checkNumber('warmupFraction', opts.warmupFraction ?? 0, (v) => v >= 0 && v < 1, 'a fraction in [0, 1)');
    this.decay = checkNumber('lrDecay', opts.decay ?? 1, (v) => v > 0, 'a positive finite number');
    this.stepsPerEpoch = checkInt('stepsPerEpoch', opts.stepsPerEpoch ?? 1, 1);
    this.totalSteps = checkInt('totalSteps', opts.totalSteps ?? 1, 0);
    this.timeLimit = opts.timeLimit === undefined || opts.timeLimit === null ? null : checkNumber('timeLimit', opts.timeLimit, (v) => v > 0, 'a positive number of seconds');
  }

  /** The learning rate of step t (0-based), begun after `elapsed` seconds of training. */
  rate(t: number, elapsed = 0): number {
    return this.baseRate * this.factor(t, elapsed);
  }

  private factor(t: number, elapsed: number): number {
    if (this.kind === 'step') return this.decay ** Math.floor(t / this.stepsPerEpoch);
    const w = this.warmupFraction;
    const T = Math.max(1, this.totalSteps);
    const timed = this.timeLimit !== null;
    const f = timed ? Math.min(1, elapsed / this.timeLimit!) : Math.min(1, t / T);  // budget used
    const warmSteps = Math.round(w * T);
    const warming = timed ? f < w : t < warmSteps;
    // after the warm-up: progress p from 0 to 1 over the rest of the budget
    const p = Math.min(1, timed ? (f - w) / (1 - w) : (t - warmSteps) / Math.max(1, T - warmSteps));
    if (this.kind === 'one-cycle') {
      const start = 1 / ONE_CYCLE_DIV;
      const end = start / ONE_CYCLE_FINAL_DIV;
      if (warming) return start + (1 - start) * (timed ? f / w : t / warmSteps);
      return 1 - (1 - end) * p;
    }
    // linear-warmup and cosine share the warm-up: from 1/warmSteps (or 1% of the rate) up to 1
    if (warming) return timed ? Math.max(f / w, 0.01) : (t + 1) / warmSteps;
    if (this.kind === 'cosine') return 0.5 * (1 + Math.cos(Math.PI * p));
    return Math.max(0, 1 - p);
  }
}
