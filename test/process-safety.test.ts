// Whatever JavaScript does while deepconv kernels are queued or running (transfer, detach or drop
// their arrays, change their labels, terminate the worker, exit, throw from a callback), the process
// survives: each scenario in test/safety runs in a child process, so a crash shows up here as a
// signal instead of killing the test runner. Every scenario crashed or aborted before the addon
// owned the memory its jobs use and settled promises without throwing (issue 9).
//
// MALLOC_MMAP_THRESHOLD_ makes glibc return every freed block over 64 KiB to the system at once, so a
// kernel touching freed memory faults there and then instead of silently corrupting the heap.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const dir = path.join(__dirname, 'safety');
const emulator = path.join(__dirname, '..', 'build-emulator', 'Release', 'deepconv.node');

function scenario(args: string[], env: Record<string, string> = {}): { code: number | null; signal: string | null; out: string } {
  const [script, ...rest] = args;
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(dir, script), ...rest], {
    cwd: path.join(__dirname, '..'),  // where a relative DEEPCONV_ADDON (the sanitizer run's) points from
    env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '65536', ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, signal: r.signal, out: `${r.stdout}${r.stderr}` };
}

function expectOk(args: string[], env?: Record<string, string>): void {
  const r = scenario(args, env);
  const what = `node ${args.join(' ')} ${env ? JSON.stringify(env) : ''}: exit ${r.code}, signal ${r.signal}\n${r.out.slice(-2000)}`;
  expect({ what, code: r.code }).toEqual({ what, code: 0 });
  expect(r.out).toMatch(new RegExp(`^ok ${args[1]}`, 'm'));
}

const RACES = ['sgdAsync', 'reluForwardAsync', 'convForwardAsync', 'predict', 'lossAsync', 'softmaxLossAsync', 'solver', 'rawForeignInput', 'labelsChanged', 'dropped'];

describe('arrays taken away from queued kernels (structuredClone with transfer)', () => {
  test.each(RACES)('%s', (variant) => expectOk(['races.js', variant, '2']));
});

// ArrayBuffer.prototype.transfer() came with Node 21: scripts/test-package.sh runs this file under
// Node 22, 24 and 26 too. Under Node 20 it is skipped.
const hasTransfer = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
(hasTransfer ? describe : describe.skip)(`arrays taken away with ArrayBuffer.prototype.transfer()${hasTransfer ? '' : ` (skipped: Node ${process.version} lacks it)`}`, () => {
  test.each(RACES)('%s', (variant) => expectOk(['races.js', variant, '2'], { TAKE_AWAY: 'transfer' }));
});

describe('environments that die with kernels in flight', () => {
  test.each(['worker-exit', 'exit', 'throw'])('%s', (mode) => expectOk(['teardown.js', mode]));

  test('workers terminated at random moments while they train (cpu build)', () => expectOk(['teardown.js', 'terminate', '6']));

  const emu = fs.existsSync(emulator) ? test : test.skip;
  emu('workers terminated at random moments while they train on the CUDA emulator build (device memory)', () =>
    expectOk(['teardown.js', 'terminate', '6'], { DEEPCONV_ADDON: emulator, DEEPCONV_DEVICE: 'cuda' }),
  );
});
