// The safetensors format (https://github.com/huggingface/safetensors), read and written exactly:
//
//   8 bytes    N, the header length, unsigned 64-bit little-endian
//   N bytes    a UTF-8 JSON object, padded with spaces to a multiple of 8:
//              { "__metadata__": { string: string },
//                "<name>": { "dtype": "F32" | "F64", "shape": [d0, d1, ...], "data_offsets": [begin, end] }, ... }
//   the rest   the data section: each tensor's elements, row-major, little-endian, at [begin, end)
//              relative to the start of the data section, tensors packed with no gaps or overlaps.
//
// Files are written atomically (temp file in the same folder, fsync, rename over the target), so a
// reader or a crash never sees a partial file. Loading validates every field and names the file
// and the problem when something is off.
import * as fs from 'fs';
import * as os from 'os';
import * as pathlib from 'path';
import { createHash, randomBytes } from 'crypto';
import { Tensor, DType, FloatArray, hostArray, sizeOf } from '../tensor';
import { describe } from '../validate';
import { FileFormatError } from './errors';
import { readFileCheckedSync } from './files';

/** The safetensors dtype names deepconv reads and writes, with their tensor dtypes. */
export const SAFETENSORS_DTYPES: Readonly<Record<'F32' | 'F64', DType>> = Object.freeze({ F32: 'float32', F64: 'float64' });

/** Dtypes the format defines that deepconv does not load (a clearer message than "unknown"). */
const OTHER_KNOWN_DTYPES = new Set([
  'BOOL', 'U8', 'I8', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'I64', 'U64',
  'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64',
]);

/** The largest header the reference implementation accepts. */
const MAX_HEADER = 100_000_000;
const LITTLE_ENDIAN = os.endianness() === 'LE';

/** Element sizes of the integer dtypes deepconv passes through as bytes (PyTorch's num_batches_tracked is I64). */
const RAW_ITEM_SIZE: Readonly<Record<string, number>> = Object.freeze({ I64: 8, I32: 4, U8: 1, BOOL: 1 });

/** A tensor of a dtype deepconv does not compute with, kept as its little-endian bytes. */
export interface RawTensor {
  dtype: 'I64' | 'I32' | 'U8' | 'BOOL';
  shape: number[];
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
  /** Tensors of the dtypes asked for with opts.raw (empty otherwise). */
  raw: Record<string, RawTensor>;
}

function itemSize(dtype: DType): number {
  return dtype === 'float64' ? 8 : 4;
}

function stDtype(dtype: DType): 'F32' | 'F64' {
  return dtype === 'float64' ? 'F64' : 'F32';
}

/** The little-endian bytes of a typed array (a view where the host is little-endian). */
function leBytes(a: FloatArray): Buffer {
  const view = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (LITTLE_ENDIAN) return view;
  const copy = Buffer.from(view);
  if (a.BYTES_PER_ELEMENT === 8) copy.swap64();
  else copy.swap32();
  return copy;
}

function checkInputs(tensors: unknown, metadata: unknown): { names: string[]; tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors) || tensors instanceof Tensor) {
    throw new TypeError(`tensors must be an object mapping names to Tensors, got ${describe(tensors)}`);
  }
  const t = tensors as Record<string, unknown>;
  const names = Object.keys(t);
  for (const name of names) {
    if (name === '') throw new RangeError('tensor names must be non-empty strings');
    if (name === '__metadata__') throw new RangeError('"__metadata__" is reserved by the safetensors format and cannot name a tensor');
    if (!(t[name] instanceof Tensor)) throw new TypeError(`tensors[${JSON.stringify(name)}] must be a Tensor, got ${describe(t[name])}`);
  }
  if (metadata === undefined || metadata === null) metadata = {};
  if (typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new TypeError(`metadata must be an object mapping strings to strings, got ${describe(metadata)}`);
  }
  const m = metadata as Record<string, unknown>;
  for (const k of Object.keys(m)) {
    if (typeof m[k] !== 'string') throw new TypeError(`metadata[${JSON.stringify(k)}] must be a string, got ${describe(m[k])}`);
  }
  // cuda tensors are written from a host copy (each download waits for the GPU's queued work).
  const host: Record<string, Tensor> = {};
  for (const n of names) {
    const x = (t as Record<string, Tensor>)[n];
    host[n] = x.device === 'cpu' ? x : x.toDevice('cpu');
  }
  return { names, tensors: host, metadata: m as Record<string, string> };
}

