// Learning-rate schedules at known steps and times (lib/schedule.ts), against values worked out by hand.
import { Schedule } from '../lib/schedule';

const close = (a: number, b: number) => expect(a).toBeCloseTo(b, 12);

describe('Schedule', () => {
  test("'step': the rate times decay per completed epoch", () => {
    const s = new Schedule({ kind: 'step', baseRate: 0.1, decay: 0.5, stepsPerEpoch: 4 });
    expect([0, 3, 4, 7, 8, 12].map((t) => s.rate(t))).toEqual([0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]);
  });

  test("'linear-warmup' over steps: 1/w..1 in the warm-up, then down to 0 at the budget's end", () => {
    // 20 steps, warm-up 0.25: 5 warm-up steps at (t+1)/5, then (20 - t) / 15
    const s = new Schedule({ kind: 'linear-warmup', baseRate: 1, warmupFraction: 0.25, totalSteps: 20 });
    expect([0, 1, 4].map((t) => s.rate(t))).toEqual([0.2, 0.4, 1]);
    close(s.rate(5), 1);
    close(s.rate(11), 9 / 15);
    close(s.rate(19), 1 / 15);
    expect(s.rate(20)).toBe(0);
  });

  test("'linear-warmup' over a time limit: follows elapsed seconds, not steps", () => {
    const s = new Schedule({ kind: 'linear-warmup', baseRate: 2, warmupFraction: 0.1, totalSteps: 1, timeLimit: 100 });
    close(s.rate(0, 0), 2 * 0.01);  // the warm-up starts at 1% of the rate
    close(s.rate(7, 5), 2 * 0.5);
    close(s.rate(9, 10), 2);
    close(s.rate(99, 55), 2 * 0.5);
    expect(s.rate(1000, 100)).toBe(0);
  });

  test("'cosine': the same warm-up, then half a cosine from the rate to 0", () => {
    const s = new Schedule({ kind: 'cosine', baseRate: 1, warmupFraction: 0.2, totalSteps: 10 });
    expect([0, 1].map((t) => s.rate(t))).toEqual([0.5, 1]);
    close(s.rate(2), 1);  // p = 0
    close(s.rate(6), 0.5);  // p = 1/2
    close(s.rate(4), 0.5 * (1 + Math.cos(Math.PI / 4)));
    close(s.rate(10), 0);
    const t = new Schedule({ kind: 'cosine', baseRate: 1, warmupFraction: 0, totalSteps: 1, timeLimit: 60 });
    close(t.rate(0, 30), 0.5);
  });

  test("'one-cycle': rate/25 up to the rate over the warm-up, then linearly to rate/25e4", () => {
    const s = new Schedule({ kind: 'one-cycle', baseRate: 1, warmupFraction: 0.3, totalSteps: 10 });
    close(s.rate(0), 1 / 25);
    close(s.rate(3), 1);  // warm-up over round(0.3 * 10) = 3 steps
    close(s.rate(1), 1 / 25 + (1 - 1 / 25) / 3);
    close(s.rate(10), 1 / 25e4);
    close(s.rate(6.5), 1 - (1 - 1 / 25e4) * 0.5);
  });

  test('bad values are refused with the name of the setting', () => {
    expect(() => new Schedule({ kind: 'triangle' as never, baseRate: 1 })).toThrow(/schedule must be 'step', 'linear-warmup', 'cosine', 'one-cycle'/);
    expect(() => new Schedule({ kind: 'cosine', baseRate: -1 })).toThrow(/learningRate must be a finite number >= 0/);
    expect(() => new Schedule({ kind: 'cosine', baseRate: 1, warmupFraction: 1 })).toThrow(/warmupFraction must be a fraction in \[0, 1\)/);
  });
});
