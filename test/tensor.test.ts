// Tensor: construction, nested arrays, reshape (zero-copy), dtypes, seeded generators, bad shapes.
// Exact comparisons throughout (no tolerance needed) except float32 rounding (Math.fround).
import { Tensor, sizeOf, zerosLike } from '../lib/tensor';
import { Rng } from '../lib/random';

describe('Tensor', () => {
  test('from nested arrays infers the shape; toArray round-trips', () => {
    const v = [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]];
    const t = Tensor.from(v, { dtype: 'float64' });
    expect([...t.shape]).toEqual([2, 2, 3]);
    expect(t.ndim).toBe(3);
    expect(t.size).toBe(12);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(t.toArray()).toEqual(v);
    expect(t.get(1, 0, 2)).toBe(9);
    expect(Tensor.from(t.toArray(), { dtype: 'float64' }).toArray()).toEqual(v);
  });

  test('defaults to float32; float32 values are rounded', () => {
    const t = Tensor.from([0.1, 0.2]);
    expect(t.dtype).toBe('float32');
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(t.toArray()).toEqual([Math.fround(0.1), Math.fround(0.2)]);
  });

  test('a scalar (rank 0) and empty tensors', () => {
    const s = Tensor.from(5, { dtype: 'float64' });
    expect([...s.shape]).toEqual([]);
    expect(s.size).toBe(1);
    expect(s.toArray()).toBe(5);
    const e = Tensor.zeros([0, 3], 'float64');
    expect(e.size).toBe(0);
    expect(e.toArray()).toEqual([]);
  });

  test('from a typed array of the same dtype wraps it without a copy; other inputs are copied', () => {
    const d = new Float64Array([1, 2, 3, 4, 5, 6]);
    const t = Tensor.from(d, { shape: [2, 3] });
    expect(t.data).toBe(d);
    expect(t.dtype).toBe('float64');
    const c = Tensor.from(d, { shape: [2, 3], dtype: 'float32' });
    expect(c.data).not.toBe(d);
    expect(Array.from(c.data)).toEqual([1, 2, 3, 4, 5, 6]);
    const i = Tensor.from(new Int32Array([1, 2]), { dtype: 'float64' });
    expect(Array.from(i.data)).toEqual([1, 2]);
  });

  test('reshape shares memory (zero-copy) and checks the size', () => {
    const t = Tensor.from([1, 2, 3, 4, 5, 6], { dtype: 'float64' });
    const r = t.reshape([3, 2]);
    expect(r.data).toBe(t.data);
    r.data[0] = 42;
    expect(t.data[0]).toBe(42);
    expect(r.toArray()).toEqual([[42, 2], [3, 4], [5, 6]]);
    expect(() => t.reshape([4, 2])).toThrow(RangeError);
    expect(() => t.reshape([4, 2])).toThrow(/data has 6 elements but shape \[4, 2\] needs 8/);
  });

  test('clone and astype copy; astype converts', () => {
    const t = Tensor.from([1.5, -2.25], { dtype: 'float64' });
    const c = t.clone();
    expect(c.data).not.toBe(t.data);
    c.data[0] = 0;
    expect(t.data[0]).toBe(1.5);
    const f = t.astype('float32');
    expect(f.dtype).toBe('float32');
    expect(Array.from(f.data)).toEqual([1.5, -2.25]);
    expect(f.astype('float64').dtype).toBe('float64');
    expect(() => t.astype('int8' as never)).toThrow(TypeError);
  });

  test('zeros, full, zerosLike, sizeOf, toString', () => {
    expect(Array.from(Tensor.full([2, 2], 7, 'float64').data)).toEqual([7, 7, 7, 7]);
    const z = zerosLike(Tensor.full([3], 1, 'float64'), [2, 5]);
    expect(z.dtype).toBe('float64');
    expect([...z.shape]).toEqual([2, 5]);
    expect(sizeOf([2, 3, 4])).toBe(24);
    expect(sizeOf([])).toBe(1);
    expect(String(Tensor.zeros([2, 3]))).toBe('Tensor(float32, [2, 3])');
  });

  test('the shape is frozen and copied', () => {
    const shape = [2, 3];
    const t = Tensor.zeros(shape, 'float64');
    shape[0] = 5;
    expect([...t.shape]).toEqual([2, 3]);
    expect(Object.isFrozen(t.shape)).toBe(true);
  });

  test('randn / rand are reproducible for a seed and differ across seeds', () => {
    const a = Tensor.randn([100], { dtype: 'float64', seed: 42 });
    const b = Tensor.randn([100], { dtype: 'float64', seed: 42 });
    const c = Tensor.randn([100], { dtype: 'float64', seed: 43 });
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
    expect(Array.from(c.data)).not.toEqual(Array.from(a.data));
    const u = Tensor.rand([1000], { dtype: 'float64', seed: 1, lo: -2, hi: 3 });
    expect(Math.min(...u.data)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...u.data)).toBeLessThan(3);
    expect(Array.from(Tensor.rand([10], { seed: 9 }).data)).toEqual(Array.from(Tensor.rand([10], { seed: 9 }).data));
  });

  test('randn has mean ~0 and std ~ the requested std', () => {
    const t = Tensor.randn([20000], { dtype: 'float64', seed: 5, std: 2 });
    let s = 0;
    let q = 0;
    for (const v of t.data) s += v;
    const mean = s / t.size;
    for (const v of t.data) q += (v - mean) ** 2;
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(Math.sqrt(q / t.size) - 2)).toBeLessThan(0.05);
  });

  test('Rng.shuffle is a permutation; Rng.int stays in range', () => {
    const r = new Rng(3);
    const a = Float64Array.from({ length: 50 }, (_, i) => i);
    r.shuffle(a);
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    for (let i = 0; i < 100; i++) {
      const k = r.int(7);
      expect(Number.isInteger(k) && k >= 0 && k < 7).toBe(true);
    }
  });
});

