#!/usr/bin/env node
// The fuzzer's driver: npm run fuzz -- [--calls N] [--batch B] [--seed S] [--jobs J] [--workers F]
// Runs N seeded calls of every public deepconv entry (test/fuzz/cases.js) in batches of B, each
// batch in its own child process (J at a time), a fraction F of them inside a worker thread that is
// terminated mid-batch. A child that dies by a signal or a fatal error is a crash and one that
// outlives its time limit a hang: either is replayed with --trace to name the case, then reported
// with its seed. Exit status 0 only with no crash and no hang. DEEPCONV_ADDON picks the build.
const { spawn } = require('child_process');
const path = require('path');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const calls = arg('calls', 20000);
const batchSize = arg('batch', 2000);
const seed0 = arg('seed', 1);
const jobs = arg('jobs', 2);
const workerShare = arg('workers', 0.1);
const child = path.join(__dirname, '..', 'test', 'fuzz', 'child.js');
const LIMIT_MS = 120_000;

function runBatch(seed, n, extra = []) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [child, String(seed), String(n), ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '65536' } });
    let out = '';
    let err = '';
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (err += b));
    const timer = setTimeout(() => p.kill('SIGKILL'), LIMIT_MS);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err, hung: signal === 'SIGKILL' && !out.includes('"seed"') });
    });
  });
}

(async () => {
  const t0 = Date.now();
  const batches = [];
  for (let k = 0, left = calls; left > 0; k++, left -= batchSize) batches.push({ seed: seed0 + k, n: Math.min(batchSize, left), worker: (k * 7919) % 100 < workerShare * 100 });
  const totals = { calls: 0, returned: 0, threw: 0, rejected: 0, errors: {}, workerBatches: 0 };
  const failures = [];
  let next = 0;
  const lane = async () => {
    while (next < batches.length) {
      const b = batches[next++];
      const r = await runBatch(b.seed, b.n, b.worker ? ['--worker'] : []);
      const last = r.out.trim().split('\n').pop() ?? '';
      if (r.code === 0 && last.startsWith('{')) {
        const c = JSON.parse(last);
        totals.calls += b.n;
        if (c.worker) totals.workerBatches++;
        else {
          totals.returned += c.returned;
          totals.threw += c.threw;
          totals.rejected += c.rejected;
          for (const [k, v] of Object.entries(c.errors)) totals.errors[k] = (totals.errors[k] ?? 0) + v;
        }
        continue;
      }
      // A crash or a hang: replay the batch with tracing to find the case it died in.
      const replay = await runBatch(b.seed, b.n, ['--trace', ...(b.worker ? ['--worker'] : [])]);
      const lastCase = replay.out.split('\n').filter((l) => l.startsWith('case ')).pop() ?? '(none traced)';
      failures.push({ seed: b.seed, calls: b.n, worker: b.worker, what: r.hung ? 'hang' : `crash (exit ${r.code}, signal ${r.signal})`, lastCase, stderr: r.err.slice(-1500) });
    }
  };
  await Promise.all(Array.from({ length: jobs }, lane));
  const seconds = (Date.now() - t0) / 1000;
  console.log(`fuzz: ${totals.calls} calls in ${batches.length} batches (${totals.workerBatches} in terminated workers), ${seconds.toFixed(1)} s`);
  console.log(`  returned ${totals.returned}, threw ${totals.threw}, rejected ${totals.rejected}; errors by class: ${JSON.stringify(totals.errors)}`);
  for (const f of failures) console.log(`  FAILURE: ${f.what} in batch seed ${f.seed} (${f.calls} calls${f.worker ? ', in a worker' : ''}); last case: ${f.lastCase}\n${f.stderr}`);
  console.log(`${failures.filter((f) => f.what !== 'hang').length} crashes, ${failures.filter((f) => f.what === 'hang').length} hangs`);
  process.exit(failures.length ? 1 : 0);
})();
