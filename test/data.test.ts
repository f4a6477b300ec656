import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import {
  loadCifar10, CIFAR10_CLASSES, loadIdx, parseIdx, loadMnist, loadFashionMnist, FASHION_MNIST_CLASSES, MNIST_CLASSES,
  toFloat, channelStats, normalize, splitValidation, loadDataset, randomCropFlip, cropFlip, RawDataset,
} from '../lib/data';
import { FileFormatError } from '../lib/io';
import { Tensor } from '../lib/tensor';
import { Rng } from '../lib/random';
import {
  tempDir, removeTempDirs, cifarFiles, cifarRecords, writeCifarFolder, makeTar, cifarTarGz, idxBytes, writeMnistFolder, CIFAR_TRAIN, CIFAR_META,
} from './fixtures';

afterAll(removeTempDirs);

const REAL_CIFAR = '/work/shared/data/cifar-10-binary.tar.gz';
const REAL_FASHION = '/usr/share/datasets/fashion-mnist';

/** The (x, y) a list of CIFAR record buffers should load as. */
function expectedCifar(bufs: Buffer[], limit = Infinity): { x: Uint8Array; y: Uint8Array } {
  const all = Buffer.concat(bufs);
  const n = Math.min(all.length / 3073, limit);
  const x = new Uint8Array(n * 3072);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = all[i * 3073];
    x.set(all.subarray(i * 3073 + 1, (i + 1) * 3073), i * 3072);
  }
  return { x, y };
}

async function expectFileError(p: Promise<unknown>, re: RegExp): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FileFormatError);
  expect((err as Error).message).toMatch(re);
}

