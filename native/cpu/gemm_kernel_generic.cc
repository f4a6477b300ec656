// Portable register tiles (every CPU, every architecture): plain loops the compiler vectorises
// for the baseline ISA (SSE2 on x86-64, NEON on arm64). 4x8 floats fill 8 of SSE2's 16 registers.
#include <algorithm>

#include "gemm_kernels.h"

namespace deepconv {
namespace cpu {
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

const GemmKernel<float> kGenericF32 = {"generic 4x8", 4, 8, 256, 128, 2048, tile_generic<float, 4, 8>};
const GemmKernel<double> kGenericF64 = {"generic 4x4", 4, 4, 256, 128, 2048, tile_generic<double, 4, 4>};

}  // namespace cpu
}  // namespace deepconv
