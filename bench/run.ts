// `npm run bench`: W1-W6 through deepconv and, where /usr/bin/python3 has torch, through
// ../shared/bench/torch_ref.py in the same run; then the GEMM benchmark. Every workload runs in
// a fresh child process (its own peak RSS). Prints JSON lines, then a table of ratios.
//   npm run bench -- [--passes 3] [--threads 2] [--only W1,W4] [--no-torch] [--no-gemm]
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { median, WORKLOADS } from './workloads';

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};
const passes = Number(opt('--passes', '1'));
const threads = opt('--threads', '2');
const only = opt('--only', Object.keys(WORKLOADS).join(',')).split(',');
const root = path.resolve(__dirname, '..', '..');
const torchRef = path.resolve(root, '..', 'shared', 'bench', 'torch_ref.py');
const python = '/usr/bin/python3';

function hasTorch(): boolean {
  if (argv.includes('--no-torch') || !fs.existsSync(python) || !fs.existsSync(torchRef)) return false;
  return spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

function runJson(cmd: string, args: string[]): Record<string, number | string> {
  const out = execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`${cmd} ${args.join(' ')} printed no JSON line`);
  return JSON.parse(line);
}


// The figure compared: images/s for training and batch-256 inference, latency (lower is better) for W5.
const metric = (wid: string) => (WORKLOADS[wid].kind === 'latency' ? 'latency_ms' : 'images_per_s');

function main(): void {
  const torch = hasTorch();
  if (!torch) console.error('(no PyTorch at /usr/bin/python3 or no ../shared/bench/torch_ref.py: deepconv figures only)');
  const rows: string[] = [];
  for (const wid of only) {
    if (!WORKLOADS[wid]) throw new Error(`unknown workload ${wid}`);
    const ours: number[] = [];
    const theirs: number[] = [];
    let oursRss = 0;
    let theirsRss = 0;
    for (let p = 0; p < passes; p++) {
      const a = runJson(process.execPath, [path.join(__dirname, 'workloads.js'), '--workload', wid, '--threads', threads]);
      console.log(JSON.stringify({ ...a, pass: p + 1 }));
      ours.push(Number(a[metric(wid)]));
      oursRss = Math.max(oursRss, Number(a.peak_rss_mb));
      if (torch) {
        const b = runJson(python, [torchRef, '--workload', wid, '--threads', threads]);
        console.log(JSON.stringify({ ...b, pass: p + 1 }));
        theirs.push(Number(b[metric(wid)]));
        theirsRss = Math.max(theirsRss, Number(b.peak_rss_mb));
      }
    }
    const m = median(ours);
    const t = theirs.length ? median(theirs) : NaN;
    // ratio > 1 means deepconv is better: faster throughput, or lower latency for W5.
    const ratio = metric(wid) === 'latency_ms' ? t / m : m / t;
    console.log(JSON.stringify({ bench: 'ratio', workload: wid, metric: metric(wid), deepconv: +m.toFixed(3), pytorch: +t.toFixed(3), ratio: +ratio.toFixed(3), deepconv_rss_mb: +oursRss.toFixed(0), pytorch_rss_mb: +theirsRss.toFixed(0), passes }));
    rows.push(`| ${wid} ${WORKLOADS[wid].name} | ${metric(wid) === 'latency_ms' ? `${m.toFixed(2)} ms` : m.toFixed(0)} | ${Number.isNaN(t) ? '-' : metric(wid) === 'latency_ms' ? `${t.toFixed(2)} ms` : t.toFixed(0)} | ${Number.isNaN(ratio) ? '-' : `${ratio.toFixed(2)}x`} | ${oursRss.toFixed(0)} / ${Number.isNaN(t) ? '-' : theirsRss.toFixed(0)} MiB |`);
  }
  console.log(`\n| workload | deepconv | PyTorch | deepconv advantage | peak RSS deepconv / PyTorch |\n|---|---|---|---|---|\n${rows.join('\n')}`);
  if (!argv.includes('--no-gemm')) {
    console.log('');
    execFileSync(process.execPath, [path.join(__dirname, 'gemm.js'), '--threads', threads], { cwd: root, stdio: 'inherit' });
  }
}

main();