/**
 * The header (length prefix included) and the data pieces, in file order. Float64 tensors come
 * first so that every tensor starts on a multiple of its element size.
 */
function encodeParts(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}, opts: WriteOptions = {}): Buffer[] {
  const c = checkInputs(tensors, metadata);
  const raw = opts.raw ?? {};
  interface Piece { name: string; i: number; dtype: string; shape: readonly number[]; size: number; bytes: Buffer }
  const pieces: Piece[] = c.names.map((name, i) => {
    const t = c.tensors[name];
    return { name, i, dtype: stDtype(t.dtype), shape: t.shape, size: itemSize(t.dtype), bytes: leBytes(t.data) };
  });
  for (const [name, r] of Object.entries(raw)) {
    if (name in c.tensors || name === '__metadata__') throw new RangeError(`opts.raw[${JSON.stringify(name)}] names a tensor twice (or the reserved "__metadata__")`);
    const size = RAW_ITEM_SIZE[r.dtype];
    if (size === undefined) throw new RangeError(`opts.raw[${JSON.stringify(name)}].dtype must be one of ${Object.keys(RAW_ITEM_SIZE).join(', ')}, got ${describe(r.dtype)}`);
    if (r.bytes.length !== sizeOf(r.shape) * size) throw new RangeError(`opts.raw[${JSON.stringify(name)}] holds ${r.bytes.length} bytes, but ${r.dtype} shape [${r.shape.join(', ')}] needs ${sizeOf(r.shape) * size}`);
    pieces.push({ name, i: pieces.length, dtype: r.dtype, shape: r.shape, size, bytes: Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength) });
  }
  const order = pieces.sort((a, b) => b.size - a.size || a.i - b.i);
  const data = order.map((p) => p.bytes);
  const meta = { ...c.metadata };
  if (opts.checksumKey !== undefined) meta[opts.checksumKey] = checksum(data);
  const header: Record<string, unknown> = {};
  if (Object.keys(meta).length > 0) header.__metadata__ = meta;
  let offset = 0;
  for (const { name, dtype, shape, bytes } of order) {
    const end = offset + bytes.byteLength;
    header[name] = { dtype, shape: [...shape], data_offsets: [offset, end] };
    offset = end;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return [len, json, ...data];
}

export interface ChecksumOption {
  /**
   * The __metadata__ key that holds "sha256:<hex>" of the data section: written on save, and
   * verified on load whenever the file has it (so flipped bytes in tensor data never load silently).
   */
  checksumKey?: string;
}

export interface WriteOptions extends ChecksumOption {
  /** Integer tensors written beside the float ones, from their bytes (e.g. PyTorch's I64 counters). */
  raw?: Record<string, RawTensor>;
}

export interface ReadOptions extends ChecksumOption {
  /** Integer dtypes to return as bytes in `raw` instead of refusing them (e.g. ['I64']). */
  raw?: readonly RawTensor['dtype'][];
}

function checksum(pieces: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of pieces) h.update(p);
  return `sha256:${h.digest('hex')}`;
}

/** The whole file in memory (a Node Buffer; typed as Uint8Array so the public types need no @types/node). */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}, opts: WriteOptions = {}): Uint8Array {
  return Buffer.concat(encodeParts(tensors, metadata, opts));
}

function writeAll(fd: number, buf: Uint8Array): void {
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done);
}

/**
 * Writes `parts` to `path` atomically: a temp file beside it (`path.tmp-<pid>-<random>`), fsync,
 * rename over the target, fsync of the folder. On any failure the temp file is removed and the
 * target is left as it was.
 */
