// The fuzzer's cases: seeded random calls of every public entry of deepconv (the raw ops of the op
// table, Tensor constructors and accessors, layers, losses, optimizers, models, file readers),
// sync and async, with shapes that hold 0 and huge dimensions, every dtype, forged objects, and
// typed arrays detached, transferred, resizable or shared. A case may return, throw or reject: the
// only failures are a crash or a hang of the process, which the driver (scripts/fuzz.js) sees.
const fs = require('fs');
const os = require('os');
const path = require('path');
const dc = require('../safety/load');

const { Tensor, native, OPS } = { ...dc, OPS: require('../../lib/ops').OPS };
const opNames = Object.keys(OPS);

// ---- values

const SIZES = [0, 1, 1, 2, 2, 3, 4, 5, 7, 8, 16, 2 ** 31, 2 ** 40, 2 ** 53, -1, -0, NaN, Infinity, 1.5, '3', null, undefined, {}];
const NUMBERS = [0, 0.5, 1, 1e-5, 0.9, -1, 2, NaN, Infinity, -Infinity, 1e308, '0.5', null, true];

/** The kinds of typed array (or not) a buffer argument can be. */
function array(rng, n, like = 'f64') {
  const r = rng.uniform();
  const len = Math.max(0, Math.min(n, 1 << 16));
  const ctor = like === 'i32' ? Int32Array : like === 'f32' ? Float32Array : Float64Array;
  if (r < 0.35) return new ctor(native.hostAlloc(Math.max(1, len) * ctor.BYTES_PER_ELEMENT)).subarray(0, len);  // deepconv's memory
  if (r < 0.55) return new ctor(len);  // JavaScript's memory
  if (r < 0.62) return new (rng.uniform() < 0.5 ? Float32Array : Float64Array)(len);  // the other float dtype
  if (r < 0.66) return new Int32Array(len);
  if (r < 0.69) return new Uint8Array(len);
  if (r < 0.72) {
    const a = new ctor(len);
    structuredClone(a.buffer, { transfer: [a.buffer] });  // detached
    return a;
  }
  if (r < 0.75) return new ctor(new SharedArrayBuffer(Math.max(1, len) * ctor.BYTES_PER_ELEMENT)).subarray(0, len);
  if (r < 0.78) {
    const ab = new ArrayBuffer(len * ctor.BYTES_PER_ELEMENT, { maxByteLength: (len + 8) * ctor.BYTES_PER_ELEMENT });
    return new ctor(ab);  // resizable, length-tracking
  }
  if (r < 0.8) return new ctor(len + 3).subarray(1, len + 1);  // a view at an offset
  if (r < 0.83) return { length: len, kind: 'float32', disposed: false, dispose() {} };  // a forged CudaBuffer
  if (r < 0.86) return Array.from({ length: Math.min(len, 8) }, () => 0);
  if (r < 0.88) return null;
  if (r < 0.9) return 'buffer';
  return new ctor(Math.max(0, len + (rng.uniform() < 0.5 ? -1 : 1)));  // off by one
}

const pick = (rng, list) => list[rng.int(list.length)];

/** A shape: mostly small, sometimes with a 0 or a huge dimension (its size stays allocatable). */
function shape(rng, rank = 1 + rng.int(4)) {
  const s = Array.from({ length: rank }, () => 1 + rng.int(5));
  const r = rng.uniform();
  if (r < 0.1) s[rng.int(rank)] = 0;
  else if (r < 0.15) {
    const zero = rng.int(rank);
    s[zero] = 0;
    if (rank > 1) s[(zero + 1 + rng.int(rank - 1)) % rank] = pick(rng, [2 ** 31, 2 ** 40, 2 ** 52]);  // empty, but huge
  } else if (r < 0.18) s[rng.int(rank)] = pick(rng, [-1, 1.5, NaN, '2', 2 ** 53]);
  return s;
}

