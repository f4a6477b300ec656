// GEMM benchmark over the shapes the workloads' convolutions produce, against the measured
// FMA peak of this machine. One JSON line per shape; medians of timed repetitions.
//   npx ts-node bench/gemm.ts [--threads N]
import { Tensor, gemm, setNumThreads, getNumThreads } from '../lib';
import { native } from '../lib/binding';
import { median } from './workloads';

const argThreads = process.argv.indexOf('--threads');
if (argThreads > 0) setNumThreads(Number(process.argv[argThreads + 1]));


// [label, M, N, K, transA, transB]: per-image conv GEMMs (forward F x P x CKK; weight gradient
// F x CKK x P with B transposed; input gradient CKK x P x F with A transposed) and square ones.
const shapes: [string, number, number, number, boolean, boolean][] = [
  ['W1 conv1 fwd', 16, 1024, 27, false, false],
  ['W1 conv2 fwd', 32, 256, 144, false, false],
  ['W1 conv3 fwd', 64, 64, 288, false, false],
  ['W4 conv2 fwd (64->64 @32x32)', 64, 1024, 576, false, false],
  ['W4 conv2 dW (64->64 @32x32)', 64, 576, 1024, false, true],
  ['W4 conv2 dX (64->64 @32x32)', 576, 1024, 64, true, false],
  ['W4 conv4 fwd (128->128 @16x16)', 128, 256, 1152, false, false],
  ['W4 conv6 fwd (256->256 @8x8)', 256, 64, 2304, false, false],
  ['W4 conv6 dW (256->256 @8x8)', 256, 2304, 64, false, true],
  ['W4 conv6 dX (256->256 @8x8)', 2304, 64, 256, true, false],
  ['W3 linear fwd (128x8192x100)', 128, 100, 8192, false, false],
  ['square 1024', 1024, 1024, 1024, false, false],
  ['square 2048', 2048, 2048, 2048, false, false],
];

const peak = native.fmaPeak(1.0);
console.log(JSON.stringify({ bench: 'fma-peak', gflops: +peak.gflops.toFixed(1), isa: peak.isa, threads: peak.threads }));
for (const [label, M, N, K, ta, tb] of shapes) {
  const A = Tensor.rand(ta ? [K, M] : [M, K], { seed: 1 });
  const B = Tensor.rand(tb ? [N, K] : [K, N], { seed: 2 });
  const C = Tensor.zeros([M, N]);
  const flops = 2 * M * N * K;
  const reps = Math.max(3, Math.min(200, Math.round(2e9 / flops)));
  const times: number[] = [];
  for (let r = 0; r < reps + 2; r++) {
    const t = process.hrtime.bigint();
    gemm(A, B, C, { transA: ta, transB: tb });
    if (r >= 2) times.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  const gflops = flops / median(times) / 1e9;
  console.log(JSON.stringify({ bench: 'gemm', shape: label, M, N, K, transA: ta, transB: tb, gflops: +gflops.toFixed(1), fractionOfPeak: +(gflops / peak.gflops).toFixed(3), threads: getNumThreads() }));
}
