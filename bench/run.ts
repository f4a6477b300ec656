// `npm run bench`: W1-W6 through deepconv and, where /usr/bin/python3 has torch, through
// ../shared/bench/torch_ref.py in the same run; 1-thread rows for W2 and W4 (how the second thread
// scales); the end-to-end row (`deepconv train` for 60 s against `torch_ref.py --e2e cifar`);
// then the GEMM benchmark. Every measurement runs in a fresh child process (its own peak RSS).
// Prints JSON lines, then a table of ratios.
//   npm run bench -- [--passes 3] [--threads 2] [--only W1,W4,e2e] [--no-torch] [--no-gemm]
//                    [--no-e2e] [--no-scaling] [--isa avx2|avx512|generic] [--contention]
//   --isa        deepconv under DEEPCONV_ISA; PyTorch under ATEN_CPU_CAPABILITY and DNNL_MAX_CPU_ISA
//                (checked: the run stops if PyTorch reports another capability)
//   --contention one busy process (a spinning node) runs alongside every measurement
import { ChildProcess, execFileSync, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { median, WORKLOADS } from './workloads';

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};
const passes = Number(opt('--passes', '1'));
const threads = opt('--threads', '2');
// --only takes workload ids and 'e2e'
const only = opt('--only', [...Object.keys(WORKLOADS), 'e2e'].join(',')).split(',');
const isa = opt('--isa', '');
const contention = argv.includes('--contention');
const root = path.resolve(__dirname, '..', '..');
const torchRef = path.resolve(root, '..', 'shared', 'bench', 'torch_ref.py');
const cifarArchive = path.resolve(root, '..', 'shared', 'data', 'cifar-10-binary.tar.gz');
const python = '/usr/bin/python3';
const E2E_SECONDS = 60;
const SCALING = ['W2', 'W4']; // the workloads measured at 1 thread too

// What each side is told for --isa: deepconv's path, PyTorch's ATen kernels and oneDNN's ceiling,
// and how PyTorch and oneDNN name what they then use.
const TORCH_ISA: Record<string, { aten: string; dnnl: string; atenSays: string; dnnlSays: RegExp }> = {
  avx512: { aten: 'avx512', dnnl: 'AVX512_CORE', atenSays: 'AVX512', dnnlSays: /AVX-512/ },
  avx2: { aten: 'avx2', dnnl: 'AVX2', atenSays: 'AVX2', dnnlSays: /AVX2$/ },
  generic: { aten: 'default', dnnl: 'SSE41', atenSays: 'NO AVX', dnnlSays: /SSE4\.1/ },
};

function oursEnv(): NodeJS.ProcessEnv {
  return isa ? { ...process.env, DEEPCONV_ISA: isa } : process.env;
}

function torchEnv(): NodeJS.ProcessEnv {
  if (!isa) return process.env;
  const t = TORCH_ISA[isa];
  return { ...process.env, ATEN_CPU_CAPABILITY: t.aten, DNNL_MAX_CPU_ISA: t.dnnl };
}

// What every JSON line of this run carries: the conditions it ran under.
const tags = { isa: isa || 'native', contention };

// torch_ref.py waits for an idle machine and repeats contended measurements: not what --contention wants.
const torchFlags = () => (contention ? ['--no-idle-wait', '--max-foreign-load', '1000', '--retries', '0'] : []);

function hasTorch(): boolean {
  if (argv.includes('--no-torch') || !fs.existsSync(python) || !fs.existsSync(torchRef)) return false;
  return spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

/** What PyTorch reports under torchEnv(): ATen's CPU capability and oneDNN's ISA line. Throws if not what --isa asked. */
function checkTorchIsa(): string {
  const script = [
    'import torch',
    "print([l.split(':')[1].strip() for l in torch.__config__.show().splitlines() if 'CPU capability usage' in l][0])",
    'torch.nn.Conv2d(3, 4, 3)(torch.randn(2, 3, 8, 8))',
  ].join('\n');
  const r = spawnSync(python, ['-c', script], { env: { ...torchEnv(), DNNL_VERBOSE: '1' }, encoding: 'utf8' });
  const aten = r.stdout.split('\n').find((l) => !l.startsWith('onednn') && l.trim()) ?? '?';
  const dnnl = (r.stdout.split('\n').find((l) => l.includes('onednn_verbose,info,cpu,isa:')) ?? '?').split('isa:')[1] ?? '?';
  if (isa) {
    const t = TORCH_ISA[isa];
    if (aten.trim() !== t.atenSays || !t.dnnlSays.test(dnnl.trim())) {
      throw new Error(`--isa ${isa}: PyTorch reports ATen "${aten}" and oneDNN "${dnnl}", not ${t.atenSays} / ${t.dnnlSays}`);
    }
  }
  return `ATen ${aten.trim()}, oneDNN ${dnnl.trim()}`;
}

function withLoad<T>(fn: () => T): T {
  if (!contention) return fn();
  const busy: ChildProcess = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  try {
    return fn();
  } finally {
    busy.kill('SIGKILL');
  }
}

function runJson(cmd: string, args: string[], env: NodeJS.ProcessEnv): Record<string, number | string> {
  const out = withLoad(() => execFileSync(cmd, args, { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 }));
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`${cmd} ${args.join(' ')} printed no JSON line`);
  return JSON.parse(line);
}