const dtype = (rng) => pick(rng, ['float32', 'float64', 'float64', 'float16', undefined, 3]);

function tensor(rng, s = shape(rng), dt = dtype(rng)) {
  try {
    const t = rng.uniform() < 0.8 ? Tensor.randn(s, { dtype: dt, seed: rng.int(1000) }) : Tensor.zeros(s, dt);
    if (rng.uniform() < 0.05 && t.size > 0) t.data[rng.int(t.size)] = pick(rng, [NaN, Infinity, -Infinity]);
    return t;
  } catch {
    return pick(rng, [null, {}, new Float32Array(4), Tensor.zeros([1])]);
  }
}

/** A tensor wrapping JavaScript's own memory, sometimes detached afterwards. */
function foreignTensor(rng, s = shape(rng)) {
  try {
    const t = new Tensor(new Float64Array(s.reduce((a, b) => a * b, 1)), s);
    if (rng.uniform() < 0.3) structuredClone(t.data.buffer, { transfer: [t.data.buffer] });
    return t;
  } catch {
    return null;
  }
}

// ---- raw ops: valid-looking calls (buffer lengths learnt from the addon's own messages), mutated

const learnt = new Map();

/** Buffer lengths of op at these sizes, from the "x must hold N elements" refusals (null: none). */
function lengthsFor(op, args) {
  const key = `${op}:${JSON.stringify(args.map((a, i) => (typeof a === 'number' ? a : i)))}`;
  if (learnt.has(key)) return learnt.get(key);
  const specs = OPS[op].map((s) => s.split(':'));
  const lens = specs.map(() => 0);
  let result = null;
  for (let tries = 0; tries < specs.length + 1; tries++) {
    const call = specs.map(([, kind], i) => {
      if (kind === 'int' || kind === 'num' || kind === 'bool') return args[i];
      const ctor = kind === 'inI' || kind === 'outI' || kind === 'labels' ? Int32Array : Float64Array;
      return new ctor(lens[i]);
    });
    try {
      native[op](...call);
      result = lens;
      break;
    } catch (e) {
      const m = /^deepconv native: (\w+) must hold (\d+) elements, got/.exec(e.message);
      const at = m ? specs.findIndex(([name]) => name === m[1]) : -1;
      if (at < 0 || Number(m[2]) > 1 << 16) break;
      lens[at] = Number(m[2]);
    }
  }
  learnt.set(key, result);
  return result;
}

function rawOp(rng) {
  const op = pick(rng, opNames);
  const specs = OPS[op].map((s) => s.split(':'));
  const args = specs.map(([name, kind]) => {
    if (kind === 'int') return rng.uniform() < 0.9 ? pick(rng, [1, 1, 2, 2, 3, 4]) : pick(rng, SIZES);
    if (kind === 'num') return name === 'p' ? pick(rng, [0.5, 0.5, 1, 0, 1.5]) : rng.uniform() < 0.9 ? pick(rng, [0.5, 0.9, 1e-5, 1]) : pick(rng, NUMBERS);
    if (kind === 'bool') return rng.uniform() < 0.95 ? rng.uniform() < 0.5 : pick(rng, [0, 'true', null]);
    return null;
  });
  const lens = lengthsFor(op, args) ?? specs.map(() => rng.int(10));
  const f32 = rng.uniform() < 0.5;
  for (let i = 0; i < specs.length; i++) {
    const kind = specs[i][1];
    if (kind === 'int' || kind === 'num' || kind === 'bool') continue;
    const like = kind === 'inI' || kind === 'outI' || kind === 'labels' ? 'i32' : kind === 'scalar' ? 'f64' : f32 ? 'f32' : 'f64';
    const n = rng.uniform() < 0.85 ? lens[i] : rng.int(20);
    args[i] = rng.uniform() < 0.8 ? array({ uniform: () => rng.uniform() * 0.35, int: (k) => rng.int(k) }, n, like) : array(rng, n, like);
    if (kind === 'labels' && args[i] instanceof Int32Array && rng.uniform() < 0.9) {
      for (let k = 0; k < args[i].length; k++) args[i][k] = rng.uniform() < 0.97 ? rng.int(3) : pick(rng, [-1, 2 ** 31 - 1, 1000]);
    }
    if (kind === 'inI' && args[i] instanceof Int32Array) for (let k = 0; k < args[i].length; k++) args[i][k] = rng.int(40) - 5;
    if (kind === 'in' && (args[i] instanceof Float64Array || args[i] instanceof Float32Array)) {
      for (let k = 0; k < args[i].length; k++) args[i][k] = rng.uniform() < 0.99 ? rng.normal() : NaN;
    }
  }
  const async = rng.uniform() < 0.5;
  if (async) args.push(true);
  else if (rng.uniform() < 0.1) args.push(false);
  if (rng.uniform() < 0.03) args.push(pick(rng, [0, 'extra', true]));
  return {
    desc: `native.${op}(${args.map(describe).join(', ')})`,
    run: () => {
      const r = native[op](...args);
      if (async && rng.uniform() < 0.3) {
        // JavaScript takes the arrays away while the kernel is queued.
        for (const a of args) if (ArrayBuffer.isView(a) && !(a.buffer instanceof SharedArrayBuffer)) takeAway(a.buffer);
      }
      return r;
    },
  };
}