export function writeFileAtomic(path: string, parts: readonly Uint8Array[]): void {
  removeStaleTemps(path);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FileFormatError(path, `cannot be written: folder ${pathlib.dirname(path)} not found`, { cause: e });
    throw new FileFormatError(path, `cannot be written (${(e as Error).message})`, { cause: e });
  }
  try {
    for (const p of parts) writeAll(fd, p);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) {
      try { fs.closeSync(fd); } catch { /* already failing */ }
    }
    try { fs.unlinkSync(tmp); } catch { /* gone already */ }
    throw new FileFormatError(path, `cannot be written (${(e as Error).message})`, { cause: e });
  }
  // Make the rename itself durable; not every platform lets a folder be opened for fsync.
  try {
    const dfd = fs.openSync(pathlib.dirname(path), 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* best effort */ }
}

/** Whether a process with this pid runs (on this machine; EPERM means it does, as someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp files earlier writers of `path` left behind when they were killed (SIGKILL,
 * an OOM kill, a power cut) between creating and renaming them: `path.tmp-<pid>-<hex>` whose
 * process no longer runs. Best effort: a folder that cannot be listed is left as it is.
 */
function removeStaleTemps(path: string): void {
  const dir = pathlib.dirname(path);
  const prefix = `${pathlib.basename(path)}.tmp-`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const m = /^(\d+)-[0-9a-f]{12}$/.exec(n.slice(prefix.length));
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    try {
      fs.unlinkSync(pathlib.join(dir, n));
    } catch {
      /* raced with another cleaner */
    }
  }
}

/** Saves tensors (float32 as F32, float64 as F64) and string metadata as a safetensors file, atomically. */
export function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}, opts: WriteOptions = {}): void {
  if (typeof path !== 'string' || path === '') throw new TypeError(`path must be a non-empty string, got ${describe(path)}`);
  writeFileAtomic(path, encodeParts(tensors, metadata, opts));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function jsonish(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return String(v);
  }
}