describe('loadCifar10', () => {
  const files = cifarFiles(3, 4);
  const train = expectedCifar(CIFAR_TRAIN.map((n) => files[n]));
  const test = expectedCifar([files['test_batch.bin']]);
  let dir: string;
  let tgz: string;
  let plainTar: string;

  beforeAll(async () => {
    dir = tempDir();
    writeCifarFolder(dir, files);
    tgz = path.join(dir, 'cifar-10-binary.tar.gz');
    fs.writeFileSync(tgz, await cifarTarGz(files));
    plainTar = path.join(dir, 'cifar-10-binary.tar');
    fs.writeFileSync(plainTar, await cifarTarGz(files, false));
  });

  function checkFull(d: RawDataset): void {
    expect(d.shape).toEqual([3, 32, 32]);
    expect(d.classes).toEqual([...CIFAR10_CLASSES]);
    expect(d.xTrain).toBeInstanceOf(Uint8Array);
    expect(d.xTrain.length).toBe(15 * 3072);
    expect(d.yTrain.length).toBe(15);
    expect(Buffer.from(d.xTrain).equals(Buffer.from(train.x))).toBe(true);
    expect(Array.from(d.yTrain)).toEqual(Array.from(train.y));
    expect(Buffer.from(d.xTest).equals(Buffer.from(test.x))).toBe(true);
    expect(Array.from(d.yTest)).toEqual(Array.from(test.y));
  }

  it('reads the folder that holds cifar-10-batches-bin/, in batch order 1..5', async () => {
    const d = await loadCifar10(dir);
    checkFull(d);
    // record 0 of batch 2 comes right after the 3 records of batch 1: its tag byte is 2*16+0
    expect(d.xTrain[3 * 3072]).toBe(32);
    expect(d.yTrain[3]).toBe(2);
  });

  it('reads cifar-10-batches-bin itself', async () => {
    checkFull(await loadCifar10(path.join(dir, 'cifar-10-batches-bin')));
  });

  it('reads the .tar.gz without extracting it (members in any order), and a plain .tar', async () => {
    const before = fs.readdirSync(dir).sort();
    checkFull(await loadCifar10(tgz));
    checkFull(await loadCifar10(plainTar));
    expect(fs.readdirSync(dir).sort()).toEqual(before);
  });

  it('reads members under ./ and class names with CRLF line ends', async () => {
    const meta = Buffer.from(CIFAR_META.replace(/\n/g, '\r\n'));
    const entries = Object.entries({ ...files, 'batches.meta.txt': meta }).map(([n, data]) => ({ name: `./cifar-10-batches-bin/${n}`, data }));
    const p = path.join(tempDir(), 'c.tar.gz');
    fs.writeFileSync(p, await makeTar(entries));
    checkFull(await loadCifar10(p));
  });

  it('reads only the parts asked for, and limits the sample counts', async () => {
    for (const src of [dir, tgz]) {
      const tr = await loadCifar10(src, { parts: ['train'] });
      expect(tr.yTrain.length).toBe(15);
      expect(tr.xTest.length).toBe(0);
      expect(tr.yTest.length).toBe(0);
      const te = await loadCifar10(src, { parts: ['test'] });
      expect(te.xTrain.length).toBe(0);
      expect(Array.from(te.yTest)).toEqual(Array.from(test.y));
      const lim = await loadCifar10(src, { maxTrain: 7, maxTest: 2 });
      expect(lim.yTrain.length).toBe(7);
      expect(Buffer.from(lim.xTrain).equals(Buffer.from(train.x.subarray(0, 7 * 3072)))).toBe(true);
      expect(Array.from(lim.yTest)).toEqual(Array.from(test.y.subarray(0, 2)));
    }
  });

  it('with maxTrain, reads no more training batches from a folder than it needs', async () => {
    const d = tempDir();
    // batch 5 is corrupt, but the first 4 samples all sit in batches 1 and 2
    writeCifarFolder(d, { ...files, 'data_batch_5.bin': Buffer.alloc(10) });
    const r = await loadCifar10(d, { maxTrain: 4 });
    expect(r.yTrain.length).toBe(4);
    await expectFileError(loadCifar10(d), /data_batch_5\.bin: size 10 is not a multiple of the 3073-byte record/);
  });

  it('checks its arguments', async () => {
    await expect(loadCifar10(42 as unknown as string)).rejects.toThrow(/path must be a non-empty string/);
    await expect(loadCifar10(dir, { parts: ['validation' as 'train'] })).rejects.toThrow(/opts.parts must be a non-empty array/);
    await expect(loadCifar10(dir, { parts: [] })).rejects.toThrow(/opts.parts/);
    await expect(loadCifar10(dir, { maxTrain: -1 })).rejects.toThrow(/opts.maxTrain must be an integer >= 0/);
  });

  describe('errors name the file and the problem', () => {
    async function folderWith(changes: Record<string, Buffer | null>, nested = true): Promise<string> {
      const d = tempDir();
      const f: Record<string, Buffer> = { ...files };
      for (const [k, v] of Object.entries(changes)) {
        if (v === null) delete f[k];
        else f[k] = v;
      }
      writeCifarFolder(d, f, nested);
      return d;
    }
    async function tarWith(changes: Record<string, Buffer | null>): Promise<string> {
      const f: Record<string, Buffer> = { ...files };
      for (const [k, v] of Object.entries(changes)) {
        if (v === null) delete f[k];
        else f[k] = v;
      }
      const p = path.join(tempDir(), 'cifar-10-binary.tar.gz');
      fs.writeFileSync(p, await cifarTarGz(f));
      return p;
    }

    it('a path that does not exist', async () => {
      await expectFileError(loadCifar10(path.join(dir, 'nope')), /nope: folder or archive not found/);
    });

    it('a folder with no CIFAR-10 files', async () => {
      await expectFileError(loadCifar10(tempDir()), /no CIFAR-10 binary files here \(expected a cifar-10-batches-bin\/ folder/);
    });

    it('a missing batch file', async () => {
      const d = await folderWith({ 'data_batch_3.bin': null });
      await expectFileError(loadCifar10(d), /cifar-10-batches-bin[\\/]data_batch_3\.bin: file not found/);
      await expectFileError(loadCifar10(await folderWith({ 'test_batch.bin': null }, false)), /test_batch\.bin: file not found/);
    });

    it('a missing batches.meta.txt', async () => {
      await expectFileError(loadCifar10(await folderWith({ 'batches.meta.txt': null })), /batches\.meta\.txt: file not found/);
    });

    it('a batch whose size is not a whole number of records (truncated)', async () => {
      const d = await folderWith({ 'data_batch_3.bin': cifarRecords(10, 3).subarray(0, 30000) });
      await expectFileError(loadCifar10(d), /data_batch_3\.bin: size 30000 is not a multiple of the 3073-byte record/);
    });

    it('an empty batch', async () => {
      await expectFileError(loadCifar10(await folderWith({ 'test_batch.bin': Buffer.alloc(0) })), /test_batch\.bin: is empty/);
    });

    it('a label out of range 0..9', async () => {
      const bad = cifarRecords(4, 9, (i) => (i === 2 ? 12 : 0));
      await expectFileError(loadCifar10(await folderWith({ 'test_batch.bin': bad })), /test_batch\.bin: record 2 \(byte offset 6146\) has label 12, but CIFAR-10 labels are 0\.\.9/);
      await expectFileError(loadCifar10(await tarWith({ 'test_batch.bin': bad })), /cifar-10-batches-bin\/test_batch\.bin in .*cifar-10-binary\.tar\.gz: record 2 .*label 12/);
    });

    it('a batches.meta.txt without 10 class names', async () => {
      await expectFileError(loadCifar10(await folderWith({ 'batches.meta.txt': Buffer.from('cat\ndog\n') })), /batches\.meta\.txt: expected 10 class names, one a line, got 2/);
    });

    it('a wrong record size inside the archive', async () => {
      const p = await tarWith({ 'data_batch_2.bin': Buffer.alloc(3072 * 2) });
      await expectFileError(loadCifar10(p), /cifar-10-batches-bin\/data_batch_2\.bin in .*\.tar\.gz: size 6144 is not a multiple of the 3073-byte record/);
    });

    it('a tar.gz without the expected entries', async () => {
      const p = await tarWith({ 'test_batch.bin': null, 'data_batch_5.bin': null });
      await expectFileError(loadCifar10(p), /cifar-10-binary\.tar\.gz: archive has no cifar-10-batches-bin\/data_batch_5\.bin, cifar-10-batches-bin\/test_batch\.bin \(it has cifar-10-batches-bin\/data_batch_4\.bin/);
      // the python version of the data set, say
      const py = path.join(tempDir(), 'cifar-10-python.tar.gz');
      fs.writeFileSync(py, await makeTar([{ name: 'cifar-10-batches-py/data_batch_1', data: Buffer.alloc(100) }]));
      await expectFileError(loadCifar10(py), /archive has no cifar-10-batches-bin\/data_batch_1\.bin.*expected the CIFAR-10 binary version/);
      const empty = path.join(tempDir(), 'empty.tar.gz');
      fs.writeFileSync(empty, await makeTar([]));
      await expectFileError(loadCifar10(empty), /archive has no .*\(it has no files\)/);
    });

    it('a corrupt gzip stream', async () => {
      const good = await cifarTarGz(files);
      const corrupt = Buffer.from(good);
      for (let i = 20; i < 60; i++) corrupt[i] ^= 0x5a;
      const p = path.join(tempDir(), 'corrupt.tar.gz');
      fs.writeFileSync(p, corrupt);
      await expectFileError(loadCifar10(p), /corrupt\.tar\.gz: corrupt or truncated gzip data/);
    });

    it('a truncated gzip file', async () => {
      const good = await cifarTarGz(files);
      const p = path.join(tempDir(), 'cut.tar.gz');
      fs.writeFileSync(p, good.subarray(0, Math.floor(good.length / 2)));
      await expectFileError(loadCifar10(p), /cut\.tar\.gz: corrupt or truncated gzip data \(unexpected end of file\)/);
    });

    it('a gzip that does not hold a tar', async () => {
      const p = path.join(tempDir(), 'notar.tar.gz');
      fs.writeFileSync(p, zlib.gzipSync(Buffer.alloc(4096, 7)));
      await expectFileError(loadCifar10(p), /notar\.tar\.gz: corrupt or truncated tar data inside the gzip stream/);
    });

    it('a truncated plain tar', async () => {
      const good = await cifarTarGz(files, false);
      const p = path.join(tempDir(), 'cut.tar');
      fs.writeFileSync(p, good.subarray(0, 5000));
      await expectFileError(loadCifar10(p), /cut\.tar: corrupt or truncated tar data/);
    });

    it('a file that is not an archive', async () => {
      const p = path.join(tempDir(), 'data_batch_1.bin');
      fs.writeFileSync(p, cifarRecords(2, 1));
      await expectFileError(loadCifar10(p), /data_batch_1\.bin: not a gzip or tar archive \(starts with bytes 01 10/);
      const e = path.join(tempDir(), 'empty.tar.gz');
      fs.writeFileSync(e, '');
      await expectFileError(loadCifar10(e), /empty\.tar\.gz: not a gzip or tar archive \(starts with bytes nothing: the file is empty\)/);
    });
  });

  (fs.existsSync(REAL_CIFAR) ? it : it.skip)('reads the real cifar-10-binary.tar.gz (when present)', async () => {
    const d = await loadCifar10(REAL_CIFAR, { maxTrain: 1000 });
    expect(d.yTrain.length).toBe(1000);
    expect(d.yTest.length).toBe(10000);
    expect(d.xTest.length).toBe(10000 * 3072);
    expect(d.classes).toEqual([...CIFAR10_CLASSES]);
    const counts = new Array(10).fill(0);
    for (const l of d.yTest) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(1000));
  });
});

describe('IDX files', () => {
  it('parses ubyte images with big-endian dims', () => {
    const vals = Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 37) & 255);
    const d = parseIdx(idxBytes(0x08, [2, 3, 4], vals), 'x');
    expect(d.type).toBe('ubyte');
    expect(d.dims).toEqual([2, 3, 4]);
    expect(d.data).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(d.data)).toBe(false);
    expect(Array.from(d.data)).toEqual(vals);
    // dims above 255 use all four bytes
    expect(parseIdx(idxBytes(0x08, [70000], new Uint8Array(70000))).dims).toEqual([70000]);
  });

  it('parses the other element types, big-endian', () => {
    expect(Array.from(parseIdx(idxBytes(0x09, [3], [-128, -1, 127])).data)).toEqual([-128, -1, 127]);
    const s = parseIdx(idxBytes(0x0b, [3], [-32768, 258, 32767]));
    expect(s.type).toBe('short');
    expect(s.data).toBeInstanceOf(Int16Array);
    expect(Array.from(s.data)).toEqual([-32768, 258, 32767]);
    expect(Array.from(parseIdx(idxBytes(0x0c, [2], [-2147483648, 16909060])).data)).toEqual([-2147483648, 16909060]);
    const f = parseIdx(idxBytes(0x0d, [2, 1], [1.5, -0.25]));
    expect(f.data).toBeInstanceOf(Float32Array);
    expect(Array.from(f.data)).toEqual([1.5, -0.25]);
    const g = parseIdx(idxBytes(0x0e, [1], [Math.PI]));
    expect(g.data).toBeInstanceOf(Float64Array);
    expect(g.data[0]).toBe(Math.PI);
  });

  it('loads a file gzipped or not, detecting gzip by its magic bytes', async () => {
    const d = tempDir();
    const b = idxBytes(0x08, [2, 2], [1, 2, 3, 4]);
    fs.writeFileSync(path.join(d, 'plain'), b);
    fs.writeFileSync(path.join(d, 'zipped.gz'), zlib.gzipSync(b));
    fs.writeFileSync(path.join(d, 'zipped-no-suffix'), zlib.gzipSync(b));
    for (const n of ['plain', 'zipped.gz', 'zipped-no-suffix']) {
      const r = await loadIdx(path.join(d, n));
      expect(r.dims).toEqual([2, 2]);
      expect(Array.from(r.data)).toEqual([1, 2, 3, 4]);
    }
  });

  describe('errors name the file and the problem', () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['too short', Buffer.from([0, 0, 8]), /f\.idx: file is 3 bytes, too short for the 4-byte IDX magic number/],
      ['wrong magic', Buffer.from([0x50, 0x4b, 3, 4, 0, 0, 0, 0]), /f\.idx: wrong magic number 0x504b0304: an IDX file starts with two zero bytes/],
      ['unknown type', Buffer.from([0, 0, 0x07, 1, 0, 0, 0, 0]), /f\.idx: unknown IDX type code 0x07 in magic number 0x00000701/],
      ['no dimensions', Buffer.from([0, 0, 8, 0]), /f\.idx: magic number 0x00000800 gives 0 dimensions/],
      ['truncated header', Buffer.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0]), /f\.idx: truncated header: 3 dimensions need 16 header bytes, file has 10/],
      ['truncated data', idxBytes(0x08, [10, 28, 28], new Uint8Array(7840)).subarray(0, 1000), /f\.idx: truncated: ubyte dims \[10, 28, 28\] need 7840 bytes of data, file has 984/],
      ['trailing bytes', Buffer.concat([idxBytes(0x0b, [2], [1, 2]), Buffer.alloc(3)]), /f\.idx: 3 bytes after the data for short dims \[2\]/],
    ];
    for (const [what, bytes, re] of cases) {
      it(what, async () => {
        expect(() => parseIdx(bytes, 'f.idx')).toThrow(re);
        const d = tempDir();
        fs.writeFileSync(path.join(d, 'f.idx'), bytes);
        await expectFileError(loadIdx(path.join(d, 'f.idx')), re);
      });
    }

    it('a missing file', async () => {
      await expectFileError(loadIdx(path.join(tempDir(), 'train-images-idx3-ubyte.gz')), /train-images-idx3-ubyte\.gz: file not found/);
    });

    it('a folder instead of a file', async () => {
      await expectFileError(loadIdx(tempDir()), /: is a directory, expected a file/);
    });

    it('a corrupt gzip', async () => {
      const d = tempDir();
      const z = zlib.gzipSync(idxBytes(0x08, [100], new Uint8Array(100).fill(3)));
      const bad = Buffer.from(z);
      for (let i = 12; i < bad.length - 8; i++) bad[i] ^= 0xff;
      fs.writeFileSync(path.join(d, 'bad.gz'), bad);
      await expectFileError(loadIdx(path.join(d, 'bad.gz')), /bad\.gz: corrupt or truncated gzip data/);
      fs.writeFileSync(path.join(d, 'cut.gz'), z.subarray(0, z.length - 12));
      await expectFileError(loadIdx(path.join(d, 'cut.gz')), /cut\.gz: corrupt or truncated gzip data \(unexpected end of file\)/);
    });
  });
});

