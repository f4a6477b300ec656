// Batch augmentation for (N, C, H, W) images: random crop from a zero-padded image, and random
// horizontal flip. Plain loops over typed arrays, nothing allocated per image or pixel.
import { FloatArray } from '../tensor';
import { Rng } from '../random';
import { checkInt, checkOptions, describe } from '../validate';

export interface CropFlipOptions {
  /** Zero padding on each side; crop offsets are drawn from [-pad, pad] (default 4). */
  pad?: number;
  /** Flip each image horizontally with probability 1/2 (default true). */
  flip?: boolean;
  /** Where to write (N*C*H*W elements, not overlapping the input); allocated when absent. */
  out?: FloatArray;
}

function checkDims(src: unknown, N: number, C: number, H: number, W: number): FloatArray {
  if (!(src instanceof Float32Array || src instanceof Float64Array)) throw new TypeError(`batch must be a Float32Array or Float64Array, got ${describe(src)}`);
  checkInt('N', N, 0);
  checkInt('C', C, 1);
  checkInt('H', H, 1);
  checkInt('W', W, 1);
  if (src.length !== N * C * H * W) throw new RangeError(`batch must hold N*C*H*W = ${N * C * H * W} elements, got ${src.length}`);
  return src;
}

function checkOut(out: unknown, src: FloatArray): FloatArray {
  if (!(out instanceof Float32Array || out instanceof Float64Array)) throw new TypeError(`out must be a Float32Array or Float64Array, got ${describe(out)}`);
  if (out.length !== src.length) throw new RangeError(`out must hold ${src.length} elements like the batch, got ${out.length}`);
  if (out.buffer === src.buffer) {
    const a0 = src.byteOffset;
    const a1 = a0 + src.byteLength;
    const b0 = out.byteOffset;
    const b1 = b0 + out.byteLength;
    if (a0 < b1 && b0 < a1) throw new RangeError('out must not overlap the batch (the crop reads pixels it would already have overwritten)');
  }
  return out;
}

/**
 * Deterministic crop-and-flip: image n becomes the crop shifted by (dy[n], dx[n]) of the
 * zero-padded image, i.e. out[y][x] = src[y + dy][x + dx] (0 outside), then mirrored left-right
 * when flip[n] is truthy. dy = dx = 0 and no flip copies the image.
 */
export function cropFlip(
  src: FloatArray, out: FloatArray, N: number, C: number, H: number, W: number,
  dy: ArrayLike<number>, dx: ArrayLike<number>, flip: ArrayLike<number | boolean>,
): FloatArray {
  checkDims(src, N, C, H, W);
  checkOut(out, src);
  for (const [name, a] of [['dy', dy], ['dx', dx], ['flip', flip]] as const) {
    if (a === null || typeof a !== 'object' || typeof (a as ArrayLike<unknown>).length !== 'number' || (a as ArrayLike<unknown>).length < N) {
      throw new TypeError(`${name} must be an array of at least N = ${N} values, got ${describe(a)}`);
    }
  }
  const plane = H * W;
  for (let n = 0; n < N; n++) {
    const oy = dy[n] | 0;
    const ox = dx[n] | 0;
    const f = !!flip[n];
    // Output columns [x0, x1) read a source pixel; the rest are zero padding.
    const x0 = f ? Math.max(0, ox) : Math.max(0, -ox);
    const x1 = f ? Math.min(W, W + ox) : Math.min(W, W - ox);
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * plane;
      for (let y = 0; y < H; y++) {
        const row = base + y * W;
        const sy = y + oy;
        if (sy < 0 || sy >= H || x0 >= x1) {
          out.fill(0, row, row + W);
          continue;
        }
        const srow = base + sy * W;
        for (let x = 0; x < x0; x++) out[row + x] = 0;
        if (f) {
          const s0 = srow + W - 1 + ox; // source index for x = 0, decreasing with x
          for (let x = x0; x < x1; x++) out[row + x] = src[s0 - x];
        } else {
          const s0 = srow + ox;
          for (let x = x0; x < x1; x++) out[row + x] = src[s0 + x];
        }
        for (let x = x1; x < W; x++) out[row + x] = 0;
      }
    }
  }
  return out;
}

/**
 * Random crop with zero padding `pad` and random horizontal flip of each image in a (N, C, H, W)
 * batch, drawn from `rng` (for each image in order: dy, dx, then the flip). Writes into opts.out
 * (allocated when absent) and returns it.
 */
export function randomCropFlip(batch: FloatArray, N: number, C: number, H: number, W: number, rng: Rng, opts?: CropFlipOptions): FloatArray {
  checkDims(batch, N, C, H, W);
  if (!(rng instanceof Rng)) throw new TypeError(`rng must be an Rng, got ${describe(rng)}`);
  const o = checkOptions('opts', opts);
  const pad = o.pad === undefined ? 4 : checkInt('opts.pad', o.pad, 0);
  const doFlip = o.flip === undefined ? true : o.flip;
  if (typeof doFlip !== 'boolean') throw new TypeError(`opts.flip must be a boolean, got ${describe(doFlip)}`);
  const out = o.out === undefined ? (batch instanceof Float64Array ? new Float64Array(batch.length) : new Float32Array(batch.length)) : checkOut(o.out, batch);
  const dy = new Int32Array(N);
  const dx = new Int32Array(N);
  const fl = new Uint8Array(N);
  const span = 2 * pad + 1;
  for (let n = 0; n < N; n++) {
    dy[n] = rng.int(span) - pad;
    dx[n] = rng.int(span) - pad;
    fl[n] = doFlip && rng.uniform() < 0.5 ? 1 : 0;
  }
  return cropFlip(batch, out, N, C, H, W, dy, dx, fl);
}
