// The default (CPU-only) build asked for cuda: every way in ends in an error that says how to
// build the CUDA backend, and nothing else changes.
import { buildInfo, cudaDeviceCount, cudaSynchronize, DeepConvNet, Tensor } from '../lib';
import { native } from '../lib/binding';
import { main } from '../lib/cli/main';
import { expectThrow } from './helpers';

const HOW = /needs the CUDA backend, but this build of the deepconv addon has none\. Rebuild it with `npm run build:cuda` in the package folder, or install with `DEEPCONV_CUDA=1 npm install`/;

describe('a build without CUDA', () => {
  test('says so in buildInfo and counts no devices', async () => {
    expect(buildInfo().cuda).toBe(false);
    expect(buildInfo().cudaEmulator).toBe(false);
    expect(cudaDeviceCount()).toBe(0);
    await expect(cudaSynchronize()).resolves.toBeUndefined();
  });

  test('cuda tensors and models throw how to build one', () => {
    expectThrow(() => Tensor.zeros([2], 'float32', 'cuda'), 'Error', HOW);
    expectThrow(() => Tensor.zeros([2]).toDevice('cuda'), 'Error', HOW);
    expectThrow(() => new DeepConvNet({ device: 'cuda' }), 'Error', HOW);
    expectThrow(() => new DeepConvNet().toDevice('cuda'), 'Error', HOW);
  });

  test('the raw addon functions throw it too', () => {
    for (const call of [() => native.cudaAlloc('float32', 4, true), () => native.cudaSynchronize(), () => native.cudaCopy(0, {} as never, {} as never)]) {
      expectThrow(call, 'Error', /^deepconv: this build of the deepconv addon has no CUDA backend\. Rebuild it with CUDA: `npm run build:cuda`/);
    }
    expect(native.isCudaBuffer({})).toBe(false);
  });

  test('deepconv train --device cuda stops before loading data, with exit status 1', async () => {
    const err: string[] = [];
    const spy = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
    try {
      const code = await main(['node', 'deepconv', 'train', '--device', 'cuda', '--data', '/nonexistent']);
      expect(code).toBe(1);
      expect(err.join('\n')).toMatch(/^deepconv: --device cuda needs the CUDA backend/);
    } finally {
      spy.mockRestore();
    }
  });
});