// The figure compared: images/s for training and batch-256 inference, latency (lower is better) for W5.
const metric = (wid: string) => (WORKLOADS[wid].kind === 'latency' ? 'latency_ms' : 'images_per_s');

interface Row {
  label: string;
  ours: number;
  theirs: number;
  latency: boolean;
  oursRss: number;
  theirsRss: number;
}

function workloadRow(wid: string, t: string, torch: boolean): Row {
  if (!WORKLOADS[wid]) throw new Error(`unknown workload ${wid}`);
  const ours: number[] = [];
  const theirs: number[] = [];
  let oursRss = 0;
  let theirsRss = 0;
  for (let p = 0; p < passes; p++) {
    const a = runJson(process.execPath, [path.join(__dirname, 'workloads.js'), '--workload', wid, '--threads', t], oursEnv());
    console.log(JSON.stringify({ ...a, pass: p + 1, ...tags }));
    ours.push(Number(a[metric(wid)]));
    oursRss = Math.max(oursRss, Number(a.peak_rss_mb));
    if (torch) {
      const b = runJson(python, [torchRef, '--workload', wid, '--threads', t, ...torchFlags()], torchEnv());
      console.log(JSON.stringify({ ...b, pass: p + 1, ...tags }));
      theirs.push(Number(b[metric(wid)]));
      theirsRss = Math.max(theirsRss, Number(b.peak_rss_mb));
    }
  }
  return { label: `${wid} ${WORKLOADS[wid].name}${t !== threads ? `, ${t} thread${t === '1' ? '' : 's'}` : ''}`, ours: median(ours), theirs: theirs.length ? median(theirs) : NaN, latency: metric(wid) === 'latency_ms', oursRss, theirsRss };
}

/** A folder torch_ref.py reads CIFAR-10 from: the shared archive, unpacked once under the temp folder. */
function cifarFolder(): string | null {
  if (!fs.existsSync(cifarArchive)) return null;
  const dir = path.join(os.tmpdir(), 'deepconv-bench-cifar10');
  if (!fs.existsSync(path.join(dir, 'cifar-10-batches-bin', 'test_batch.bin'))) {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-xzf', cifarArchive, '-C', dir]);
  }
  return dir;
}

// torch_ref.py's e2e recipe network (its 'cifar' recipe): the train defaults run with it, so the
// row compares the same network's speed (the CLI's own CIFAR-10 default is deeper).
const E2E_FILTERS = '32,64,128';

