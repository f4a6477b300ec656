// Winograd F(2x2, 3x3)'s data transforms, compiled once per ISA path (isa_passes.h; included by
// winograd.cc only, after everything they use). The 16 products between them are GEMMs.
//
// Lavin & Gray's F(2x2, 3x3) for a 3x3 cross-correlation with pad 1 and stride 1: a 2x2 output
// tile comes from a 4x4 input tile d as Y = A^T [(G g G^T) . (B^T d B)] A, with
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],   A^T = [1 1 1 0; 0 1 -1 -1]
// (G, for the weights, is in winograd.cc). Transform element xi = 4 r + c is row r, column c.
//
// Tiles are indexed t = ty * TW + tx (TH = ceil(H/2) rows of TW = ceil(W/2) tiles); tile (ty, tx)
// reads padded rows 2ty .. 2ty+3 and padded columns 2tx .. 2tx+3 (padded = input + 1, zeros
// outside). Every loop below runs over contiguous memory (see winograd_input's steps).
namespace deepconv {
namespace cpu {
namespace DEEPCONV_ISA_NS {

// The floats of scratch winograd_input, winograd_output and winograd_output_grad (the same 4 T
// as winograd_output) need for maps of TH x TW tiles.
inline int64_t winograd_scratch(int64_t TH, int64_t TW) {
  const int64_t rows = 2 * TH + 2, pitch = 2 * TW + 2;
  const int64_t input = rows * pitch + 4 + 4 * rows * (TW + 1);  // the padded plane (+ the tail step 2 reads), h
  const int64_t output = 4 * TH * TW;                            // y00, y01, y10, y11 (both ways)
  return input > output ? input : output;
}

// Step 3 of winograd_input for channel c: V's 16 rows (xs apart) from h, the image's
// tiles from column col0. kTW > 0 is TW known at compile time (the common maps: 8x8,
// 16x16, 32x32), so a row of 4, 8 or 16 tiles is one vector instead of a scalar remainder; 0
// reads TW.
template <int kTW>
inline void input_columns(float* V, const PackedB& layout, int64_t xs, int64_t c, int64_t col0, const float* h,
                          int64_t half, int64_t TH, int64_t TW_) {
  const int64_t TW = kTW > 0 ? kTW : TW_;
  for (int64_t ty = 0; ty < TH; ++ty) {
    float* __restrict v = V + layout.at(c, col0 + ty * TW);
    for (int j = 0; j < 4; ++j) {
      const float* __restrict e = h + j * 2 * half + ty * (TW + 1);  // row 2ty; + TW+1: row 2ty+2
      const float* __restrict o = e + half;                            // row 2ty+1; + TW+1: row 2ty+3
#pragma omp simd
      for (int64_t tx = 0; tx < TW; ++tx) {
        const float r0 = e[tx], r1 = o[tx], r2 = e[tx + TW + 1], r3 = o[tx + TW + 1];
        v[(0 + j) * xs + tx] = r0 - r2;
        v[(4 + j) * xs + tx] = r1 + r2;
        v[(8 + j) * xs + tx] = r2 - r1;
        v[(12 + j) * xs + tx] = r1 - r3;
      }
    }
  }
}

inline void input_columns_any(float* V, const PackedB& layout, int64_t xs, int64_t c, int64_t col0, const float* h,
                              int64_t half, int64_t TH, int64_t TW) {
  switch (TW) {
    case 4: return input_columns<4>(V, layout, xs, c, col0, h, half, TH, TW);
    case 8: return input_columns<8>(V, layout, xs, c, col0, h, half, TH, TW);
    case 16: return input_columns<16>(V, layout, xs, c, col0, h, half, TH, TW);
    default: return input_columns<0>(V, layout, xs, c, col0, h, half, TH, TW);
  }
}

// V (16, C, columns), each xi's (C, columns) in `layout` (plain rows, PackedB::rows, or the
// GEMM's packed B panels, where a tile row of TW columns never straddles two of them) and xs
// floats after the previous one (winograd_xs), at
// columns [col0, col0 + TH*TW) <- the transformed tiles of one image x (C, H, W).
// Per channel, in three loops over contiguous memory:
//   1. the padded plane p, pitch 2TW+2, its even rows first, then its odd rows;
//   2. the row transform (d B) as one loop over the whole plane: for q = row * (TW+1) + tx,
//      h_j[q] reads p[2q .. 2q+3] (the pitch is 2 (TW+1), so q runs on across rows; the extra
//      tx = TW of each row reads into the next and is never used);
//   3. the column transform (B^T ...) per tile row: rows 2ty, 2ty+1, 2ty+2, 2ty+3 of h are
//      the even half at ty, the odd half at ty, the even half at ty+1, the odd half at ty+1.
// The AVX-512 and AVX2 passes do the same arithmetic in registers instead (winograd_input_regs).
#if DEEPCONV_ISA_AVX512 || DEEPCONV_ISA_AVX2
// The first and one-past-last lane of a len-lane load at x index `start` that fall in [0, W).
inline void inside_range(int64_t start, int64_t len, int64_t W, int64_t* lo, int64_t* hi) {
  *lo = std::max<int64_t>(0, -start);
  *hi = std::max(*lo, std::min<int64_t>(len, W - start));
}
#endif

#if DEEPCONV_ISA_AVX512
// 16 tiles at a time.
struct InputRegs {
  using reg = __m512;
  static constexpr int64_t L = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static __m512 load(const float* xr, int64_t start, int64_t len, int64_t W) {
    int64_t lo, hi;
    inside_range(start, len, W, &lo, &hi);
    return _mm512_maskz_loadu_ps(__mmask16(((1u << hi) - 1) & ~((1u << lo) - 1)), xr + start);
  }
  // a, b, cc, d of the row transform (p[2q .. 2q+3], q = t0 ..) from x row xr.
  static void abcd(reg* a, reg* b, reg* cc, reg* d, const float* xr, int64_t W, int64_t t0) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i next_c = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    const __m512i next_d = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17);
    const int64_t base = 2 * t0 - 1;  // the x column of p[2 t0]
    const reg l0 = load(xr, base, 16, W), l1 = load(xr, base + 16, 16, W), l2 = load(xr, base + 32, 2, W);
    *a = _mm512_permutex2var_ps(l0, even, l1);    // p[2q]
    *b = _mm512_permutex2var_ps(l0, odd, l1);     // p[2q + 1]
    *cc = _mm512_permutex2var_ps(*a, next_c, l2);  // p[2q + 2]: a one lane on, then p[2 t0 + 32]
    *d = _mm512_permutex2var_ps(*b, next_d, l2);   // p[2q + 3]: b one lane on, then p[2 t0 + 33]
  }
  static void store(float* p, reg v, int64_t n) {
    _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1), v);
  }
};
#elif DEEPCONV_ISA_AVX2
// 8 tiles at a time. Stores of 8 or 4 lanes are plain ones: a masked store is microcode on AMD
// Zen 1-4 (isa_passes.h), left for the maps whose tile rows are neither.
struct InputRegs {
  using reg = __m256;
  static constexpr int64_t L = 8;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static __m256 load(const float* xr, int64_t start, int64_t len, int64_t W) {
    int64_t lo, hi;
    inside_range(start, len, W, &lo, &hi);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(int32_t(lo)), lane),
                                          _mm256_cmpgt_epi32(_mm256_set1_epi32(int32_t(hi)), lane));
    return _mm256_maskload_ps(xr + start, m);
  }
  static void abcd(reg* a, reg* b, reg* cc, reg* d, const float* xr, int64_t W, int64_t t0) {
    const int64_t base = 2 * t0 - 1;
    const reg l0 = load(xr, base, 8, W), l1 = load(xr, base + 8, 8, W), l2 = load(xr, base + 16, 2, W);
    // even / odd lanes of (l0, l1): per 128-bit half, then the halves' 64-bit pairs in order
    *a = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(l0, l1, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
    *b = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(l0, l1, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)));
    const __m256i next = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7);
    *cc = _mm256_blend_ps(_mm256_permutevar8x32_ps(*a, next), _mm256_permutevar8x32_ps(l2, _mm256_set1_epi32(0)), 0x80);
    *d = _mm256_blend_ps(_mm256_permutevar8x32_ps(*b, next), _mm256_permutevar8x32_ps(l2, _mm256_set1_epi32(1)), 0x80);
  }
  static void store(float* p, reg v, int64_t n) {
    if (n == 8) {
      _mm256_storeu_ps(p, v);
    } else if (n == 4) {
      _mm_storeu_ps(p, _mm256_castps256_ps128(v));
    } else {
      const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(int32_t(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      _mm256_maskstore_ps(p, m, v);
    }
  }
};
#endif

#if DEEPCONV_ISA_AVX512 || DEEPCONV_ISA_AVX2
// The row transform of padded row yy (x row yy - 1; zeros outside the image) for the L tiles
// from column tile t0: h[j] lane i = h_j at tile t0 + i, from p[u] = x[y][u - 1] built in
// registers (masked loads, then even / odd lanes by permutes).
inline void row_h(InputRegs::reg h[4], const float* xc, int64_t yy, int64_t H, int64_t W, int64_t t0) {
  using R = InputRegs;
  const int64_t y = yy - 1;
  if (y < 0 || y >= H) {
    h[0] = h[1] = h[2] = h[3] = R::zero();
    return;
  }
  R::reg a, b, cc, d;
  R::abcd(&a, &b, &cc, &d, xc + y * W, W, t0);
  h[0] = R::sub(a, cc);
  h[1] = R::add(b, cc);
  h[2] = R::sub(cc, b);
  h[3] = R::sub(b, d);
}

// winograd_input's three steps in registers, L tiles of a tile row at a time: the row
// transforms of padded rows 2ty .. 2ty+3 (the last two kept for the next tile row), then the
// column transform stored straight into V. The plane and h, written and read back at other
// offsets, stalled loads on the stores just before them (perf on AVX-512: 60% of the
// function's time on one load).
inline void winograd_input_regs(float* V, const PackedB& layout, int64_t xs, int64_t col0, const float* x, int64_t C,
                                int64_t H, int64_t W, int64_t TH, int64_t TW) {
  using R = InputRegs;
  // A tile row's TW columns lie in one panel (or one plain row), so its address is the channel's
  // part of PackedB::at plus its first column's, stepped from tile row to tile row.
  const int64_t nr = layout.nr, panel = layout.nr * layout.kc;
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + c * H * W;
    float* vc = V + layout.at(c, 0);
    for (int64_t t0 = 0; t0 < TW; t0 += R::L) {
      const int64_t n = std::min<int64_t>(R::L, TW - t0);
      R::reg r0[4], r1[4], r2[4], r3[4];
      row_h(r0, xc, 0, H, W, t0);
      row_h(r1, xc, 1, H, W, t0);
      int64_t jq = col0 / nr, jr = col0 % nr;  // the tile row's first column: panel, column in it
      for (int64_t ty = 0; ty < TH; ++ty, jr += TW) {
        while (jr >= nr) jr -= nr, ++jq;
        row_h(r2, xc, 2 * ty + 2, H, W, t0);
        row_h(r3, xc, 2 * ty + 3, H, W, t0);
        float* v = vc + jq * panel + jr + t0;
        for (int j = 0; j < 4; ++j) {
          R::store(v + (0 + j) * xs, R::sub(r0[j], r2[j]), n);
          R::store(v + (4 + j) * xs, R::add(r1[j], r2[j]), n);
          R::store(v + (8 + j) * xs, R::sub(r2[j], r1[j]), n);
          R::store(v + (12 + j) * xs, R::sub(r1[j], r3[j]), n);
          r0[j] = r2[j];
          r1[j] = r3[j];
        }
      }
    }
  }
}
#endif