describe('loadMnist / loadFashionMnist', () => {
  it('reads the four IDX files (gzipped) as (N, 1, 28, 28)', async () => {
    const d = tempDir();
    const w = writeMnistFolder(d, { train: 7, test: 5, gzip: true });
    const r = await loadMnist(d);
    expect(r.shape).toEqual([1, 28, 28]);
    expect(r.classes).toEqual([...MNIST_CLASSES]);
    expect(Array.from(r.xTrain)).toEqual(Array.from(w.train.images));
    expect(Array.from(r.yTrain)).toEqual(Array.from(w.train.labels));
    expect(Array.from(r.xTest)).toEqual(Array.from(w.test.images));
    expect(Array.from(r.yTest)).toEqual(Array.from(w.test.labels));
    const f = await loadFashionMnist(d, { maxTrain: 3, parts: ['train'] });
    expect(f.classes).toEqual([...FASHION_MNIST_CLASSES]);
    expect(f.yTrain.length).toBe(3);
    expect(f.xTrain.length).toBe(3 * 784);
    expect(f.xTest.length).toBe(0);
    expect(Array.from(f.xTrain)).toEqual(Array.from(w.train.images.subarray(0, 3 * 784)));
  });

  it('reads uncompressed files, and the dotted names (train-images.idx3-ubyte)', async () => {
    const d = tempDir();
    const w = writeMnistFolder(d, { train: 4, test: 2, h: 5, w: 6 });
    for (const n of fs.readdirSync(d)) fs.renameSync(path.join(d, n), path.join(d, n.replace('-idx', '.idx')));
    const r = await loadMnist(d, { maxTest: 1 });
    expect(r.shape).toEqual([1, 5, 6]);
    expect(Array.from(r.yTrain)).toEqual(Array.from(w.train.labels));
    expect(r.yTest.length).toBe(1);
  });

  describe('errors', () => {
    it('a missing folder, or a file instead of one', async () => {
      await expectFileError(loadMnist(path.join(tempDir(), 'mnist')), /mnist: folder not found/);
      const f = path.join(tempDir(), 'x.gz');
      fs.writeFileSync(f, 'x');
      await expectFileError(loadMnist(f), /x\.gz: is not a folder/);
    });

    it('a missing file', async () => {
      const d = tempDir();
      writeMnistFolder(d, { gzip: true });
      fs.unlinkSync(path.join(d, 't10k-labels-idx1-ubyte.gz'));
      await expectFileError(loadMnist(d), /t10k-labels-idx1-ubyte: file not found \(also looked for t10k-labels-idx1-ubyte\.gz, t10k-labels\.idx1-ubyte/);
      // but the training part alone still loads
      expect((await loadMnist(d, { parts: ['train'] })).yTrain.length).toBe(7);
    });

    it('labels that do not match the images in number', async () => {
      const d = tempDir();
      writeMnistFolder(d);
      fs.writeFileSync(path.join(d, 'train-labels-idx1-ubyte'), idxBytes(0x08, [6], [0, 1, 2, 3, 4, 5]));
      await expectFileError(loadMnist(d), /train-labels-idx1-ubyte: has 6 labels but train-images-idx3-ubyte has 7 images/);
    });

    it('a label out of range', async () => {
      const d = tempDir();
      writeMnistFolder(d);
      fs.writeFileSync(path.join(d, 't10k-labels-idx1-ubyte'), idxBytes(0x08, [5], [0, 1, 2, 10, 4]));
      await expectFileError(loadMnist(d), /t10k-labels-idx1-ubyte: label 10 at index 3 is out of range 0\.\.9/);
    });

    it('images or labels of the wrong rank or type', async () => {
      const d = tempDir();
      writeMnistFolder(d);
      fs.writeFileSync(path.join(d, 'train-images-idx3-ubyte'), idxBytes(0x08, [7, 784], new Uint8Array(7 * 784)));
      await expectFileError(loadMnist(d), /train-images-idx3-ubyte: expected ubyte images with 3 dimensions \(N, rows, cols\), got ubyte dims \[7, 784\]/);
      writeMnistFolder(d);
      fs.writeFileSync(path.join(d, 'train-labels-idx1-ubyte'), idxBytes(0x0c, [7], [0, 1, 2, 3, 4, 5, 6]));
      await expectFileError(loadMnist(d), /train-labels-idx1-ubyte: expected ubyte labels with 1 dimension \(N\), got int dims \[7\]/);
    });

    it('train and test images of different sizes', async () => {
      const d = tempDir();
      writeMnistFolder(d);
      fs.writeFileSync(path.join(d, 't10k-images-idx3-ubyte'), idxBytes(0x08, [5, 28, 27], new Uint8Array(5 * 28 * 27)));
      await expectFileError(loadMnist(d), /training images are 28x28 but test images are 28x27/);
    });

    it('a corrupt file in the folder', async () => {
      const d = tempDir();
      writeMnistFolder(d);
      fs.writeFileSync(path.join(d, 't10k-images-idx3-ubyte'), Buffer.from([0, 0, 8, 3, 0, 0]));
      await expectFileError(loadMnist(d), /t10k-images-idx3-ubyte: truncated header/);
    });
  });

  (fs.existsSync(path.join(REAL_FASHION, 'train-images-idx3-ubyte.gz')) ? it : it.skip)('reads the real Fashion-MNIST (when installed)', async () => {
    const r = await loadFashionMnist(REAL_FASHION);
    expect(r.shape).toEqual([1, 28, 28]);
    expect(r.yTrain.length).toBe(60000);
    expect(r.xTrain.length).toBe(60000 * 784);
    expect(r.yTest.length).toBe(10000);
    const counts = new Array(10).fill(0);
    for (const l of r.yTrain) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(6000));
  });
});

