// The addon in worker threads: each environment gets its own state (threads setting, executor
// thread), several can run kernels at once, and a worker that exits mid-flight tears down cleanly.
import * as path from 'path';
import { Worker } from 'worker_threads';
import { native } from '../lib/binding';

// The binary lib/binding.ts loaded (DEEPCONV_ADDON: the sanitizer build), so both sides agree bit for bit.
const addonPath: string = process.env.DEEPCONV_ADDON
  ? path.resolve(process.env.DEEPCONV_ADDON)
  : // eslint-disable-next-line @typescript-eslint/no-var-requires
    require('node-gyp-build').path(path.resolve(__dirname, '..'));

const WORKER = `
const { parentPort, workerData } = require('worker_threads');
const b = require(workerData.addonPath);
b.setNumThreads(workerData.threads);
const N = 4, C = 3, H = 9, W = 9, F = 5;
const x = Float32Array.from({ length: N * C * H * W }, (_, i) => Math.sin(i));
const w = Float32Array.from({ length: F * C * 9 }, (_, i) => Math.cos(i));
const bias = new Float32Array(F).fill(0.5);
const out = new Float32Array(b.hostAlloc(4 * N * F * H * W));  // asynchronous kernels write only deepconv's memory
(async () => {
  for (let r = 0; r < workerData.rounds; r++) await b.convForward(N, C, H, W, F, 3, 3, 1, 1, false, out, x, w, bias, true);
  parentPort.postMessage({ threads: b.getNumThreads(), out: Array.from(out) });
  if (workerData.exitEarly) {
    // queue work and leave without waiting for it: teardown must join the executor cleanly
    b.convForward(N, C, H, W, F, 3, 3, 1, 1, false, out, x, w, bias, true);
    process.exit(0);
  }
})();
`;

function run(threads: number, rounds: number, exitEarly = false): Promise<{ threads: number; out: number[]; code: number }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { eval: true, workerData: { addonPath, threads, rounds, exitEarly } });
    let msg: { threads: number; out: number[] } | null = null;
    worker.on('message', (m) => (msg = m));
    worker.on('error', reject);
    worker.on('exit', (code) => (msg ? resolve({ ...msg, code }) : reject(new Error(`worker exited (${code}) without a result`))));
  });
}

test('workers keep their own thread settings and compute what the main thread does, concurrently', async () => {
  const N = 4, C = 3, H = 9, W = 9, F = 5;
  const x = Float32Array.from({ length: N * C * H * W }, (_, i) => Math.sin(i));
  const w = Float32Array.from({ length: F * C * 9 }, (_, i) => Math.cos(i));
  const bias = new Float32Array(F).fill(0.5);
  const expected = new Float32Array(N * F * H * W);
  native.convForward(N, C, H, W, F, 3, 3, 1, 1, false, expected, x, w, bias);
  const mainThreads = native.getNumThreads();
  const [a, b] = await Promise.all([run(1, 20), run(2, 20)]);
  expect(a.threads).toBe(1);
  expect(b.threads).toBe(2);
  expect(native.getNumThreads()).toBe(mainThreads);  // the workers' settings did not leak here
  expect(a.out).toEqual(Array.from(expected));
  expect(b.out).toEqual(Array.from(expected));
  expect(a.code).toBe(0);
});

test('a worker that exits with kernels still queued shuts down cleanly', async () => {
  const r = await run(2, 3, true);
  expect(r.code).toBe(0);
});