inline void winograd_input(float* V, const PackedB& layout, int64_t xs, int64_t col0, const float* x, int64_t C,
                           int64_t H, int64_t W, int64_t TH, int64_t TW, float* scratch) {
#if DEEPCONV_ISA_AVX512 || DEEPCONV_ISA_AVX2
  (void)scratch;
  winograd_input_regs(V, layout, xs, col0, x, C, H, W, TH, TW);
#else
  const int64_t rows = 2 * TH + 2, pitch = 2 * TW + 2, half = (TH + 1) * (TW + 1), q_end = rows * (TW + 1);
  float* p = scratch;
  float* h = scratch + rows * pitch + 4;  // h_j at h + j * 2 * half
  for (int64_t i = rows * pitch; i < rows * pitch + 4; ++i) p[i] = 0.0f;
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + c * H * W;
    for (int64_t yy = 0; yy < rows; ++yy) {
      float* pr = p + ((yy & 1) * (TH + 1) + (yy >> 1)) * pitch;
      const int64_t y = yy - 1;
      if (y < 0 || y >= H) {
        for (int64_t u = 0; u < pitch; ++u) pr[u] = 0.0f;
        continue;
      }
      pr[0] = 0.0f;
      copy_short(pr + 1, xc + y * W, W);
      for (int64_t u = W + 1; u < pitch; ++u) pr[u] = 0.0f;
    }
    float* __restrict h0 = h;
    float* __restrict h1 = h + 2 * half;
    float* __restrict h2 = h + 4 * half;
    float* __restrict h3 = h + 6 * half;
    const float* __restrict pp = p;
#pragma omp simd
    for (int64_t q = 0; q < q_end; ++q) {
      const float a = pp[2 * q], b = pp[2 * q + 1], cc = pp[2 * q + 2], d = pp[2 * q + 3];
      h0[q] = a - cc;
      h1[q] = b + cc;
      h2[q] = cc - b;
      h3[q] = b - d;
    }
    input_columns_any(V, layout, xs, c, col0, h, half, TH, TW);
  }
