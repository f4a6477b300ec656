// Max pooling over (ph, pw) windows with one stride, no padding. Forward records the flat
// in-plane index of each window's first maximum; backward routes dout there. Planes (n, c) are
// independent, so threads split them and the scatter in backward never races.
#include <algorithm>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "deepconv/cpu.h"

namespace deepconv {
namespace cpu {

namespace {

// The common 2x2, stride 2 window: four loads, no inner loops.
// One 2x2 window whose top-left input is r0[0] (flat index i00 in its plane; the row below is r1):
// its maximum and the flat index of the first maximum. Branch-free selects (bitwise | rather
// than ||, so no control flow) that vectorize: on real activations the comparisons are coin
// flips. A NaN anywhere in the window wins.
template <typename T>
inline void window_2x2(T* o, int32_t* a, const T* r0, const T* r1, int32_t i00, int32_t W) {
  const T v00 = r0[0], v01 = r0[1], v10 = r1[0], v11 = r1[1];
  const bool right0 = (v01 > v00) | (v01 != v01), right1 = (v11 > v10) | (v11 != v11);
  const T m0 = right0 ? v01 : v00, m1 = right1 ? v11 : v10;
  const bool bottom = (m1 > m0) | (m1 != m1);
  *o = bottom ? m1 : m0;
  *a = i00 + (bottom ? W + int32_t(right1) : int32_t(right0));
}

template <typename T>
void maxpool_plane_2x2(T* __restrict op, int32_t* __restrict ap, const T* __restrict xp, const PoolShape& s) {
  const int32_t W = int32_t(s.W);
  for (int64_t oh = 0; oh < s.Ho; ++oh) {
    const T* __restrict r0 = xp + (2 * oh) * s.W;
    const T* __restrict r1 = r0 + s.W;
    T* __restrict o = op + oh * s.Wo;
    int32_t* __restrict a = ap + oh * s.Wo;
    const int32_t base = int32_t(2 * oh) * W;
    for (int64_t ow = 0; ow < s.Wo; ++ow) window_2x2(o + ow, a + ow, r0 + 2 * ow, r1 + 2 * ow, base + int32_t(2 * ow), W);
  }
}

#if defined(__SSE2__)
// float, four windows at a time with SSE2 (every x86-64 CPU): selects by masks, the same
// decisions as window_2x2, NaN included. Each lane's window has its four inputs in v00 .. v11
// and its top-left flat index in i00; returns the maxima, the argmax in *idx.
inline __m128 window4(__m128 v00, __m128 v01, __m128 v10, __m128 v11, __m128i i00, int32_t W, __m128i* idx) {
  const __m128i one = _mm_set1_epi32(1);
  const __m128 right0 = _mm_or_ps(_mm_cmpgt_ps(v01, v00), _mm_cmpunord_ps(v01, v01));
  const __m128 right1 = _mm_or_ps(_mm_cmpgt_ps(v11, v10), _mm_cmpunord_ps(v11, v11));
  const __m128 m0 = _mm_or_ps(_mm_and_ps(right0, v01), _mm_andnot_ps(right0, v00));
  const __m128 m1 = _mm_or_ps(_mm_and_ps(right1, v11), _mm_andnot_ps(right1, v10));
  const __m128 bottom = _mm_or_ps(_mm_cmpgt_ps(m1, m0), _mm_cmpunord_ps(m1, m1));
  const __m128i a0 = _mm_add_epi32(i00, _mm_and_si128(_mm_castps_si128(right0), one));
  const __m128i a1 = _mm_add_epi32(_mm_add_epi32(i00, _mm_set1_epi32(W)), _mm_and_si128(_mm_castps_si128(right1), one));
  const __m128i bm = _mm_castps_si128(bottom);
  *idx = _mm_or_si128(_mm_and_si128(bm, a1), _mm_andnot_si128(bm, a0));
  return _mm_or_ps(_mm_and_ps(bottom, m1), _mm_andnot_ps(bottom, m0));
}

// Rows of at least four windows: four neighbours at a time, even and odd columns by shuffles;
// a row's last 1-3 windows as the row's last four (the overlap writes the same values again).
// Narrower rows (7x7 maps: 3 windows): four windows of the plane at a time, wherever they sit,
// their inputs loaded one by one. No scalar window code: its selects compiled to branches, which
// made maps of 14x14 or 7x7 3-8x slower per input than 16x16 or 8x8.
template <>
void maxpool_plane_2x2<float>(float* __restrict op, int32_t* __restrict ap, const float* __restrict xp,
                              const PoolShape& s) {
  const int32_t W = int32_t(s.W);
  const int64_t Wo = s.Wo, n = s.Ho * Wo;
  if (Wo < 4) {
    for (int64_t k0 = 0; k0 < n; k0 += 4) {
      alignas(16) float v[4][4];
      alignas(16) int32_t top[4];
      for (int l = 0; l < 4; ++l) {
        const int64_t k = std::min(k0 + l, n - 1), oh = k / Wo, ow = k % Wo;
        const float* r0 = xp + 2 * oh * s.W + 2 * ow;
        v[0][l] = r0[0], v[1][l] = r0[1], v[2][l] = r0[s.W], v[3][l] = r0[s.W + 1];
        top[l] = int32_t(2 * oh) * W + int32_t(2 * ow);
      }
      __m128i idx;
      const __m128 m = window4(_mm_load_ps(v[0]), _mm_load_ps(v[1]), _mm_load_ps(v[2]), _mm_load_ps(v[3]),
                               _mm_load_si128(reinterpret_cast<const __m128i*>(top)), W, &idx);
      alignas(16) float mo[4];
      alignas(16) int32_t io[4];
      _mm_store_ps(mo, m);
      _mm_store_si128(reinterpret_cast<__m128i*>(io), idx);
      for (int64_t l = 0; l < 4 && k0 + l < n; ++l) op[k0 + l] = mo[l], ap[k0 + l] = io[l];
    }
    return;
  }
  const __m128i lane2 = _mm_setr_epi32(0, 2, 4, 6);
  for (int64_t oh = 0; oh < s.Ho; ++oh) {
    const float* r0 = xp + (2 * oh) * s.W;
    const float* r1 = r0 + s.W;
    float* o = op + oh * Wo;
    int32_t* a = ap + oh * Wo;
    const int32_t base = int32_t(2 * oh) * W;
    for (int64_t ow0 = 0; ow0 < Wo; ow0 += 4) {
      const int64_t ow = std::min(ow0, Wo - 4);  // the last four windows may overlap the group before
      const __m128 t0 = _mm_loadu_ps(r0 + 2 * ow), t1 = _mm_loadu_ps(r0 + 2 * ow + 4);
      const __m128 b0 = _mm_loadu_ps(r1 + 2 * ow), b1 = _mm_loadu_ps(r1 + 2 * ow + 4);
      __m128i idx;
      const __m128 m = window4(_mm_shuffle_ps(t0, t1, _MM_SHUFFLE(2, 0, 2, 0)), _mm_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 1, 3, 1)),
                               _mm_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0)), _mm_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1)),
                               _mm_add_epi32(_mm_set1_epi32(base + int32_t(2 * ow)), lane2), W, &idx);
      _mm_storeu_ps(o + ow, m);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(a + ow), idx);
    }
  }
}
#endif

