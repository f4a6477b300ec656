// Update rules of lib/optim.ts: exact updates for fixed inputs (float64), against the seed's
// published expected arrays (optim tests of the assignment: N = 4, D = 5, linspace inputs) and
// against a plain-TypeScript reimplementation; defaults, config handling, async variants, checks.
import { adam, adamAsync, nesterov, nesterovAsync, rmsprop, rmspropAsync, sgd, sgdAsync, sgdMomentum, sgdMomentumAsync, prepareUpdate, updateRuleName } from '../lib/optim';
import { Tensor } from '../lib/tensor';
import { relError } from '../lib/gradcheck';

function linspace(a: number, b: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = a + ((b - a) * i) / (n - 1);
  return out;
}

const N = 4;
const D = 5;
const t64 = (a: Float64Array) => Tensor.from(a, { shape: [N, D] });
const lin = (a: number, b: number) => t64(linspace(a, b, N * D));

describe('sgd', () => {
  test('w -= learningRate * dw, default learningRate 1e-2, config created', () => {
    const w = lin(-0.4, 0.6);
    const dw = lin(-0.6, 0.4);
    const w0 = w.data.slice();
    const { w: next, config } = sgd(w, dw);
    expect(next).toBe(w); // in place
    expect(config).toEqual({ learningRate: 1e-2 });
    for (let i = 0; i < w.size; i++) expect(w.data[i]).toBe(w0[i] - 1e-2 * dw.data[i]);
  });

  test('the config object passed in is filled in and returned', () => {
    const cfg = { learningRate: 0.5 };
    const w = lin(-1, 1);
    const dw = lin(1, 2);
    const w0 = w.data.slice();
    const r = sgd(w, dw, cfg);
    expect(r.config).toBe(cfg);
    for (let i = 0; i < w.size; i++) expect(w.data[i]).toBe(w0[i] - 0.5 * dw.data[i]);
  });
});

describe('nesterov', () => {
  test('one step by hand: w = 1, v = 0.5, dw = 2, lr 0.1, momentum 0.9', () => {
    const w = Tensor.from(Float64Array.of(1));
    const { config } = nesterov(w, Tensor.from(Float64Array.of(2)), { learningRate: 0.1, momentum: 0.9, velocity: Tensor.from(Float64Array.of(0.5)) });
    // v = 0.9 * 0.5 - 0.1 * 2 = 0.25; w = 1 + 0.9 * 0.25 - 0.1 * 2 = 1.025.
    expect(config.velocity.data[0]).toBeCloseTo(0.25, 15);
    expect(w.data[0]).toBeCloseTo(1.025, 15);
  });

  test("equals the course notes' form (x += -mu v_prev + (1 + mu) v) over three steps, in float64 and float32", async () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const w = lin(-2, 3).astype(dtype);
      const cfg: { learningRate?: number; momentum?: number } = { momentum: 0.8, learningRate: 0.05 };
      const ref = linspace(-2, 3, N * D);
      const vel = new Float64Array(N * D);
      for (let s = 0; s < 3; s++) {
        const dw = lin(s - 1, 2 * s + 1).astype(dtype);
        if (s === 1) await nesterovAsync(w, dw, cfg);
        else nesterov(w, dw, cfg);
        for (let i = 0; i < ref.length; i++) {
          const prev = vel[i];
          vel[i] = 0.8 * vel[i] - 0.05 * dw.data[i];
          ref[i] += -0.8 * prev + 1.8 * vel[i];
        }
      }
      expect(relError(Float64Array.from(w.data), ref)).toBeLessThan(dtype === 'float64' ? 1e-13 : 1e-6);
    }
  });

  test('defaults come from RULE_DEFAULTS.nesterov; bad momentum is refused', () => {
    const cfg: Record<string, unknown> = {};
    nesterov(lin(0, 1), lin(0, 1), cfg);
    expect(cfg.learningRate).toBe(1e-2);
    expect(cfg.momentum).toBe(0.9);
    expect(() => nesterov(lin(0, 1), lin(0, 1), { momentum: 1 })).toThrow(/config.momentum must be a number in \[0, 1\)/);
  });
});