#endif
}

// out (F, H, W) of one image <- the inverse transform of M (16 (F, ld) matrices xs floats
// apart) at columns [0, TH*TW),
// plus b[f] (b may be null): the four outputs of every tile as one loop over the tiles, then
// interleaved into the image's rows.
inline void winograd_output(float* out, const float* M, int64_t ld, int64_t xs, const float* b, int64_t F, int64_t H,
                            int64_t W, int64_t TH, int64_t TW, float* scratch) {
  const int64_t T = TH * TW;
  float* __restrict y00 = scratch;
  float* __restrict y01 = scratch + T;
  float* __restrict y10 = scratch + 2 * T;
  float* __restrict y11 = scratch + 3 * T;
  for (int64_t f = 0; f < F; ++f) {
    const float bias = b ? b[f] : 0.0f;
    const float* __restrict m = M + f * ld;
#pragma omp simd
    for (int64_t t = 0; t < T; ++t) {
      float s0[4], s1[4];  // A^T m: per column k
      for (int k = 0; k < 4; ++k) {
        const float m0 = m[(0 + k) * xs + t], m1 = m[(4 + k) * xs + t];
        const float m2 = m[(8 + k) * xs + t], m3 = m[(12 + k) * xs + t];
        s0[k] = m0 + m1 + m2;
        s1[k] = m1 - m2 - m3;
      }
      y00[t] = s0[0] + s0[1] + s0[2] + bias;
      y01[t] = s0[1] - s0[2] - s0[3] + bias;
      y10[t] = s1[0] + s1[1] + s1[2] + bias;
      y11[t] = s1[1] - s1[2] - s1[3] + bias;
    }
    float* of = out + f * H * W;
    const int64_t pairs = W / 2;  // whole 2-column tiles; an odd W's last column comes after
    for (int64_t ty = 0; ty < TH; ++ty) {
      const int64_t t0 = ty * TW;
      float* __restrict r0 = of + (2 * ty) * W;
      for (int64_t tx = 0; tx < pairs; ++tx) {
        r0[2 * tx] = y00[t0 + tx];
        r0[2 * tx + 1] = y01[t0 + tx];
      }
      if (W & 1) r0[W - 1] = y00[t0 + TW - 1];
      if (2 * ty + 1 >= H) continue;
      float* __restrict r1 = r0 + W;
      for (int64_t tx = 0; tx < pairs; ++tx) {
        r1[2 * tx] = y10[t0 + tx];
        r1[2 * tx + 1] = y11[t0 + tx];
      }
      if (W & 1) r1[W - 1] = y10[t0 + TW - 1];
    }
  }
}

