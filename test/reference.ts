// Independent reference implementations for the test suite: plain TypeScript loops over
// Float64Array, written from the layer definitions (cs231n conventions), never from the kernels.
// Nothing here imports the native addon (or any lib module that does): a bug in a kernel cannot
// leak into the reference it is checked against.

/** A row-major float64 array with its shape. A Tensor of dtype float64 also fits this type. */
export interface ND {
  data: Float64Array;
  shape: readonly number[];
}

export function sizeOfShape(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function zeros(shape: readonly number[]): ND {
  return { data: new Float64Array(sizeOfShape(shape)), shape: shape.slice() };
}

/** A float64 copy of anything with data and shape (a float32 Tensor, say). */
export function toND(t: { data: ArrayLike<number>; shape: readonly number[] }): ND {
  const data = new Float64Array(t.data.length);
  for (let i = 0; i < data.length; i++) data[i] = t.data[i];
  return { data, shape: t.shape.slice() };
}

// ---------------------------------------------------------------- convolution

/**
 * out[n, f, i, j] = b[f] + sum_{c, kh, kw} xpad[n, c, i*stride + kh, j*stride + kw] * w[f, c, kh, kw]
 * x (N, C, H, W), w (F, C, HH, WW), b (F); zero padding of `pad` on every side.
 * Ho = 1 + (H + 2 pad - HH) / stride (must be whole), likewise Wo.
 */
export function convForward(x: ND, w: ND, b: ND, stride: number, pad: number): ND {
  const [N, C, H, W] = x.shape;
  const [F, Cw, HH, WW] = w.shape;
  if (Cw !== C) throw new Error('reference conv: channel mismatch');
  const Ho = 1 + (H + 2 * pad - HH) / stride;
  const Wo = 1 + (W + 2 * pad - WW) / stride;
  if (!Number.isInteger(Ho) || !Number.isInteger(Wo)) throw new Error('reference conv: output size not whole');
  // Explicitly padded copy of x, the textbook way.
  const Hp = H + 2 * pad;
  const Wp = W + 2 * pad;
  const xp = new Float64Array(N * C * Hp * Wp);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++)
        for (let ww = 0; ww < W; ww++) xp[((n * C + c) * Hp + h + pad) * Wp + ww + pad] = x.data[((n * C + c) * H + h) * W + ww];
  const out = zeros([N, F, Ho, Wo]);
  for (let n = 0; n < N; n++)
    for (let f = 0; f < F; f++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let s = b.data[f];
          for (let c = 0; c < C; c++)
            for (let kh = 0; kh < HH; kh++)
              for (let kw = 0; kw < WW; kw++) {
                s += xp[((n * C + c) * Hp + i * stride + kh) * Wp + j * stride + kw] * w.data[((f * C + c) * HH + kh) * WW + kw];
              }
          out.data[((n * F + f) * Ho + i) * Wo + j] = s;
        }
  return out;
}

// ---------------------------------------------------------------- max pooling

/** out[n, c, i, j] = max of the (ph, pw) window at (i*stride, j*stride); Ho = 1 + floor((H - ph) / stride). */
export function maxPoolForward(x: ND, ph: number, pw: number, stride: number): ND {
  const [N, C, H, W] = x.shape;
  const Ho = 1 + Math.floor((H - ph) / stride);
  const Wo = 1 + Math.floor((W - pw) / stride);
  const out = zeros([N, C, Ho, Wo]);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let m = -Infinity;
          for (let a = 0; a < ph; a++)
            for (let bb = 0; bb < pw; bb++) m = Math.max(m, x.data[((n * C + c) * H + i * stride + a) * W + j * stride + bb]);
          out.data[((n * C + c) * Ho + i) * Wo + j] = m;
        }
  return out;
}

