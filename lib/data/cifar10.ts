// CIFAR-10 in the official binary layout (cifar-10-batches-bin/):
//   data_batch_1.bin ... data_batch_5.bin, test_batch.bin: records of 1 label byte (0..9) and
//   3072 pixel bytes (1024 R, 1024 G, 1024 B, each 32x32 row-major), 10000 records a file;
//   batches.meta.txt: the 10 class names, one a line.
// Read from the extracted folder, or straight from cifar-10-binary.tar.gz (streamed through
// gunzip and a tar parser, nothing written to disk).
import * as fs from 'fs';
import * as pathlib from 'path';
import * as zlib from 'zlib';
import { Transform } from 'stream';
import { pipeline } from 'stream/promises';
import * as tar from 'tar-stream';
import { FileFormatError, fsError } from '../io/errors';
import { describe } from '../validate';
import { RawDataset, LoadOptions, checkLoadOptions } from './types';
import { checkRegular, errorMessage, gzipBudget, gzipProblem, inflationError, isGzip, isTar, readFileChecked, statOrNull } from '../io/files';

export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
]);

const PIXELS = 3 * 32 * 32;
const RECORD = 1 + PIXELS;
const TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
const TEST_FILE = 'test_batch.bin';
const META_FILE = 'batches.meta.txt';
const FOLDER = 'cifar-10-batches-bin';
/** The official batches hold 10000 records; a bigger file or member is corrupt, or a bomb. */
const MAX_MEMBER = 10000 * RECORD;

/** A file's bytes and how to name it in messages. */
interface Blob {
  bytes: Buffer;
  label: string;
}

function checkBatchSize(b: Blob): number {
  const n = b.bytes.length;
  if (n === 0) throw new FileFormatError(b.label, `is empty, expected records of ${RECORD} bytes`);
  if (n % RECORD !== 0) {
    throw new FileFormatError(b.label, `size ${n} is not a multiple of the ${RECORD}-byte record (1 label byte + ${PIXELS} pixel bytes); truncated or not a CIFAR-10 batch`);
  }
  return n / RECORD;
}

/** Concatenates the records of `blobs` (in order), keeping at most `limit`. */
function assemble(blobs: Blob[], limit: number): { x: Uint8Array; y: Uint8Array } {
  const counts = blobs.map(checkBatchSize);
  const total = counts.reduce((a, b) => a + b, 0);
  const n = Math.min(total, limit);
  const x = new Uint8Array(n * PIXELS);
  const y = new Uint8Array(n);
  let k = 0;
  for (let f = 0; f < blobs.length && k < n; f++) {
    const { bytes, label } = blobs[f];
    for (let r = 0; r < counts[f] && k < n; r++, k++) {
      const at = r * RECORD;
      const lab = bytes[at];
      if (lab > 9) throw new FileFormatError(label, `record ${r} (byte offset ${at}) has label ${lab}, but CIFAR-10 labels are 0..9`);
      y[k] = lab;
      x.set(bytes.subarray(at + 1, at + RECORD), k * PIXELS);
    }
  }
  return { x, y };
}

function parseMeta(b: Blob): string[] {
  const names = b.bytes.toString('utf8').split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length !== 10) throw new FileFormatError(b.label, `expected 10 class names, one a line, got ${names.length}`);
  return names;
}

async function readFolder(dir: string, want: string[], trainLimit: number): Promise<Map<string, Blob>> {
  let root = dir;
  const sub = await statOrNull(pathlib.join(dir, FOLDER));
  if (sub?.isDirectory()) root = pathlib.join(dir, FOLDER);
  const present = await Promise.all(want.map((n) => statOrNull(pathlib.join(root, n))));
  if (present.every((s) => s === null)) {
    throw new FileFormatError(dir, `no CIFAR-10 binary files here (expected a ${FOLDER}/ folder, or ${[...TRAIN_FILES, TEST_FILE, META_FILE].join(', ')})`);
  }
  want.forEach((n, i) => {
    if (present[i] === null) throw new FileFormatError(pathlib.join(root, n), 'file not found');
  });
  const out = new Map<string, Blob>();
  let trainRecords = 0;
  for (const n of want) {
    const isTrain = TRAIN_FILES.includes(n);
    if (isTrain && trainRecords >= trainLimit) continue; // enough training samples already
    const file = pathlib.join(root, n);
    const blob = { bytes: await readFileChecked(file, MAX_MEMBER), label: file };
    if (isTrain) trainRecords += checkBatchSize(blob);
    out.set(n, blob);
  }
  return out;
}