// Z (16 (F, ld) matrices xs floats apart) at columns [0, TH*TW) <- A dY A^T per 2x2 tile dY of dout (F, H, W) of one image
// (zeros past the map's edge): the output gradient carried back through the output transform,
// for the weight gradient (winograd.cc). winograd_output backwards: per channel, the image's
// rows split into the tiles' four corners (y00, y01, y10, y11: 4 T floats of scratch), then
// one loop over the tiles.
//   z_a = (y_a0, y_a0 + y_a1, y_a0 - y_a1, -y_a1) for rows a = 0, 1;  Z = (z_0, z_0 + z_1, z_0 - z_1, -z_1)
inline void winograd_output_grad(float* Z, int64_t ld, int64_t xs, const float* dout, int64_t F, int64_t H, int64_t W,
                                 int64_t TH, int64_t TW, float* scratch) {
  const int64_t T = TH * TW;
  float* __restrict y00 = scratch;
  float* __restrict y01 = scratch + T;
  float* __restrict y10 = scratch + 2 * T;
  float* __restrict y11 = scratch + 3 * T;
  const int64_t pairs = W / 2;  // whole 2-column tiles; an odd W's last tile has one column
  for (int64_t f = 0; f < F; ++f) {
    const float* df = dout + f * H * W;
    for (int64_t ty = 0; ty < TH; ++ty) {
      const int64_t t0 = ty * TW;
      const float* __restrict r0 = df + (2 * ty) * W;
      for (int64_t tx = 0; tx < pairs; ++tx) {
        y00[t0 + tx] = r0[2 * tx];
        y01[t0 + tx] = r0[2 * tx + 1];
      }
      if (W & 1) y00[t0 + TW - 1] = r0[W - 1], y01[t0 + TW - 1] = 0.0f;
      if (2 * ty + 1 >= H) {
        for (int64_t tx = 0; tx < TW; ++tx) y10[t0 + tx] = 0.0f, y11[t0 + tx] = 0.0f;
        continue;
      }
      const float* __restrict r1 = r0 + W;
      for (int64_t tx = 0; tx < pairs; ++tx) {
        y10[t0 + tx] = r1[2 * tx];
        y11[t0 + tx] = r1[2 * tx + 1];
      }
      if (W & 1) y10[t0 + TW - 1] = r1[W - 1], y11[t0 + TW - 1] = 0.0f;
    }
    float* __restrict z = Z + f * ld;
#pragma omp simd
    for (int64_t t = 0; t < T; ++t) {
      const float a0[4] = {y00[t], y00[t] + y01[t], y00[t] - y01[t], -y01[t]};
      const float a1[4] = {y10[t], y10[t] + y11[t], y10[t] - y11[t], -y11[t]};
      for (int c = 0; c < 4; ++c) {
        z[(0 + c) * xs + t] = a0[c];
        z[(4 + c) * xs + t] = a0[c] + a1[c];
        z[(8 + c) * xs + t] = a0[c] - a1[c];
        z[(12 + c) * xs + t] = -a1[c];
      }
    }
  }
}

}  // namespace DEEPCONV_ISA_NS
}  // namespace cpu
}  // namespace deepconv