describe('Tensor rejects bad input', () => {
  test.each([
    [[2, -1], /shape must be an array of non-negative integers, got \[2, -1\]/],
    [[2, 1.5], /shape must be an array of non-negative integers, got \[2, 1.5\]/],
    [[NaN], /shape must be an array of non-negative integers, got \[NaN\]/],
  ])('shape %p is a RangeError', (shape, msg) => {
    expect(() => Tensor.zeros(shape as number[])).toThrow(RangeError);
    expect(() => Tensor.zeros(shape as number[])).toThrow(msg);
  });

  test('a non-array shape is a TypeError', () => {
    expect(() => Tensor.zeros(3 as never)).toThrow(TypeError);
    expect(() => Tensor.zeros(3 as never)).toThrow(/shape must be an array of non-negative integers, got number/);
  });

  test('data that is not a Float32Array/Float64Array is a TypeError', () => {
    expect(() => new Tensor([1, 2] as never, [2])).toThrow(TypeError);
    expect(() => new Tensor(new Int32Array(2) as never, [2])).toThrow(/^data must be a Float32Array, Float64Array or float32 CudaBuffer, got an? Int32Array$/);
    expect(() => new Tensor(null as never, [2])).toThrow(/data must be a Float32Array, Float64Array or float32 CudaBuffer, got null/);
  });

  test('data and shape of different sizes is a RangeError', () => {
    expect(() => new Tensor(new Float64Array(5), [2, 3])).toThrow(RangeError);
    expect(() => new Tensor(new Float64Array(5), [2, 3])).toThrow(/data has 5 elements but shape \[2, 3\] needs 6/);
  });

  test('an unknown dtype is a TypeError naming it', () => {
    expect(() => Tensor.zeros([2], 'float16' as never)).toThrow(TypeError);
    expect(() => Tensor.zeros([2], 'float16' as never)).toThrow(/dtype must be 'float32' or 'float64', got "float16"/);
  });

  test('ragged nested arrays are a RangeError; non-numbers a TypeError', () => {
    expect(() => Tensor.from([[1, 2], [3]])).toThrow(RangeError);
    expect(() => Tensor.from([[1, 2], [3]])).toThrow(/values must be a rectangular nested array: expected length 2 at depth 1/);
    expect(() => Tensor.from([[1, 2], 3] as never)).toThrow(/rectangular/);
    expect(() => Tensor.from([['a', 2]] as never)).toThrow(TypeError);
    expect(() => Tensor.from([['a', 2]] as never)).toThrow(/values must hold numbers, got string at depth 2/);
  });
});

