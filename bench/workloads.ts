// One benchmark workload of ../shared/bench/WORKLOADS.md through deepconv, in this process:
//   node dist/bench/workloads.js --workload W1 [--threads 2] [--warmup 5] [--steps 20]
// Prints one JSON line. Training steps are what the Solver runs: lossAsync (every kernel off the
// main thread, outputs recycled through an arena) and an asynchronous Adam update per parameter.
import { Arena, DeepConvNet, Model, setNumThreads, Tensor, ThreeLayerConvNet, adamAsync, AdamConfig } from '../lib';

type Kind = 'train' | 'latency' | 'infer';
interface Workload {
  name: string;
  make: () => Model;
  kind: Kind;
  batch: number;
}

const deep = (numFilters: number[], maxPools: number[], batchnorm: boolean) => () =>
  new DeepConvNet({ inputDims: [3, 32, 32], numFilters, maxPools, batchnorm, weightScale: 'kaiming', seed: 0 });

export const WORKLOADS: Record<string, Workload> = {
  W1: { name: 'seed-deep', make: deep([16, 32, 64], [0, 1, 2], false), kind: 'train', batch: 128 },
  W2: { name: 'seed-deep-bn', make: deep([16, 32, 64], [0, 1, 2], true), kind: 'train', batch: 128 },
  W3: { name: 'three-layer', make: () => new ThreeLayerConvNet({ numFilters: 32, filterSize: 7, hiddenDim: 100, weightScale: 1e-2, seed: 0 }), kind: 'train', batch: 128 },
  W4: { name: 'vgg-wide', make: deep([64, 64, 128, 128, 256, 256], [1, 3, 5], true), kind: 'train', batch: 128 },
  W5: { name: 'infer-1', make: deep([16, 32, 64], [0, 1, 2], true), kind: 'latency', batch: 1 },
  W6: { name: 'infer-256', make: deep([16, 32, 64], [0, 1, 2], true), kind: 'infer', batch: 256 },
};

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

export function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

async function timed(fn: () => Promise<unknown> | unknown, warmup: number, iters: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < iters; i++) {
    const s = performance.now();
    await fn();
    t.push((performance.now() - s) / 1000);
  }
  return t;
}

async function main(): Promise<void> {
  const id = process.argv[process.argv.indexOf('--workload') + 1];
  const w = WORKLOADS[id];
  if (!w) throw new Error(`--workload must be one of ${Object.keys(WORKLOADS).join(', ')}`);
  const threads = arg('--threads', 2);
  const warmup = arg('--warmup', 5);
  const steps = arg('--steps', 20);
  setNumThreads(threads);
  const model = w.make();
  const X = Tensor.randn([w.batch, 3, 32, 32], { seed: 1 });
  const y = Int32Array.from({ length: w.batch }, (_, i) => (i * 7) % 10);
  const rec: Record<string, unknown> = { system: 'deepconv', workload: id, name: w.name, batch: w.batch, threads };
  if (w.kind === 'train') {
    const arena = new Arena();
    const configs: Record<string, AdamConfig> = {};
    for (const k of Object.keys(model.params)) configs[k] = { learningRate: 1e-3 };
    let last = NaN;
    const step = async () => {
      const { loss, grads } = await model.lossAsync(X, y, { arena });
      // queued back to back, as the Solver does: the executor runs them in order
      await Promise.all(Object.keys(model.params).map((k) => adamAsync(model.params[k], grads[k], configs[k])));
      last = loss;
    };
    const t = await timed(step, warmup, steps);
    if (!Number.isFinite(last)) throw new Error(`${id}: the loss is ${last}`);
    const med = median(t);
    Object.assign(rec, { images_per_s: w.batch / med, median_step_ms: 1e3 * med, min_step_ms: 1e3 * Math.min(...t), warmup, timed_steps: steps });
  } else if (w.kind === 'latency') {
    const tAsync = await timed(() => model.predict(X), 20, 200);
    const tSync = await timed(() => model.loss(X), 20, 200);
    Object.assign(rec, { latency_ms: 1e3 * median(tAsync), latency_sync_ms: 1e3 * median(tSync), images_per_s: 1 / median(tAsync) });
  } else {
    const t = await timed(() => model.predict(X, { batchSize: w.batch }), warmup, steps);
    Object.assign(rec, { images_per_s: w.batch / median(t), median_ms: 1e3 * median(t) });
  }
  rec.peak_rss_mb = process.resourceUsage().maxRSS / 1024;
  for (const [k, v] of Object.entries(rec)) if (typeof v === 'number' && !Number.isInteger(v)) rec[k] = +v.toFixed(3);
  console.log(JSON.stringify(rec));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
