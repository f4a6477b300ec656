// Reading files: regular files only, bounded by their size; gzip detected by its magic bytes and
// bounded in how far it inflates; errors that name the file.
import * as fs from 'fs';
import * as zlib from 'zlib';
import { promisify } from 'util';
import { FileFormatError, fsError } from './errors';

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

/**
 * How far gzip data may inflate: real data sets compress 1.1-5x (CIFAR-10's archive 1.1x, MNIST's
 * images 4.7x); a stream past this is a decompression bomb, stopped before it fills the memory.
 */
export const MAX_GZIP_RATIO = 20;
const GZIP_SLACK = 16 << 20;

/** The most bytes `compressed` bytes of gzip data may inflate to (see MAX_GZIP_RATIO). */
export function gzipBudget(compressed: number): number {
  return MAX_GZIP_RATIO * compressed + GZIP_SLACK;
}

/** The error for gzip data from `file` that inflates past gzipBudget(compressed); `what` it should have been. */
export function inflationError(file: string, compressed: number, what: string, cause?: unknown): FileFormatError {
  return new FileFormatError(
    file,
    `gzip data inflates to more than ${gzipBudget(compressed)} bytes from ${compressed} (over ${MAX_GZIP_RATIO}x): not ${what}, or a decompression bomb`,
    cause === undefined ? undefined : { cause },
  );
}

/** Read-only, and without blocking: opening a FIFO must not wait for a writer (regular files ignore it). */
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

/** What a non-regular file is, for messages. */
function kindOfFile(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Throws unless st is a regular file (a device such as /dev/zero, a FIFO or a folder never is). */
export function checkRegular(file: string, st: fs.Stats, what = 'file'): void {
  if (st.isDirectory()) throw new FileFormatError(file, `is a directory, expected a ${what}`);
  if (!st.isFile()) throw new FileFormatError(file, `is ${kindOfFile(st)}, expected ${what === 'file' ? 'a regular file' : `a ${what}`}`);
}

/** What the fstat of an opened file must show before it is read: a regular file of at most maxBytes. */
function checkReadable(file: string, st: fs.Stats, maxBytes: number): void {
  checkRegular(file, st);
  if (st.size > maxBytes) throw new FileFormatError(file, `is ${st.size} bytes, more than the ${maxBytes} this kind of file can hold`);
}

/**
 * A regular file's bytes: opened once, checked with fstat (so what is read is what was checked),
 * and read to the size fstat gave, at most maxBytes. Nothing reads a device or a pipe until memory
 * runs out.
 */
export async function readFileChecked(file: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, OPEN_FLAGS);
  } catch (e) {
    throw fsError(file, e);
  }
  try {
    const st = await fh.stat();
    checkReadable(file, st, maxBytes);
    const buf = Buffer.allocUnsafe(st.size);
    let pos = 0;
    while (pos < st.size) {
      const { bytesRead } = await fh.read(buf, pos, st.size - pos, pos);
      if (bytesRead === 0) break;  // shrank while being read
      pos += bytesRead;
    }
    return buf.subarray(0, pos);
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    throw fsError(file, e);
  } finally {
    await fh.close();
  }
}

/** The synchronous readFileChecked (model files). */
export function readFileCheckedSync(file: string, maxBytes = Number.MAX_SAFE_INTEGER): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
  } catch (e) {
    throw fsError(file, e);
  }
  try {
    const st = fs.fstatSync(fd);
    checkReadable(file, st, maxBytes);
    const buf = Buffer.allocUnsafe(st.size);
    let pos = 0;
    while (pos < st.size) {
      const n = fs.readSync(fd, buf, pos, st.size - pos, pos);
      if (n === 0) break;
      pos += n;
    }
    return buf.subarray(0, pos);
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    throw fsError(file, e);
  } finally {
    fs.closeSync(fd);
  }
}

/** Gunzips `raw` (read from `file`), refusing to inflate past gzipBudget(raw.length). */
export async function gunzipChecked(raw: Buffer, file: string): Promise<Buffer> {
  const budget = gzipBudget(raw.length);
  try {
    return await gunzipAsync(raw, { maxOutputLength: budget });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw inflationError(file, raw.length, 'a data set', e);
    throw new FileFormatError(file, gzipProblem(e), { cause: e });
  }
}

/** The file's bytes, gunzipped (within gzipBudget) when they start with the gzip magic. */
export async function readMaybeGzip(file: string): Promise<Buffer> {
  const raw = await readFileChecked(file);
  return isGzip(raw) ? gunzipChecked(raw, file) : raw;
}

export async function statOrNull(p: string): Promise<fs.Stats | null> {
  try {
    return await fs.promises.stat(p);
  } catch {
    return null;
  }
}
