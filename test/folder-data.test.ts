// Training on a folder of the user's own images (issue 12): the layouts, decoding PNG and JPEG,
// resampling against a hand-computed reference, grey detection, the fixed test tenth, clear
// errors naming the bad file, and the CLI from `train --data <folder>` to eval / predict.
import * as fs from 'fs';
import * as path from 'path';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { decodeImage, isImageFolder, listImageFolder, loadDataset, loadImageFolder, resampleTo } from '../lib/data';
import { FileFormatError } from '../lib/io/errors';
import { main } from '../lib/cli/main';
import { removeTempDirs, tempDir } from './fixtures';

afterAll(removeTempDirs);

/** A w x h RGBA image whose pixel (x, y) is f(x, y) = [r, g, b]. */
function rgba(w: number, h: number, f: (x: number, y: number) => [number, number, number]): Uint8Array {
  const d = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const [r, g, b] = f(x, y);
    d.set([r, g, b, 255], (y * w + x) * 4);
  }
  return d;
}

function pngBytes(w: number, h: number, data: Uint8Array): Buffer {
  const png = new PNG({ width: w, height: h });
  png.data = Buffer.from(data);
  return PNG.sync.write(png);
}

function jpegBytes(w: number, h: number, data: Uint8Array): Buffer {
  return Buffer.from(jpeg.encode({ width: w, height: h, data: Buffer.from(data) }, 95).data);
}

/** Three classes anyone could tell apart: red, green and blue images with a little texture. */
const COLOURS: Record<string, [number, number, number]> = { blue: [20, 30, 220], green: [30, 200, 40], red: [220, 30, 20] };

function writeClassImages(dir: string, perClass: number, size: [number, number], grey = false): void {
  for (const [name, [r, g, b]] of Object.entries(COLOURS)) {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const [w, h] = [size[0] + (i % 3), size[1] + (i % 2)];  // sizes differ: every image is resampled
      const data = rgba(w, h, (x, y) => {
        const t = ((x * 7 + y * 3 + i) % 17) - 8;
        const v: [number, number, number] = [r + t, g + t, b + t];
        return grey ? ([1, 1, 1].map(() => (name === 'blue' ? 40 : name === 'green' ? 128 : 220) + t) as [number, number, number]) : v;
      });
      const file = path.join(dir, name, `img${String(i).padStart(3, '0')}.${i % 2 ? 'jpg' : 'png'}`);
      fs.writeFileSync(file, i % 2 ? jpegBytes(w, h, data) : pngBytes(w, h, data));
    }
  }
  fs.writeFileSync(path.join(dir, 'README.txt'), 'not an image: ignored');
  fs.writeFileSync(path.join(dir, 'red', '.DS_Store'), 'hidden: ignored');
}

