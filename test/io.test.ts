import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import {
  saveSafetensors, loadSafetensors, parseSafetensors, encodeSafetensors, saveModel, loadModelFile, FileFormatError,
  MODEL_FORMAT, MODEL_FORMAT_VERSION,
} from '../lib/io';
import { Tensor } from '../lib/tensor';
import { tempDir, removeTempDirs } from './fixtures';

afterAll(removeTempDirs);

const realFs: typeof fs = require('fs');

function tempFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.includes('.tmp-'));
}

function bitsEqual(a: Tensor, b: Tensor): void {
  expect(b.dtype).toBe(a.dtype);
  expect(b.shape).toEqual(a.shape);
  const ua = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const ub = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  expect(Buffer.from(ub).equals(Buffer.from(ua))).toBe(true);
}

/** A safetensors file from a header (object or exact text) and data bytes, header padded to 8. */
function stBytes(header: object | string | Buffer, data: Buffer = Buffer.alloc(0), lengthOverride?: bigint): Buffer {
  let h = Buffer.isBuffer(header) ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  if (h.length % 8) h = Buffer.concat([h, Buffer.alloc(8 - (h.length % 8), 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

describe('safetensors', () => {
  it('round-trips float32 and float64 bit for bit (NaN, -0, infinities, subnormals), rank 0 and empty tensors', () => {
    const dir = tempDir();
    const f32 = Tensor.randn([3, 4, 5], { seed: 1 });
    f32.data.set([NaN, -0, Infinity, -Infinity, 1e-45, 3.4028234663852886e38], 0);
    const f64 = Tensor.randn([7], { dtype: 'float64', seed: 2 });
    f64.data.set([Number.MIN_VALUE, -0, Math.PI, NaN], 0);
    const tensors = {
      'conv1.weight': f32,
      'fc.bias': f64,
      scalar: Tensor.from([2.5], { shape: [] }),
      empty: Tensor.zeros([0, 3]),
      odd: Tensor.from([1, 2, 3]), // 12 bytes: a float64 after it would be misaligned
      'bn.running_var': Tensor.full([3], 0.5, 'float64'),
    };
    const file = path.join(dir, 'm.safetensors');
    saveSafetensors(file, tensors, { epoch: '3', note: 'ünïcode ✓' });
    const back = loadSafetensors(file);
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [k, t] of Object.entries(tensors)) bitsEqual(t, back.tensors[k]);
    expect(back.metadata).toEqual({ epoch: '3', note: 'ünïcode ✓' });
    expect(back.tensors.scalar.shape).toEqual([]);
    expect(back.tensors.empty.shape).toEqual([0, 3]);
    // every tensor starts at a multiple of its element size, and the data section at a multiple of 8
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString());
    for (const k of Object.keys(tensors)) {
      const e = header[k];
      expect(e.data_offsets[0] % (e.dtype === 'F64' ? 8 : 4)).toBe(0);
    }
    expect(tempFiles(dir)).toEqual([]);
  });

  it('loaded tensors own their memory (not views of the file buffer)', () => {
    const t = Tensor.from([1, 2, 3, 4]);
    const buf = encodeSafetensors({ t });
    const a = parseSafetensors(buf).tensors.t;
    buf.fill(0);
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4]);
    expect(a.data.byteOffset).toBe(0);
  });

  it('writes exactly the bytes of the spec (a file written by hand, byte by byte)', () => {
    const header = '{"__metadata__":{"k":"v"},"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}';
    expect(header.length).toBe(133);
    const expected = Buffer.from([
      // header length 136 (133 bytes of JSON + 3 spaces of padding), u64 little-endian
      0x88, 0, 0, 0, 0, 0, 0, 0,
      ...Buffer.from(header + '   '),
      // d = [0.1] as F64: 0x3FB999999999999A little-endian
      0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f,
      // w = [1.5, -2] as F32: 0x3FC00000, 0xC0000000 little-endian
      0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0,
    ]);
    const tensors = { d: Tensor.from([0.1], { dtype: 'float64' }), w: Tensor.from([1.5, -2]) };
    expect(Buffer.from(encodeSafetensors(tensors, { k: "v" })).equals(expected)).toBe(true);
    const file = path.join(tempDir(), 'hand.safetensors');
    saveSafetensors(file, { w: tensors.w, d: tensors.d }, { k: 'v' }); // float64 first whatever the order given
    expect(fs.readFileSync(file).equals(expected)).toBe(true);
    fs.writeFileSync(file, expected);
    const back = loadSafetensors(file);
    expect(back.metadata).toEqual({ k: 'v' });
    expect(back.tensors.d.dtype).toBe('float64');
    expect(Array.from(back.tensors.d.data)).toEqual([0.1]);
    expect(Array.from(back.tensors.w.data)).toEqual([1.5, -2]);
    // no metadata: no __metadata__ key
    const bare = Buffer.from(encodeSafetensors({ w: tensors.w }));
    const n = Number(bare.readBigUInt64LE(0));
    expect(bare.subarray(8, 8 + n).toString()).toBe('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'.padEnd(n, ' '));
  });

  it('reads files laid out by other writers: header order differs from data order, no padding, other keys', () => {
    const data = Buffer.alloc(12);
    data.writeFloatLE(7, 0); // b
    data.writeFloatLE(1, 4); // a[0]
    data.writeFloatLE(2, 8); // a[1]
    const text = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"b":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}';
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(text.length));
    const r = parseSafetensors(Buffer.concat([len, Buffer.from(text), data]), 'x');
    expect(Array.from(r.tensors.a.data)).toEqual([1, 2]);
    expect(Array.from(r.tensors.b.data)).toEqual([7]);
    expect(r.metadata).toEqual({});
  });

  describe('atomic writes', () => {
    it('replaces an existing file whole and leaves no temp file', () => {
      const dir = tempDir();
      const file = path.join(dir, 'a.safetensors');
      saveSafetensors(file, { x: Tensor.full([1000], 1) });
      saveSafetensors(file, { y: Tensor.full([10], 2, 'float64') });
      const r = loadSafetensors(file);
      expect(Object.keys(r.tensors)).toEqual(['y']);
      expect(fs.readdirSync(dir)).toEqual(['a.safetensors']);
    });

    it('a write that fails midway leaves the old file as it was and removes the temp file', () => {
      const dir = tempDir();
      const file = path.join(dir, 'a.safetensors');
      saveSafetensors(file, { x: Tensor.full([100], 1) }, { v: 'old' });
      const old = fs.readFileSync(file);
      let calls = 0;
      const real = realFs.writeSync;
      const spy = jest.spyOn(realFs, 'writeSync').mockImplementation(((...args: Parameters<typeof fs.writeSync>) => {
        if (++calls === 3) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return (real as (...a: unknown[]) => number)(...args);
      }) as typeof fs.writeSync);
      try {
        expect(() => saveSafetensors(file, { x: Tensor.full([100], 2), y: Tensor.full([5], 3) }, { v: 'new' })).toThrow(
          /a\.safetensors: cannot be written \(ENOSPC: no space left on device/,
        );
      } finally {
        spy.mockRestore();
      }
      expect(calls).toBe(3);
      expect(fs.readFileSync(file).equals(old)).toBe(true);
      expect(tempFiles(dir)).toEqual([]);
    });

    it('a failed rename (target is a folder) removes the temp file', () => {
      const dir = tempDir();
      const target = path.join(dir, 'taken');
      fs.mkdirSync(target);
      expect(() => saveSafetensors(target, { x: Tensor.zeros([2]) })).toThrow(/taken: cannot be written/);
      expect(fs.readdirSync(dir)).toEqual(['taken']);
    });

    it('a missing folder is named in the error', () => {
      const p = path.join(tempDir(), 'no', 'such', 'm.safetensors');
      expect(() => saveSafetensors(p, { x: Tensor.zeros([2]) })).toThrow(/m\.safetensors: cannot be written: folder .*such not found/);
    });

    it('a reader never sees a partial file while another process keeps saving over it', async () => {
      const dir = tempDir();
      const file = path.join(dir, 'live.safetensors');
      const n = 1 << 18; // 1 MiB of float32
      saveSafetensors(file, { x: Tensor.full([n], 1) });
      const lib = path.resolve(__dirname, '../lib/io');
      const script = `
        const { saveSafetensors } = require(${JSON.stringify(lib)});
        const { Tensor } = require(${JSON.stringify(path.resolve(__dirname, '../lib/tensor'))});
        const a = { x: Tensor.full([${n}], 1) };
        const b = { x: Tensor.full([${n}], 2), y: Tensor.full([3], 5, 'float64') };
        for (let i = 0; i < 60; i++) saveSafetensors(${JSON.stringify(file)}, i % 2 ? a : b, { i: String(i) });
      `;
      const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
        cwd: path.resolve(__dirname, '..'),
        env: { ...process.env, TS_NODE_PROJECT: path.resolve(__dirname, '../tsconfig.json') },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (c) => (stderr += c));
      let exited = false;
      const exit = new Promise<number>((resolve) => child.on('exit', (code) => { exited = true; resolve(code ?? -1); }));
      let reads = 0;
      const seen = new Set<string>();
      const t0 = Date.now();
      while (!exited && Date.now() - t0 < 60000) {
        const r = loadSafetensors(file); // throws on any partial or mixed file
        const x = r.tensors.x.data;
        expect(x.length).toBe(n);
        const v = x[0];
        expect(x[n - 1]).toBe(v);
        expect(Object.keys(r.tensors).length).toBe(v === 1 ? 1 : 2);
        seen.add(r.metadata.i ?? 'initial');
        reads++;
        await new Promise((res) => setImmediate(res));
      }
      const code = await exit;
      if (code !== 0) throw new Error(`the writer process failed (exit ${code}): ${stderr}`);
      expect(reads).toBeGreaterThan(0);
      expect(seen.size).toBeGreaterThan(1);
      expect(loadSafetensors(file).metadata.i).toBe('59');
      expect(tempFiles(dir)).toEqual([]);
    });
  });

  it('checks what it is asked to save', () => {
    const p = path.join(tempDir(), 'x.safetensors');
    expect(() => saveSafetensors(p, { a: [1, 2] as unknown as Tensor })).toThrow(/tensors\["a"\] must be a Tensor, got an array of length 2/);
    expect(() => saveSafetensors(p, { __metadata__: Tensor.zeros([1]) })).toThrow(/"__metadata__" is reserved/);
    expect(() => saveSafetensors(p, { '': Tensor.zeros([1]) })).toThrow(/tensor names must be non-empty/);
    expect(() => saveSafetensors(p, Tensor.zeros([1]) as unknown as Record<string, Tensor>)).toThrow(/tensors must be an object mapping names to Tensors/);
    expect(() => saveSafetensors(p, {}, { epoch: 3 as unknown as string })).toThrow(/metadata\["epoch"\] must be a string, got 3/);
    expect(() => saveSafetensors('', {})).toThrow(/path must be a non-empty string/);
    expect(fs.existsSync(p)).toBe(false);
  });

  describe('corrupt files: each error names the file and the problem', () => {
    const f32 = (vals: number[]): Buffer => {
      const b = Buffer.alloc(vals.length * 4);
      vals.forEach((v, i) => b.writeFloatLE(v, i * 4));
      return b;
    };
    const ok = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
    const cases: Array<[string, Buffer, RegExp]> = [
      ['shorter than the length prefix', Buffer.from([1, 2, 3]), /file is 3 bytes, too short for the 8-byte header length/],
      ['an absurd header length', stBytes({ a: ok }, f32([1, 2]), 1n << 40n), /header length 1099511627776 is over the 100000000-byte limit/],
      ['a header length past the end', stBytes({ a: ok }, f32([1, 2]), 500n), /header length 500 runs past the end of the file \(\d+ bytes, so at most \d+ for the header\)/],
      ['a zero header length', stBytes({}, Buffer.alloc(0), 0n), /header does not start with '\{'/],
      ['a header that is not JSON text', stBytes('<html>  ', Buffer.alloc(0)), /header does not start with '\{'/],
      ['a header that is not UTF-8', stBytes(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])), /header is not valid UTF-8/],
      ['invalid JSON', stBytes('{"a": {"dtype": "F32",', Buffer.alloc(0)), /header is not valid JSON \(/],
      ['an entry that is not an object', stBytes({ a: 1 }), /tensor "a": entry must be an object with dtype, shape and data_offsets, got 1/],
      ['__metadata__ not an object', stBytes({ __metadata__: ['x'] }), /__metadata__ must be an object mapping strings to strings, got an array of length 1/],
      ['a metadata value that is not a string', stBytes({ __metadata__: { epoch: 3 } }), /__metadata__\["epoch"\] must be a string, got 3/],
      ['a missing dtype', stBytes({ a: { shape: [2], data_offsets: [0, 8] } }, f32([1, 2])), /tensor "a": dtype must be a string, got undefined/],
      ['an unsupported dtype', stBytes({ a: { ...ok, dtype: 'F16', data_offsets: [0, 4] } }, Buffer.alloc(4)), /tensor "a": dtype F16 is not supported \(deepconv reads F32 and F64\)/],
      ['an unknown dtype', stBytes({ a: { ...ok, dtype: 'float32' } }, f32([1, 2])), /tensor "a": unknown dtype "float32"/],
      ['a bad shape', stBytes({ a: { ...ok, shape: [2, -1] } }, f32([1, 2])), /tensor "a": shape must be an array of non-negative integers, got \[2,-1\]/],
      ['a fractional shape', stBytes({ a: { ...ok, shape: [1.5] } }, f32([1, 2])), /tensor "a": shape must be an array of non-negative integers/],
      ['offsets that are not a pair', stBytes({ a: { ...ok, data_offsets: [0] } }, f32([1, 2])), /tensor "a": data_offsets must be two non-negative integers \[begin, end\], got \[0\]/],
      ['negative offsets', stBytes({ a: { ...ok, data_offsets: [-8, 0] } }, f32([1, 2])), /tensor "a": data_offsets must be two non-negative integers/],
      ['offsets that end before they begin', stBytes({ a: { ...ok, data_offsets: [8, 0] } }, f32([1, 2])), /tensor "a": data_offsets \[8, 0\] end before they begin/],
      ['offsets past the data (truncated file)', stBytes({ a: { ...ok, shape: [4], data_offsets: [0, 16] } }, f32([1, 2])), /tensor "a": data_offsets \[0, 16\] run past the end of the data section \(8 bytes\)/],
      ['offsets inconsistent with the shape', stBytes({ a: { ...ok, shape: [3] } }, f32([1, 2])), /tensor "a": data_offsets \[0, 8\] span 8 bytes but F32 shape \[3\] needs 12/],
      ['offsets inconsistent with the dtype', stBytes({ a: { ...ok, dtype: 'F64' } }, f32([1, 2])), /span 8 bytes but F64 shape \[2\] needs 16/],
      ['overlapping tensors', stBytes({ a: ok, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32([1, 2])), /tensors "a" \[0, 8\] and "b" \[4, 8\] overlap/],
      ['a gap between tensors', stBytes({ a: { ...ok, shape: [1], data_offsets: [4, 8] } }, f32([1, 2])), /4 unused bytes in the data section before tensor "a" at offset 0/],
      ['trailing bytes after the data', stBytes({ a: ok }, f32([1, 2, 3])), /data section has 12 bytes but the tensors cover 8/],
    ];
    for (const [what, bytes, re] of cases) {
      it(what, () => {
        const file = path.join(tempDir(), 'bad.safetensors');
        fs.writeFileSync(file, bytes);
        let err: unknown = null;
        try {
          loadSafetensors(file);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(FileFormatError);
        expect((err as FileFormatError).file).toBe(file);
        expect((err as Error).message.startsWith(`${file}: `)).toBe(true);
        expect((err as Error).message).toMatch(re);
      });
    }

    it('a JSON value that is not an object', () => {
      // starts with '{' check passes only for objects; an array header is caught by the first-byte check
      expect(() => parseSafetensors(stBytes('["a"]   '), 'arr.safetensors')).toThrow(/arr\.safetensors: header does not start with '\{'/);
      expect(() => parseSafetensors(stBytes('{"a":1} junk'), 'j.safetensors')).toThrow(/j\.safetensors: header is not valid JSON/);
    });

    it('a truncated copy of a good file', () => {
      const good = encodeSafetensors({ w: Tensor.randn([10, 10], { seed: 3 }) });
      expect(() => parseSafetensors(good.subarray(0, good.length - 1), 'cut.safetensors')).toThrow(
        /cut\.safetensors: tensor "w": data_offsets \[0, 400\] run past the end of the data section \(399 bytes\)/,
      );
      expect(() => parseSafetensors(good.subarray(0, 40), 'cut.safetensors')).toThrow(/cut\.safetensors: header length \d+ runs past the end of the file \(40 bytes/);
    });

    it('a missing file', () => {
      const p = path.join(tempDir(), 'gone.safetensors');
      expect(() => loadSafetensors(p)).toThrow(/gone\.safetensors: file not found/);
      expect(() => loadSafetensors(tempDir())).toThrow(/: is a directory, expected a file/);
    });
  });
});

