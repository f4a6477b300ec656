// The ISA switch: setIsa / isaInfo, DEEPCONV_ISA at load, and `deepconv info` naming the path.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ISAS, isaInfo, setIsa } from '../lib';
import type { Isa } from '../lib';

const root = path.resolve(__dirname, '..');

describe('isa', () => {
  const start = isaInfo().active;
  afterEach(() => setIsa(start));

  test('isaInfo: the active path is available, the best one first, generic always there', () => {
    const info = isaInfo();
    expect(info.available).toContain('generic');
    expect(info.available[0]).toBe(info.best);
    expect(info.available).toContain(info.active);
    expect(info.available.every((x) => (ISAS as readonly string[]).includes(x))).toBe(true);
  });

  test('setIsa switches every available path and names its GEMM tiles', () => {
    for (const isa of isaInfo().available) {
      setIsa(isa);
      const info = isaInfo();
      expect(info.active).toBe(isa);
      expect(info.gemmF32.startsWith(`${isa} `)).toBe(true);
      expect(info.gemmF64.startsWith(`${isa} `)).toBe(true);
    }
  });

  test('setIsa refuses names it does not know, and paths this CPU lacks', () => {
    expect(() => setIsa('sse9' as Isa)).toThrow(new TypeError('isa must be one of avx512, avx2, generic, got "sse9"'));
    expect(() => setIsa(3 as unknown as Isa)).toThrow(TypeError);
    const missing = ISAS.filter((x) => !isaInfo().available.includes(x));
    for (const isa of missing) expect(() => setIsa(isa)).toThrow(RangeError);
    expect(isaInfo().active).toBe(start);
  });

  test('DEEPCONV_ISA picks the path at load; an unknown one stops the load with a message that names it', () => {
    const script = "console.log(require('./dist/lib').isaInfo().active)";
    const env = (v: string) => ({ ...process.env, DEEPCONV_ISA: v });
    expect(execFileSync(process.execPath, ['-e', script], { cwd: root, env: env('generic'), encoding: 'utf8' }).trim()).toBe('generic');
    const bad = spawnSync(process.execPath, ['-e', script], { cwd: root, env: env('avx1024'), encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('RangeError: deepconv: DEEPCONV_ISA must be one of avx512, avx2, generic, got "avx1024"');
  });

  test('deepconv info names the path in use', () => {
    const out = execFileSync(process.execPath, ['bin/deepconv.js', 'info'], { cwd: root, env: { ...process.env, DEEPCONV_ISA: 'generic' }, encoding: 'utf8' });
    expect(out).toMatch(/isa path: +generic \(forced by DEEPCONV_ISA or setIsa; best: \w+\); gemm tiles generic 4x8/);
  });
});

describe('adaptive team', () => {
  test('after kernels ran in two windows, it has measured the neighbours and allows 1..hardware threads', async () => {
    const { native } = await import('../lib/binding');
    const { Tensor, gemm, buildInfo } = await import('../lib');
    const A = Tensor.rand([64, 64], { seed: 1 });
    gemm(A, A, Tensor.zeros([64, 64]));
    await new Promise((r) => setTimeout(r, 250));
    gemm(A, A, Tensor.zeros([64, 64]));
    const t = native.teamAdvice();
    if (buildInfo().hardwareThreads > 1 && process.platform === 'linux' && process.env.DEEPCONV_ADAPTIVE_THREADS !== '0') {
      expect(t.othersBusy).toBeGreaterThanOrEqual(0);
      expect(t.cores).toBeGreaterThanOrEqual(1);
      expect(t.cores).toBeLessThanOrEqual(buildInfo().hardwareThreads);
    }
  });

  test('DEEPCONV_ADAPTIVE_THREADS=0 turns it off', () => {
    const script = "const d=require('./dist/lib'); const A=d.Tensor.rand([64,64]); d.gemm(A,A,d.Tensor.zeros([64,64])); setTimeout(()=>{d.gemm(A,A,d.Tensor.zeros([64,64])); console.log(JSON.stringify(require('./dist/lib/binding').native.teamAdvice()))}, 250)";
    const out = execFileSync(process.execPath, ['-e', script], { cwd: root, env: { ...process.env, DEEPCONV_ADAPTIVE_THREADS: '0' }, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ othersBusy: -1, cores: 0 });
  });
});

// Wide code only under the ISA paths' own names (scripts/check-isa-leaks.sh says why). Needs
// objdump and a source build's object files; skipped without them (an installed prebuild).
describe('isa: no wide-ISA code leaks into shared functions', () => {
  const objdump = spawnSync('objdump', ['--version']).status === 0;
  const objDir = path.join(root, 'build/Release/obj.target/deepconv/native/cpu');
  const built = fs.existsSync(objDir) && fs.readdirSync(objDir).some((f) => f.endsWith('.o'));
  const script = path.join(root, 'scripts/check-isa-leaks.sh');
  const t = objdump && built && process.platform === 'linux' && process.arch === 'x64' ? test : test.skip;

  t('the built CPU kernels keep AVX2 / AVX-512 code in their namespaces', () => {
    const r = spawnSync('bash', [script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  t('the check finds wide code under a shared name', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deepconv-leak-'));
    try {
      fs.writeFileSync(path.join(dir, 'leak.cc'), '#pragma GCC target("avx2,fma")\n#include <algorithm>\n#include <vector>\nvoid fill_it(std::vector<float>& v, float x) { std::fill(v.begin(), v.end(), x); }\n');
      execFileSync('g++', ['-O3', '-c', 'leak.cc', '-o', 'leak.o'], { cwd: dir });
      const r = spawnSync('bash', [script, path.join(dir, 'leak.o')], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/fill_it/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