describe('images', () => {
  test('resampleTo: the same size copies, shrinking averages each footprint, enlarging repeats (exact, hand-computed)', () => {
    const img = { width: 4, height: 2, data: rgba(4, 2, (x, y) => [10 * x + 100 * y, 0, 255]) };
    const same = new Uint8Array(3 * 2 * 4);
    resampleTo(img, 3, 2, 4, same, 0);
    expect(Array.from(same.subarray(0, 8))).toEqual([0, 10, 20, 30, 100, 110, 120, 130]);
    expect(Array.from(same.subarray(16, 24))).toEqual(new Array(8).fill(255));
    const half = new Uint8Array(3 * 1 * 2);
    resampleTo(img, 3, 1, 2, half, 0);
    // Output (0, 0) averages x in {0, 1}, y in {0, 1}: (0 + 10 + 100 + 110) / 4 = 55; (1, 0): 75.
    expect(Array.from(half.subarray(0, 2))).toEqual([55, 75]);
    const big = new Uint8Array(1 * 4 * 8);
    resampleTo(img, 1, 4, 8, big, 0);
    // Luma of (0, 0, 255) = 0.114 * 255 = 29.07 -> 29; of (10, 0, 255): 2.99 + 29.07 -> 32.
    expect(Array.from(big.subarray(0, 4))).toEqual([29, 29, 32, 32]);
  });

  test('decodeImage: PNG and JPEG by their bytes; anything else is a FileFormatError naming the file', () => {
    const data = rgba(5, 3, (x, y) => [x * 40, y * 80, 100]);
    const p = decodeImage(pngBytes(5, 3, data), 'a.png');
    expect([p.width, p.height]).toEqual([5, 3]);
    expect(Array.from(p.data)).toEqual(Array.from(data));
    const j = decodeImage(jpegBytes(5, 3, data), 'b.jpg');
    expect([j.width, j.height]).toEqual([5, 3]);
    const diff = Math.max(...Array.from(j.data).map((v, i) => Math.abs(v - data[i])));
    expect(diff).toBeLessThan(40);  // lossy at quality 95 on a tiny image, but the same picture
    expect(() => decodeImage(Buffer.from('hello world, not an image'), 'c.png')).toThrow(/^c\.png: is neither a PNG nor a JPEG/);
    const cut = pngBytes(5, 3, data).subarray(0, 40);
    expect(() => decodeImage(cut, 'd.png')).toThrow(FileFormatError);
    expect(() => decodeImage(cut, 'd.png')).toThrow(/^d\.png: is not a readable PNG/);
    expect(() => decodeImage(jpegBytes(5, 3, data).subarray(0, 30), 'e.jpg')).toThrow(/^e\.jpg: is not a readable JPEG/);
    // A PNG header claiming 100000 x 100000 pixels is refused before anything is allocated.
    const huge = Buffer.from(pngBytes(5, 3, data));
    huge.writeUInt32BE(100000, 16);
    huge.writeUInt32BE(100000, 20);
    expect(() => decodeImage(huge, 'f.png')).toThrow(/^f\.png: has 100000x100000 pixels; images must have between 1 and 40000000/);
  });
});