/** dx of max pooling: each dout goes to the first maximum of its window (ties: first in row-major order). */
export function maxPoolBackward(dout: ND, x: ND, ph: number, pw: number, stride: number): ND {
  const [N, C, H, W] = x.shape;
  const [, , Ho, Wo] = dout.shape;
  const dx = zeros(x.shape);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let best = -1;
          let m = -Infinity;
          for (let a = 0; a < ph; a++)
            for (let bb = 0; bb < pw; bb++) {
              const idx = ((n * C + c) * H + i * stride + a) * W + j * stride + bb;
              if (best < 0 || x.data[idx] > m) {
                m = x.data[idx];
                best = idx;
              }
            }
          dx.data[best] += dout.data[((n * C + c) * Ho + i) * Wo + j];
        }
  return dx;
}

// ---------------------------------------------------------------- relu

export function relu(x: ND): ND {
  const out = zeros(x.shape);
  for (let i = 0; i < x.data.length; i++) out.data[i] = x.data[i] > 0 ? x.data[i] : 0;
  return out;
}

// ---------------------------------------------------------------- linear

/** x of any rank >= 2 flattened to (N, D); w (D, M); b (M) -> (N, M). */
export function linearForward(x: ND, w: ND, b: ND): ND {
  const N = x.shape[0];
  const D = sizeOfShape(x.shape.slice(1));
  const [Dw, M] = w.shape;
  if (Dw !== D) throw new Error('reference linear: D mismatch');
  const out = zeros([N, M]);
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      let s = b.data[m];
      for (let d = 0; d < D; d++) s += x.data[n * D + d] * w.data[d * M + m];
      out.data[n * M + m] = s;
    }
  return out;
}

// ---------------------------------------------------------------- batch normalization

export interface BNState {
  /** (D) running mean and running (biased) variance, updated in place in train mode. */
  runningMean: Float64Array;
  runningVar: Float64Array;
}

/**
 * Batchnorm over x (N, D), per feature. Train: batch mean and biased variance, out = gamma * xhat + beta,
 * running = momentum * running + (1 - momentum) * batch (in place on `state`). Test: running statistics.
 */
export function batchnormForward(x: ND, gamma: ND, beta: ND, mode: 'train' | 'test', state: BNState, eps = 1e-5, momentum = 0.9): ND {
  const [N, D] = x.shape;
  const out = zeros(x.shape);
  for (let d = 0; d < D; d++) {
    let mu: number;
    let v: number;
    if (mode === 'train') {
      let s = 0;
      for (let n = 0; n < N; n++) s += x.data[n * D + d];
      mu = s / N;
      let q = 0;
      for (let n = 0; n < N; n++) q += (x.data[n * D + d] - mu) ** 2;
      v = q / N;
      state.runningMean[d] = momentum * state.runningMean[d] + (1 - momentum) * mu;
      state.runningVar[d] = momentum * state.runningVar[d] + (1 - momentum) * v;
    } else {
      mu = state.runningMean[d];
      v = state.runningVar[d];
    }
    for (let n = 0; n < N; n++) out.data[n * D + d] = (gamma.data[d] * (x.data[n * D + d] - mu)) / Math.sqrt(v + eps) + beta.data[d];
  }
  return out;
}

/** Spatial batchnorm over x (N, C, H, W): statistics per channel over its N*H*W values. */
export function spatialBatchnormForward(x: ND, gamma: ND, beta: ND, mode: 'train' | 'test', state: BNState, eps = 1e-5, momentum = 0.9): ND {
  const [N, C, H, W] = x.shape;
  const S = H * W;
  const m = N * S;
  const out = zeros(x.shape);
  for (let c = 0; c < C; c++) {
    let mu: number;
    let v: number;
    if (mode === 'train') {
      let s = 0;
      for (let n = 0; n < N; n++) for (let k = 0; k < S; k++) s += x.data[(n * C + c) * S + k];
      mu = s / m;
      let q = 0;
      for (let n = 0; n < N; n++) for (let k = 0; k < S; k++) q += (x.data[(n * C + c) * S + k] - mu) ** 2;
      v = q / m;
      state.runningMean[c] = momentum * state.runningMean[c] + (1 - momentum) * mu;
      state.runningVar[c] = momentum * state.runningVar[c] + (1 - momentum) * v;
    } else {
      mu = state.runningMean[c];
      v = state.runningVar[c];
    }
    for (let n = 0; n < N; n++)
      for (let k = 0; k < S; k++) {
        const i = (n * C + c) * S + k;
        out.data[i] = (gamma.data[c] * (x.data[i] - mu)) / Math.sqrt(v + eps) + beta.data[c];
      }
  }
  return out;
}

