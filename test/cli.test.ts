// The command-line tool end to end on a tiny synthetic CIFAR-10 folder: train writes every file
// it promises, eval and predict read the model back; data discovery and bad options fail clearly.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import { resolveData } from '../lib/cli/find-data';
import { main } from '../lib/cli/main';
import { loadModel } from '../lib/models';
import { loadModelFile } from '../lib/io/model-file';
import { cifarFiles, removeTempDirs, tempDir, writeCifarFolder } from './fixtures';

afterAll(removeTempDirs);

function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  return fn()
    .then((code) => ({ code, out: out.join('\n'), err: err.join('\n') }))
    .finally(() => {
      log.mockRestore();
      error.mockRestore();
    });
}

describe('deepconv CLI', () => {
  const dataDir = writeCifarFolder(tempDir(), cifarFiles(40, 20));
  const out = path.join(tempDir(), 'run');

  test('train writes metrics.jsonl, the model, curves.svg and filters.png', async () => {
    const r = await capture(() =>
      main(['node', 'deepconv', 'train', '--dataset', 'cifar10', '--data', dataDir, '--filters', '4,8', '--epochs', '2', '--time-limit', '0', '--batch-size', '20', '--val', '20', '--out', out, '--quiet']),
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/done: \d+ steps, 2 epochs/);
    for (const f of ['metrics.jsonl', 'model.safetensors', 'curves.svg', 'filters.png']) expect(fs.existsSync(path.join(out, f))).toBe(true);
    const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0].type).toBe('config');
    expect(lines.filter((l) => l.type === 'eval').length).toBeGreaterThanOrEqual(2);
    const test = lines.find((l) => l.type === 'test');
    expect(test.testAcc).toBeGreaterThanOrEqual(0);
    expect(test.testAcc).toBeLessThanOrEqual(1);
    expect(fs.readFileSync(path.join(out, 'curves.svg'), 'utf8')).toMatch(/^<svg[\s\S]*polyline[\s\S]*<\/svg>\n$/);
    const png = PNG.sync.read(fs.readFileSync(path.join(out, 'filters.png')));
    expect(png.width).toBeGreaterThan(16);
    const model = loadModel(path.join(out, 'model.safetensors'));
    expect(model.className).toBe('DeepConvNet');
  });

  test('eval and predict read the trained model back', async () => {
    const model = path.join(out, 'model.safetensors');
    const e = await capture(() => main(['node', 'deepconv', 'eval', '--model', model, '--data', dataDir]));
    expect(e.code).toBe(0);
    expect(e.out).toMatch(/cifar10 test accuracy: \d+\.\d\d% \(flip TTA\) \(20 images/);  // train flipped, so its test accuracy and eval's use flip TTA
    const p = await capture(() => main(['node', 'deepconv', 'predict', '--model', model, '--data', dataDir, '--indices', '0,3', '--top', '2']));
    expect(p.code).toBe(0);
    expect(p.out).toMatch(/^test\[0\]: \w+ \d+\.\d%, \w+ \d+\.\d%\s+\(label: \w+\)\ntest\[3\]: /);
    const img = path.join(tempDir(), 'x.png');
    const png = new PNG({ width: 40, height: 30 });
    png.data.fill(128);
    fs.writeFileSync(img, PNG.sync.write(png));
    const q = await capture(() => main(['node', 'deepconv', 'predict', '--model', model, img]));
    expect(q.code).toBe(0);
    expect(q.out).toContain(`${img}: `);
  });

  test('eval --json gives accuracy, per-class accuracy and a confusion matrix that agree; --confusion draws it', async () => {
    const model = path.join(out, 'model.safetensors');
    const svg = path.join(tempDir(), 'confusion.svg');
    const e = await capture(() => main(['node', 'deepconv', 'eval', '--model', model, '--data', dataDir, '--json', '--confusion', svg]));
    expect(e.code).toBe(0);
    const r = JSON.parse(e.out);
    expect(r.images).toBe(20);
    // train flipped (its default augmentation), so it scored the test set with flip TTA and eval does too.
    expect(r.tta).toBe('flip');
    const testRecord = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((l) => l.type === 'test');
    expect(r.accuracy).toBeCloseTo(testRecord.testAcc, 12);
    const plain = await capture(() => main(['node', 'deepconv', 'eval', '--model', model, '--data', dataDir, '--json', '--tta', 'none']));
    expect(JSON.parse(plain.out).tta).toBe('none');
    expect(r.confusion).toHaveLength(10);
    const total = r.confusion.flat().reduce((a: number, b: number) => a + b, 0);
    const diagonal = r.confusion.reduce((a: number, row: number[], i: number) => a + row[i], 0);
    expect(total).toBe(20);
    expect(r.accuracy).toBeCloseTo(diagonal / 20, 12);
    r.classes.forEach((c: string, i: number) => {
      const n = r.confusion[i].reduce((a: number, b: number) => a + b, 0);
      expect(r.perClass[c]).toBeCloseTo(n ? r.confusion[i][i] / n : 0, 12);
    });
    const text = fs.readFileSync(svg, 'utf8');
    expect(text).toMatch(/^<svg[\s\S]*airplane[\s\S]*truck[\s\S]*<\/svg>\n$/);
    expect((text.match(/<rect x=/g) ?? []).length).toBe(100);
    const bad = await capture(() => main(['node', 'deepconv', 'eval', '--model', model, '--data', dataDir, '--confusion', 'c.png']));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--confusion must name an \.svg file, got "c\.png"/);
  });

  test('summary prints each layer (and --json the figures); curves.svg draws steps and seconds, epochs where they ran', async () => {
    const model = path.join(out, 'model.safetensors');
    const t = await capture(() => main(['node', 'deepconv', 'summary', '--model', model]));
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/^DeepConvNet, input 3x32x32, float32\n/);
    expect(t.out).toMatch(/Conv2d\(3->4, 3x3, pad 1\) +4x32x32 +112 /);
    const j = await capture(() => main(['node', 'deepconv', 'summary', '--model', model, '--json']));
    const s = JSON.parse(j.out);
    expect(s.totalParams).toBe(Object.values(loadModel(model).params).reduce((a, p) => a + p.size, 0));
    const curves = fs.readFileSync(path.join(out, 'curves.svg'), 'utf8');
    expect(curves).toContain('>seconds of training<');
    expect(curves).toContain('>step<');
    // 2 epochs of 180 / 20 = 9 steps ran: epochs 1 and 2 are marked, nothing past them.
    expect(curves).toContain('>epoch 1<');
    expect(curves).toContain('>epoch 2<');
    expect(curves).not.toContain('>epoch 3<');
  });

  test('Ctrl-C (SIGINT) finishes the step, writes a checkpoint and the model, exits 130; --resume continues', async () => {
    const runDir = path.join(tempDir(), 'interrupted');
    const args = ['train', '--dataset', 'cifar10', '--data', dataDir, '--filters', '4', '--time-limit', '120', '--batch-size', '20', '--val', '20', '--out', runDir, '--quiet'];
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', `require('./lib/cli/main').main(['node','deepconv',...${JSON.stringify(args)}]).then((c) => process.exit(c))`], {
      cwd: path.resolve(__dirname, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    // Interrupt once training has started (the model line is printed just before it).
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (out.includes('training on cpu:')) {
          clearInterval(poll);
          setTimeout(resolve, 1500);
        }
      }, 100);
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(out).toMatch(/interrupted after \d+ steps: checkpoint saved to /);
    expect(code).toBe(130);
    const checkpoint = path.join(runDir, 'checkpoint.safetensors');
    expect(fs.existsSync(checkpoint)).toBe(true);
    expect(fs.existsSync(path.join(runDir, 'model.safetensors'))).toBe(true);
    expect(fs.readdirSync(runDir).filter((f) => f.includes('.tmp-'))).toEqual([]);  // atomic writes left no temp files
    const steps = Number(/interrupted after (\d+) steps/.exec(out)?.[1]);
    const r = await capture(() => main(['node', 'deepconv', 'train', '--resume', checkpoint, '--dataset', 'cifar10', '--data', dataDir, '--filters', '4', '--epochs', String(Math.ceil(steps / 9) + 1), '--time-limit', '0', '--batch-size', '20', '--val', '20', '--out', runDir, '--quiet']));
    expect(r.code).toBe(0);
    const done = Number(/done: (\d+) steps/.exec(r.out)?.[1]);
    expect(done).toBeGreaterThan(steps);  // continued from the checkpoint's step count
  }, 60000);

  test('SIGKILL mid-run loses at most --checkpoint-every of training: the checkpoint resumes, the dead run\'s temp files go (issue 9)', async () => {
    const runDir = path.join(tempDir(), 'killed');
    const args = ['train', '--dataset', 'cifar10', '--data', dataDir, '--filters', '4', '--time-limit', '120', '--batch-size', '20', '--val', '20', '--out', runDir, '--quiet', '--checkpoint-every', '0'];
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', `require('./lib/cli/main').main(['node','deepconv',...${JSON.stringify(args)}]).then((c) => process.exit(c))`], {
      cwd: path.resolve(__dirname, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    const checkpoint = path.join(runDir, 'checkpoint.safetensors');
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (out.includes('training on cpu:') && fs.existsSync(checkpoint)) {
          clearInterval(poll);
          setTimeout(resolve, 500);
        }
      }, 50);
    });
    child.kill('SIGKILL');
    const signal = await new Promise<string | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
    expect(signal).toBe('SIGKILL');
    // What a kill between creating and renaming a temp file leaves behind:
    const orphan = `${checkpoint}.tmp-${child.pid}-0123456789ab`;
    fs.writeFileSync(orphan, 'partial');
    const steps = loadModelFile(checkpoint).metadata.solver ? JSON.parse(loadModelFile(checkpoint).metadata.solver).iteration : 0;
    expect(steps).toBeGreaterThan(0);
    const r = await capture(() => main(['node', 'deepconv', 'train', '--resume', checkpoint, '--dataset', 'cifar10', '--data', dataDir, '--filters', '4', '--epochs', String(Math.ceil(steps / 2) + 2), '--time-limit', '0', '--batch-size', '20', '--val', '20', '--out', runDir, '--quiet']));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(Number(/done: (\d+) steps/.exec(r.out)?.[1])).toBeGreaterThan(steps);
    expect(fs.existsSync(orphan)).toBe(false);
  }, 60000);

  test('metrics.jsonl: a reused --out starts it afresh, and a planted symlink is never written through (issue 9)', async () => {
    const runDir = path.join(tempDir(), 'reused');
    const victim = path.join(tempDir(), 'victim.txt');
    fs.mkdirSync(runDir, { recursive: true });
    fs.writeFileSync(victim, 'precious\n');
    fs.symlinkSync(victim, path.join(runDir, 'metrics.jsonl'));
    const args = ['node', 'deepconv', 'train', '--dataset', 'cifar10', '--data', dataDir, '--filters', '4', '--epochs', '1', '--time-limit', '0', '--batch-size', '20', '--val', '20', '--out', runDir, '--quiet'];
    for (let run = 0; run < 2; run++) {
      const r = await capture(() => main(args));
      expect(r.code).toBe(0);
      const lines = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.filter((l) => l.type === 'config')).toHaveLength(1);  // this run's only
      expect(lines.filter((l) => l.type === 'test')).toHaveLength(1);
    }
    expect(fs.lstatSync(path.join(runDir, 'metrics.jsonl')).isSymbolicLink()).toBe(false);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
  }, 60000);

  test('bad options and missing data fail with a clear message and a non-zero status', async () => {
    const bad = await capture(() => main(['node', 'deepconv', 'train', '--data', dataDir, '--augment', 'rotate', '--out', path.join(tempDir(), 'x')]));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--augment must be 'flip', 'crop', 'flip,crop' or 'none', got "rotate"/);
    const missing = await capture(() => main(['node', 'deepconv', 'eval', '--model', path.join(tempDir(), 'nope.safetensors'), '--data', dataDir]));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nope\.safetensors/);
  });

  test('with no data set anywhere, train explains where it looked and how to get CIFAR-10 (exit status 2)', () => {
    const nowhere = [{ dataset: 'cifar10' as const, path: path.join(tempDir(), 'cifar-10-binary.tar.gz') }];
    let err: (Error & { exitCode?: number }) | null = null;
    try {
      resolveData(undefined, undefined, nowhere);
    } catch (e) {
      err = e as Error & { exitCode?: number };
    }
    expect(err?.exitCode).toBe(2);
    expect(err?.message).toContain(nowhere[0].path);
    expect(err?.message).toMatch(/No data set found[\s\S]*binary version[\s\S]*--dataset cifar10 --data/);
    // Found: the first existing candidate wins, with its data set.
    expect(resolveData(undefined, undefined, [...nowhere, { dataset: 'cifar10', path: dataDir }])).toEqual({ dataset: 'cifar10', path: dataDir });
  });
});

test('the loader names the command to run when the addon is missing', () => {
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', "require('./lib/binding')"], {
    cwd: path.resolve(__dirname, '..'),
    env: { ...process.env, DEEPCONV_ADDON: '/nonexistent/deepconv.node' },
    encoding: 'utf8',
  });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/could not load the native addon \(DEEPCONV_ADDON=\/nonexistent\/deepconv\.node\): the addon file \/nonexistent\/deepconv\.node does not exist/);
  expect(r.stderr).toMatch(/To fix it:\n {2}- point DEEPCONV_ADDON at a built addon, or unset it/);
});
