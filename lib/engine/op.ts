import { native } from '../binding';
import { Tensor } from '../tensor';
import { describe } from '../validate';
import { Arena, withArena } from './arena';

// The execution engine (lib/engine: this file and arena.ts). Every layer prepares its outputs and
// a native call, then runs that call either inline (the seed's synchronous API) or on the addon's
// executor thread (the *Async variants used by models, so a server's event loop stays free).
// Exported through lib/layers for custom layers: Prepared, runSync / runAsync, the drivers, Arena.

export type NativeCall = (async: boolean) => undefined | Promise<void>;

export interface Prepared<R> {
  result: R;
  call: NativeCall;
  /**
   * Tensors the call updates in place (weights, optimizer state, running statistics), by argument
   * name: an asynchronous call checks that each lives in deepconv's memory (see callAsync).
   */
  writes?: Record<string, Tensor>;
}

export function runSync<R>(p: Prepared<R>): R {
  p.call(false);
  return p.result;
}

export async function runAsync<R>(p: Prepared<R>): Promise<R> {
  await callAsync(p);
  return p.result;
}

/**
 * Queues p on the executor thread. A tensor the kernel updates in place must be in memory the
 * addon owns: JavaScript could transfer or free its own while the kernel runs. (The native side
 * refuses it too; this says so in the caller's terms, before anything is queued.)
 */
function callAsync(p: Prepared<unknown>): undefined | Promise<void> {
  for (const [name, t] of Object.entries(p.writes ?? {})) {
    if (t.device === 'cpu' && t.size > 0 && !native.isHostMemory(t.data)) {
      throw new TypeError(
        `${name} (${describe(t)}) wraps memory JavaScript owns, which an asynchronous kernel may not update in place ` +
          '(JavaScript could transfer or free it meanwhile): use a tensor deepconv made (Tensor.zeros, Tensor.randn, t.clone(), ...)',
      );
    }
  }
  return p.call(true);
}

/**
 * A computation written once as a generator that yields prepared native calls (`yield* step(p)`
 * hands back p's result), driven either synchronously or asynchronously. With an arena, the
 * outputs the steps allocate are recycled from the previous drive (see arena.ts): callers must
 * be done with the previous drive's results before the next one starts.
 *
 * The asynchronous driver pipelines: it queues each call on the addon's executor thread (which
 * runs them in order) without waiting, since preparing the next call needs only shapes. Code in
 * the generator that reads values a kernel writes must first `yield* barrier()`.
 */
export type Steps<R> = Generator<Prepared<unknown>, R, unknown>;

const BARRIER: Prepared<undefined> = { result: undefined, call: () => undefined };

export function* step<R>(p: Prepared<R>): Steps<R> {
  yield p as Prepared<unknown>;
  return p.result;
}

/** Waits (in driveAsync) until every call yielded so far has run. */
export function* barrier(): Steps<void> {
  yield BARRIER as Prepared<unknown>;
}

export function driveSync<R>(g: Steps<R>, arena: Arena | null = null): R {
  arena?.reset();
  for (let r = withArena(arena, () => g.next()); ; r = withArena(arena, () => g.next())) {
    if (r.done) return r.value;
    r.value.call(false);
  }
}

/**
 * Waits for every promise, then rethrows the first failure: unlike Promise.all, no queued kernel
 * can still be writing into buffers when control returns.
 */
export async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
  if (failed) throw failed.reason;
}

export async function driveAsync<R>(g: Steps<R>, arena: Arena | null = null): Promise<R> {
  arena?.reset();
  let pending: Promise<void>[] = [];
  const flush = async () => {
    const queued = pending;
    pending = [];
    await settleAll(queued);
  };
  try {
    for (let r = withArena(arena, () => g.next()); ; r = withArena(arena, () => g.next())) {
      if (r.done) {
        await flush();
        return r.value;
      }
      if (r.value === BARRIER) {
        await flush();
        continue;
      }
      const queued = callAsync(r.value);
      if (queued) pending.push(queued);
    }
  } catch (e) {
    await Promise.allSettled(pending);
    throw e;
  }
}
