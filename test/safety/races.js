// Usage: node --expose-gc races.js VARIANT [ROUNDS]. Queues asynchronous work, then transfers, detaches, drops
// or changes the typed arrays it uses before the work runs. The process must neither crash nor compute with
// freed memory: each variant prints "ok VARIANT" and exits 0 (a refusal is a clear error, also ok).
const dc = require('./load');
const { Worker } = require('worker_threads');
const { Tensor, native } = dc;

// A collection, and time for V8's concurrent sweeper to free what it found, while kernels still run.
const collect = global.gc ?? (() => {});
function gc() {
  collect();
  const until = Date.now() + 3;
  while (Date.now() < until);
  collect();
}
// How buf is moved away from this thread, as a server would: structuredClone with transfer
// (default), or TAKE_AWAY=transfer: ArrayBuffer.prototype.transfer() (Node 21+), which detaches buf
// and hands its memory, without a copy where V8 can, to the new buffer, dropped at once.
const transferInPlace = process.env.TAKE_AWAY === 'transfer';
if (transferInPlace && typeof ArrayBuffer.prototype.transfer !== 'function') {
  console.error(`TAKE_AWAY=transfer: ArrayBuffer.prototype.transfer is missing in Node ${process.version}`);
  process.exit(2);
}
function takeAway(buf) {
  try {
    if (transferInPlace) buf.transfer();
    else structuredClone(buf, { transfer: [buf] });
  } catch {
    // a refused transfer (untransferable memory) is as good
  }
}
/** Sends buf to a worker that exits at once (its copy of the memory goes with it). */
function sendAway(buf) {
  const w = new Worker('require("worker_threads").parentPort.once("message", () => process.exit(0))', { eval: true });
  try {
    w.postMessage(buf, [buf]);
  } catch {
    w.postMessage(null);
  }
  return new Promise((r) => w.once('exit', r));
}
const big = (shape, seed) => Tensor.randn(shape, { seed });
const foreign = (t) => new Tensor(Float32Array.from(t.data), t.shape);  // wraps JavaScript-owned memory