// ---------------------------------------------------------------- losses

/** Mean over rows of -log softmax(scores)[y]. */
export function softmaxLoss(scores: ND, y: ArrayLike<number>): number {
  const [N, C] = scores.shape;
  let total = 0;
  for (let n = 0; n < N; n++) {
    let mx = -Infinity;
    for (let c = 0; c < C; c++) mx = Math.max(mx, scores.data[n * C + c]);
    let z = 0;
    for (let c = 0; c < C; c++) z += Math.exp(scores.data[n * C + c] - mx);
    total += Math.log(z) - (scores.data[n * C + y[n]] - mx);
  }
  return total / N;
}

/** d(softmaxLoss)/d(scores) = (softmax - onehot(y)) / N. */
export function softmaxLossGrad(scores: ND, y: ArrayLike<number>): ND {
  const [N, C] = scores.shape;
  const dx = zeros(scores.shape);
  for (let n = 0; n < N; n++) {
    let mx = -Infinity;
    for (let c = 0; c < C; c++) mx = Math.max(mx, scores.data[n * C + c]);
    let z = 0;
    for (let c = 0; c < C; c++) z += Math.exp(scores.data[n * C + c] - mx);
    for (let c = 0; c < C; c++) dx.data[n * C + c] = Math.exp(scores.data[n * C + c] - mx) / z / N;
    dx.data[n * C + y[n]] -= 1 / N;
  }
  return dx;
}

/**
 * Cross-entropy against the smoothed target q = (1 - e) onehot(y) + e / C, straight from its
 * definition: mean over rows of -sum_j q_j log softmax(scores)_j.
 */
export function softmaxLossSmoothed(scores: ND, y: ArrayLike<number>, e: number): number {
  const [N, C] = scores.shape;
  let total = 0;
  for (let n = 0; n < N; n++) {
    const row = Array.from({ length: C }, (_, c) => scores.data[n * C + c]);
    const mx = Math.max(...row);
    const logZ = Math.log(row.reduce((acc, v) => acc + Math.exp(v - mx), 0));
    for (let c = 0; c < C; c++) {
      const q = (c === y[n] ? 1 - e : 0) + e / C;
      total -= q * (row[c] - mx - logZ);
    }
  }
  return total / N;
}

/** Its gradient: (softmax - q) / N. */
export function softmaxLossSmoothedGrad(scores: ND, y: ArrayLike<number>, e: number): ND {
  const [N, C] = scores.shape;
  const dx = softmaxLossGrad(scores, y);  // (p - onehot) / N
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) dx.data[n * C + c] += ((c === y[n] ? e : 0) - e / C) / N;
  return dx;
}

/** Mean over rows of sum_{j != y} max(0, s_j - s_y + 1). */
export function svmLoss(scores: ND, y: ArrayLike<number>): number {
  const [N, C] = scores.shape;
  let total = 0;
  for (let n = 0; n < N; n++) {
    const correct = scores.data[n * C + y[n]];
    for (let c = 0; c < C; c++) {
      if (c === y[n]) continue;
      total += Math.max(0, scores.data[n * C + c] - correct + 1);
    }
  }
  return total / N;
}

// ---------------------------------------------------------------- gemm

/**
 * C (M, N) = alpha * op(A) @ op(B) + beta * C in place, row-major, accumulated in double.
 * beta = 0 ignores what C held (NaN included), as BLAS does.
 */
export function gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: ArrayLike<number>, B: ArrayLike<number>, beta: number, C: Float64Array): Float64Array {
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const a = transA ? A[k * M + i] : A[i * K + k];
        const b = transB ? B[j * K + k] : B[k * N + j];
        s += a * b;
      }
      C[i * N + j] = alpha * s + (beta === 0 ? 0 : beta * C[i * N + j]);
    }
  return C;
}
