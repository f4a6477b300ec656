// Where layer outputs come from. Normally each op returns fresh zeroed tensors. A model's
// training step instead runs under an Arena: its k-th allocation reuses the buffer of the
// k-th allocation of the previous step (a step makes the same allocations in the same order),
// so the steady state allocates nothing and touches no fresh pages. Kernels overwrite every
// output element, so recycled buffers need no clearing. The same holds for device memory: on
// cuda, outputs are CudaBuffers and a step makes no cudaMalloc once the arena is warm.
import { CudaBuffer } from '../binding';
import { cudaAlloc, Device, DType, FloatArray, hostArray, isCudaBuffer, Tensor } from '../tensor';

type Kind = DType | 'int32' | 'cuda-float32' | 'cuda-int32';
type Buffer = FloatArray | Int32Array | CudaBuffer;

function make(kind: Kind, n: number): Buffer {
  if (kind === 'cuda-float32') return cudaAlloc(n, false);
  if (kind === 'cuda-int32') return cudaAlloc(n, false, 'int32');
  return hostArray(kind as DType | 'int32', n);
}

function kindOf(b: Buffer): Kind {
  if (isCudaBuffer(b)) return b.kind === 'int32' ? 'cuda-int32' : 'cuda-float32';
  if (b instanceof Float64Array) return 'float64';
  if (b instanceof Int32Array) return 'int32';
  return 'float32';
}

function bytesOf(b: Buffer): number {
  return isCudaBuffer(b) ? b.length * 4 : b.byteLength;
}

export class Arena {
  private slots: Buffer[] = [];
  private next = 0;
  /** Buffers of this step that their last reader has been queued for: free to hand out again. */
  private free = new Set<Buffer>();

  /** Starts a new step: allocations are handed out from the first slot again. */
  reset(): void {
    this.next = 0;
    this.free.clear();
  }

  take(kind: Kind, n: number): Buffer {
    for (const b of this.free) {
      if (b.length === n && kindOf(b) === kind) {
        this.free.delete(b);
        return b;
      }
    }
    const i = this.next++;
    const b = this.slots[i];
    if (b && b.length === n && kindOf(b) === kind) return b;
    return (this.slots[i] = make(kind, n));
  }

  /**
   * Lets a later allocation of this step reuse `b`. Safe once every kernel that reads b has been
   * queued: kernels run in the order they are queued (synchronously, or on the one executor
   * thread), so the next writer runs after the last reader. Buffers the arena does not own (inputs,
   * parameters) are ignored. A step releases the same buffers at the same points each time, so the
   * hand-out stays deterministic from step to step.
   */
  release(b: Buffer): void {
    if (b.length > 0 && this.slots.includes(b)) this.free.add(b);
  }

  /** Bytes held across steps (host or device memory). */
  get bytes(): number {
    return this.slots.reduce((s, b) => s + bytesOf(b), 0);
  }

  /** Frees the device memory the arena holds now (instead of when collected) and empties it. */
  dispose(): void {
    for (const b of this.slots) if (isCudaBuffer(b)) b.dispose();
    this.slots = [];
    this.free.clear();
    this.next = 0;
  }
}

let active: Arena | null = null;

/** Runs fn with `arena` serving the layer outputs it allocates (null: fresh buffers). */
export function withArena<R>(arena: Arena | null, fn: () => R): R {
  const prev = active;
  active = arena;
  try {
    return fn();
  } finally {
    active = prev;
  }
}

/** A layer output shaped `shape` in `like`'s dtype, on its device. */
export function output(like: Tensor, shape: readonly number[] = like.shape): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const kind = like.device === 'cuda' ? 'cuda-float32' : like.dtype;
  return new Tensor((active ? active.take(kind, n) : make(kind, n)) as FloatArray | CudaBuffer, shape);
}

/** Marks layer outputs dead for the rest of the step (see Arena.release); no-op without an arena. */
export function release(...tensors: Tensor[]): void {
  if (active) for (const t of tensors) active.release(t.buffer);
}

/** An int32 cache buffer of n elements (max-pool argmax) on `device`. */
export function outputInt32(n: number, device: Device = 'cpu'): Int32Array | CudaBuffer {
  const kind = device === 'cuda' ? 'cuda-int32' : 'int32';
  if (active) return active.take(kind, n) as Int32Array | CudaBuffer;
  return make(kind, n) as Int32Array | CudaBuffer;
}