// Backward of one plane for the 2x2, stride 2 window: no pixel is in two windows, so each dx
// value is written once, dout where its window's argmax names it and 0 elsewhere, instead of a
// zero fill and a scatter. The values are the scatter's: `+ T(0)` as its 0 + dout (a -0 comes
// out +0 either way), and an argmax outside its own window names none of the four.
template <typename T>
inline void backward_window_2x2(T* r0, T* r1, T g, int32_t a, int32_t i00, int32_t W) {
  r0[0] = (a == i00 ? g : T(0)) + T(0);
  r0[1] = (a == i00 + 1 ? g : T(0)) + T(0);
  r1[0] = (a == i00 + W ? g : T(0)) + T(0);
  r1[1] = (a == i00 + W + 1 ? g : T(0)) + T(0);
}

// The last column and row when W or H is odd: in no window.
template <typename T>
void zero_uncovered(T* dp, int64_t r, const PoolShape& s) {
  for (int64_t w = 2 * s.Wo; w < s.W; ++w) dp[r * s.W + w] = T(0);
}

template <typename T>
void maxpool_backward_plane_2x2(T* __restrict dp, const T* __restrict g, const int32_t* __restrict ap,
                                const PoolShape& s) {
  const int32_t W = int32_t(s.W);
#if defined(__SSE2__)
  if constexpr (std::is_same_v<T, float>) {  // four windows at a time, as the forward: the same values
    const __m128i one = _mm_set1_epi32(1), w = _mm_set1_epi32(W);
    const __m128 zero = _mm_setzero_ps();
    // The four inputs of each lane's window (its top-left flat index c00): dout where the argmax
    // names it, else 0.
    auto picks = [&](__m128 g4, __m128i a4, __m128i c00, __m128 v[4]) {
      auto pick = [&](__m128i c) { return _mm_add_ps(_mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(a4, c)), g4), zero); };
      const __m128i c10 = _mm_add_epi32(c00, w);
      v[0] = pick(c00), v[1] = pick(_mm_add_epi32(c00, one)), v[2] = pick(c10), v[3] = pick(_mm_add_epi32(c10, one));
    };
    const int64_t Wo = s.Wo, n = s.Ho * Wo;
    if (Wo < 4) {
      for (int64_t k0 = 0; k0 < n; k0 += 4) {
        alignas(16) float gl[4];
        alignas(16) int32_t al[4], top[4];
        for (int l = 0; l < 4; ++l) {
          const int64_t k = std::min(k0 + l, n - 1);
          gl[l] = g[k], al[l] = ap[k], top[l] = int32_t(2 * (k / Wo)) * W + int32_t(2 * (k % Wo));
        }
        __m128 v[4];
        picks(_mm_load_ps(gl), _mm_load_si128(reinterpret_cast<const __m128i*>(al)),
              _mm_load_si128(reinterpret_cast<const __m128i*>(top)), v);
        alignas(16) float o[4][4];
        for (int q = 0; q < 4; ++q) _mm_store_ps(o[q], v[q]);
        for (int64_t l = 0; l < 4 && k0 + l < n; ++l) {
          float* r0 = dp + top[l];
          r0[0] = o[0][l], r0[1] = o[1][l], r0[s.W] = o[2][l], r0[s.W + 1] = o[3][l];
        }
      }
    } else {
      const __m128i lane2 = _mm_setr_epi32(0, 2, 4, 6);
      for (int64_t oh = 0; oh < s.Ho; ++oh) {
        float* r0 = dp + (2 * oh) * s.W;
        float* r1 = r0 + s.W;
        const int32_t base = int32_t(2 * oh) * W;
        for (int64_t ow0 = 0; ow0 < Wo; ow0 += 4) {
          const int64_t ow = std::min(ow0, Wo - 4);  // overlapping the group before: the same values again
          __m128 v[4];
          picks(_mm_loadu_ps(g + oh * Wo + ow), _mm_loadu_si128(reinterpret_cast<const __m128i*>(ap + oh * Wo + ow)),
                _mm_add_epi32(_mm_set1_epi32(base + int32_t(2 * ow)), lane2), v);
          _mm_storeu_ps(r0 + 2 * ow, _mm_unpacklo_ps(v[0], v[1]));
          _mm_storeu_ps(r0 + 2 * ow + 4, _mm_unpackhi_ps(v[0], v[1]));
          _mm_storeu_ps(r1 + 2 * ow, _mm_unpacklo_ps(v[2], v[3]));
          _mm_storeu_ps(r1 + 2 * ow + 4, _mm_unpackhi_ps(v[2], v[3]));
        }
      }
    }
    for (int64_t r = 0; r < 2 * s.Ho; ++r) zero_uncovered(dp, r, s);
    std::fill(dp + 2 * s.Ho * s.W, dp + s.H * s.W, T(0));
    return;
  }