const variants = {
  async sgdAsync() {
    const w = big([1 << 22], 1), dw = foreign(big([1 << 22], 2));
    const ps = [];
    for (let i = 0; i < 8; i++) ps.push(dc.sgdAsync(w, dw, { learningRate: 0.1 }));  // long enough to outlast a gc
    takeAway(w.data.buffer);
    takeAway(dw.data.buffer);
    gc();
    await Promise.all(ps);
  },
  async reluForwardAsync() {
    const x = foreign(big([32, 64, 32, 32], 3));
    const ps = [];
    for (let i = 0; i < 8; i++) ps.push(dc.ReLU.forwardAsync(x));
    takeAway(x.data.buffer);
    gc();
    for (const { out } of await Promise.all(ps)) takeAway(out.data.buffer);
  },
  async convForwardAsync() {
    const x = big([32, 16, 32, 32], 4), w = big([32, 16, 3, 3], 5), b = big([32], 6);
    const ps = [];
    for (let i = 0; i < 8; i++) ps.push(dc.Conv.forwardAsync(x, w, b, { stride: 1, pad: 1 }));
    const gone = sendAway(x.data.buffer);
    takeAway(w.data.buffer);
    gc();
    await Promise.all(ps);
    await gone;
  },
  async predict() {
    const model = new dc.ThreeLayerConvNet({ inputDims: [3, 32, 32], numFilters: 8, hiddenDim: 32, seed: 0 });
    const X = foreign(big([300, 3, 32, 32], 7));
    const p = model.predict(X, { batchSize: 100 });
    setImmediate(() => takeAway(X.data.buffer));
    for (const t of Object.values(model.params)) takeAway(t.data.buffer);
    gc();
    await p.catch((e) => console.log('refused:', e.message));
  },
  async lossAsync() {
    const model = new dc.DeepConvNet({ inputDims: [3, 32, 32], numFilters: [16, 32], maxPools: [0, 1], batchnorm: true, seed: 0 });
    const X = big([64, 3, 32, 32], 8);
    const y = new Int32Array(64).map((_, i) => i % 10);
    const p = model.lossAsync(X, y);
    takeAway(X.data.buffer);
    takeAway(y.buffer);
    for (const t of Object.values(model.params)) takeAway(t.data.buffer);
    gc();
    await p.catch((e) => console.log('refused:', e.message));
  },
  async softmaxLossAsync() {
    const scores = foreign(big([1 << 15, 100], 9));
    const y = new Int32Array(1 << 15).map((_, i) => i % 100);
    const ps = [];
    for (let i = 0; i < 8; i++) ps.push(dc.softmaxLossAsync(scores, y));
    takeAway(scores.data.buffer);
    gc();
    await Promise.all(ps);
  },
  async solver() {
    const N = 256;
    const data = { xTrain: big([N, 3, 32, 32], 10), yTrain: new Int32Array(N).map((_, i) => i % 10), xVal: big([64, 3, 32, 32], 11), yVal: new Int32Array(64) };
    const model = new dc.ThreeLayerConvNet({ inputDims: [3, 32, 32], numFilters: 16, hiddenDim: 64, seed: 0 });
    const solver = new dc.Solver(model, data, { updateRule: 'adam', batchSize: 64, numEpochs: 2, verbose: false });
    const timer = setInterval(() => {
      // (transfer() can move deepconv's own memory: a tensor it detached has no .data to take)
      for (const t of [...Object.values(model.params), data.xTrain]) if (!t.detached) takeAway(t.data.buffer);
      gc();
    }, 5);
    await solver.train().catch((e) => console.log('refused:', e.message));
    clearInterval(timer);
  },
  async rawForeignInput() {
    const n = 1 << 22;
    const out = new Float32Array(native.hostAlloc(4 * n));
    const x = new Float32Array(n).fill(-2);
    const p = native.reluForward(n, out, x, true);
    x.fill(5);  // a foreign input is copied when the call is queued
    takeAway(x.buffer);
    gc();
    await p;
    if (out[0] !== 0 || out[n - 1] !== 0) throw new Error(`relu read memory changed after the call: ${out[0]}`);
  },
  async labelsChanged() {
    // Labels are checked when the call is made; changing them before the kernel runs must not
    // make it read out of bounds: the job works on its own copy.
    const N = 4096, C = 10;
    const scores = big([N, C], 12);
    const y = new Int32Array(native.hostAlloc(4 * N)).map((_, i) => i % C);
    const expected = dc.softmaxLoss(scores, y).loss;
    const dx = new Float32Array(native.hostAlloc(4 * N * C));
    const loss = new Float64Array(native.hostAlloc(8));
    const x = big([32, 16, 32, 32], 13), w = big([32, 16, 3, 3], 14), b = big([32], 15);
    const ahead = dc.Conv.forwardAsync(x, w, b, { stride: 1, pad: 1 });  // keeps the executor busy
    const p = native.softmaxLoss(N, C, 0, dx, scores.data, y, loss, true);
    y.fill(1 << 30);
    await ahead;
    await p;
    if (Math.abs(loss[0] - expected) > 1e-5 * Math.abs(expected)) throw new Error(`loss ${loss[0]} != ${expected}: the kernel read changed labels`);
  },
  async dropped() {
    // Nothing references the arrays but the queued kernels: collection must not free them.
    const ps = [];
    for (let i = 0; i < 8; i++) {
      const n = 1 << 20;
      ps.push(native.sgdUpdate(n, 0.1, new Float32Array(native.hostAlloc(4 * n)), new Float32Array(native.hostAlloc(4 * n)), true));
    }
    gc();
    await Promise.all(ps);
  },
};

const name = process.argv[2];
if (!variants[name]) {
  console.error(`unknown variant ${name}: one of ${Object.keys(variants).join(', ')}`);
  process.exit(2);
}
const rounds = Number(process.argv[3] ?? 3);
(async () => {
  for (let r = 0; r < rounds; r++) await variants[name]();
})().then(
  () => console.log(`ok ${name}`),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