function e2eRow(torch: boolean): Row | null {
  const data = cifarFolder();
  if (!data) {
    console.error(`(no ${cifarArchive}: no end-to-end row)`);
    return null;
  }
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'deepconv-bench-e2e-'));
  try {
    withLoad(() =>
      execFileSync(process.execPath, [path.join(root, 'bin', 'deepconv.js'), 'train', '--data', cifarArchive, '--time-limit', String(E2E_SECONDS), '--filters', E2E_FILTERS, '--threads', threads, '--out', out, '--quiet'], { cwd: root, env: oursEnv(), stdio: ['ignore', 'ignore', 'inherit'] }),
    );
    const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const test = lines.filter((l) => l.type === 'test').pop();
    // images/s over the steps alone, as torch_ref.py counts (both sides evaluate outside it)
    const ours = { images_per_s: (test.iterations * 128) / test.stepSeconds, test_acc: test.testAcc, steps: test.iterations, train_s: test.trainSeconds, step_s: test.stepSeconds };
    console.log(JSON.stringify({ system: 'deepconv', e2e: 'cifar', ...ours, ...tags }));
    let theirs = { images_per_s: NaN, test_acc: NaN };
    if (torch) {
      const res = withLoad(() => execFileSync(python, [torchRef, '--e2e', 'cifar', data, '--budget', String(E2E_SECONDS), '--threads', threads, ...torchFlags()], { cwd: root, env: torchEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
      const recs = res.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      const summary = recs.find((r) => r.summary);
      const final = recs.filter((r) => r.final).pop();
      theirs = { images_per_s: summary.train_images_per_s, test_acc: final.test_acc };
      console.log(JSON.stringify({ ...summary, final_test_acc: final.test_acc, ...tags }));
    }
    return {
      label: `e2e CIFAR-10, train defaults with filters ${E2E_FILTERS}, ${E2E_SECONDS} s (test acc ${(ours.test_acc * 100).toFixed(1)}%${torch ? ` vs ${(theirs.test_acc * 100).toFixed(1)}%` : ''})`,
      ours: ours.images_per_s,
      theirs: theirs.images_per_s,
      latency: false,
      oursRss: NaN,
      theirsRss: NaN,
    };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

const fmt = (v: number, latency: boolean) => (Number.isNaN(v) ? '-' : latency ? `${v.toFixed(2)} ms` : v.toFixed(0));

function main(): void {
  const torch = hasTorch();
  if (!torch) console.error('(no PyTorch at /usr/bin/python3 or no ../shared/bench/torch_ref.py: deepconv figures only)');
  if (isa && !TORCH_ISA[isa]) throw new Error(`--isa must be one of ${Object.keys(TORCH_ISA).join(', ')}, got ${isa}`);
  const info = JSON.parse(execFileSync(process.execPath, ['-e', "const d=require('./dist/lib'); console.log(JSON.stringify({isa: d.isaInfo(), cpu: require('os').cpus()[0].model}))"], { cwd: root, env: oursEnv(), encoding: 'utf8' }));
  const torchIsa = torch ? checkTorchIsa() : '-';
  console.log(JSON.stringify({ bench: 'setup', cpu: info.cpu, deepconv_isa: info.isa.active, deepconv_gemm: info.isa.gemmF32, pytorch_isa: torchIsa, threads, contention }));

  const rows: Row[] = [];
  for (const wid of only.filter((w) => w !== 'e2e')) rows.push(workloadRow(wid, threads, torch));
  if (!argv.includes('--no-scaling') && threads !== '1') {
    for (const wid of SCALING.filter((w) => only.includes(w))) {
      const one = workloadRow(wid, '1', torch);
      const two = rows.find((r) => r.label.startsWith(`${wid} `))!;
      one.label += `; ${threads} threads over 1: deepconv ${(two.ours / one.ours).toFixed(2)}x${torch ? `, PyTorch ${(two.theirs / one.theirs).toFixed(2)}x` : ''}`;
      rows.push(one);
    }
  }
  if (!argv.includes('--no-e2e') && only.includes('e2e')) {
    const e2e = e2eRow(torch);
    if (e2e) rows.push(e2e);
  }

  const table = rows.map((r) => {
    // ratio > 1 means deepconv is better: faster throughput, or lower latency for W5.
    const ratio = r.latency ? r.theirs / r.ours : r.ours / r.theirs;
    console.log(JSON.stringify({ bench: 'ratio', row: r.label, deepconv: +r.ours.toFixed(3), pytorch: +r.theirs.toFixed(3), ratio: +ratio.toFixed(3), deepconv_rss_mb: +r.oursRss.toFixed(0), pytorch_rss_mb: +r.theirsRss.toFixed(0), passes, ...tags }));
    const rss = Number.isNaN(r.oursRss) ? '-' : `${r.oursRss.toFixed(0)} / ${Number.isNaN(r.theirs) ? '-' : r.theirsRss.toFixed(0)} MiB`;
    return `| ${r.label} | ${fmt(r.ours, r.latency)} | ${fmt(r.theirs, r.latency)} | ${Number.isNaN(ratio) ? '-' : `${ratio.toFixed(2)}x`} | ${rss} |`;
  });
  console.log(`\n${info.cpu}; deepconv ${info.isa.active} (${info.isa.gemmF32}), PyTorch ${torchIsa}; ${threads} threads${contention ? ', one busy process alongside' : ''}`);
  console.log(`| workload | deepconv | PyTorch | deepconv advantage | peak RSS deepconv / PyTorch |\n|---|---|---|---|---|\n${table.join('\n')}`);
  if (!argv.includes('--no-gemm')) {
    console.log('');
    execFileSync(process.execPath, [path.join(__dirname, 'gemm.js'), '--threads', threads], { cwd: root, env: oursEnv(), stdio: 'inherit' });
  }
}

main();
