import { Arena, withArena } from './alloc';

// Every layer prepares its outputs and a native call, then runs that call either inline
// (the seed's synchronous API) or on the libuv pool (the *Async variants used by models,
// so a server's event loop stays free).

export type NativeCall = (async: boolean) => undefined | Promise<void>;

export interface Prepared<R> {
  result: R;
  call: NativeCall;
}

export function runSync<R>(p: Prepared<R>): R {
  p.call(false);
  return p.result;
}

export async function runAsync<R>(p: Prepared<R>): Promise<R> {
  await p.call(true);
  return p.result;
}

/**
 * A computation written once as a generator that yields prepared native calls (`yield* step(p)`
 * hands back p's result), driven either synchronously or asynchronously. With an arena, the
 * outputs the steps allocate are recycled from the previous drive (see alloc.ts): callers must
 * be done with the previous drive's results before the next one starts.
 */
export type Steps<R> = Generator<Prepared<unknown>, R, unknown>;

export function* step<R>(p: Prepared<R>): Steps<R> {
  yield p as Prepared<unknown>;
  return p.result;
}

export function driveSync<R>(g: Steps<R>, arena: Arena | null = null): R {
  arena?.reset();
  for (let r = withArena(arena, () => g.next()); ; r = withArena(arena, () => g.next())) {
    if (r.done) return r.value;
    r.value.call(false);
  }
}

export async function driveAsync<R>(g: Steps<R>, arena: Arena | null = null): Promise<R> {
  arena?.reset();
  for (let r = withArena(arena, () => g.next()); ; r = withArena(arena, () => g.next())) {
    if (r.done) return r.value;
    await r.value.call(true);
  }
}