/** Reads a safetensors file held in memory; `file` names it in error messages. */
export function parseSafetensors(buf: Uint8Array, file = '<buffer>', opts: ReadOptions = {}): SafetensorsFile {
  const fail = (problem: string, cause?: unknown): FileFormatError => new FileFormatError(file, problem, cause === undefined ? undefined : { cause });
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 8) throw fail(`file is ${b.length} bytes, too short for the 8-byte header length of a safetensors file`);
  const n64 = b.readBigUInt64LE(0);
  if (n64 > BigInt(MAX_HEADER)) throw fail(`header length ${n64} is over the ${MAX_HEADER}-byte limit (not a safetensors file, or corrupt)`);
  const n = Number(n64);
  if (8 + n > b.length) throw fail(`header length ${n} runs past the end of the file (${b.length} bytes, so at most ${b.length - 8} for the header)`);
  const headerBytes = b.subarray(8, 8 + n);
  if (n === 0 || headerBytes[0] !== 0x7b) throw fail(`header does not start with '{' (not a safetensors file, or corrupt)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch (e) {
    throw fail('header is not valid UTF-8', e);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw fail(`header is not valid JSON (${(e as Error).message})`, e);
  }
  if (!isPlainObject(header)) throw fail(`header must be a JSON object, got ${describe(header)}`);

  const metadata: Record<string, string> = {};
  if ('__metadata__' in header) {
    const m = header.__metadata__;
    if (!isPlainObject(m)) throw fail(`__metadata__ must be an object mapping strings to strings, got ${describe(m)}`);
    for (const k of Object.keys(m)) {
      if (typeof m[k] !== 'string') throw fail(`__metadata__[${JSON.stringify(k)}] must be a string, got ${describe(m[k])}`);
      metadata[k] = m[k] as string;
    }
  }

  const dataStart = 8 + n;
  const dataLen = b.length - dataStart;
  interface Entry { name: string; dtype: DType | RawTensor['dtype']; size: number; shape: number[]; begin: number; end: number }
  const rawWanted = new Set<string>(opts.raw ?? []);
  const entries: Entry[] = [];
  for (const name of Object.keys(header)) {
    if (name === '__metadata__') continue;
    const what = `tensor ${JSON.stringify(name)}`;
    const info = header[name];
    if (!isPlainObject(info)) throw fail(`${what}: entry must be an object with dtype, shape and data_offsets, got ${describe(info)}`);
    const d = info.dtype;
    if (typeof d !== 'string') throw fail(`${what}: dtype must be a string, got ${describe(d)}`);
    const isRaw = rawWanted.has(d) && d in RAW_ITEM_SIZE;
    if (!(d === 'F32' || d === 'F64' || isRaw)) {
      if (OTHER_KNOWN_DTYPES.has(d)) throw fail(`${what}: dtype ${d} is not supported (deepconv reads F32 and F64${rawWanted.size ? ` here, and ${[...rawWanted].join(', ')}` : ''})`);
      throw fail(`${what}: unknown dtype ${JSON.stringify(d)}`);
    }
    const dtype = isRaw ? (d as RawTensor['dtype']) : SAFETENSORS_DTYPES[d as 'F32' | 'F64'];
    const size = isRaw ? RAW_ITEM_SIZE[d] : itemSize(dtype as DType);
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every(isCount)) throw fail(`${what}: shape must be an array of non-negative integers, got ${jsonish(shape)}`);
    const off = info.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every(isCount)) {
      throw fail(`${what}: data_offsets must be two non-negative integers [begin, end], got ${jsonish(off)}`);
    }
    const [begin, end] = off as number[];
    if (begin > end) throw fail(`${what}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLen) throw fail(`${what}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataLen} bytes)`);
    const need = sizeOf(shape as number[]) * size;
    if (end - begin !== need) {
      throw fail(`${what}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${d} shape [${shape.join(', ')}] needs ${need}`);
    }
    entries.push({ name, dtype, size, shape: shape as number[], begin, end });
  }

  // The tensors must tile the data section exactly: no overlaps, no gaps, nothing after.
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  let covered = 0;
  let prev: Entry | null = null;
  for (const e of sorted) {
    if (e.begin < covered) {
      throw fail(`tensors ${JSON.stringify(prev!.name)} [${prev!.begin}, ${prev!.end}] and ${JSON.stringify(e.name)} [${e.begin}, ${e.end}] overlap`);
    }
    if (e.begin > covered) throw fail(`${e.begin - covered} unused bytes in the data section before tensor ${JSON.stringify(e.name)} at offset ${covered}`);
    covered = e.end;
    prev = e;
  }
  if (covered !== dataLen) throw fail(`data section has ${dataLen} bytes but the tensors cover ${covered} (trailing bytes or truncated header)`);
  const key = opts.checksumKey;
  if (key !== undefined && metadata[key] !== undefined) {
    const want = metadata[key];
    if (!/^sha256:[0-9a-f]{64}$/.test(want)) throw fail(`__metadata__.${key} must be "sha256:" and 64 hex digits, got ${jsonish(want)}`);
    if (checksum([b.subarray(dataStart)]) !== want) throw fail(`tensor data does not match its checksum (__metadata__.${key}): the file is corrupt`);
  }

  const tensors: Record<string, Tensor> = {};
  const raw: Record<string, RawTensor> = {};
  for (const e of entries) {
    if (e.dtype !== 'float32' && e.dtype !== 'float64') {
      raw[e.name] = { dtype: e.dtype, shape: e.shape, bytes: new Uint8Array(b.subarray(dataStart + e.begin, dataStart + e.end)) };
      continue;
    }
    const count = sizeOf(e.shape);
    const data = hostArray(e.dtype, count);
    const bytes = new Uint8Array(data.buffer);
    bytes.set(b.subarray(dataStart + e.begin, dataStart + e.end));
    if (!LITTLE_ENDIAN) {
      const v = Buffer.from(data.buffer);
      if (e.dtype === 'float64') v.swap64();
      else v.swap32();
    }
    tensors[e.name] = new Tensor(data, e.shape);
  }
  return { tensors, metadata, raw };
}

/** Loads a safetensors file of F32/F64 tensors; every problem throws a FileFormatError naming the file. */
export function loadSafetensors(path: string, opts: ReadOptions = {}): SafetensorsFile {
  if (typeof path !== 'string' || path === '') throw new TypeError(`path must be a non-empty string, got ${describe(path)}`);
  return parseSafetensors(readFileCheckedSync(path), path, opts);
}
