// The installed package as a CommonJS user gets it: loads (the prebuilt binary, unless told
// otherwise), trains 20 steps, predicts, saves and reloads. Run from the app folder it is installed
// in: `node smoke.cjs [--expect-prebuilt]`. No child processes, so it runs under qemu-user too.
'use strict';
const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const dc = require('deepconv');

const pkgDir = path.dirname(require.resolve('deepconv/package.json'));
const addon = dc.addonPath();
if (process.argv.includes('--expect-prebuilt')) {
  assert.match(addon, /[\\/]prebuilds[\\/]/, `expected the prebuilt binary, loaded ${addon}`);
}
const isa = dc.isaInfo();

async function main() {
  // 10 classes of 8x8 RGB images: class k has its bright pixels in row k % 8.
  const N = 200, C = 3, H = 8, W = 8;
  const x = new Float32Array(N * C * H * W);
  const y = new Int32Array(N);
  const rng = new dc.Rng(1);
  for (let i = 0; i < N; i++) {
    y[i] = i % 10;
    for (let j = 0; j < C * H * W; j++) x[i * C * H * W + j] = (Math.floor((j % (H * W)) / W) === y[i] % 8 ? 1 : 0) + 0.1 * rng.normal();
  }
  const S = C * H * W;
  const data = {
    xTrain: new dc.Tensor(x.slice(0, 180 * S), [180, C, H, W]), yTrain: y.slice(0, 180),
    xVal: new dc.Tensor(x.slice(180 * S), [20, C, H, W]), yVal: y.slice(180),
  };
  const model = new dc.ThreeLayerConvNet({ inputDims: [C, H, W], numFilters: 4, filterSize: 3, hiddenDim: 16, numClasses: 10, weightScale: 0.1, seed: 0 });
  const solver = new dc.Solver(model, data, { updateRule: 'adam', optimConfig: { learningRate: 1e-2 }, batchSize: 9, numEpochs: 1, verbose: false, seed: 0 });
  await solver.train();
  assert.strictEqual(solver.lossHistory.length, 20, `expected 20 steps, ran ${solver.lossHistory.length}`);
  assert.ok(solver.lossHistory.every(Number.isFinite), 'a loss was not finite');
  const scores = await model.predict(data.xVal);
  assert.deepStrictEqual(scores.shape, [20, 10]);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'deepconv-smoke-')), 'model.safetensors');
  model.save(file);
  const again = await dc.loadModel(file).predict(data.xVal);
  assert.deepStrictEqual(Array.from(again.data), Array.from(scores.data));
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  console.log(
    `smoke.cjs: node ${process.version} ${process.arch}, ${path.relative(pkgDir, addon)}, isa ${isa.active}, ` +
      `20 steps (loss ${solver.lossHistory[0].toFixed(3)} -> ${solver.lossHistory[19].toFixed(3)}), predict ok`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
