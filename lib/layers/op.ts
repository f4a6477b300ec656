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