describe('image folders', () => {
  test('flat layout: classes sorted, a fixed tenth is the test set, images resampled to imageSize', async () => {
    const dir = tempDir();
    writeClassImages(dir, 30, [12, 10]);
    expect(isImageFolder(dir)).toBe(true);
    const list = listImageFolder(dir);
    expect(list.classes).toEqual(['blue', 'green', 'red']);
    expect(list.train.length + list.test.length).toBe(90);
    expect(list.test.length).toBeGreaterThan(0);
    expect(listImageFolder(dir).test).toEqual(list.test);  // the same split every time
    const raw = await loadImageFolder(dir, { imageSize: [8, 8] });
    expect(raw.shape).toEqual([3, 8, 8]);
    expect(raw.yTrain.length).toBe(list.train.length);
    expect(raw.xTrain.length).toBe(list.train.length * 3 * 64);
    // The first training image is blue/img000.png: mean of its blue channel near 220.
    const blue = Array.from(raw.xTrain.subarray(2 * 64, 3 * 64));
    expect(blue.reduce((a, b) => a + b, 0) / 64).toBeGreaterThan(205);
    const test = await loadImageFolder(dir, { parts: ['test'], imageSize: [8, 8] });
    expect(test.yTrain.length).toBe(0);
    expect(test.yTest.length).toBe(list.test.length);
  });

  test('train/ and test/ layout, grey detection, and loadDataset normalization', async () => {
    const dir = tempDir();
    writeClassImages(path.join(dir, 'train'), 6, [9, 9], true);
    writeClassImages(path.join(dir, 'test'), 2, [9, 9], true);
    const ds = await loadDataset('folder', dir, { imageSize: [6, 6] });
    expect(ds.shape).toEqual([1, 6, 6]);
    expect(ds.xTrain.shape).toEqual([18, 1, 6, 6]);
    expect(ds.xTest.shape).toEqual([6, 1, 6, 6]);
    expect(Array.from(ds.yTest)).toEqual([0, 0, 1, 1, 2, 2]);
    const m = Array.from(ds.xTrain.data).reduce((a, b) => a + b, 0) / ds.xTrain.size;
    expect(Math.abs(m)).toBeLessThan(1e-5);
    const rgb = await loadImageFolder(dir, { channels: 3, imageSize: [6, 6] });
    expect(rgb.shape).toEqual([3, 6, 6]);
  });

  test('a bad folder or file fails with an error naming it', async () => {
    const dir = tempDir();
    await expect(loadImageFolder(path.join(dir, 'nope'))).rejects.toThrow(/nope: folder not found/);
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    await expect(loadImageFolder(path.join(dir, 'file'))).rejects.toThrow(/file: is not a folder/);
    const empty = tempDir();
    await expect(loadImageFolder(empty)).rejects.toThrow(/has no class subfolders/);
    fs.mkdirSync(path.join(empty, 'cats'));
    await expect(loadImageFolder(empty)).rejects.toThrow(/cats: holds no PNG or JPEG images/);
    const bad = tempDir();
    writeClassImages(bad, 4, [8, 8]);
    fs.writeFileSync(path.join(bad, 'green', 'broken.png'), pngBytes(8, 8, rgba(8, 8, () => [1, 2, 3])).subarray(0, 50));
    await expect(loadImageFolder(bad)).rejects.toThrow(/green[\\/]broken\.png: is not a readable PNG/);
    const extra = tempDir();
    writeClassImages(path.join(extra, 'train'), 3, [8, 8]);
    writeClassImages(path.join(extra, 'test'), 1, [8, 8]);
    fs.mkdirSync(path.join(extra, 'test', 'purple'));
    await expect(loadImageFolder(extra)).rejects.toThrow(/purple: is a class the training folder .* does not have \(its classes: blue, green, red\)/);
    await expect(loadImageFolder(bad, { imageSize: [0, 4] })).rejects.toThrow(RangeError);
    await expect(loadImageFolder(bad, { imageSize: [2000, 4] })).rejects.toThrow(/at most 1024 x 1024/);
    await expect(loadImageFolder(bad, { channels: 2 as 1 })).rejects.toThrow(/opts\.channels must be 1 or 3, got 2/);
  });

  test('CLI: train --data <folder> learns the colours; eval --json and predict --json read the model back', async () => {
    const dir = tempDir();
    writeClassImages(dir, 40, [10, 10]);
    const out = path.join(tempDir(), 'run');
    const lines: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    try {
      const code = await main(['node', 'deepconv', 'train', '--data', dir, '--image-size', '8', '--filters', '4', '--epochs', '8', '--time-limit', '0', '--batch-size', '16', '--out', out, '--quiet']);
      expect(code).toBe(0);
      expect(lines.join('\n')).toMatch(/loading folder from/);
      const test = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((r) => r.type === 'test');
      expect(test.testAcc).toBeGreaterThanOrEqual(0.9);  // red, green and blue: a network that learned anything gets them
      lines.length = 0;
      const model = path.join(out, 'model.safetensors');
      expect(await main(['node', 'deepconv', 'eval', '--model', model, '--data', dir, '--json'])).toBe(0);
      const e = JSON.parse(lines[0]);
      expect(e.classes).toEqual(['blue', 'green', 'red']);
      expect(e.images).toBe(listImageFolder(dir).test.length);
      expect(e.accuracy).toBeCloseTo(test.testAcc, 10);
      lines.length = 0;
      const redJpg = path.join(dir, 'red', 'img001.jpg');
      expect(await main(['node', 'deepconv', 'predict', '--model', model, redJpg, '--json', '--top', '2'])).toBe(0);
      const p = JSON.parse(lines[0]);
      expect(p.input).toBe(redJpg);
      expect(p.top[0].class).toBe('red');
      expect(p.top).toHaveLength(2);
      expect(p.top[0].probability).toBeGreaterThan(p.top[1].probability);
    } finally {
      log.mockRestore();
    }
  });
});
