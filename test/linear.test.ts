// Linear (affine) layer: x of any rank flattened to (N, D), w (D, M), b (M).
// Tolerances (relError): float64 forward vs TS reference 1e-12; numeric gradients of dx, dw, db
// (h = 1e-6, float64) 1e-7; float32 forward vs float64 forward 1e-5.
import { Linear } from '../lib/layers';
import { Tensor } from '../lib/tensor';
import * as ref from './reference';
import { expectRel, expectShape, nd, numGrad, randn64, withThreads, isaPaths, useIsa } from './helpers';

interface Case {
  name: string;
  x: number[];
  M: number;
}

const cases: Case[] = [
  { name: 'x (4, 5) -> 3', x: [4, 5], M: 3 },
  { name: 'batch 1, x (1, 10) -> 1', x: [1, 10], M: 1 },
  { name: 'rank 3 x (3, 2, 6) -> 4', x: [3, 2, 6], M: 4 },
  { name: 'rank 4 x (2, 3, 4, 5) -> 7', x: [2, 3, 4, 5], M: 7 },
  { name: 'D = 1, x (5, 1) -> 6', x: [5, 1], M: 6 },
  { name: 'x (13, 17) -> 33 (GEMM edges)', x: [13, 17], M: 33 },
];

function make(c: Case, seed: number) {
  const D = c.x.slice(1).reduce((a, b) => a * b, 1);
  return { x: randn64(c.x, seed), w: randn64([D, c.M], seed + 1, 0.3), b: randn64([c.M], seed + 2), D };
}

// Every test below runs once per ISA path this CPU has (the GEMM's tiles differ per path).
describe.each(isaPaths())('isa %s', (isa) => {
  useIsa(isa);

  describe('Linear.forward (float64)', () => {
    test.each(cases)('$name: matches the reference', (c) => {
      const { x, w, b } = make(c, 1);
      const { out } = Linear.forward(x, w, b);
      expectShape(out, [c.x[0], c.M]);
      expectRel(out, ref.linearForward(nd(x), nd(w), nd(b)), 1e-12, 'forward');
    });

    test('a hand-computed example', () => {
      const x = Tensor.from([[1, 2], [3, 4]], { dtype: 'float64' });
      const w = Tensor.from([[1, 0, -1], [2, 1, 0]], { dtype: 'float64' });
      const b = Tensor.from([0.5, 0, -0.5], { dtype: 'float64' });
      expect(Linear.forward(x, w, b).out.toArray()).toEqual([[5.5, 2, -1.5], [11.5, 4, -3.5]]);
    });

    test('large shapes (parallel GEMM) give the reference result on 1 and 2 threads', () => {
      const c = { name: '', x: [64, 2, 64], M: 70 };
      const { x, w, b } = make(c, 2);
      const expected = ref.linearForward(nd(x), nd(w), nd(b));
      expectRel(withThreads(1, () => Linear.forward(x, w, b).out), expected, 1e-12, '1 thread');
      expectRel(withThreads(2, () => Linear.forward(x, w, b).out), expected, 1e-12, '2 threads');
    });

    test('async variants give the sync results', async () => {
      const { x, w, b } = make(cases[3], 3);
      const s = Linear.forward(x, w, b);
      const a = await Linear.forwardAsync(x, w, b);
      expect(Array.from(a.out.data)).toEqual(Array.from(s.out.data));
      const dout = randn64(s.out.shape, 4);
      const gs = Linear.backward(dout, s.cache);
      const ga = await Linear.backwardAsync(dout, a.cache);
      expect(Array.from(ga.dx.data)).toEqual(Array.from(gs.dx.data));
      expect(Array.from(ga.dw.data)).toEqual(Array.from(gs.dw.data));
      expect(Array.from(ga.db.data)).toEqual(Array.from(gs.db.data));
    });
  });

  describe('Linear.backward vs numeric gradients (float64, h = 1e-6)', () => {
    test.each(cases)('$name: dx (in x\'s shape), dw, db', (c) => {
      const { x, w, b } = make(c, 5);
      const dout = randn64([c.x[0], c.M], 6);
      const { dx, dw, db } = Linear.backward(dout, Linear.forward(x, w, b).cache);
      expectShape(dx, x.shape);
      expectShape(dw, w.shape);
      expectShape(db, b.shape);
      expectRel(dx, numGrad((xx) => Linear.forward(xx, w, b).out, x, dout), 1e-7, 'dx');
      expectRel(dw, numGrad((ww) => Linear.forward(x, ww, b).out, w, dout), 1e-7, 'dw');
      expectRel(db, numGrad((bb) => Linear.forward(x, w, bb).out, b, dout), 1e-7, 'db');
    });

    test('backward on 2 threads with large shapes matches 1 thread', () => {
      const { x, w, b } = make({ name: '', x: [80, 90], M: 75 }, 7);
      const dout = randn64([80, 75], 8);
      const { cache } = Linear.forward(x, w, b);
      const g1 = withThreads(1, () => Linear.backward(dout, cache));
      const g2 = withThreads(2, () => Linear.backward(dout, cache));
      expectRel(g2.dx, g1.dx, 1e-12, 'dx');
      expectRel(g2.dw, g1.dw, 1e-12, 'dw');
      expectRel(g2.db, g1.db, 1e-12, 'db');
    });
  });

  describe('Linear float32', () => {
    test.each(cases)('$name: float32 forward within 1e-5 of float64', (c) => {
      const { x, w, b } = make(c, 9);
      const out64 = Linear.forward(x, w, b).out;
      const r32 = Linear.forward(x.astype('float32'), w.astype('float32'), b.astype('float32'));
      expect(r32.out.dtype).toBe('float32');
      expectRel(r32.out, out64, 1e-5, 'forward');
    });
  });
});
