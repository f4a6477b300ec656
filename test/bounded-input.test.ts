// Files a server may be handed, corrupt or hostile, fail with a FileFormatError naming the file,
// quickly and without reading or allocating without bound (issue 9): devices and pipes are not
// read, gzip streams stop at a sane inflation ratio, a model's config cannot ask for more than its
// tensors hold, tensor data is checksummed, and non-finite weights are refused.
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import * as tar from 'tar-stream';
import { FileFormatError, loadModelFile, loadSafetensors, saveModel } from '../lib/io';
import { loadCifar10, loadIdx } from '../lib/data';
import { DeepConvNet, loadModel } from '../lib/models';
import { readModel } from '../lib/cli/main';
import { removeTempDirs, tempDir } from './fixtures';

afterAll(removeTempDirs);

/** Runs fn (sync or async) and returns what it threw, with how long it took. */
async function failure(fn: () => unknown): Promise<{ err: Error; ms: number }> {
  const t0 = Date.now();
  try {
    await fn();
  } catch (e) {
    return { err: e as Error, ms: Date.now() - t0 };
  }
  throw new Error('expected a failure, but nothing was thrown');
}

async function expectFileError(fn: () => unknown, file: string, problem: RegExp): Promise<number> {
  const { err, ms } = await failure(fn);
  expect(err).toBeInstanceOf(FileFormatError);
  expect((err as FileFormatError).file).toBe(file);
  expect(err.message.slice(file.length + 2)).toMatch(problem);
  return ms;
}

describe('only regular files are read', () => {
  const dev = '/dev/zero';
  test.each([
    ['loadModel', () => loadModel(dev)],
    ['loadSafetensors', () => loadSafetensors(dev)],
    ['loadIdx', () => loadIdx(dev)],
    ['loadCifar10', () => loadCifar10(dev)],
  ])('%s(/dev/zero) is refused at once', async (_name, fn) => {
    await expectFileError(fn, dev, /^is a character device, expected a (regular file|folder or archive)$/);
  });

  test('a FIFO is refused without blocking on it', async () => {
    const fifo = path.join(tempDir(), 'model.safetensors');
    require('child_process').execFileSync('mkfifo', [fifo]);
    await expectFileError(() => loadModel(fifo), fifo, /^is a FIFO \(named pipe\), expected a regular file$/);
  });
});

describe('gzip streams stop at 20x inflation', () => {
  test('an IDX decompression bomb (a header for 100k images, 100 MB of zeros) fails within the budget', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'train-images-idx3-ubyte.gz');
    const header = Buffer.from([0, 0, 8, 3, 0, 1, 0x86, 0xa0, 0, 0, 0, 28, 0, 0, 0, 28]);  // 100000 x 28 x 28
    fs.writeFileSync(file, zlib.gzipSync(Buffer.concat([header, Buffer.alloc(100000 * 784)]), { level: 1 }));
    const ms = await expectFileError(() => loadIdx(file), file, /^gzip data inflates to more than \d+ bytes from \d+ \(over 20x\): not a data set, or a decompression bomb$/);
    expect(ms).toBeLessThan(5000);
  });

  test('a CIFAR-10 archive that inflates without bound stops there', async () => {
    const file = path.join(tempDir(), 'cifar-10-binary.tar.gz');
    const pack = tar.pack();
    pack.entry({ name: 'cifar-10-batches-bin/junk.bin', size: 100 << 20 }, Buffer.alloc(100 << 20));
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack.pipe(zlib.createGzip({ level: 1 }))) chunks.push(c as Buffer);
    fs.writeFileSync(file, Buffer.concat(chunks));
    await expectFileError(() => loadCifar10(file), file, /^gzip data inflates to more than \d+ bytes from \d+ \(over 20x\): not the CIFAR-10 archive, or a decompression bomb$/);
  });
});

describe('model files', () => {
  const dir = tempDir();
  const small = () => new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4], maxPools: [0], batchnorm: true, seed: 0 });

  test('a config asking for a 2^26-wide layer is refused before anything is built', async () => {
    const file = path.join(dir, 'wide.safetensors');
    const m = small();
    saveModel(file, { config: { class: 'DeepConvNet', options: { ...m.options, numFilters: [2 ** 26] } }, params: m.params, extra: m.stateTensors() });
    const ms = await expectFileError(() => loadModel(file), file, /^config\.options describe a DeepConvNet larger than the \d+ elements the file's tensors hold: its config and its tensors disagree$/);
    expect(ms).toBeLessThan(1000);
  });

  test('flipped bytes in the tensor data fail the checksum', async () => {
    const file = path.join(dir, 'flipped.safetensors');
    small().save(file);
    expect(loadModelFile(file).metadata).not.toHaveProperty('data_sha256');  // a format key, not the caller's
    const b = fs.readFileSync(file);
    b[b.length - 3] ^= 0x10;
    fs.writeFileSync(file, b);
    await expectFileError(() => loadModel(file), file, /^tensor data does not match its checksum \(__metadata__\.data_sha256\): the file is corrupt$/);
  });

  test('non-finite weights are refused, naming the tensor', async () => {
    const file = path.join(dir, 'nan.safetensors');
    const m = small();
    m.params.W0.data[5] = NaN;
    m.params.W0.data[6] = Infinity;
    m.save(file);
    await expectFileError(() => loadModel(file), file, /^tensor "W0" holds 2 non-finite values \(NaN or Infinity\) of 108: the model diverged or the file is corrupt$/);
  });

  test("the CLI's data metadata that is not JSON names the file", async () => {
    const file = path.join(dir, 'meta.safetensors');
    const m = small();
    saveModel(file, { config: m.config, params: m.params, extra: m.stateTensors(), metadata: { data: '{not json' } });
    await expectFileError(() => readModel(file), file, /^__metadata__\.data is not valid JSON \(/);
    saveModel(file, { config: m.config, params: m.params, extra: m.stateTensors(), metadata: { data: JSON.stringify({ dataset: 'cifar10', shape: [3, 8, 8], mean: [0, 0], std: [1, 1, 1], classes: [] }) } });
    await expectFileError(() => readModel(file), file, /^__metadata__\.data\.mean must be 3 finite numbers, got \[0,0\]$/);
  });
});