describe('Tensor accessors and factories check their arguments (issue 9)', () => {
  test('toArray of an empty tensor with huge leading dimensions is a RangeError, not a heap abort', () => {
    const t = Tensor.zeros([2 ** 31, 1, 0]);
    expect(t.size).toBe(0);
    expect(() => t.toArray()).toThrow(RangeError);
    expect(() => t.toArray()).toThrow(/^toArray of this Tensor\(float32, \[2147483648, 1, 0\]\) would build 4294967296 nested arrays and numbers \(at most 16777216\): read \.data instead$/);
    // a big non-empty tensor too: V8 would abort building it (no array holds 2^27 numbers)
    const big = new Tensor(new Float32Array(2 ** 25), [1, 2 ** 25]);
    expect(() => big.toArray()).toThrow(/would build 33554433 nested arrays and numbers \(at most 16777216\)/);
    expect(Tensor.zeros([3, 0, 5]).toArray()).toEqual([[], [], []]);
  });

  test('get checks the index count and every index', () => {
    const t = Tensor.from([[1, 2, 3], [4, 5, 6]]);
    expect(t.get(1, 2)).toBe(6);
    expect(() => t.get(2, 0)).toThrow(RangeError);
    expect(() => t.get(2, 0)).toThrow(/^index 0 must be an integer in \[0, 2\) for this Tensor\(float32, \[2, 3\]\), got 2$/);
    expect(() => t.get(0, -1)).toThrow(/^index 1 must be an integer in \[0, 3\)/);
    expect(() => t.get(0, 1.5)).toThrow(/got 1\.5$/);
    expect(() => t.get(0)).toThrow(/^get needs 2 indices for this Tensor\(float32, \[2, 3\]\), got 1$/);
  });

  test('full takes a number; randn a finite std >= 0; rand finite lo <= hi; seeds are integers', () => {
    expect(() => Tensor.full([2], '1' as never)).toThrow(TypeError);
    expect(() => Tensor.full([2], '1' as never)).toThrow(/^value must be a number, got a string$/);
    expect(Array.from(Tensor.full([2], -Infinity).data)).toEqual([-Infinity, -Infinity]);
    expect(() => Tensor.randn([2], { std: NaN })).toThrow(/^opts\.std must be a finite number >= 0, got NaN$/);
    expect(() => Tensor.randn([2], { std: -1 })).toThrow(RangeError);
    expect(() => Tensor.rand([2], { lo: 2, hi: 1 })).toThrow(/^opts\.lo must be <= opts\.hi, got lo 2 and hi 1$/);
    expect(() => Tensor.rand([2], { hi: Infinity })).toThrow(/^opts\.hi must be a finite number, got Infinity$/);
    expect(() => Tensor.randn([2], { seed: 0.5 })).toThrow(/^opts\.seed must be an integer, got 0\.5$/);
    expect(() => Tensor.randn([2], null as never)).toThrow(/^opts must be an options object, got null$/);
  });

  test("the factories' memory is deepconv's (asynchronous kernels may write it); wrapped arrays stay the caller's", () => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { native } = require('../lib/binding');
    expect(native.isHostMemory(Tensor.zeros([4]).data)).toBe(true);
    expect(native.isHostMemory(Tensor.randn([4]).clone().data)).toBe(true);
    expect(native.isHostMemory(Tensor.zeros([8]).data.subarray(2, 6))).toBe(true);
    expect(native.isHostMemory(Tensor.from(new Float32Array(4)).data)).toBe(false);
    expect(Tensor.zeros([0]).data.length).toBe(0);
  });
});
