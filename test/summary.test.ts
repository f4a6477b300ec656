// model.summary() and `deepconv summary` (issue 12): figures of small networks computed by hand
// below, and parameter totals checked against the tensors the model actually holds.
import { DeepConvNet, FullyConnectedNet, ThreeLayerConvNet } from '../lib/models';

const held = (m: { params: Record<string, { size: number }> }) => Object.values(m.params).reduce((a, t) => a + t.size, 0);

describe('model.summary()', () => {
  test('DeepConvNet 3x8x8, 4 filters, batchnorm, pool, 5 classes: every row as computed by hand', () => {
    const m = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4], maxPools: [0], batchnorm: true, numClasses: 5 });
    const s = m.summary();
    expect(s.layers.map((l) => [l.type, l.outputShape, l.params, l.state, l.flops])).toEqual([
      ['Conv2d', [4, 8, 8], 4 * 27 + 4, 0, 256 * (2 * 27 + 1)],  // 256 outputs, 27 multiply-adds and a bias each
      ['BatchNorm2d', [4, 8, 8], 8, 8, 2 * 256],
      ['ReLU', [4, 8, 8], 0, 0, 256],
      ['MaxPool2d', [4, 4, 4], 0, 0, 64 * 3],
      ['Flatten', [64], 0, 0, 0],
      ['Linear', [5], 64 * 5 + 5, 0, 5 * (2 * 64 + 1)],
    ]);
    expect(s.totalParams).toBe(445);
    expect(s.totalParams).toBe(held(m));
    expect(s.totalState).toBe(8);
    expect(s.flopsPerSample).toBe(14080 + 512 + 256 + 192 + 645);
    expect(s.bytes).toBe((445 + 8) * 4);
    expect(s.text).toMatch(/^DeepConvNet, input 3x8x8, float32\n/);
    expect(s.text).toMatch(/0 +Conv2d\(3->4, 3x3, pad 1\) +4x8x8 +112 +14\.08k/);
    expect(s.text).toMatch(/parameters: 445 trained \+ 8 batchnorm statistics/);
  });

  test('odd sizes: a pool drops the last row and column, as the forward pass does', () => {
    const m = new DeepConvNet({ inputDims: [1, 7, 5], numFilters: [2, 3], maxPools: [0, 1], numClasses: 2, dtype: 'float64' });
    const s = m.summary();
    expect(s.layers.filter((l) => l.type === 'MaxPool2d').map((l) => l.outputShape)).toEqual([[2, 3, 2], [3, 1, 1]]);
    expect(s.layers[s.layers.length - 1].args).toEqual({ in_features: 3, out_features: 2 });
    expect(s.totalParams).toBe(held(m));
    expect(s.bytes).toBe(s.totalParams * 8);
  });

  test('ThreeLayerConvNet and FullyConnectedNet: totals match the parameters held', () => {
    const t = new ThreeLayerConvNet({ inputDims: [3, 16, 16], numFilters: 6, filterSize: 5, hiddenDim: 20, numClasses: 4 });
    expect(t.summary().totalParams).toBe(held(t));
    expect(t.summary().layers[0].flops).toBe(6 * 16 * 16 * (2 * 3 * 25 + 1));
    const f = new FullyConnectedNet({ inputDim: 12, hiddenDims: [7, 5], batchnorm: true, dropout: 0.3, numClasses: 3 });
    const s = f.summary();
    expect(s.totalParams).toBe(held(f));
    expect(s.totalState).toBe(2 * (7 + 5));
    expect(s.layers.map((l) => l.type)).toEqual(['Linear', 'BatchNorm1d', 'ReLU', 'Dropout', 'Linear', 'BatchNorm1d', 'ReLU', 'Dropout', 'Linear']);
    expect(s.layers[0].flops).toBe(7 * (2 * 12 + 1));
  });
});