describe('toFloat / channelStats / normalize', () => {
  const shape = [2, 3, 4];
  const N = 5;
  const rng = new Rng(3);
  const images = new Uint8Array(N * 24);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  images[0] = 0;
  images[1] = 255;

  it('scales uint8 to [0, 1] as (N, C, H, W)', () => {
    const t = toFloat(images, shape);
    expect(t.shape).toEqual([N, 2, 3, 4]);
    expect(t.dtype).toBe('float32');
    expect(t.data[0]).toBe(0);
    expect(t.data[1]).toBe(1);
    for (let i = 0; i < images.length; i++) expect(t.data[i]).toBeCloseTo(images[i] / 255, 6);
    const d = toFloat(images, shape, { dtype: 'float64' });
    expect(d.dtype).toBe('float64');
    expect(d.data[7]).toBe(images[7] / 255);
  });

  it('computes per-channel mean and std the same way from uint8 and from a tensor', () => {
    const a = channelStats(images, shape);
    const b = channelStats(toFloat(images, shape, { dtype: 'float64' }));
    for (let c = 0; c < 2; c++) {
      expect(a.mean[c]).toBeCloseTo(b.mean[c], 12);
      expect(a.std[c]).toBeCloseTo(b.std[c], 12);
      // brute force
      const vals: number[] = [];
      for (let n = 0; n < N; n++) for (let i = 0; i < 12; i++) vals.push(images[(n * 2 + c) * 12 + i] / 255);
      const m = vals.reduce((s, v) => s + v, 0) / vals.length;
      const sd = Math.sqrt(vals.reduce((s, v) => s + (v - m) ** 2, 0) / vals.length);
      expect(a.mean[c]).toBeCloseTo(m, 12);
      expect(a.std[c]).toBeCloseTo(sd, 12);
    }
    expect(() => channelStats(new Uint8Array(0), shape)).toThrow(/at least one sample/);
    expect(() => channelStats(new Uint8Array(5), shape)).toThrow(/not a whole number of \[2, 3, 4\] samples/);
  });

  it('normalizes to zero mean, unit std per channel (fused in toFloat, or separately)', () => {
    const { mean, std } = channelStats(images, shape);
    const fused = toFloat(images, shape, { mean, std });
    const x = toFloat(images, shape);
    const sep = normalize(x, mean, std);
    expect(sep).not.toBe(x);
    for (let i = 0; i < x.size; i++) expect(sep.data[i]).toBeCloseTo(fused.data[i], 5);
    const st = channelStats(fused);
    for (let c = 0; c < 2; c++) {
      expect(st.mean[c]).toBeCloseTo(0, 5);
      expect(st.std[c]).toBeCloseTo(1, 5);
    }
    const same = normalize(x, mean, std, { inPlace: true });
    expect(same).toBe(x);
    expect(x.data[5]).toBeCloseTo(fused.data[5], 5);
  });

  it('checks its arguments', () => {
    expect(() => toFloat([1, 2] as unknown as Uint8Array, shape)).toThrow(/images must be a Uint8Array/);
    expect(() => toFloat(images, [2, 3])).toThrow(/shape must be one sample's \[C, H, W\]/);
    expect(() => toFloat(images, shape, { mean: [0, 0] })).toThrow(/given together/);
    expect(() => toFloat(images, shape, { mean: [0], std: [1] })).toThrow(/opts.mean must have one value per channel \(2\), got 1/);
    expect(() => normalize(Tensor.zeros([1, 2, 2]), [0, 0], [1, 0])).toThrow(/std\[1\] must be a positive number, got 0/);
    expect(() => normalize(Tensor.zeros([4]), [0], [1])).toThrow(/x must have shape \(N, C, \.\.\.\)/);
  });
});

describe('splitValidation', () => {
  const N = 20;
  const per = 3 * 2 * 2;
  const raw: RawDataset = {
    xTrain: new Uint8Array(N * per).map((_, i) => Math.floor(i / per)), // sample i is all i
    yTrain: new Uint8Array(N).map((_, i) => i % 10),
    xTest: new Uint8Array(per),
    yTest: new Uint8Array(1),
    classes: [...CIFAR10_CLASSES],
    shape: [3, 2, 2],
  };
  const ids = (x: Uint8Array): number[] => Array.from({ length: x.length / per }, (_, i) => x[i * per]);

  it('carves a seeded random validation set; both parts keep file order and together are the training set', () => {
    const s = splitValidation(raw, 6, 1);
    expect(s.yVal.length).toBe(6);
    expect(s.xVal.length).toBe(6 * per);
    expect(s.yTrain.length).toBe(14);
    const v = ids(s.xVal);
    const t = ids(s.xTrain);
    expect([...v, ...t].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(v).toEqual([...v].sort((a, b) => a - b));
    expect(t).toEqual([...t].sort((a, b) => a - b));
    expect(Array.from(s.yVal)).toEqual(v.map((i) => i % 10));
    expect(Array.from(s.yTrain)).toEqual(t.map((i) => i % 10));
    expect(v).not.toEqual([0, 1, 2, 3, 4, 5]);
    // whole samples move: every byte of a sample equals its id
    for (let k = 0; k < 6; k++) expect(new Set(s.xVal.subarray(k * per, (k + 1) * per)).size).toBe(1);
    expect(ids(splitValidation(raw, 6, 1).xVal)).toEqual(v);
    expect(ids(splitValidation(raw, 6, 2).xVal)).not.toEqual(v);
    expect(s.xTest).toBe(raw.xTest);
  });

  it('numVal 0 keeps the training arrays; bad counts throw', () => {
    const s = splitValidation(raw, 0, 1);
    expect(s.xTrain).toBe(raw.xTrain);
    expect(s.xVal.length).toBe(0);
    expect(splitValidation(raw, N, 1).yTrain.length).toBe(0);
    expect(() => splitValidation(raw, N + 1, 1)).toThrow(/numVal must be at most the 20 training samples, got 21/);
    expect(() => splitValidation(raw, 1.5, 1)).toThrow(/numVal must be an integer >= 0/);
  });
});

describe('loadDataset', () => {
  let tgz: string;
  let mnistDir: string;
  const files = cifarFiles(4, 6);
  beforeAll(async () => {
    tgz = path.join(tempDir(), 'cifar-10-binary.tar.gz');
    fs.writeFileSync(tgz, await cifarTarGz(files));
    mnistDir = tempDir();
    writeMnistFolder(mnistDir, { train: 9, test: 4, gzip: true });
  });

  it('cifar10: float tensors normalized with the training statistics, int32 labels, a validation split', async () => {
    const d = await loadDataset('cifar10', tgz, { numVal: 5, seed: 7 });
    expect(d.xTrain.shape).toEqual([15, 3, 32, 32]);
    expect(d.xVal.shape).toEqual([5, 3, 32, 32]);
    expect(d.xTest.shape).toEqual([6, 3, 32, 32]);
    expect(d.xTrain.dtype).toBe('float32');
    expect(d.yTrain).toBeInstanceOf(Int32Array);
    expect(d.yVal.length).toBe(5);
    expect(d.classes).toEqual([...CIFAR10_CLASSES]);
    expect(d.shape).toEqual([3, 32, 32]);
    // the statistics are those of the 15 remaining training samples
    const raw = splitValidation(await loadCifar10(tgz), 5, 7);
    const st = channelStats(raw.xTrain, [3, 32, 32]);
    expect(d.mean).toEqual(st.mean);
    expect(d.std).toEqual(st.std);
    const after = channelStats(d.xTrain);
    for (let c = 0; c < 3; c++) {
      expect(after.mean[c]).toBeCloseTo(0, 4);
      expect(after.std[c]).toBeCloseTo(1, 4);
    }
    expect(Array.from(d.yVal)).toEqual(Array.from(raw.yVal));
    expect(d.xTest.data[0]).toBeCloseTo((raw.xTest[0] / 255 - st.mean[0]) / st.std[0], 5);
  });

  it('mnist and fashion-mnist from a folder; without normalization values are in [0, 1]', async () => {
    const m = await loadDataset('mnist', mnistDir, { normalize: false, dtype: 'float64' });
    expect(m.xTrain.shape).toEqual([9, 1, 28, 28]);
    expect(m.xTest.shape).toEqual([4, 1, 28, 28]);
    expect(m.xVal.shape).toEqual([0, 1, 28, 28]);
    expect(m.xTrain.dtype).toBe('float64');
    expect(m.mean).toEqual([0]);
    expect(m.std).toEqual([1]);
    expect(Math.min(...m.xTrain.data)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...m.xTrain.data)).toBeLessThanOrEqual(1);
    const f = await loadDataset('fashion-mnist', mnistDir, { maxTrain: 5 });
    expect(f.classes[9]).toBe('Ankle boot');
    expect(f.yTrain.length).toBe(5);
  });

  it('given statistics, normalizes a test-only load with them', async () => {
    const d = await loadDataset('cifar10', tgz, { parts: ['test'], mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
    expect(d.xTrain.shape).toEqual([0, 3, 32, 32]);
    const raw = await loadCifar10(tgz, { parts: ['test'] });
    expect(d.xTest.data[10]).toBeCloseTo((raw.xTest[10] / 255 - 0.5) / 0.25, 5);
    await expect(loadDataset('cifar10', tgz, { parts: ['test'] })).rejects.toThrow(/normalizing needs training samples/);
  });

  it('rejects unknown names and bad options; passes file errors through', async () => {
    await expect(loadDataset('imagenet' as 'mnist', mnistDir)).rejects.toThrow(/name must be one of 'cifar10', 'mnist', 'fashion-mnist', 'folder', got the string "imagenet"/);
    await expect(loadDataset('mnist', mnistDir, { numVal: -2 })).rejects.toThrow(/opts.numVal must be an integer >= 0/);
    await expect(loadDataset('mnist', mnistDir, { numVal: 100 })).rejects.toThrow(/numVal must be at most the 9 training samples/);
    await expectFileError(loadDataset('cifar10', mnistDir), /no CIFAR-10 binary files here/);
  });
});

describe('randomCropFlip / cropFlip', () => {
  const [N, C, H, W] = [3, 2, 5, 6];
  const src = new Float32Array(N * C * H * W).map((_, i) => i + 1);

  /** Per-pixel reference: out[y][x] = src[y+dy][xs+dx] with xs = flip ? W-1-x : x, zero outside. */
  function reference(dy: number[], dx: number[], flip: boolean[]): Float32Array {
    const out = new Float32Array(src.length);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++)
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++) {
            const sy = y + dy[n];
            const sx = (flip[n] ? W - 1 - x : x) + dx[n];
            out[((n * C + c) * H + y) * W + x] = sy >= 0 && sy < H && sx >= 0 && sx < W ? src[((n * C + c) * H + sy) * W + sx] : 0;
          }
    return out;
  }

  it('offset 0 without flip is the identity', () => {
    const out = cropFlip(src, new Float32Array(src.length), N, C, H, W, [0, 0, 0], [0, 0, 0], [0, 0, 0]);
    expect(Array.from(out)).toEqual(Array.from(src));
    const r = randomCropFlip(src, N, C, H, W, new Rng(1), { pad: 0, flip: false });
    expect(r).not.toBe(src);
    expect(Array.from(r)).toEqual(Array.from(src));
  });

  it('offset 0 with flip mirrors each row', () => {
    const out = cropFlip(src, new Float32Array(src.length), N, C, H, W, [0, 0, 0], [0, 0, 0], [1, 1, 1]);
    expect(out[0]).toBe(src[W - 1]);
    expect(out[W - 1]).toBe(src[0]);
    expect(Array.from(out)).toEqual(Array.from(reference([0, 0, 0], [0, 0, 0], [true, true, true])));
  });

  it('matches a per-pixel reference for shifts in every direction, with and without flip, beyond the image too', () => {
    const cases: Array<[number[], number[], boolean[]]> = [
      [[1, -2, 4], [-3, 2, 0], [false, true, false]],
      [[-4, 0, 3], [4, -4, 1], [true, false, true]],
      [[6, 0, -5], [0, 7, -6], [true, true, false]],
    ];
    for (const [dy, dx, fl] of cases) {
      const out = cropFlip(src, new Float32Array(src.length), N, C, H, W, dy, dx, fl);
      expect(Array.from(out)).toEqual(Array.from(reference(dy, dx, fl)));
    }
  });

  it('draws offsets in [-pad, pad] and flips from the rng: seeded, reproducible, into the given buffer', () => {
    const out = new Float32Array(src.length);
    const a = randomCropFlip(src, N, C, H, W, new Rng(42), { out });
    expect(a).toBe(out);
    const b = randomCropFlip(src, N, C, H, W, new Rng(42));
    expect(Array.from(b)).toEqual(Array.from(a));
    // the same draws, replayed
    const rng = new Rng(42);
    const dy: number[] = [];
    const dx: number[] = [];
    const fl: boolean[] = [];
    for (let n = 0; n < N; n++) {
      dy.push(rng.int(9) - 4);
      dx.push(rng.int(9) - 4);
      fl.push(rng.uniform() < 0.5);
    }
    expect(Array.from(a)).toEqual(Array.from(reference(dy, dx, fl)));
  });

  it('flips about half the images and shifts within pad', () => {
    const n = 2000;
    const [h, w] = [5, 8];
    const one = new Float64Array(n * h * w);
    for (let i = 0; i < n; i++) one[i * h * w + 2 * w] = 1; // a single lit pixel at (y, x) = (2, 0)
    const out = randomCropFlip(one, n, 1, h, w, new Rng(5), { pad: 2 });
    expect(out).toBeInstanceOf(Float64Array);
    let flipped = 0;
    let shown = 0;
    const rows = new Set<number>();
    const cols = new Set<number>();
    for (let i = 0; i < n; i++) {
      const img = Array.from(out.subarray(i * h * w, (i + 1) * h * w));
      expect(img.filter((v) => v !== 0 && v !== 1)).toEqual([]);
      const lit = img.indexOf(1);
      if (lit < 0) continue;
      shown++;
      rows.add(Math.floor(lit / w));
      cols.add(lit % w);
      if (lit % w >= 4) flipped++;
    }
    // the lit row moves to 2 - dy in 0..4; the pixel shows for dx <= 0 at column -dx (0..2), or
    // mirrored at 7 + dx (5..7): 3 offsets in 5 keep it, and half of those images are flipped
    expect([...rows].sort()).toEqual([0, 1, 2, 3, 4]);
    expect([...cols].sort()).toEqual([0, 1, 2, 5, 6, 7]);
    expect(shown / n).toBeGreaterThan(0.55);
    expect(shown / n).toBeLessThan(0.65);
    expect(flipped / shown).toBeGreaterThan(0.45);
    expect(flipped / shown).toBeLessThan(0.55);
  });

  it('checks its arguments', () => {
    expect(() => randomCropFlip(src, N, C, H, W + 1, new Rng(1))).toThrow(/batch must hold N\*C\*H\*W = 210 elements, got 180/);
    expect(() => randomCropFlip(src, N, C, H, W, new Rng(1), { out: src })).toThrow(/out must not overlap the batch/);
    expect(() => randomCropFlip(src, N, C, H, W, new Rng(1), { out: new Float32Array(3) })).toThrow(/out must hold 180 elements/);
    expect(() => randomCropFlip(src, N, C, H, W, {} as Rng)).toThrow(/rng must be an Rng/);
    expect(() => randomCropFlip(src, N, C, H, W, new Rng(1), { pad: -1 })).toThrow(/opts.pad must be an integer >= 0/);
    expect(() => randomCropFlip(Array.from(src) as unknown as Float32Array, N, C, H, W, new Rng(1))).toThrow(/batch must be a Float32Array or Float64Array/);
    expect(() => cropFlip(src, new Float32Array(src.length), N, C, H, W, [0], [0, 0, 0], [0, 0, 0])).toThrow(/dy must be an array of at least N = 3 values/);
  });

  it('is fast: a 128-image CIFAR batch in well under a millisecond per image', () => {
    const b = new Float32Array(128 * 3 * 32 * 32).fill(1);
    const out = new Float32Array(b.length);
    const rng = new Rng(1);
    randomCropFlip(b, 128, 3, 32, 32, rng, { out });
    const t = process.hrtime.bigint();
    for (let i = 0; i < 20; i++) randomCropFlip(b, 128, 3, 32, 32, rng, { out });
    const ms = Number(process.hrtime.bigint() - t) / 1e6 / 20;
    expect(ms).toBeLessThan(50);
  });
});
