// The op table (lib/ops.ts) is the one statement of the native call contract. This checks the
// addon against it: the same ops are registered, each reads its arguments in the table's order
// under the table's names (a wrong value at any position is refused naming exactly that
// argument), refuses extra arguments, and treats each buffer in its role (an asynchronous call
// refuses JavaScript-owned memory where the table says the kernel writes, and copies it where the
// kernel only reads).
import { native } from '../lib/binding';
import { ArgKind, OPS, OpName, opArgs } from '../lib/ops';

const NOT_OPS = [
  'setNumThreads', 'getNumThreads', 'buildInfo', 'fmaPeak', 'isaInfo', 'setIsa', 'teamAdvice', 'executorStats', 'hostAlloc', 'isHostMemory',
  'CudaBuffer', 'cudaDeviceCount', 'isCudaBuffer', 'cudaAlloc', 'cudaUpload', 'cudaDownload', 'cudaCopy', 'cudaSynchronize',
];

/** Values that make a valid call when every size is 1 (then every buffer holds 1 element). */
const SPECIAL: Record<string, unknown> = { p: 0.5, needDx: true, t: 1, pad: 0, momentum: 0.9, eps: 1e-5 };
const owned = (Ctor: Float64ArrayConstructor | Int32ArrayConstructor) => new Ctor(native.hostAlloc(8));

function valid(name: string, kind: ArgKind, deepconvMemory: boolean): unknown {
  if (name in SPECIAL) return SPECIAL[name];
  switch (kind) {
    case 'int':
      return 1;
    case 'num':
      return 0.5;
    case 'bool':
      return false;
    case 'in':
    case 'out':
      return deepconvMemory ? owned(Float64Array).subarray(0, 1) : new Float64Array(1);
    case 'inI':
    case 'outI':
    case 'labels':
      return deepconvMemory ? owned(Int32Array).subarray(0, 1) : new Int32Array(1);
    case 'scalar':
      return deepconvMemory ? owned(Float64Array).subarray(0, 1) : new Float64Array(1);
  }
}

function wrong(kind: ArgKind): { value: unknown; expected: RegExp } {
  if (kind === 'int' || kind === 'num') return { value: '1', expected: /must be a number, got a string$/ };
  if (kind === 'bool') return { value: 1, expected: /must be a boolean, got a number$/ };
  return { value: 'x', expected: /must be (a|an) (Float64Array|Float32Array|Int32Array)(,| ).*got a string$/ };
}

const call = (op: OpName, args: unknown[]) => (native[op] as unknown as (...a: unknown[]) => unknown)(...args);

test('the addon registers exactly the table\'s ops besides its utilities', () => {
  const registered = Object.keys(native).filter((k) => !NOT_OPS.includes(k)).sort();
  expect(registered).toEqual(Object.keys(OPS).sort());
});

describe.each(Object.keys(OPS) as OpName[])('%s', (op) => {
  const args = opArgs(op);
  const good = (mem = false) => args.map((a) => valid(a.name, a.kind, mem));

  test('a call of the table\'s arguments runs, synchronously and asynchronously', async () => {
    expect(call(op, good())).toBeUndefined();
    await expect(call(op, [...good(true), true])).resolves.toBeUndefined();
  });

  test.each(args.map((a, i) => [i, a.name, a.kind] as const))('argument %i is read as %s (%s)', (i, name, kind) => {
    const a = good();
    const w = wrong(kind);
    a[i] = w.value;
    let err: Error | null = null;
    try {
      call(op, a);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.constructor.name).toBe('TypeError');
    expect(err?.message).toMatch(new RegExp(`^deepconv native: ${name} must be `));
    expect(err?.message).toMatch(w.expected);
  });

  test('an extra argument is refused', () => {
    expect(() => call(op, [...good(true), 0, true])).toThrow(new RegExp(`^deepconv native: expected ${args.length} arguments and an optional async flag, got ${args.length + 2} arguments$`));
  });

  const buffers = args.map((a, i) => [i, a.name, a.kind] as const).filter(([, , k]) => !['int', 'num', 'bool'].includes(k));
  test.each(buffers)('asynchronously, argument %i (%s, %s) takes JavaScript-owned memory only if the kernel just reads it', async (i, name, kind) => {
    const a = good(true);
    a[i] = valid(name, kind, false);
    const writes = kind === 'out' || kind === 'outI' || kind === 'scalar';
    let err: Error | null = null;
    try {
      await call(op, [...a, true]);
    } catch (e) {
      err = e as Error;
    }
    if (writes) expect(err?.message).toMatch(new RegExp(`^deepconv native: ${name} is written by an asynchronous kernel, so it must be memory deepconv allocated`));
    else expect(err).toBeNull();
  });
});