#endif
  for (int64_t oh = 0; oh < s.Ho; ++oh) {
    T* r0 = dp + (2 * oh) * s.W;
    T* r1 = r0 + s.W;
    const int32_t base = int32_t(2 * oh) * W;
    for (int64_t ow = 0; ow < s.Wo; ++ow)
      backward_window_2x2(r0 + 2 * ow, r1 + 2 * ow, g[oh * s.Wo + ow], ap[oh * s.Wo + ow], base + int32_t(2 * ow), W);
    zero_uncovered(dp, 2 * oh, s);
    zero_uncovered(dp, 2 * oh + 1, s);
  }
  std::fill(dp + 2 * s.Ho * s.W, dp + s.H * s.W, T(0));
}

template <typename T>
void maxpool_plane(T* op, int32_t* ap, const T* xp, const PoolShape& s) {
  for (int64_t oh = 0; oh < s.Ho; ++oh) {
    for (int64_t ow = 0; ow < s.Wo; ++ow) {
      const int64_t h0 = oh * s.stride, w0 = ow * s.stride;
      int64_t best = h0 * s.W + w0;
      T m = xp[best];
      for (int64_t i = 0; i < s.ph; ++i)
        for (int64_t j = 0; j < s.pw; ++j) {
          const int64_t idx = (h0 + i) * s.W + w0 + j;
          if (xp[idx] > m || xp[idx] != xp[idx]) {  // strict: the first maximum wins; NaN wins
            m = xp[idx];
            best = idx;
          }
        }
      op[oh * s.Wo + ow] = m;
      ap[oh * s.Wo + ow] = int32_t(best);
    }
  }
}

}  // namespace

