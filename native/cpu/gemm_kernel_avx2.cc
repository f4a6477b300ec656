// AVX2 + FMA register tiles: 16 ymm registers, so 6 rows x 2 vectors = 12 accumulators, two B
// vectors and one broadcast (the BLIS Haswell shape). floats 6x16, doubles 6x8.
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "deepconv/compiler.h"
#include "gemm_kernels.h"

// Everything below is compiled for this path (tile_body included); it holds no inline function
// with external linkage, so no code for this ISA can leak into other files through the linker.
DEEPCONV_TARGET_BEGIN("avx2,fma")
#include "gemm_tile.h"

namespace deepconv {
namespace cpu {
namespace {

// Masks for the first n lanes: a window into -1,...,-1,0,...,0.
alignas(32) const int32_t kLaneMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

struct F32x8 {
  using T = float;
  using reg = __m256;
  static constexpr int W = 8;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg load(const T* p) { return _mm256_load_ps(p); }
  static reg loadu(const T* p) { return _mm256_loadu_ps(p); }
  static void storeu(T* p, reg r) { _mm256_storeu_ps(p, r); }
  static reg set1(T x) { return _mm256_set1_ps(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static __m256i mask(int64_t n) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneMask + 8 - n));
  }
  static reg load_partial(const T* p, int64_t n) { return _mm256_maskload_ps(p, mask(n)); }
  static void store_partial(T* p, reg r, int64_t n) { _mm256_maskstore_ps(p, mask(n), r); }
};

struct F64x4 {
  using T = double;
  using reg = __m256d;
  static constexpr int W = 4;
  static reg zero() { return _mm256_setzero_pd(); }
  static reg load(const T* p) { return _mm256_load_pd(p); }
  static reg loadu(const T* p) { return _mm256_loadu_pd(p); }
  static void storeu(T* p, reg r) { _mm256_storeu_pd(p, r); }
  static reg set1(T x) { return _mm256_set1_pd(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
  // 64-bit lanes: two 32-bit mask words per lane.
  static __m256i mask(int64_t n) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneMask + 8 - 2 * n));
  }
  static reg load_partial(const T* p, int64_t n) { return _mm256_maskload_pd(p, mask(n)); }
  static void store_partial(T* p, reg r, int64_t n) { _mm256_maskstore_pd(p, mask(n), r); }
};

void tile_f32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t mr, int64_t nr,
                            float alpha, const float* c_init) {
  tile_body<F32x8, 6, 2>(kc, a, b, c, ldc, mr, nr, alpha, c_init);
}
void tile_f64(int64_t kc, const double* a, const double* b, double* c, int64_t ldc, int64_t mr,
                            int64_t nr, double alpha, const double* c_init) {
  tile_body<F64x4, 6, 2>(kc, a, b, c, ldc, mr, nr, alpha, c_init);
}

}  // namespace

// KC: the (KC, NR) panel of B is 16 KiB, half a 32 KiB L1.
const GemmKernel<float> kAvx2F32 = {"avx2 6x16", 6, 16, 256, 120, 3072, tile_f32};
const GemmKernel<double> kAvx2F64 = {"avx2 6x8", 6, 8, 256, 120, 1536, tile_f64};

}  // namespace cpu
}  // namespace deepconv
DEEPCONV_TARGET_END
#endif
