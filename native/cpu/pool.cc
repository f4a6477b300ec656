// Max pooling over (ph, pw) windows with one stride, no padding. Forward records the flat
// in-plane index of each window's first maximum; backward routes dout there. Planes (n, c) are
// independent, so threads split them and the scatter in backward never races.
#include <algorithm>

#include "deepconv/cpu.h"

namespace deepconv {
namespace cpu {

template <typename T>
void maxpool_forward(T* out, int32_t* argmax, const T* x, const PoolShape& s) {
  const int64_t planes = s.N * s.C;
#pragma omp parallel for schedule(static) if (planes * s.Ho * s.Wo > 4096)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = x + pl * s.H * s.W;
    T* op = out + pl * s.Ho * s.Wo;
    int32_t* ap = argmax + pl * s.Ho * s.Wo;
    for (int64_t oh = 0; oh < s.Ho; ++oh) {
      for (int64_t ow = 0; ow < s.Wo; ++ow) {
        const int64_t h0 = oh * s.stride, w0 = ow * s.stride;
        int64_t best = h0 * s.W + w0;
        T m = xp[best];
        for (int64_t i = 0; i < s.ph; ++i)
          for (int64_t j = 0; j < s.pw; ++j) {
            const int64_t idx = (h0 + i) * s.W + w0 + j;
            if (xp[idx] > m || m != m) {  // first maximum wins; a NaN propagates
              m = xp[idx];
              best = idx;
            }
          }
        op[oh * s.Wo + ow] = m;
        ap[oh * s.Wo + ow] = int32_t(best);
      }
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