template <typename T>
void maxpool_forward(T* out, int32_t* argmax, const T* x, const PoolShape& s) {
  const int64_t planes = s.N * s.C;
  const bool two_by_two = s.ph == 2 && s.pw == 2 && s.stride == 2;
#pragma omp parallel for schedule(static) if (planes * s.Ho * s.Wo > 4096)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = x + pl * s.H * s.W;
    T* op = out + pl * s.Ho * s.Wo;
    int32_t* ap = argmax + pl * s.Ho * s.Wo;
    if (two_by_two) {
      maxpool_plane_2x2(op, ap, xp, s);
    } else {
      maxpool_plane(op, ap, xp, s);
    }
  }
}

template <typename T>
void maxpool_backward(T* dx, const T* dout, const int32_t* argmax, const PoolShape& s) {
  const int64_t planes = s.N * s.C, HW = s.H * s.W, P = s.Ho * s.Wo;
  const bool two_by_two = s.ph == 2 && s.pw == 2 && s.stride == 2;
#pragma omp parallel for schedule(static) if (planes * HW > 4096)
  for (int64_t pl = 0; pl < planes; ++pl) {
    T* dp = dx + pl * HW;
    const T* g = dout + pl * P;
    const int32_t* ap = argmax + pl * P;
    if (two_by_two) {
      maxpool_backward_plane_2x2(dp, g, ap, s);
      continue;
    }
    std::fill(dp, dp + HW, T(0));
    // Window by window, in order: each pixel sums the windows that name it in the order the CUDA
    // gather does, so both backends agree bitwise. An index outside its own window (argmax came
    // from JavaScript: never trust it) is ignored, as the gather ignores it.
    for (int64_t oh = 0, p = 0; oh < s.Ho; ++oh) {
      for (int64_t ow = 0; ow < s.Wo; ++ow, ++p) {
        const int64_t idx = ap[p];
        if (idx < 0 || idx >= HW) continue;
        const int64_t h = idx / s.W - oh * s.stride, w = idx % s.W - ow * s.stride;
        if (h >= 0 && h < s.ph && w >= 0 && w < s.pw) dp[idx] += g[p];
      }
    }
  }
}

template void maxpool_forward<float>(float*, int32_t*, const float*, const PoolShape&);
template void maxpool_forward<double>(double*, int32_t*, const double*, const PoolShape&);
template void maxpool_backward<float>(float*, const float*, const int32_t*, const PoolShape&);
template void maxpool_backward<double>(double*, const double*, const int32_t*, const PoolShape&);

}  // namespace cpu
}  // namespace deepconv
