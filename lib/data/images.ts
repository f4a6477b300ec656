// PNG and JPEG files as fixed-size uint8 samples: decoding (pngjs, jpeg-js), a size check before
// any pixel buffer is allocated, and one resampling used by training (image folders) and by
// `deepconv predict`, so a model sees its inputs prepared the same way in both.
import * as fs from 'fs';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { FileFormatError, fsError } from '../io/errors';

/** Larger images are refused before decoding (an RGBA buffer of this many pixels is 160 MB). */
export const MAX_IMAGE_PIXELS = 40_000_000;

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const;

/** Decoded pixels, 4 bytes (RGBA) per pixel, row-major. */
export interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

function kindOf(bytes: Uint8Array): 'png' | 'jpeg' | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/** PNG width and height from the IHDR chunk, read before pngjs allocates anything. */
function pngSize(bytes: Uint8Array, file: string): [number, number] {
  if (bytes.length < 24) throw new FileFormatError(file, `is a truncated PNG (${bytes.length} bytes, no IHDR chunk)`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [v.getUint32(16), v.getUint32(20)];
}

/**
 * Decodes a PNG or JPEG file (recognised by its first bytes, not its name) to RGBA. Errors are
 * FileFormatErrors naming the file: not an image, truncated or corrupt data, zero or too many pixels.
 */
export function decodeImage(bytes: Uint8Array, file: string): Rgba {
  const kind = kindOf(bytes);
  if (kind === null) throw new FileFormatError(file, 'is neither a PNG nor a JPEG file (its first bytes are not a PNG or JPEG signature)');
  if (kind === 'png') {
    const [w, h] = pngSize(bytes, file);
    if (w === 0 || h === 0 || w * h > MAX_IMAGE_PIXELS) throw new FileFormatError(file, `has ${w}x${h} pixels; images must have between 1 and ${MAX_IMAGE_PIXELS} pixels`);
    try {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, data: png.data };
    } catch (e) {
      throw new FileFormatError(file, `is not a readable PNG (${(e as Error).message})`);
    }
  }
  try {
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 512 });
    if (img.width === 0 || img.height === 0) throw new Error('no pixels');
    return { width: img.width, height: img.height, data: img.data };
  } catch (e) {
    throw new FileFormatError(file, `is not a readable JPEG (${(e as Error).message})`);
  }
}

export function readImage(file: string): Rgba {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw fsError(file, e);
  }
  return decodeImage(bytes, file);
}

/** True when every pixel has R = G = B (the image carries no colour). */
export function isGrey(img: Rgba): boolean {
  const d = img.data;
  for (let o = 0; o < d.length; o += 4) if (d[o] !== d[o + 1] || d[o] !== d[o + 2]) return false;
  return true;
}

/**
 * Resamples an RGBA image to C x H x W uint8 (C = 3: RGB; C = 1: luma 0.299 R + 0.587 G + 0.114 B)
 * into out[offset...]. Each output pixel averages the source pixels whose centres fall inside its
 * footprint (an area filter: no aliasing when shrinking); when enlarging, a footprint holds no
 * centre and the nearest source pixel is taken. The same size copies the pixels. Alpha is ignored.
 */
export function resampleTo(img: Rgba, C: 1 | 3, H: number, W: number, out: Uint8Array, offset: number): void {
  const { width: w, height: h, data } = img;
  // Source index range [lo, hi) of each output row / column.
  const spans = (n: number, src: number) => {
    const lo = new Int32Array(n);
    const hi = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let a = Math.ceil((i * src) / n - 0.5);
      let b = Math.ceil(((i + 1) * src) / n - 0.5);
      if (b <= a) {
        a = Math.min(src - 1, Math.floor(((i + 0.5) * src) / n));
        b = a + 1;
      }
      lo[i] = Math.max(0, a);
      hi[i] = Math.min(src, b);
    }
    return { lo, hi };
  };
  const ys = spans(H, h);
  const xs = spans(W, w);
  const px = new Float64Array(3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      px.fill(0);
      let n = 0;
      for (let sy = ys.lo[y]; sy < ys.hi[y]; sy++) {
        for (let sx = xs.lo[x]; sx < xs.hi[x]; sx++) {
          const o = (sy * w + sx) * 4;
          px[0] += data[o];
          px[1] += data[o + 1];
          px[2] += data[o + 2];
          n++;
        }
      }
      if (C === 1) out[offset + y * W + x] = Math.round((0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2]) / n);
      else for (let c = 0; c < 3; c++) out[offset + (c * H + y) * W + x] = Math.round(px[c] / n);
    }
  }
}