function takeAway(buf) {
  try {
    structuredClone(buf, { transfer: [buf] });
  } catch {
    /* untransferable (deepconv's memory) or already detached */
  }
}

function describe(v) {
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${v.length}${v.buffer instanceof SharedArrayBuffer ? ', shared' : ''}${v.buffer.resizable ? ', resizable' : ''}${native.isHostMemory(v) ? ', deepconv' : ''})`;
  if (Array.isArray(v)) return `[${v.length}]`;
  if (v instanceof Tensor) return v.toString();
  return typeof v;
}

// ---- the public API

const LAYER_CASES = [
  (rng) => () => Tensor.zeros(shape(rng), dtype(rng)).toArray(),
  (rng) => () => Tensor.full(shape(rng), pick(rng, [1, NaN, '1', null]), dtype(rng)),
  (rng) => () => Tensor.randn(shape(rng), { std: pick(rng, [1, 0, -1, NaN, Infinity, '1']), seed: pick(rng, [1, 1.5, -3, 'x']) }),
  (rng) => () => Tensor.rand(shape(rng), { lo: pick(rng, [0, 1, NaN]), hi: pick(rng, [1, 0, Infinity]) }),
  (rng) => () => Tensor.from(pick(rng, [[[1, 2], [3, 4]], [[1], [2, 3]], [['a']], [], new Float32Array(3), new Uint8Array(4), 5]), { shape: pick(rng, [undefined, [2, 2], [4], [0]]) }),
  (rng) => () => {
    const t = tensor(rng);
    return t.get(...Array.from({ length: rng.int(5) }, () => pick(rng, [0, 1, -1, 100, 0.5, NaN])));
  },
  (rng) => () => tensor(rng).reshape(shape(rng)),
  (rng) => () => tensor(rng).astype(dtype(rng)).clone().toDevice(pick(rng, ['cpu', 'cuda', 'gpu'])),
  (rng) => () => {
    const t = foreignTensor(rng);
    return [t.size, t.detached, t.toArray()];
  },
  (rng) => async () => {
    const N = pick(rng, [0, 1, 2, 3]), C = 1 + rng.int(3), H = 1 + rng.int(6), F = 1 + rng.int(3), K = pick(rng, [1, 2, 3, 5]);
    const x = rng.uniform() < 0.2 ? foreignTensor(rng, [N, C, H, H]) : tensor(rng, [N, C, H, H], 'float64');
    const w = tensor(rng, [F, rng.uniform() < 0.9 ? C : C + 1, K, K], 'float64');
    const p = { stride: pick(rng, [1, 1, 2, 0, 1.5]), pad: pick(rng, [0, 1, 2, -1]) };
    const f = rng.uniform() < 0.5 ? dc.Conv.forward(x, w, tensor(rng, [F], 'float64'), p) : await dc.Conv.forwardAsync(x, w, tensor(rng, [F], 'float64'), p);
    return dc.Conv.backward(tensor(rng, f.out.shape, 'float64'), f.cache);
  },
  (rng) => async () => {
    const x = tensor(rng, shape(rng, 4));
    const p = { poolHeight: pick(rng, [1, 2, 3, 0]), poolWidth: pick(rng, [1, 2, 9]), stride: pick(rng, [1, 2, 0]) };
    const f = await dc.MaxPool.forwardAsync(x, p);
    return dc.MaxPool.backward(tensor(rng, f.out.shape, x.dtype), f.cache);
  },
  (rng) => async () => {
    const x = rng.uniform() < 0.2 ? foreignTensor(rng) : tensor(rng);
    const f = rng.uniform() < 0.5 ? dc.ReLU.forward(x) : await dc.ReLU.forwardAsync(x);
    if (rng.uniform() < 0.3) takeAway(x.buffer?.buffer ?? new ArrayBuffer(0));
    return dc.ReLU.backward(tensor(rng, f.out.shape, x.dtype), f.cache);
  },
  (rng) => () => dc.Dropout.forward(tensor(rng), { p: pick(rng, [0.5, 0, 1, 1.5, NaN]), mode: pick(rng, ['train', 'test', 'x']), seed: rng.int(9) }),
  (rng) => async () => {
    const N = pick(rng, [0, 1, 3]), D = pick(rng, [0, 1, 4]), M = pick(rng, [0, 1, 3]);
    const x = tensor(rng, [N, D]);
    const f = await dc.Linear.forwardAsync(x, tensor(rng, [D, M], x.dtype), tensor(rng, [M], x.dtype));
    return dc.Linear.backward(tensor(rng, f.out.shape, x.dtype), f.cache);
  },
  (rng) => async () => {
    const x = tensor(rng, [1 + rng.int(4), 1 + rng.int(3)], 'float64');
    const D = x.shape[1];
    const bp = { mode: pick(rng, ['train', 'test']), eps: pick(rng, [1e-5, 0, -1]), momentum: pick(rng, [0.9, 2]), runningMean: pick(rng, [tensor(rng, [D], 'float64'), foreignTensor(rng, [D]), undefined]), runningVar: tensor(rng, [D], 'float64') };
    const f = await dc.BatchNorm.forwardAsync(x, tensor(rng, [D], 'float64'), tensor(rng, [D], 'float64'), bp);
    return rng.uniform() < 0.5 ? dc.BatchNorm.backward(tensor(rng, x.shape, 'float64'), f.cache) : dc.BatchNorm.backwardAlt(tensor(rng, x.shape, 'float64'), f.cache);
  },
  (rng) => async () => {
    const N = pick(rng, [0, 1, 4]), C = pick(rng, [1, 3]);
    const y = pick(rng, [Int32Array.from({ length: N }, () => rng.int(C)), Array.from({ length: N }, () => rng.int(C + 1) - (rng.uniform() < 0.1 ? 1 : 0)), new Uint8Array(N), 'y', [0.5]]);
    const scores = tensor(rng, [N, C]);
    const opts = pick(rng, [undefined, { labelSmoothing: 0.1 }, { labelSmoothing: 1 }, { labelSmoothing: NaN }, { labelSmoothing: '0.1' }, null]);
    return rng.uniform() < 0.5 ? dc.softmaxLoss(scores, y, opts) : dc.svmLossAsync(scores, y);
  },
  (rng) => async () => {
    const s = shape(rng);
    const w = rng.uniform() < 0.2 ? foreignTensor(rng, s) : tensor(rng, s);
    const rule = pick(rng, ['sgd', 'sgdMomentum', 'rmsprop', 'adam', 'adamw']);
    const cfg = pick(rng, [undefined, {}, { learningRate: pick(rng, [1e-3, -1, NaN, '1']) }, { weightDecay: pick(rng, [0.01, 1, -1]) }, null]);
    return rng.uniform() < 0.5 ? dc[rule](w, tensor(rng, s, w?.dtype), cfg) : dc[`${rule}Async`](w, tensor(rng, s, w?.dtype), cfg);
  },
];

const smallModel = (rng) => {
  try {
    return rng.uniform() < 0.5
      ? new dc.DeepConvNet({ inputDims: [pick(rng, [1, 3]), 8, 8], numFilters: [pick(rng, [2, 4])], maxPools: pick(rng, [[0], [], [1]]), batchnorm: rng.uniform() < 0.5, seed: 0, dtype: pick(rng, ['float32', 'float64']) })
      : new dc.FullyConnectedNet({ inputDim: 12, hiddenDims: [pick(rng, [3, 0, 5])], dropout: pick(rng, [0, 0.5, 1.2]), seed: 0 });
  } catch {
    return null;
  }
};

const MODEL_CASES = [
  (rng) => async () => {
    const m = smallModel(rng);
    const X = tensor(rng, pick(rng, [[2, 3, 8, 8], [0, 3, 8, 8], [2, 1, 8, 8], [3, 12], [2, 3, 4, 4]]), m?.dtype);
    const y = Array.from({ length: X?.shape?.[0] ?? 0 }, () => rng.int(11));
    if (rng.uniform() < 0.3) return m.predict(X, { batchSize: pick(rng, [1, 2, 0, 256]) });
    return rng.uniform() < 0.5 ? m.loss(X, rng.uniform() < 0.5 ? y : undefined) : m.lossAsync(X, y);
  },
  (rng) => () => {
    // Model files: valid, mutated, truncated, or noise.
    const m = smallModel(rng) ?? new dc.FullyConnectedNet({ inputDim: 4, hiddenDims: [2], seed: 0 });
    const file = path.join(os.tmpdir(), `deepconv-fuzz-${process.pid}.safetensors`);
    m.save(file);
    const b = fs.readFileSync(file);
    const r = rng.uniform();
    if (r < 0.3) for (let k = 0; k < 1 + rng.int(4); k++) b[rng.int(b.length)] = rng.int(256);
    else if (r < 0.5) fs.writeFileSync(file, b.subarray(0, rng.int(b.length)));
    else if (r < 0.6) for (let k = 0; k < b.length; k++) b[k] = rng.int(256);
    if (r < 0.3 || r >= 0.5) fs.writeFileSync(file, b);
    try {
      return dc.loadModel(file);
    } finally {
      fs.rmSync(file, { force: true });
    }
  },
  (rng) => () => dc.parseIdx(Uint8Array.from({ length: rng.int(40) }, (_, i) => (i < 2 ? 0 : i === 2 ? pick(rng, [8, 9, 11, 12, 13, 14, 7]) : i === 3 ? rng.int(4) : rng.int(256)))),
  (rng) => () => dc.parseSafetensors(Uint8Array.from({ length: rng.int(64) }, (_, i) => (i === 0 ? rng.int(64) : i < 8 ? 0 : i === 8 ? 0x7b : rng.int(256)))),
];

/** The next case: a raw op half the time, the public API the other half. */
function nextCase(rng) {
  const r = rng.uniform();
  if (r < 0.5) return rawOp(rng);
  const list = r < 0.85 ? LAYER_CASES : MODEL_CASES;
  const i = rng.int(list.length);
  return { desc: `${r < 0.85 ? 'api' : 'model'} case ${i}`, run: list[i](rng) };
}

module.exports = { nextCase, Rng: dc.Rng };