describe('sgdMomentum', () => {
  test("matches the seed's expected arrays", () => {
    const w = lin(-0.4, 0.6);
    const dw = lin(-0.6, 0.4);
    const v = lin(0.6, 0.9);
    const { w: next, config } = sgdMomentum(w, dw, { learningRate: 1e-3, velocity: v });
    const expectedNextW = [
      0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789,
      0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526,
      0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263,
      1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096,
    ];
    const expectedVelocity = [
      0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158,
      0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105,
      0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053,
      0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096,
    ];
    expect(relError(next.data, expectedNextW)).toBeLessThan(1e-8);
    expect(relError(config.velocity.data, expectedVelocity)).toBeLessThan(1e-8);
    expect(config.velocity).toBe(v); // state updated in place
    expect(config.momentum).toBe(0.9);
  });

  test('equals a plain reimplementation over three steps, velocity created as zeros', () => {
    const w = lin(-2, 3);
    const cfg: { learningRate?: number; momentum?: number } = { momentum: 0.8 };
    const ref = linspace(-2, 3, N * D);
    const vel = new Float64Array(N * D);
    for (let s = 0; s < 3; s++) {
      const dw = lin(s - 1, 2 * s + 1);
      sgdMomentum(w, dw, cfg);
      for (let i = 0; i < ref.length; i++) {
        vel[i] = 0.8 * vel[i] - 1e-2 * dw.data[i];
        ref[i] += vel[i];
      }
    }
    expect(cfg.learningRate).toBe(1e-2);
    expect(relError(w.data, ref)).toBeLessThan(1e-14);
  });
});

describe('rmsprop', () => {
  test("matches the seed's expected arrays", () => {
    const w = lin(-0.4, 0.6);
    const dw = lin(-0.6, 0.4);
    const cache = lin(0.6, 0.9);
    const { w: next, config } = rmsprop(w, dw, { learningRate: 1e-2, cache });
    const expectedNextW = [
      -0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247,
      -0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774,
      0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447,
      0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619,
    ];
    const expectedCache = [
      0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321,
      0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377,
      0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936,
      0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926,
    ];
    expect(relError(next.data, expectedNextW)).toBeLessThan(1e-7);
    expect(relError(config.cache.data, expectedCache)).toBeLessThan(1e-7);
    expect(config.decayRate).toBe(0.99);
    expect(config.epsilon).toBe(1e-8);
  });

  test('equals a plain reimplementation over three steps', () => {
    const w = lin(-2, 3);
    const cfg = { learningRate: 0.03, decayRate: 0.9 };
    const ref = linspace(-2, 3, N * D);
    const cache = new Float64Array(N * D);
    for (let s = 0; s < 3; s++) {
      const dw = lin(s - 1, 2 * s + 1);
      rmsprop(w, dw, cfg);
      for (let i = 0; i < ref.length; i++) {
        const g = dw.data[i];
        cache[i] = 0.9 * cache[i] + (1 - 0.9) * g * g;
        ref[i] -= (0.03 * g) / (Math.sqrt(cache[i]) + 1e-8);
      }
    }
    expect(relError(w.data, ref)).toBeLessThan(1e-14);
  });
});

describe('adam', () => {
  test("matches the seed's expected arrays (t = 5 becomes 6 before the update)", () => {
    const w = lin(-0.4, 0.6);
    const dw = lin(-0.6, 0.4);
    const m = lin(0.6, 0.9);
    const v = lin(0.7, 0.5);
    const { w: next, config } = adam(w, dw, { learningRate: 1e-2, m, v, t: 5 });
    const expectedNextW = [
      -0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977,
      -0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929,
      0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969,
      0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459,
    ];
    const expectedV = [
      0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853,
      0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385,
      0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767,
      0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966,
    ];
    const expectedM = [
      0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474,
      0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316,
      0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158,
      0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85,
    ];
    expect(relError(next.data, expectedNextW)).toBeLessThan(1e-7);
    expect(relError(config.v.data, expectedV)).toBeLessThan(1e-7);
    expect(relError(config.m.data, expectedM)).toBeLessThan(1e-7);
    expect(config.t).toBe(6);
    expect([config.beta1, config.beta2, config.epsilon]).toEqual([0.9, 0.999, 1e-8]);
  });

  test('equals a plain reimplementation over three steps from a fresh config (t = 1, 2, 3)', () => {
    const w = lin(-2, 3);
    const cfg: { t?: number; learningRate?: number } = {};
    const ref = linspace(-2, 3, N * D);
    const m = new Float64Array(N * D);
    const v = new Float64Array(N * D);
    for (let s = 1; s <= 3; s++) {
      const dw = lin(s - 2, 2 * s + 1);
      adam(w, dw, cfg);
      expect(cfg.t).toBe(s);
      for (let i = 0; i < ref.length; i++) {
        const g = dw.data[i];
        m[i] = 0.9 * m[i] + (1 - 0.9) * g;
        v[i] = 0.999 * v[i] + (1 - 0.999) * g * g;
        const mt = m[i] * (1 / (1 - 0.9 ** s));
        const vt = v[i] * (1 / (1 - 0.999 ** s));
        ref[i] -= (1e-3 * mt) / (Math.sqrt(vt) + 1e-8);
      }
    }
    expect(cfg.learningRate).toBe(1e-3);
    expect(relError(w.data, ref)).toBeLessThan(1e-13);
  });
});