describe('model files', () => {
  const config = { arch: 'resnet', depth: 20, widths: [16, 32, 64], bn: { momentum: 0.1 } };
  const params = {
    'conv1.weight': Tensor.randn([16, 3, 3, 3], { seed: 1 }),
    'fc.bias': Tensor.randn([10], { seed: 2 }),
  };
  const extra = {
    'bn1.running_mean': Tensor.randn([16], { seed: 3, dtype: 'float64' }),
    'adam.m.conv1.weight': Tensor.zeros([16, 3, 3, 3]),
  };

  it('round-trips config, params, extra tensors and metadata', () => {
    const dir = tempDir();
    const file = path.join(dir, 'model.safetensors');
    saveModel(file, { config, params, extra, metadata: { epoch: '12' } });
    const m = loadModelFile(file);
    expect(m.config).toEqual(config);
    expect(Object.keys(m.params).sort()).toEqual(Object.keys(params).sort());
    expect(Object.keys(m.extra).sort()).toEqual(Object.keys(extra).sort());
    for (const k of Object.keys(params)) bitsEqual(params[k as keyof typeof params], m.params[k]);
    for (const k of Object.keys(extra)) bitsEqual(extra[k as keyof typeof extra], m.extra[k]);
    expect(m.metadata).toEqual({ epoch: '12' });
    // a plain safetensors file underneath, readable by any safetensors reader
    const raw = loadSafetensors(file);
    expect(raw.metadata.format).toBe(MODEL_FORMAT);
    expect(raw.metadata.format_version).toBe(String(MODEL_FORMAT_VERSION));
    expect(JSON.parse(raw.metadata.config)).toEqual(config);
    expect(Object.keys(raw.tensors).sort()).toEqual(['adam.m.conv1.weight', 'bn1.running_mean', 'conv1.weight', 'fc.bias'].map((k) => (k in extra ? `extra/${k}` : k)).sort());
    expect(tempFiles(dir)).toEqual([]);
  });

  it('extra is optional', () => {
    const file = path.join(tempDir(), 'm.safetensors');
    saveModel(file, { config: {}, params });
    const m = loadModelFile(file);
    expect(m.extra).toEqual({});
    expect(m.config).toEqual({});
    expect(m.metadata).toEqual({});
  });

  it('checks what it is asked to save', () => {
    const file = path.join(tempDir(), 'm.safetensors');
    expect(() => saveModel(file, { config: [] as unknown as object, params })).toThrow(/model.config must be a plain object, got an array/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => saveModel(file, { config: cyclic, params })).toThrow(/model.config must be JSON-serializable/);
    expect(() => saveModel(file, { config, params: { 'extra/x': Tensor.zeros([1]) } })).toThrow(/must not start with "extra\/"/);
    expect(() => saveModel(file, { config, params, metadata: { config: 'x' } })).toThrow(/model.metadata must not set "config"/);
    expect(() => saveModel(file, { config, params: null as unknown as Record<string, Tensor> })).toThrow(/model.params must be an object mapping names to Tensors/);
    expect(fs.existsSync(file)).toBe(false);
  });

  describe('errors name the file and the problem', () => {
    const write = (metadata: Record<string, string>): string => {
      const file = path.join(tempDir(), 'm.safetensors');
      saveSafetensors(file, { w: Tensor.zeros([2]) }, metadata);
      return file;
    };
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['a plain safetensors file', {}, /m\.safetensors: not a deepconv model file \(__metadata__\.format is missing, expected "deepconv-model"\)/],
      ['another format', { format: 'pt' }, /not a deepconv model file \(__metadata__\.format is "pt"/],
      ['no version', { format: MODEL_FORMAT, config: '{}' }, /m\.safetensors: __metadata__\.format_version must be a positive integer, got nothing/],
      ['a bad version', { format: MODEL_FORMAT, format_version: 'one', config: '{}' }, /format_version must be a positive integer, got "one"/],
      ['a newer version', { format: MODEL_FORMAT, format_version: '2', config: '{}' }, /m\.safetensors: model format version 2 is newer than this deepconv reads \(1\); upgrade deepconv/],
      ['no config', { format: MODEL_FORMAT, format_version: '1' }, /m\.safetensors: __metadata__\.config is missing/],
      ['a config that is not JSON', { format: MODEL_FORMAT, format_version: '1', config: '{arch:' }, /m\.safetensors: __metadata__\.config is not valid JSON/],
      ['a config that is not an object', { format: MODEL_FORMAT, format_version: '1', config: '[1,2]' }, /__metadata__\.config must be a JSON object, got an array of length 2/],
    ];
    for (const [what, md, re] of cases) {
      it(what, () => {
        const file = write(md);
        expect(() => loadModelFile(file)).toThrow(FileFormatError);
        expect(() => loadModelFile(file)).toThrow(re);
      });
    }

    it('a corrupt or missing file', () => {
      const file = path.join(tempDir(), 'm.safetensors');
      expect(() => loadModelFile(file)).toThrow(/m\.safetensors: file not found/);
      fs.writeFileSync(file, 'hello');
      expect(() => loadModelFile(file)).toThrow(/m\.safetensors: file is 5 bytes, too short/);
    });
  });
});
