// Reading data files: existence checks, gzip detection by magic bytes, and errors that name the file.
import * as fs from 'fs';
import * as zlib from 'zlib';
import { promisify } from 'util';
import { FileFormatError, fsError } from '../io/errors';

const gunzipAsync = promisify(zlib.gunzip);

/** Whether the bytes start with the gzip magic 1f 8b. */
export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Whether the bytes look like a tar archive ("ustar" at offset 257). */
export function isTar(buf: Uint8Array): boolean {
  return buf.length >= 262 && buf[257] === 0x75 && buf[258] === 0x73 && buf[259] === 0x74 && buf[260] === 0x61 && buf[261] === 0x72;
}

/** The message of a zlib error, as the problem with a gzip file. */
export function gzipProblem(err: unknown): string {
  return `corrupt or truncated gzip data (${errorMessage(err)})`;
}

/** An error's message; duck-typed, as errors from another realm (a vm context, jest) fail instanceof. */
export function errorMessage(err: unknown): string {
  const m = (err as { message?: unknown } | null)?.message;
  return typeof m === 'string' ? m : String(err);
}

export async function readFileChecked(file: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(file);
  } catch (e) {
    throw fsError(file, e);
  }
}

/** The file's bytes, gunzipped when they start with the gzip magic. */
export async function readMaybeGzip(file: string): Promise<Buffer> {
  const raw = await readFileChecked(file);
  if (!isGzip(raw)) return raw;
  try {
    return await gunzipAsync(raw);
  } catch (e) {
    throw new FileFormatError(file, gzipProblem(e), { cause: e });
  }
}

export async function statOrNull(p: string): Promise<fs.Stats | null> {
  try {
    return await fs.promises.stat(p);
  } catch {
    return null;
  }
}