describe('async variants and float32', () => {
  test('each *Async rule gives exactly the sync result', async () => {
    const rules = [
      [sgd, sgdAsync],
      [sgdMomentum, sgdMomentumAsync],
      [rmsprop, rmspropAsync],
      [adam, adamAsync],
    ] as const;
    for (const [syncRule, asyncRule] of rules) {
      const a = lin(-1, 1);
      const b = lin(-1, 1).clone();  // in deepconv's memory: asynchronous kernels write only there
      const ca = {};
      const cb = {};
      for (let s = 0; s < 3; s++) {
        const dw = lin(-0.5 + s, 0.7);
        (syncRule as (w: Tensor, dw: Tensor, c: object) => unknown)(a, dw, ca);
        await (asyncRule as (w: Tensor, dw: Tensor, c: object) => Promise<unknown>)(b, dw, cb);
      }
      expect(Array.from(b.data)).toEqual(Array.from(a.data));
    }
  });

  test('float32 weights update close to the float64 result; state tensors are float32', () => {
    const w64 = lin(-0.4, 0.6);
    const w32 = w64.astype('float32');
    const dw = lin(-0.6, 0.4);
    const c64 = {};
    const c32: { m?: Tensor } = {};
    adam(w64, dw, c64);
    adam(w32, dw.astype('float32'), c32);
    expect(c32.m!.dtype).toBe('float32');
    expect(relError(w32.data, w64.data)).toBeLessThan(1e-6);
  });

  test('an asynchronous update refuses weights wrapping JavaScript-owned memory, and reads such gradients', async () => {
    const foreign = lin(-1, 1);  // wraps a plain Float64Array
    const err = await sgdAsync(foreign, lin(1, 2)).then(() => null, (e: Error) => e);
    expect(err?.constructor.name).toBe('TypeError');
    expect(err?.message).toMatch(/^w \(a float64 Tensor of shape \[4, 5\]\) wraps memory JavaScript owns, which an asynchronous kernel may not update in place/);
    const w = lin(-1, 1).clone();
    const w0 = w.data.slice();
    const dw = lin(1, 2);
    const p = sgdAsync(w, dw, { learningRate: 0.5 });
    dw.data.fill(1e9);  // the gradient was copied when the call was queued
    await p;
    for (let i = 0; i < w.size; i++) expect(w.data[i]).toBe(w0[i] - 0.5 * lin(1, 2).data[i]);
  });

  test('prepareUpdate runs the named rules', async () => {
    const w = lin(-1, 1).clone();
    const dw = lin(1, 2);
    const w0 = w.data.slice();
    const p = prepareUpdate.sgd(w, dw, { learningRate: 0.1 });
    await p.call(true);
    for (let i = 0; i < w.size; i++) expect(w.data[i]).toBe(w0[i] - 0.1 * dw.data[i]);
  });
});

describe('argument checks', () => {
  test('shape and dtype mismatches, bad hyperparameters, unknown config keys', () => {
    const w = lin(-1, 1);
    expect(() => sgd(w, Tensor.zeros([5, 4], 'float64'))).toThrow(/dw must have shape \[4, 5\]/);
    expect(() => sgd(w, Tensor.zeros([4, 5], 'float32'))).toThrow(/dw must have dtype float64/);
    expect(() => sgd(w, lin(0, 1), { learningRate: -1 })).toThrow(RangeError);
    expect(() => sgdMomentum(w, lin(0, 1), { momentum: 1.5 })).toThrow(/config.momentum/);
    expect(() => adam(w, lin(0, 1), { beta1: 1 })).toThrow(/config.beta1/);
    expect(() => adam(w, lin(0, 1), { t: 1.5 })).toThrow(/config.t/);
    expect(() => rmsprop(w, lin(0, 1), { epsilon: 0 })).toThrow(/config.epsilon/);
    expect(() => adam(w, lin(0, 1), { m: Tensor.zeros([3], 'float64') })).toThrow(/config.m must have shape \[4, 5\]/);
    expect(() => sgd(w, lin(0, 1), { lr: 1 } as never)).toThrow(/config.lr is not an option/);
    expect(() => updateRuleName('adagrad')).toThrow(/'sgd', 'sgd_momentum', 'nesterov', 'rmsprop', 'adam'/);
    expect(updateRuleName('sgdMomentum')).toBe('sgd_momentum');
  });
});
