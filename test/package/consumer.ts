// A TypeScript user's code, compiled with `tsc --strict` and no @types/node: the package's types
// must stand on their own.
import { Tensor, ThreeLayerConvNet, Solver, isaInfo, loadModel } from 'deepconv';
import type { Isa, SolverOptions } from 'deepconv';

export async function run(): Promise<number[]> {
  const active: Isa = isaInfo().active;
  const model = new ThreeLayerConvNet({ inputDims: [3, 8, 8], numFilters: 2, filterSize: 3, hiddenDim: 4, numClasses: 2, seed: 0 });
  const x = Tensor.randn([4, 3, 8, 8], { seed: 1 });
  const opts: SolverOptions = { updateRule: 'sgd', optimConfig: { learningRate: 1e-3 }, batchSize: 2, numEpochs: 1, verbose: false };
  const solver = new Solver(model, { xTrain: x, yTrain: new Int32Array([0, 1, 0, 1]), xVal: x, yVal: new Int32Array([0, 1, 0, 1]) }, opts);
  await solver.train();
  const scores: Tensor = await model.predict(x);
  void loadModel;
  return [active.length, ...scores.shape];
}
