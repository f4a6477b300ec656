// A short pass of the fuzzer (scripts/fuzz.js, test/fuzz/cases.js): seeded random calls of every
// public entry, sync and async, with empty and huge dimensions, every dtype, forged objects,
// detached, transferred, shared and resizable buffers, some batches in workers terminated
// mid-flight. Each batch runs in a child process: a crash or a hang fails this test, with the seed
// and the case. `npm run fuzz -- --calls 100000` runs the long pass.
import { spawnSync } from 'child_process';
import * as path from 'path';

test('the fuzzer finds no crash and no hang (8000 calls, seeds 1000-1003)', () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'fuzz.js'), '--calls', '8000', '--batch', '2000', '--seed', '1000', '--workers', '0.25'], {
    encoding: 'utf8',
    timeout: 110_000,
  });
  const out = `${r.stdout}${r.stderr}`;
  expect({ status: r.status, out }).toEqual({ status: 0, out: expect.stringMatching(/^0 crashes, 0 hangs$/m) });
  expect(out).toMatch(/^fuzz: 8000 calls in 4 batches \(2 in terminated workers\)/m);
});
