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
// and store_partial(p, r, n) / load_partial(p, n) for the first n < W lanes (n >= 0); for
// dot_body also hsum(r), the sum of r's lanes.
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

// The dot-product tile (GemmKernel::dot): C(i, j) = alpha * sum_k a[i*lda + k] * b[j*ldb + k] +
// beta * C(i, j) (beta 0: C not read) for i < mr <= DM, j < nr <= DN, k < K: rows of both
// operands read along K as they lie, no packing. Each of the DM x DN accumulators sums W lanes of
// k (lane l: k = l mod W), added up once at the end; a block's missing rows repeat its last one
// (computed, not stored), and the K tail is a masked load (nothing read past a row's end).
template <class V, int DM, int DN>
inline __attribute__((always_inline)) void dot_body(int64_t K, const typename V::T* a, int64_t lda,
                                                    const typename V::T* b, int64_t ldb, typename V::T* c,
                                                    int64_t ldc, int64_t mr, int64_t nr, typename V::T alpha,
                                                    typename V::T beta) {
  using reg = typename V::reg;
  using T = typename V::T;
  constexpr int W = V::W;
  const T* ar[DM];
  const T* br[DN];
  DEEPCONV_UNROLL for (int i = 0; i < DM; ++i) ar[i] = a + (i < mr ? i : mr - 1) * lda;
  DEEPCONV_UNROLL for (int j = 0; j < DN; ++j) br[j] = b + (j < nr ? j : nr - 1) * ldb;
  reg acc[DM][DN];
  DEEPCONV_UNROLL for (int i = 0; i < DM; ++i) DEEPCONV_UNROLL for (int j = 0; j < DN; ++j) acc[i][j] = V::zero();
  int64_t k = 0;
  for (; k + W <= K; k += W) {
    reg av[DM];
    DEEPCONV_UNROLL for (int i = 0; i < DM; ++i) av[i] = V::loadu(ar[i] + k);
    DEEPCONV_UNROLL for (int j = 0; j < DN; ++j) {
      const reg bj = V::loadu(br[j] + k);
      DEEPCONV_UNROLL for (int i = 0; i < DM; ++i) acc[i][j] = V::fmadd(av[i], bj, acc[i][j]);
    }
  }
  if (k < K) {
    const int64_t n = K - k;
    reg av[DM];
    DEEPCONV_UNROLL for (int i = 0; i < DM; ++i) av[i] = V::load_partial(ar[i] + k, n);
    DEEPCONV_UNROLL for (int j = 0; j < DN; ++j) {
      const reg bj = V::load_partial(br[j] + k, n);
      DEEPCONV_UNROLL for (int i = 0; i < DM; ++i) acc[i][j] = V::fmadd(av[i], bj, acc[i][j]);
    }
  }
  DEEPCONV_UNROLL for (int i = 0; i < DM; ++i) {
    if (i >= mr) break;
    DEEPCONV_UNROLL for (int j = 0; j < DN; ++j) {
      if (j >= nr) break;
      T& cij = c[i * ldc + j];
      cij = beta == T(0) ? alpha * V::hsum(acc[i][j]) : alpha * V::hsum(acc[i][j]) + beta * cij;
    }
  }
}

#undef DEEPCONV_UNROLL

}  // namespace cpu
}  // namespace deepconv
