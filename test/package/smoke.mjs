// The installed package as an ES-module user gets it: named and default imports.
import { Tensor, DeepConvNet, Solver, isaInfo, loadCifar10, ISAS } from 'deepconv';
import deepconv from 'deepconv';
import assert from 'assert';

assert.strictEqual(typeof DeepConvNet, 'function');
assert.strictEqual(typeof Solver, 'function');
assert.strictEqual(typeof loadCifar10, 'function');
assert.strictEqual(deepconv.Tensor, Tensor);
assert.ok(ISAS.includes(isaInfo().active));
const net = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4], maxPools: [0], numClasses: 3, seed: 0 });
const scores = await net.predict(Tensor.randn([2, 3, 8, 8], { seed: 0 }));
assert.deepStrictEqual(scores.shape, [2, 3]);
console.log(`smoke.mjs: node ${process.version}, named and default imports, predict ok`);