async function readHead(file: string, n: number): Promise<Buffer> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (e) {
    throw fsError(file, e);
  }
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Streams a .tar.gz (or .tar) of `compressed` bytes and keeps, in memory, the members whose base names are wanted. */
async function readArchive(file: string, compressed: number, want: string[]): Promise<Map<string, Blob>> {
  const head = await readHead(file, 512);
  const gz = isGzip(head);
  if (!gz && !isTar(head)) {
    const hex = [...head.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new FileFormatError(file, `not a gzip or tar archive (starts with bytes ${hex || 'nothing: the file is empty'}), expected cifar-10-binary.tar.gz`);
  }
  const wanted = new Set(want);
  const found = new Map<string, Blob>();
  const seen: string[] = [];
  let memberError: FileFormatError | null = null;
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const name = header.name.replace(/\/+$/, '');
    const base = pathlib.posix.basename(name);
    if (header.type === 'file' || header.type === 'contiguous-file') seen.push(name);
    const size = header.size ?? 0;
    // A member cut short fails here too; the pipeline below reports it, once.
    stream.on('error', () => {});
    if ((header.type === 'file' || header.type === 'contiguous-file') && wanted.has(base) && !found.has(base)) {
      const label = `${name} in ${file}`;
      if (size > MAX_MEMBER) {
        memberError = new FileFormatError(label, `member is ${size} bytes, too large for CIFAR-10`);
        next(memberError);
        return;
      }
      const bytes = Buffer.allocUnsafe(size);
      let pos = 0;
      stream.on('data', (chunk) => {
        const c = chunk as Buffer;
        c.copy(bytes, pos);
        pos += c.length;
      });
      stream.on('end', () => {
        found.set(base, { bytes: bytes.subarray(0, pos), label });
        next();
      });
    } else {
      stream.on('end', () => next());
      stream.resume();
    }
  });
  const src = fs.createReadStream(file);
  // Stops a gzip stream that inflates past what any real archive does (see gzipBudget).
  const budget = gzipBudget(compressed);
  let inflated = 0;
  let bombError: FileFormatError | null = null;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      inflated += chunk.length;
      if (inflated > budget) {
        bombError = inflationError(file, compressed, 'the CIFAR-10 archive');
        done(bombError);
        return;
      }
      done(null, chunk);
    },
  });
  try {
    if (gz) await pipeline(src, zlib.createGunzip(), meter, extract);
    else await pipeline(src, extract);
  } catch (e) {
    if (bombError) throw bombError;
    if (memberError) throw memberError;
    const code = String((e as NodeJS.ErrnoException).code ?? '');
    if (code.startsWith('Z_')) throw new FileFormatError(file, gzipProblem(e), { cause: e });
    if ((e as NodeJS.ErrnoException).syscall) throw fsError(file, e);
    throw new FileFormatError(file, `corrupt or truncated tar data${gz ? ' inside the gzip stream' : ''} (${errorMessage(e)})`, { cause: e });
  }
  const missing = want.filter((n) => !found.has(n));
  if (missing.length > 0) {
    const list = seen.length === 0 ? 'it has no files' : `it has ${seen.slice(0, 8).join(', ')}${seen.length > 8 ? `, ... (${seen.length} files)` : ''}`;
    throw new FileFormatError(file, `archive has no ${missing.map((m) => `${FOLDER}/${m}`).join(', ')} (${list}); expected the CIFAR-10 binary version`);
  }
  return found;
}

/**
 * Loads CIFAR-10 (binary version) as uint8 images (N, 3, 32, 32) and uint8 labels.
 * `path`: the folder holding cifar-10-batches-bin/, that folder itself, or cifar-10-binary.tar.gz.
 */
export async function loadCifar10(path: string, opts?: LoadOptions): Promise<RawDataset> {
  if (typeof path !== 'string' || path === '') throw new TypeError(`path must be a non-empty string, got ${describe(path)}`);
  const o = checkLoadOptions(opts);
  const want = [...(o.train ? TRAIN_FILES : []), ...(o.test ? [TEST_FILE] : []), META_FILE];
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(path);
  } catch (e) {
    throw fsError(path, e, 'folder or archive');
  }
  if (!st.isDirectory()) checkRegular(path, st, 'folder or archive');
  const blobs = st.isDirectory() ? await readFolder(path, want, o.maxTrain) : await readArchive(path, st.size, want);
  const classes = parseMeta(blobs.get(META_FILE)!);
  const train = o.train
    ? assemble(TRAIN_FILES.filter((n) => blobs.has(n)).map((n) => blobs.get(n)!), o.maxTrain)
    : { x: new Uint8Array(0), y: new Uint8Array(0) };
  const test = o.test ? assemble([blobs.get(TEST_FILE)!], o.maxTest) : { x: new Uint8Array(0), y: new Uint8Array(0) };
  return { xTrain: train.x, yTrain: train.y, xTest: test.x, yTest: test.y, classes, shape: [3, 32, 32] };
}
