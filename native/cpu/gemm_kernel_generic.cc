// Portable register tiles (every CPU, every architecture): plain loops the compiler vectorises
// for the baseline ISA (SSE2 on x86-64, NEON on arm64). 4x8 floats fill 8 of SSE2's 16 registers.
// No dot tile: a portable one ran conv dW 1.3-1.8x slower than packing (Xeon, bench/NOTES.md).
#include <algorithm>

#include "gemm_kernels.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace deepconv {
namespace cpu {
namespace {

// One value at a time: a store per element into a different line.
template <typename T>
void transpose_rows_scalar(T* dst, int64_t ld_dst, const T* src, int64_t ld_src, int64_t rows, int64_t kc) {
  for (int64_t j = 0; j < rows; ++j)
    for (int64_t k = 0; k < kc; ++k) dst[k * ld_dst + j] = src[j * ld_src + k];
}

}  // namespace

template <typename T>
void transpose_rows_portable(T* dst, int64_t ld_dst, const T* src, int64_t ld_src, int64_t rows, int64_t kc) {
  transpose_rows_scalar(dst, ld_dst, src, ld_src, rows, kc);
}

#if defined(__SSE2__)
// floats: 4x4 blocks through registers (SSE2, every x86-64 CPU), four 16-byte stores per 16
// values; twice the scalar copy's speed on a dW-shaped panel (32 rows x 256). Same values.
template <>
void transpose_rows_portable<float>(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows,
                                    int64_t kc) {
  int64_t j = 0;
  for (; j + 4 <= rows; j += 4) {
    const float* r0 = src + j * ld_src;
    const float* r1 = r0 + ld_src;
    const float* r2 = r1 + ld_src;
    const float* r3 = r2 + ld_src;
    int64_t k = 0;
    for (; k + 4 <= kc; k += 4) {
      __m128 a = _mm_loadu_ps(r0 + k), b = _mm_loadu_ps(r1 + k), c = _mm_loadu_ps(r2 + k), d = _mm_loadu_ps(r3 + k);
      _MM_TRANSPOSE4_PS(a, b, c, d);
      float* o = dst + k * ld_dst + j;
      _mm_storeu_ps(o, a);
      _mm_storeu_ps(o + ld_dst, b);
      _mm_storeu_ps(o + 2 * ld_dst, c);
      _mm_storeu_ps(o + 3 * ld_dst, d);
    }
    for (; k < kc; ++k) {
      float* o = dst + k * ld_dst + j;
      o[0] = r0[k], o[1] = r1[k], o[2] = r2[k], o[3] = r3[k];
    }
  }
  transpose_rows_scalar(dst + j, ld_dst, src + j * ld_src, ld_src, rows - j, kc);  // the last 0-3 rows
}
#else
template void transpose_rows_portable<float>(float*, int64_t, const float*, int64_t, int64_t, int64_t);
#endif

template void transpose_rows_portable<double>(double*, int64_t, const double*, int64_t, int64_t, int64_t);

namespace {

template <typename T, int64_t MR, int64_t NR>
void tile_generic(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c, int64_t ldc, int64_t mr,
                  int64_t nr, T alpha, const T* c_init) {
  T acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const T* bk = b + k * NR;
    const T* ak = a + k * MR;
    for (int64_t i = 0; i < MR; ++i)
      for (int64_t j = 0; j < NR; ++j) acc[i][j] += ak[i] * bk[j];
  }
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j) c[i * ldc + j] = (c_init ? c_init[i] : c[i * ldc + j]) + alpha * acc[i][j];
}

}  // namespace

const GemmKernel<float> kGenericF32 = {"generic 4x8", 4, 8, 256, 128, 2048, tile_generic<float, 4, 8>,
                                     transpose_rows_portable<float>, 0, 0, 0, nullptr};
const GemmKernel<double> kGenericF64 = {"generic 4x4", 4, 4, 256, 128, 2048, tile_generic<double, 4, 4>,
                                      transpose_rows_portable<double>, 0, 0, 0, nullptr};

}  // namespace cpu
}  // namespace deepconv
