// The executor settles finished calls in batches (native/binding/executor.h): when its queue runs
// dry, when a batch is 1 ms old, or when it holds 256 calls. Whatever the batching, every promise
// settles, in submission order, and a call that finished early does not wait for a long queue
// behind it to drain.
import { sgdAsync } from '../lib/optim';
import { Tensor } from '../lib/tensor';
import { native } from '../lib/binding';

test('600 queued calls (more than a batch holds) all settle, in submission order, with their results', async () => {
  const w = Tensor.zeros([8]);
  const dw = Tensor.full([8], -1);
  const order: number[] = [];
  const calls = Array.from({ length: 600 }, (_, i) => sgdAsync(w, dw, { learningRate: 1 }).then(() => order.push(i)));
  await Promise.all(calls);
  expect(order).toEqual(Array.from({ length: 600 }, (_, i) => i));
  expect(Array.from(w.data)).toEqual(Array.from({ length: 8 }, () => 600));  // each call ran once
});

test('a long queue settles as it goes: its calls reach the JS thread in many batches, not one when it drains', async () => {
  // 60 updates of 4M floats (~0.35 ms each on an idle Xeon) queued in one synchronous loop, faster
  // than the executor runs them. Were settlements held until the queue ran dry, they would reach
  // the JS thread in one or two batches; with the 1 ms bound a batch goes every ~3 updates (~20
  // in all). Counting batches times nothing: a loaded machine makes each update slower, which
  // only means more batches. (A timed version of this test failed in CI: the JS thread itself was
  // descheduled for 25 ms.)
  const big = Tensor.zeros([1 << 22]);
  const bigGrad = Tensor.zeros([1 << 22]);
  await sgdAsync(big, bigGrad, { learningRate: 1 });  // pages touched once
  const before = native.executorStats();
  expect(before.pending).toBe(0);
  const calls = Array.from({ length: 60 }, () => sgdAsync(big, bigGrad, { learningRate: 1 }));
  expect(native.executorStats().pending).toBe(60);
  await Promise.all(calls);
  const after = native.executorStats();
  expect(after.pending).toBe(0);
  expect(after.batches - before.batches).toBeGreaterThanOrEqual(6);
});
