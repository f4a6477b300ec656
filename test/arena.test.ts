// The output arena recycles a step's buffers: repeated drives must not grow it, and results
// must equal those of fresh allocations (exact equality: same kernels, same inputs).
import { Arena, DeepConvNet, Tensor } from '../lib';

describe('Arena', () => {
  const net = new DeepConvNet({ inputDims: [3, 8, 8], numFilters: [4, 4], maxPools: [0, 1], batchnorm: true, weightScale: 'kaiming', seed: 0 });
  const X = Tensor.randn([4, 3, 8, 8], { seed: 1 });
  const y = [0, 1, 2, 3];

  test('repeated loss() calls with one arena reuse the same bytes', async () => {
    const arena = new Arena();
    net.loss(X, y, { arena });
    const bytes = arena.bytes;
    expect(bytes).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) net.loss(X, y, { arena });
    await net.lossAsync(X, y, { arena });
    expect(arena.bytes).toBe(bytes);
  });

  test('recycled buffers give the same scores and gradients as fresh ones', () => {
    const arena = new Arena();
    const a = net.loss(X, y, { arena });
    const aGrads = Object.fromEntries(Object.entries(a.grads).map(([k, v]) => [k, Array.from(v.data)]));
    const aLoss = a.loss;
    const b = net.loss(X, y, { arena });  // overwrites a's buffers
    const fresh = net.loss(X, y);
    expect(b.loss).toBe(fresh.loss);
    for (const k of Object.keys(fresh.grads)) expect(Array.from(b.grads[k].data)).toEqual(Array.from(fresh.grads[k].data));
    // the first call's numbers were the same too (batchnorm running stats do not enter train mode)
    expect(aLoss).toBe(fresh.loss);
    for (const k of Object.keys(fresh.grads)) expect(aGrads[k]).toEqual(Array.from(fresh.grads[k].data));
  });
});
