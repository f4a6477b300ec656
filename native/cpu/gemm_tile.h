// The one register-tile body, written over a small vector interface V so the AVX2 and AVX-512
// files instantiate it with their own registers and tile shape (MR rows x NV vectors of V::W).
// Include only inside a `#pragma GCC target` region for V's ISA (see gemm_kernel_avx2.cc).
#pragma once

#include <cstdint>

#include "gemm_kernels.h"

namespace deepconv {
namespace cpu {

#define DEEPCONV_UNROLL _Pragma("GCC unroll 16")

// V provides: T, reg, W, zero(), load(p) (aligned), loadu(p), storeu(p, r), set1(x), fmadd(a, b, c),
// and store_partial(p, r, n) / load_partial(p, n) for the first n < W lanes (n >= 0).
template <class V, int MR, int NV>
inline __attribute__((always_inline)) void tile_body(int64_t kc, const typename V::T* __restrict a,
                                                     const typename V::T* __restrict b, typename V::T* __restrict c,
                                                     int64_t ldc, int64_t mr, int64_t nr, typename V::T alpha,
                                                     const typename V::T* c_init) {
  using reg = typename V::reg;
  constexpr int W = V::W;
  // C's rows are read only after the k loop; asking for them now hides the miss behind it.
  DEEPCONV_UNROLL for (int i = 0; i < MR; ++i) {
    __builtin_prefetch(c + i * ldc, 1);
    __builtin_prefetch(c + i * ldc + NV * W - 1, 1);
  }
  reg acc[MR][NV];
  DEEPCONV_UNROLL for (int i = 0; i < MR; ++i) DEEPCONV_UNROLL for (int j = 0; j < NV; ++j) acc[i][j] = V::zero();
  for (int64_t k = 0; k < kc; ++k) {
    reg bv[NV];
    DEEPCONV_UNROLL for (int j = 0; j < NV; ++j) bv[j] = V::load(b + j * W);
    DEEPCONV_UNROLL for (int i = 0; i < MR; ++i) {
      const reg ai = V::set1(a[i]);
      DEEPCONV_UNROLL for (int j = 0; j < NV; ++j) acc[i][j] = V::fmadd(ai, bv[j], acc[i][j]);
    }
    a += MR;
    b += NV * W;
  }
  const reg al = V::set1(alpha);
  if (mr == MR && nr == NV * W) {
    if (c_init) {
      DEEPCONV_UNROLL for (int i = 0; i < MR; ++i) {
        const reg r = V::set1(c_init[i]);  // as += onto a C filled with the row's value
        DEEPCONV_UNROLL for (int j = 0; j < NV; ++j) V::storeu(c + i * ldc + j * W, V::fmadd(al, acc[i][j], r));
      }
      return;
    }
    DEEPCONV_UNROLL for (int i = 0; i < MR; ++i) DEEPCONV_UNROLL for (int j = 0; j < NV; ++j) {
      typename V::T* p = c + i * ldc + j * W;
      V::storeu(p, V::fmadd(al, acc[i][j], V::loadu(p)));
    }
    return;
  }
  // Edge tile: only the rows and columns inside C.
  DEEPCONV_UNROLL for (int i = 0; i < MR; ++i) {
    if (i >= mr) break;
    const reg r = c_init ? V::set1(c_init[i]) : V::zero();
    DEEPCONV_UNROLL for (int j = 0; j < NV; ++j) {
      const int64_t n = nr - j * W;
      if (n <= 0) break;
      typename V::T* p = c + i * ldc + j * W;
      if (n >= W) {
        V::storeu(p, V::fmadd(al, acc[i][j], c_init ? r : V::loadu(p)));
      } else {
        V::store_partial(p, V::fmadd(al, acc[i][j], c_init ? r : V::load_partial(p, n)), n);
      }
    }
  }
}

#undef DEEPCONV_UNROLL

}  // namespace cpu
}  // namespace deepconv
