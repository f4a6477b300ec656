// Argument validation: every error path throws the right class (TypeError for a wrong type,
// RangeError for a value of the right type outside what is allowed) with a message that names the
// argument, what was expected and what came. No numeric tolerance is involved.
import { getNumThreads, setNumThreads } from '../lib/index';
import { gemm } from '../lib/gemm';
import { Tensor } from '../lib/tensor';
import { sgd } from '../lib/optim';
import { native } from '../lib/binding';
import {
  BatchNorm,
  Conv,
  ConvBatchNormReLU,
  ConvReLUPool,
  Dropout,
  Linear,
  LinearBatchNormReLU,
  MaxPool,
  ReLU,
  SpatialBatchNorm,
  softmaxLoss,
  svmLoss,
} from '../lib/layers';
import { expectThrow, randn64 } from './helpers';

type Cls = 'TypeError' | 'RangeError';
type Row = [string, () => unknown, Cls, RegExp];

const f64 = (shape: number[], seed = 1) => randn64(shape, seed);
const f32 = (shape: number[], seed = 1) => randn64(shape, seed).astype('float32');

function run(rows: Row[]): void {
  test.each(rows)('%s', (_name, fn, cls, msg) => expectThrow(fn, cls, msg));
}

describe('Conv', () => {
  const x = f64([2, 3, 5, 5]);
  const w = f64([4, 3, 3, 3]);
  const b = f64([4]);
  const { cache } = Conv.forward(x, w, b, { pad: 1 });
  run([
    ['x of rank 3', () => Conv.forward(f64([3, 5, 5]), w, b), 'RangeError', /^x must have rank 4 \(N, C, H, W\), got shape \[3, 5, 5\]$/],
    ['w of rank 2', () => Conv.forward(x, f64([4, 27]), b), 'RangeError', /^w must have rank 4 \(F, C, HH, WW\), got shape \[4, 27\]$/],
    ['w channels != x channels', () => Conv.forward(x, f64([4, 2, 3, 3]), b), 'RangeError', /^w must have shape \[F, 3, HH, WW\] \(its channels must match x's 3\), got \[4, 2, 3, 3\]$/],
    ['b length != F', () => Conv.forward(x, w, f64([3])), 'RangeError', /^b must have shape \[4\] \(one bias per filter of w\), got \[3\]$/],
    ['b of rank 2', () => Conv.forward(x, w, f64([4, 1])), 'RangeError', /^b must have shape \[4\] .*, got \[4, 1\]$/],
    ['stride 0', () => Conv.forward(x, w, b, { stride: 0 }), 'RangeError', /^convParam\.stride must be an integer >= 1, got 0$/],
    ['stride -2', () => Conv.forward(x, w, b, { stride: -2 }), 'RangeError', /^convParam\.stride must be an integer >= 1, got -2$/],
    ['stride 1.5 (a number, not whole)', () => Conv.forward(x, w, b, { stride: 1.5 }), 'RangeError', /^convParam\.stride must be an integer >= 1, got 1\.5$/],
    ['stride NaN', () => Conv.forward(x, w, b, { stride: NaN }), 'RangeError', /^convParam\.stride must be an integer >= 1, got NaN$/],
    ['stride as a string', () => Conv.forward(x, w, b, { stride: '2' as never }), 'TypeError', /^convParam\.stride must be an integer >= 1, got the string "2"$/],
    ['pad -1', () => Conv.forward(x, w, b, { pad: -1 }), 'RangeError', /^convParam\.pad must be an integer >= 0, got -1$/],
    ['pad 0.5', () => Conv.forward(x, w, b, { pad: 0.5 }), 'RangeError', /^convParam\.pad must be an integer >= 0, got 0\.5$/],
    ['pad a boolean', () => Conv.forward(x, w, b, { pad: true as never }), 'TypeError', /^convParam\.pad must be an integer >= 0, got a boolean$/],
    [
      'output height not a whole number',
      () => Conv.forward(f64([1, 3, 6, 5]), w, b, { stride: 2 }),
      'RangeError',
      /^convolution output height must be a positive whole number: 1 \+ \(6 \+ 2\*0 - 3\) \/ 2 = 2\.5 \(check convParam\.stride, convParam\.pad and the filter size\)$/,
    ],
    ['output width not a whole number', () => Conv.forward(f64([1, 3, 5, 6]), w, b, { stride: 2 }), 'RangeError', /^convolution output width must be a positive whole number: 1 \+ \(6 \+ 2\*0 - 3\) \/ 2 = 2\.5/],
    ['filter larger than the padded input', () => Conv.forward(f64([1, 3, 2, 2]), w, b), 'RangeError', /^convolution output height must be a positive whole number: 1 \+ \(2 \+ 2\*0 - 3\) \/ 1 = 0/],
    ['convParam not an object', () => Conv.forward(x, w, b, 'pad1' as never), 'TypeError', /^convParam must be an options object, got the string "pad1"$/],
    ['float32 w with float64 x', () => Conv.forward(x, w.astype('float32'), b), 'TypeError', /^w must have dtype float64 like x, got float32$/],
    ['float32 b with float64 x, w', () => Conv.forward(x, w, b.astype('float32')), 'TypeError', /^b must have dtype float64 like x, got float32$/],
    ['x a plain array', () => Conv.forward([1, 2] as never, w, b), 'TypeError', /^x must be a Tensor, got an array of length 2$/],
    ['x a Float64Array', () => Conv.forward(new Float64Array(4) as never, w, b), 'TypeError', /^x must be a Tensor, got a Float64Array of length 4$/],
    ['w undefined', () => Conv.forward(x, undefined as never, b), 'TypeError', /^w must be a Tensor, got undefined$/],
    ['b null', () => Conv.forward(x, w, null as never), 'TypeError', /^b must be a Tensor, got null$/],
    ['forwardNaive validates too', () => Conv.forwardNaive(x, f64([4, 2, 3, 3]), b), 'RangeError', /^w must have shape \[F, 3, HH, WW\]/],
    ['backward: dout of the wrong shape', () => Conv.backward(f64([2, 4, 5, 4]), cache), 'RangeError', /^dout must have shape \[2, 4, 5, 5\] \(the shape of the forward output\), got \[2, 4, 5, 4\]$/],
    ['backward: dout float32', () => Conv.backward(f32([2, 4, 5, 5]), cache), 'TypeError', /^dout must have dtype float64 like x, got float32$/],
    ['backward: dout not a Tensor', () => Conv.backward({} as never, cache), 'TypeError', /^dout must be a Tensor, got an object$/],
  ]);

  test('forwardAsync reports the same error (an awaiting caller sees it)', async () => {
    // forwardAsync validates before it returns its Promise, so the error is thrown synchronously;
    // inside an async caller both a throw and a rejection end up here.
    await expect((async () => Conv.forwardAsync(x, w, b, { stride: 0 }))()).rejects.toThrow(/^convParam\.stride must be an integer >= 1, got 0$/);
  });
});

describe('MaxPool', () => {
  const x = f64([2, 3, 4, 5]);
  const { cache } = MaxPool.forward(x);
  run([
    ['x of rank 2', () => MaxPool.forward(f64([4, 5])), 'RangeError', /^x must have rank 4 \(N, C, H, W\), got shape \[4, 5\]$/],
    ['poolHeight larger than the input', () => MaxPool.forward(x, { poolHeight: 5 }), 'RangeError', /^poolParam\.poolHeight must be at most the input height 4, got 5$/],
    ['poolWidth larger than the input', () => MaxPool.forward(x, { poolWidth: 6 }), 'RangeError', /^poolParam\.poolWidth must be at most the input width 5, got 6$/],
    ['poolHeight 0', () => MaxPool.forward(x, { poolHeight: 0 }), 'RangeError', /^poolParam\.poolHeight must be an integer >= 1, got 0$/],
    ['poolWidth 2.5', () => MaxPool.forward(x, { poolWidth: 2.5 }), 'RangeError', /^poolParam\.poolWidth must be an integer >= 1, got 2\.5$/],
    ['stride 0', () => MaxPool.forward(x, { stride: 0 }), 'RangeError', /^poolParam\.stride must be an integer >= 1, got 0$/],
    ['stride Infinity', () => MaxPool.forward(x, { stride: Infinity }), 'RangeError', /^poolParam\.stride must be an integer >= 1, got Infinity$/],
    ['stride a string', () => MaxPool.forward(x, { stride: 'two' as never }), 'TypeError', /^poolParam\.stride must be an integer >= 1, got the string "two"$/],
    ['poolParam not an object', () => MaxPool.forward(x, 2 as never), 'TypeError', /^poolParam must be an options object, got 2$/],
    ['x not a Tensor', () => MaxPool.forward('x' as never), 'TypeError', /^x must be a Tensor, got the string "x"$/],
    ['backward: dout of the wrong shape', () => MaxPool.backward(f64([2, 3, 2, 3]), cache), 'RangeError', /^dout must have shape \[2, 3, 2, 2\] \(the shape of the forward output\), got \[2, 3, 2, 3\]$/],
    ['backward: dout float32', () => MaxPool.backward(f32([2, 3, 2, 2]), cache), 'TypeError', /^dout must have dtype float64 like x, got float32$/],
  ]);
});

describe('ReLU', () => {
  const x = f64([2, 3]);
  const { cache } = ReLU.forward(x);
  run([
    ['x not a Tensor', () => ReLU.forward([1, -1] as never), 'TypeError', /^x must be a Tensor, got an array of length 2$/],
    ['backward: dout of the wrong shape', () => ReLU.backward(f64([3, 2]), cache), 'RangeError', /^dout must have shape \[2, 3\] like the forward input, got \[3, 2\]$/],
    ['backward: dout float32', () => ReLU.backward(f32([2, 3]), cache), 'TypeError', /^dout must have dtype float64 like the forward input, got float32$/],
    ['backward: cache not a Tensor', () => ReLU.backward(f64([2, 3]), null as never), 'TypeError', /^cache must be a Tensor, got null$/],
  ]);
});

describe('Dropout', () => {
  const x = f64([4, 5]);
  const { cache } = Dropout.forward(x, { p: 0.5, mode: 'train', seed: 1 });
  run([
    ['p 0', () => Dropout.forward(x, { p: 0, mode: 'train' }), 'RangeError', /^dropoutParam\.p must be a keep probability in \(0, 1\], got 0$/],
    ['p 1.5', () => Dropout.forward(x, { p: 1.5, mode: 'train' }), 'RangeError', /^dropoutParam\.p must be a keep probability in \(0, 1\], got 1\.5$/],
    ['p -0.2', () => Dropout.forward(x, { p: -0.2, mode: 'train' }), 'RangeError', /^dropoutParam\.p must be a keep probability in \(0, 1\], got -0\.2$/],
    ['p NaN', () => Dropout.forward(x, { p: NaN, mode: 'train' }), 'RangeError', /^dropoutParam\.p must be a keep probability in \(0, 1\], got NaN$/],
    ['p a string', () => Dropout.forward(x, { p: '0.5' as never, mode: 'train' }), 'TypeError', /^dropoutParam\.p must be a keep probability in \(0, 1\], got the string "0\.5"$/],
    ['p missing', () => Dropout.forward(x, { mode: 'train' } as never), 'TypeError', /^dropoutParam\.p must be a keep probability in \(0, 1\], got undefined$/],
    ['mode invalid', () => Dropout.forward(x, { p: 0.5, mode: 'eval' as never }), 'TypeError', /^dropoutParam\.mode must be 'train' or 'test', got the string "eval"$/],
    ['seed -1', () => Dropout.forward(x, { p: 0.5, mode: 'train', seed: -1 }), 'RangeError', /^dropoutParam\.seed must be an integer >= 0, got -1$/],
    ['seed 1.5', () => Dropout.forward(x, { p: 0.5, mode: 'train', seed: 1.5 }), 'RangeError', /^dropoutParam\.seed must be an integer >= 0, got 1\.5$/],
    ['seed beyond 2^53', () => Dropout.forward(x, { p: 0.5, mode: 'train', seed: 2 ** 60 }), 'RangeError', /^dropoutParam\.seed must be an integer in \[0, 2\^53\), got 1152921504606847000$/],
    ['dropoutParam not an object', () => Dropout.forward(x, 0.5 as never), 'TypeError', /^dropoutParam must be an options object, got 0\.5$/],
    ['x not a Tensor', () => Dropout.forward(undefined as never, { p: 0.5, mode: 'test' }), 'TypeError', /^x must be a Tensor, got undefined$/],
    ['backward: dout of the wrong shape', () => Dropout.backward(f64([5, 4]), cache), 'RangeError', /^dout must have shape \[4, 5\] like the forward input, got \[5, 4\]$/],
    ['backward: dout float32', () => Dropout.backward(f32([4, 5]), cache), 'TypeError', /^dout must have dtype float64 like the forward input, got float32$/],
  ]);
});

describe('Linear', () => {
  const x = f64([2, 3, 4]);
  const w = f64([12, 5]);
  const b = f64([5]);
  const { cache } = Linear.forward(x, w, b);
  run([
    ['x of rank 1', () => Linear.forward(f64([12]), w, b), 'RangeError', /^x must have rank >= 2 \(N, d1, \.\.\., dk\), got shape \[12\]$/],
    ['w of rank 1', () => Linear.forward(x, f64([12]), b), 'RangeError', /^w must have rank 2 \(D, M\), got shape \[12\]$/],
    ['w rows != D', () => Linear.forward(x, f64([10, 5]), b), 'RangeError', /^w must have shape \[12, M\] \(D = 3\*4 from x \[2, 3, 4\]\), got \[10, 5\]$/],
    ['b length != M', () => Linear.forward(x, w, f64([4])), 'RangeError', /^b must have shape \[5\] \(one bias per column of w\), got \[4\]$/],
    ['float32 w with float64 x', () => Linear.forward(x, w.astype('float32'), b), 'TypeError', /^w must have dtype float64 like x, got float32$/],
    ['float32 x with float64 w', () => Linear.forward(x.astype('float32'), w, b), 'TypeError', /^w must have dtype float32 like x, got float64$/],
    ['x not a Tensor', () => Linear.forward(null as never, w, b), 'TypeError', /^x must be a Tensor, got null$/],
    ['w not a Tensor', () => Linear.forward(x, [[1]] as never, b), 'TypeError', /^w must be a Tensor, got an array of length 1$/],
    ['backward: dout of the wrong shape', () => Linear.backward(f64([5, 2]), cache), 'RangeError', /^dout must have shape \[2, 5\] \(the shape of the forward output\), got \[5, 2\]$/],
    ['backward: dout float32', () => Linear.backward(f32([2, 5]), cache), 'TypeError', /^dout must have dtype float64 like x, got float32$/],
  ]);
});

describe.each([
  { label: 'BatchNorm', bn: BatchNorm, shape: [6, 4], rank: /^x must have rank 2 \(N, D\), got shape \[6, 4, 1, 1\]$/, bad: [6, 4, 1, 1] },
  { label: 'SpatialBatchNorm', bn: SpatialBatchNorm, shape: [2, 4, 3, 3], rank: /^x must have rank 4 \(N, C, H, W\), got shape \[2, 4\]$/, bad: [2, 4] },
])('$label', ({ bn, shape, rank, bad }) => {
  const x = f64(shape);
  const gamma = f64([4]);
  const beta = f64([4]);
  const { cache } = bn.forward(x, gamma, beta, { mode: 'train' });
  const wrongDout = shape.length === 2 ? [4, 6] : [2, 4, 3, 4];
  run([
    ['x of the wrong rank', () => bn.forward(f64(bad), gamma, beta, { mode: 'train' }), 'RangeError', rank],
    ['gamma of the wrong length', () => bn.forward(x, f64([3]), beta, { mode: 'train' }), 'RangeError', /^gamma must have shape \[4\] \(one scale per feature of x\), got \[3\]$/],
    ['beta of the wrong length', () => bn.forward(x, gamma, f64([5]), { mode: 'train' }), 'RangeError', /^beta must have shape \[4\] \(one shift per feature of x\), got \[5\]$/],
    ['gamma float32', () => bn.forward(x, gamma.astype('float32'), beta, { mode: 'train' }), 'TypeError', /^gamma must have dtype float64 like x, got float32$/],
    ['bnParam.mode invalid', () => bn.forward(x, gamma, beta, { mode: 'eval' as never }), 'TypeError', /^bnParam\.mode must be 'train' or 'test', got the string "eval"$/],
    ['bnParam.mode missing', () => bn.forward(x, gamma, beta, {} as never), 'TypeError', /^bnParam\.mode must be 'train' or 'test', got undefined$/],
    ['bnParam missing', () => bn.forward(x, gamma, beta, undefined as never), 'TypeError', /^bnParam\.mode must be 'train' or 'test', got undefined$/],
    ['bnParam null', () => bn.forward(x, gamma, beta, null as never), 'TypeError', /^bnParam must be an options object, got null$/],
    ['eps NaN', () => bn.forward(x, gamma, beta, { mode: 'train', eps: NaN }), 'RangeError', /^bnParam\.eps must be a positive finite number, got NaN$/],
    ['eps 0', () => bn.forward(x, gamma, beta, { mode: 'train', eps: 0 }), 'RangeError', /^bnParam\.eps must be a positive finite number, got 0$/],
    ['eps a string', () => bn.forward(x, gamma, beta, { mode: 'train', eps: '1e-5' as never }), 'TypeError', /^bnParam\.eps must be a positive finite number, got the string "1e-5"$/],
    ['momentum Infinity', () => bn.forward(x, gamma, beta, { mode: 'train', momentum: Infinity }), 'RangeError', /^bnParam\.momentum must be a number in \[0, 1\], got Infinity$/],
    ['momentum 1.5', () => bn.forward(x, gamma, beta, { mode: 'train', momentum: 1.5 }), 'RangeError', /^bnParam\.momentum must be a number in \[0, 1\], got 1\.5$/],
    ['runningMean of the wrong length', () => bn.forward(x, gamma, beta, { mode: 'train', runningMean: f64([3]) }), 'RangeError', /^bnParam\.runningMean must have shape \[4\] \(one per feature of x\), got \[3\]$/],
    ['runningVar float32', () => bn.forward(x, gamma, beta, { mode: 'test', runningVar: f32([4]) }), 'TypeError', /^bnParam\.runningVar must have dtype float64 like x, got float32$/],
    ['runningMean not a Tensor', () => bn.forward(x, gamma, beta, { mode: 'test', runningMean: [0, 0, 0, 0] as never }), 'TypeError', /^bnParam\.runningMean must be a Tensor, got an array of length 4$/],
    ['x not a Tensor', () => bn.forward({} as never, gamma, beta, { mode: 'train' }), 'TypeError', /^x must be a Tensor, got an object$/],
    ['gamma not a Tensor', () => bn.forward(x, 1 as never, beta, { mode: 'train' }), 'TypeError', /^gamma must be a Tensor, got 1$/],
    ['backward: dout of the wrong shape', () => bn.backward(f64(wrongDout), cache), 'RangeError', /^dout must have shape \[.*\] \(the shape of the forward output\), got \[/],
    ['backwardAlt: dout of the wrong shape', () => bn.backwardAlt(f64(wrongDout), cache), 'RangeError', /^dout must have shape \[.*\] \(the shape of the forward output\), got \[/],
    ['backward: dout float32', () => bn.backward(f32(shape), cache), 'TypeError', /^dout must have dtype float64 like x, got float32$/],
  ]);
});

describe('losses', () => {
  const scores = f64([3, 4]);
  describe.each([
    { name: 'softmaxLoss', fn: softmaxLoss },
    { name: 'svmLoss', fn: svmLoss },
  ])('$name', ({ fn }) => {
    run([
      ['scores of rank 1', () => fn(f64([4]), [0]), 'RangeError', /^scores must have rank 2 \(N, C\), got shape \[4\]$/],
      ['scores not a Tensor', () => fn([[1, 2]] as never, [0]), 'TypeError', /^scores must be a Tensor, got an array of length 1$/],
      ['too few labels', () => fn(scores, [0, 1]), 'RangeError', /^y must hold 3 labels \(one per row of scores\), got 2$/],
      ['too many labels (Int32Array)', () => fn(scores, new Int32Array(4)), 'RangeError', /^y must hold 3 labels \(one per row of scores\), got 4$/],
      ['label = C', () => fn(scores, [0, 4, 1]), 'RangeError', /^y\[1\] must be an integer label in \[0, 4\), got 4$/],
      ['label -1 (Int32Array)', () => fn(scores, Int32Array.from([0, 1, -1])), 'RangeError', /^y\[2\] must be an integer label in \[0, 4\), got -1$/],
      ['label 200 (Uint8Array)', () => fn(scores, Uint8Array.from([200, 1, 1])), 'RangeError', /^y\[0\] must be an integer label in \[0, 4\), got 200$/],
      ['label 1.5', () => fn(scores, [0, 1.5, 1]), 'RangeError', /^y\[1\] must be an integer label in \[0, 4\), got 1\.5$/],
      ['label NaN', () => fn(scores, [NaN, 1, 1]), 'RangeError', /^y\[0\] must be an integer label in \[0, 4\), got NaN$/],
      ['labels a Float64Array', () => fn(scores, new Float64Array(3) as never), 'TypeError', /^y must be an Int32Array, Uint8Array or number\[\] of class labels, got a Float64Array of length 3$/],
      ['labels a string', () => fn(scores, '012' as never), 'TypeError', /^y must be an Int32Array, Uint8Array or number\[\] of class labels, got the string "012"$/],
      ['labels missing', () => fn(scores, undefined as never), 'TypeError', /^y must be an Int32Array, Uint8Array or number\[\] of class labels, got undefined$/],
    ]);
  });
});

describe('sandwich layers validate through their parts', () => {
  const x = f64([2, 3, 6, 6]);
  const w = f64([4, 3, 3, 3]);
  const b = f64([4]);
  run([
    ['ConvReLUPool: pool window larger than the conv output', () => ConvReLUPool.forward(x, w, b, { pad: 0 }, { poolHeight: 5, poolWidth: 2 }), 'RangeError', /^poolParam\.poolHeight must be at most the input height 4, got 5$/],
    ['ConvBatchNormReLU: gamma of the wrong length', () => ConvBatchNormReLU.forward(x, w, b, f64([3]), f64([4]), { pad: 1 }, { mode: 'train' }), 'RangeError', /^gamma must have shape \[4\] \(one scale per feature of x\), got \[3\]$/],
    ['LinearBatchNormReLU: momentum NaN', () => LinearBatchNormReLU.forward(f64([3, 5]), f64([5, 2]), f64([2]), f64([2]), f64([2]), { mode: 'train', momentum: NaN }), 'RangeError', /^bnParam\.momentum must be a number in \[0, 1\], got NaN$/],
  ]);
});

describe('gemm', () => {
  const A = f64([2, 4]);
  const B = f64([4, 3]);
  const C = f64([2, 3]);
  run([
    ['A of rank 1', () => gemm(f64([4]), B, C), 'RangeError', /^A must have rank 2 \(M, K\), got shape \[4\]$/],
    ['B of rank 3', () => gemm(A, f64([4, 3, 1]), C), 'RangeError', /^B must have rank 2 \(K, N\), got shape \[4, 3, 1\]$/],
    ['inner dimensions differ', () => gemm(A, f64([5, 3]), C), 'RangeError', /^B must have 4 rows in op\(B\) to match op\(A\) \[2, 4\], got \[5, 3\]$/],
    ['C of the wrong shape', () => gemm(A, B, f64([3, 2])), 'RangeError', /^C must have shape \[2, 3\], got \[3, 2\]$/],
    ['mixed dtypes', () => gemm(A, B.astype('float32'), C), 'TypeError', /^B must have dtype float64 like A, got float32$/],
    ['C not a Tensor', () => gemm(A, B, new Float64Array(6) as never), 'TypeError', /^C must be a Tensor, got a Float64Array of length 6$/],
  ]);
});

describe('setNumThreads', () => {
  const before = getNumThreads();
  afterAll(() => setNumThreads(before));
  run([
    ['0 threads', () => setNumThreads(0), 'RangeError', /^n must be an integer >= 1, got 0$/],
    ['1.5 threads', () => setNumThreads(1.5), 'RangeError', /^n must be an integer >= 1, got 1\.5$/],
    ['a string', () => setNumThreads('2' as never), 'TypeError', /^n must be an integer >= 1, got the string "2"$/],
  ]);
  test('the thread count is unchanged after a rejected call', () => {
    expect(getNumThreads()).toBe(before);
  });
});

test('Tensor arguments are never mutated by a rejected call', () => {
  const x = f64([2, 3, 5, 5]);
  const copy = Array.from(x.data);
  expect(() => Conv.forward(x, f64([4, 3, 3, 3]), f64([4]), { stride: 2, pad: 0 })).not.toThrow();
  expect(() => Conv.forward(x, f64([4, 2, 3, 3]), f64([4]))).toThrow();
  expect(Array.from(x.data)).toEqual(copy);
});

describe('empty operands: one message everywhere (issue 9)', () => {
  const msg = (name: string, shape: string) => new RegExp(`^${name} must not be empty \\(every dimension >= 1\\), got shape \\[${shape}\\]$`);
  run([
    ['Conv with N = 0', () => Conv.forward(f64([0, 3, 5, 5]), f64([4, 3, 3, 3]), f64([4])), 'RangeError', msg('x', '0, 3, 5, 5')],
    ['ReLU of an empty tensor', () => ReLU.forward(f64([0, 4])), 'RangeError', msg('x', '0, 4')],
    ['Linear with D = 0', () => Linear.forward(f64([2, 0]), f64([0, 3]), f64([3])), 'RangeError', msg('x', '2, 0')],
    ['Linear with M = 0', () => Linear.forward(f64([2, 4]), f64([4, 0]), f64([0])), 'RangeError', msg('w', '4, 0')],
    ['MaxPool with C = 0', () => MaxPool.forward(f64([1, 0, 4, 4]), { poolHeight: 2, poolWidth: 2, stride: 2 }), 'RangeError', msg('x', '1, 0, 4, 4')],
    ['softmaxLoss with N = 0', () => softmaxLoss(f64([0, 3]), []), 'RangeError', msg('scores', '0, 3')],
    ['gemm with M = 0', () => gemm(f64([0, 3]), f64([3, 2]), f64([0, 2])), 'RangeError', msg('C', '0, 2')],
  ]);
});

describe('detached tensors are refused before any native call (issue 9)', () => {
  // A tensor wrapping JavaScript's own memory: that can be transferred away (deepconv's only by
  // ArrayBuffer.prototype.transfer(), Node 21+).
  const detached = () => {
    const t = new Tensor(new Float64Array(6), [2, 3]);
    const buf = t.data.buffer as ArrayBuffer;
    structuredClone(buf, { transfer: [buf] });
    return t;
  };
  const lost = (name: string) => new RegExp(`^${name} \\(a float64 Tensor of shape \\[2, 3\\]\\) has lost its memory: its ArrayBuffer was detached`);
  run([
    ['ReLU.forward', () => ReLU.forward(detached()), 'TypeError', lost('x')],
    ['Linear.forward', () => Linear.forward(detached(), f64([3, 2]), f64([2])), 'TypeError', lost('x')],
    ['sgd (was a silent no-op)', () => sgd(detached(), f64([2, 3])), 'TypeError', lost('w')],
  ]);

  test('its size stays that of its shape, and reading it says what happened', () => {
    const t = detached();
    expect(t.size).toBe(6);
    expect(t.detached).toBe(true);
    expectThrow(() => t.toArray(), 'TypeError', /^this Tensor\(float64, \[2, 3\]\) has lost its memory: .* so it holds 0 of its 6 elements$/);
    expectThrow(() => t.data, 'TypeError', /has lost its memory/);
  });

  // Node 21+ (scripts/test-package.sh runs the suites under Node 22 and 26); skipped under Node 20.
  const hasTransfer = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
  (hasTransfer ? test : test.skip)(`a deepconv tensor moved by ArrayBuffer.prototype.transfer() is refused, its memory intact${hasTransfer ? '' : ` (skipped: Node ${process.version} lacks transfer())`}`, () => {
    const t = Tensor.from([[1, 2, 3], [4, 5, 6]], { dtype: 'float64' });
    const moved = (t.data.buffer as ArrayBuffer & { transfer(): ArrayBuffer }).transfer();
    expect(t.detached).toBe(true);
    expectThrow(() => ReLU.forward(t), 'TypeError', lost('x'));
    const a = new Float64Array(moved);
    expect(native.isHostMemory(a)).toBe(true);
    expect(Array.from(a)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('asynchronous in-place updates need deepconv memory (issue 9)', () => {
  test('BatchNorm.forwardAsync in train mode refuses running statistics wrapping JavaScript-owned memory', async () => {
    const x = f64([4, 3]);
    const foreign = new Tensor(new Float64Array(3), [3]);
    const err = await BatchNorm.forwardAsync(x, f64([3]), f64([3]), { mode: 'train', runningMean: foreign }).then(() => null, (e: Error) => e);
    expect(err?.constructor.name).toBe('TypeError');
    expect(err?.message).toMatch(/^bnParam\.runningMean \(a float64 Tensor of shape \[3\]\) wraps memory JavaScript owns, which an asynchronous kernel may not update in place/);
    // test mode only reads them: a copy is taken when the call is queued
    await expect(BatchNorm.forwardAsync(x, f64([3]), f64([3]), { mode: 'test', runningMean: foreign, runningVar: foreign.clone() })).resolves.toBeDefined();
  });
});
