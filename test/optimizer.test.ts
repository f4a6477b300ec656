// The Optimizer (lib/optimizer.ts): updates against hand-computed values, the one learning rate,
// defaults from RULE_DEFAULTS, custom rules.
import { Optimizer } from '../lib/optimizer';
import { adamw, adamwAsync, RULE_DEFAULTS, sgd } from '../lib/optim';
import { Tensor } from '../lib/tensor';

const t64 = (v: number[]) => Tensor.from(v, { dtype: 'float64' });
const values = (t: Tensor) => Array.from(t.data);

describe('Optimizer', () => {
  test('sgd: w - lr dw', async () => {
    const o = new Optimizer('sgd', { learningRate: 0.1 });
    const params = { w: t64([1, 2, -3]) };
    await o.step(params, { w: t64([10, -20, 5]) });
    expect(values(params.w)).toEqual([1 - 1, 2 + 2, -3 - 0.5]);
  });

  test('sgd_momentum: v = mu v - lr dw; w += v, over two steps', async () => {
    const o = new Optimizer('sgd_momentum', { learningRate: 0.5, momentum: 0.9 });
    const params = { w: t64([1]) };
    await o.step(params, { w: t64([2]) });  // v = -1, w = 0
    await o.step(params, { w: t64([2]) });  // v = -0.9 - 1 = -1.9, w = -1.9
    expect(values(params.w)[0]).toBeCloseTo(-1.9, 14);
    expect(values(o.configs.w.velocity as Tensor)[0]).toBeCloseTo(-1.9, 14);
  });

  test('adam, first step: w - lr dw / (|dw| + eps) (bias-corrected moments equal dw and dw^2)', async () => {
    const o = new Optimizer('adam', { learningRate: 0.01 });
    const params = { w: t64([1, 1]) };
    await o.step(params, { w: t64([4, -0.5]) });
    const eps = RULE_DEFAULTS.adam.epsilon;
    expect(values(params.w)[0]).toBeCloseTo(1 - (0.01 * 4) / (4 + eps), 14);
    expect(values(params.w)[1]).toBeCloseTo(1 + (0.01 * 0.5) / (0.5 + eps), 14);
    expect(o.configs.w.t).toBe(1);
  });

  test('adamw: w - lr wd w, then the Adam step; the Optimizer decays weights, not biases', async () => {
    const eps = RULE_DEFAULTS.adamw.epsilon;
    const o = new Optimizer('adamw', { learningRate: 0.01, weightDecay: 0.1 });
    const params = { W: Tensor.from([[1, 2]], { dtype: 'float64' }), b: t64([1]) };
    await o.step(params, { W: Tensor.from([[4, -1]], { dtype: 'float64' }), b: t64([4]) });
    expect(values(params.W)[0]).toBeCloseTo(1 - 0.01 * 0.1 * 1 - (0.01 * 4) / (4 + eps), 14);
    expect(values(params.W)[1]).toBeCloseTo(2 - 0.01 * 0.1 * 2 + (0.01 * 1) / (1 + eps), 14);
    expect(values(params.b)[0]).toBeCloseTo(1 - (0.01 * 4) / (4 + eps), 14);  // a bias: no decay
    // the functional rule decays whatever it is given; sync and async agree
    const a = t64([1]);
    const b = t64([1]);
    adamw(a, t64([4]), { learningRate: 0.01, weightDecay: 0.1 });
    await adamwAsync(b, t64([4]), { learningRate: 0.01, weightDecay: 0.1 });
    expect(values(a)[0]).toBeCloseTo(1 - 0.001 - (0.01 * 4) / (4 + eps), 14);
    expect(values(b)).toEqual(values(a));
    expect(() => adamw(t64([1]), t64([1]), { weightDecay: 1 })).toThrow(/config.weightDecay must be a number in \[0, 1\)/);
    expect(new Optimizer('adamw').given).toEqual({});
    expect(() => new Optimizer('adam', { weightDecay: 0.1 }, 'options.optimConfig')).toThrow(/options.optimConfig.weightDecay is not a hyperparameter of 'adam'/);
  });

  test('the learning rate has one owner: set once, every parameter steps with it', async () => {
    const o = new Optimizer('sgd', {});
    expect(o.learningRate).toBe(RULE_DEFAULTS.sgd.learningRate);
    o.reset(['a', 'b']);
    o.learningRate = 0.25;
    expect([o.configs.a.learningRate, o.configs.b.learningRate]).toEqual([0.25, 0.25]);
    const params = { a: t64([1]), b: t64([1]) };
    await o.step(params, { a: t64([1]), b: t64([2]) });
    expect([values(params.a)[0], values(params.b)[0]]).toEqual([0.75, 0.5]);
    expect(o.given).toEqual({});  // what was given stays as given
  });

  test('a hyperparameter the rule lacks is refused, naming it and the choices', () => {
    expect(() => new Optimizer('adam', { momentum: 0.9 }, 'options.optimConfig')).toThrow(
      /^options.optimConfig.momentum is not a hyperparameter of 'adam' \(expected one of learningRate, beta1, beta2, epsilon\)$/,
    );
    expect(() => new Optimizer('sgd', { learningRate: -1 })).toThrow(/learningRate must be a finite number >= 0/);
  });

  test('a custom rule gets each parameter with its config; its returned w replaces the parameter', async () => {
    const seen: unknown[] = [];
    const o = new Optimizer((w, dw, config) => {
      seen.push(config.learningRate);
      return sgd(w.clone(), dw, config as { learningRate?: number });
    }, { learningRate: 1 });
    const before = t64([3]);
    const params = { w: before };
    await o.step(params, { w: t64([1]) });
    expect(params.w).not.toBe(before);
    expect(values(params.w)).toEqual([2]);
    expect(values(before)).toEqual([3]);
    expect(seen).toEqual([1]);
    // without a learning rate, a custom rule keeps whatever its config holds
    const free = new Optimizer((w) => ({ w, config: {} }));
    expect(free.learningRate).toBeUndefined();
  });
});
