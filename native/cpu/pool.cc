// Max pooling over (ph, pw) windows with one stride, no padding. Forward records the flat
// in-plane index of each window's first maximum; backward routes dout there. Planes (n, c) are
// independent, so threads split them and the scatter in backward never races.
#include <algorithm>

#include "deepconv/cpu.h"

namespace deepconv {
namespace cpu {

namespace {

// The common 2x2, stride 2 window: four loads, no inner loops.
template <typename T>
void maxpool_plane_2x2(T* op, int32_t* ap, const T* xp, const PoolShape& s) {
  for (int64_t oh = 0; oh < s.Ho; ++oh) {
    const T* r0 = xp + (2 * oh) * s.W;
    const T* r1 = r0 + s.W;
    const int32_t base = int32_t(2 * oh * s.W);
    // Branch-free selects: on real activations the comparisons are coin flips, and
    // mispredicted branches would cost more than the loads.
    for (int64_t ow = 0; ow < s.Wo; ++ow) {
      const int64_t w0 = 2 * ow;
      const T a = r0[w0], b = r0[w0 + 1], c = r1[w0], d = r1[w0 + 1];
      // A NaN anywhere in the window wins (as in PyTorch): x > m || x != x.
      const bool top_right = b > a || b != b, bottom_right = d > c || d != d;
      const T m0 = top_right ? b : a, m1 = bottom_right ? d : c;
      const int32_t i0 = int32_t(w0) + (top_right ? 1 : 0);
      const int32_t i1 = int32_t(w0 + s.W) + (bottom_right ? 1 : 0);
      const bool bottom = m1 > m0 || m1 != m1;
      op[oh * s.Wo + ow] = bottom ? m1 : m0;
      ap[oh * s.Wo + ow] = base + (bottom ? i1 : i0);
    }
  }
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
#pragma omp parallel for schedule(static) if (planes * HW > 4096)
  for (int64_t pl = 0; pl < planes; ++pl) {
    T* dp = dx + pl * HW;
    std::fill(dp, dp + HW, T(0));
    const T* g = dout + pl * P;
    const int32_t* ap = argmax + pl * P;
    for (int64_t p = 0; p < P; ++p) {
      const int32_t idx = ap[p];
      if (idx >= 0 && idx < HW) dp[idx] += g[p];  // argmax came from JavaScript: never trust it
    }
  }
}

template void maxpool_forward<float>(float*, int32_t*, const float*, const PoolShape&);
template void maxpool_forward<double>(double*, int32_t*, const double*, const PoolShape&);
template void maxpool_backward<float>(float*, const float*, const int32_t*, const PoolShape&);
template void maxpool_backward<double>(double*, const double*, const int32_t*, const PoolShape&);

}  // namespace cpu
}  // namespace deepconv
