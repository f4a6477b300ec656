// Usage: node teardown.js MODE [COUNT]. Environments that die while deepconv kernels run: the
// process must exit 0 and print "ok MODE".
//   terminate N   N workers training (Solver, or a cuda model on a CUDA / emulator build with
//                 DEEPCONV_DEVICE=cuda) terminated at random moments, three alive at a time
//   worker-exit   a worker calls process.exit() with kernels queued and running
//   exit          the main thread calls process.exit() while a long kernel runs
//   throw         a user callback throws while kernels are queued (uncaught, handled by the process)
const path = require('path');
const { Worker } = require('worker_threads');

const TRAINER = `
const dc = require(${JSON.stringify(path.join(__dirname, 'load.js'))});
const { workerData, parentPort } = require('worker_threads');
const { Tensor } = dc;
const N = 128;
const data = {
  xTrain: Tensor.randn([N, 3, 16, 16], { seed: 1 }), yTrain: new Int32Array(N).map((_, i) => i % 10),
  xVal: Tensor.randn([32, 3, 16, 16], { seed: 2 }), yVal: new Int32Array(32),
};
const model = new dc.DeepConvNet({ inputDims: [3, 16, 16], numFilters: [8, 16], maxPools: [0, 1], batchnorm: true, seed: 0 });
if (workerData.device === 'cuda') model.toDevice('cuda');
const solver = new dc.Solver(model, data, { updateRule: 'adam', batchSize: 32, numEpochs: 1000, verbose: false });
parentPort.postMessage('training');
solver.train();
setInterval(() => model.predict(data.xVal), 1);  // and inference beside it
`;

function trainer(device) {
  const w = new Worker(TRAINER, { eval: true, workerData: { device } });
  w.on('error', (e) => {
    console.error('worker error:', e);
    process.exitCode = 1;
  });
  return w;
}

const modes = {
  async terminate(count) {
    const device = process.env.DEEPCONV_DEVICE ?? 'cpu';
    let done = 0;
    const one = async () => {
      while (done < count) {
        done++;
        const w = trainer(device);
        await new Promise((r) => w.once('message', r));  // loaded and training
        await new Promise((r) => setTimeout(r, Math.random() * 150));
        await w.terminate();
      }
    };
    await Promise.all([one(), one(), one()]);
  },
  async 'worker-exit'() {
    const w = new Worker(
      `const dc = require(${JSON.stringify(path.join(__dirname, 'load.js'))});
       const x = dc.Tensor.randn([64, 16, 32, 32], { seed: 1 }), k = dc.Tensor.randn([32, 16, 3, 3], { seed: 2 }), b = dc.Tensor.zeros([32]);
       for (let i = 0; i < 20; i++) dc.Conv.forwardAsync(x, k, b, { stride: 1, pad: 1 });
       setTimeout(() => process.exit(0), 5);`,
      { eval: true },
    );
    const code = await new Promise((r) => w.once('exit', r));
    if (code !== 0) throw new Error(`worker exited with ${code}`);
  },
  async exit() {
    const dc = require('./load');
    const x = dc.Tensor.randn([64, 16, 32, 32], { seed: 1 }), k = dc.Tensor.randn([32, 16, 3, 3], { seed: 2 }), b = dc.Tensor.zeros([32]);
    for (let i = 0; i < 20; i++) dc.Conv.forwardAsync(x, k, b, { stride: 1, pad: 1 });
    await new Promise((r) => setTimeout(r, 10));
    console.log('ok exit');
    process.exit(0);
  },
  async throw() {
    const dc = require('./load');
    process.on('uncaughtException', (e) => {
      if (e.message !== 'from a user callback') throw e;
    });
    const x = dc.Tensor.randn([16, 8, 32, 32], { seed: 1 });
    for (let i = 0; i < 10; i++) {
      dc.ReLU.forwardAsync(x).then(() => {
        throw new Error('from a user callback');
      });
    }
    await dc.ReLU.forwardAsync(x);
    await new Promise((r) => setTimeout(r, 20));
  },
};

const mode = process.argv[2];
if (!modes[mode]) {
  console.error(`unknown mode ${mode}: one of ${Object.keys(modes).join(', ')}`);
  process.exit(2);
}
const t0 = Date.now();
modes[mode](Number(process.argv[3] ?? 10)).then(
  () => console.log(`ok ${mode} (${((Date.now() - t0) / 1000).toFixed(1)} s)`),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
