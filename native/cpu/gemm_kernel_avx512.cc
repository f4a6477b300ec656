// AVX-512 register tiles: 32 zmm registers, so 8 rows x 2 vectors = 16 accumulators (enough
// independent chains for two FMA pipes of latency 4), two B vectors and a broadcast; 8 rows
// also divide the filter counts convolutions use. floats 8x32, doubles 8x16.
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "deepconv/compiler.h"
#include "gemm_kernels.h"

// Everything below is compiled for this path (tile_body included); it holds no inline function
// with external linkage, so no code for this ISA can leak into other files through the linker.
DEEPCONV_TARGET_BEGIN("avx512f")
#include "gemm_tile.h"

namespace deepconv {
namespace cpu {
namespace {

struct F32x16 {
  using T = float;
  using reg = __m512;
  static constexpr int W = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg load(const T* p) { return _mm512_load_ps(p); }
  static reg loadu(const T* p) { return _mm512_loadu_ps(p); }
  static void storeu(T* p, reg r) { _mm512_storeu_ps(p, r); }
  static reg set1(T x) { return _mm512_set1_ps(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg load_partial(const T* p, int64_t n) {
    return _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1), p);
  }
  static void store_partial(T* p, reg r, int64_t n) {
    _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1), r);
  }
  // Through memory: GCC 12's 512-bit shuffles and extracts (and _mm512_reduce_add_ps, built of
  // them) warn of an uninitialized value inside its own header.
  static T hsum(reg r) {
    alignas(64) T t[16];
    _mm512_store_ps(t, r);
    __m128 s = _mm_add_ps(_mm_add_ps(_mm_load_ps(t), _mm_load_ps(t + 4)), _mm_add_ps(_mm_load_ps(t + 8), _mm_load_ps(t + 12)));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
  }
};

struct F64x8 {
  using T = double;
  using reg = __m512d;
  static constexpr int W = 8;
  static reg zero() { return _mm512_setzero_pd(); }
  static reg load(const T* p) { return _mm512_load_pd(p); }
  static reg loadu(const T* p) { return _mm512_loadu_pd(p); }
  static void storeu(T* p, reg r) { _mm512_storeu_pd(p, r); }
  static reg set1(T x) { return _mm512_set1_pd(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static reg load_partial(const T* p, int64_t n) {
    return _mm512_maskz_loadu_pd(__mmask8((1u << n) - 1), p);
  }
  static void store_partial(T* p, reg r, int64_t n) {
    _mm512_mask_storeu_pd(p, __mmask8((1u << n) - 1), r);
  }
};

void tile_f32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t mr,
                              int64_t nr, float alpha, const float* c_init) {
  tile_body<F32x16, 8, 2>(kc, a, b, c, ldc, mr, nr, alpha, c_init);
}
void tile_f64(int64_t kc, const double* a, const double* b, double* c, int64_t ldc, int64_t mr,
                              int64_t nr, double alpha, const double* c_init) {
  tile_body<F64x8, 8, 2>(kc, a, b, c, ldc, mr, nr, alpha, c_init);
}

// 4 x 4 dot products: 16 accumulators, 8 loads per 16 FMAs (two load ports keep up).
void dot_f32(int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t mr,
             int64_t nr, float alpha, float beta) {
  dot_body<F32x16, 4, 4>(K, a, lda, b, ldb, c, ldc, mr, nr, alpha, beta);
}

}  // namespace

// KC: a (KC, NR) panel of B is 32 KiB. Measured on a Zen 4 (32 KiB L1), 1 thread, sgemm 1024^3:
// KC 128 ran at 67-76% of peak, 256 at 73-75%, 384 at 77-83% (the VM's noise is +-5%); 256 keeps
// the conv shapes (K = 576-2304) in one to nine equal slices.
const GemmKernel<float> kAvx512F32 = {"avx512 8x32", 8, 32, 256, 128, 3072, tile_f32, avx2::transpose_rows, 4, 4, 16, dot_f32};
const GemmKernel<double> kAvx512F64 = {"avx512 8x16", 8, 16, 256, 128, 1536, tile_f64, transpose_rows_portable<double>, 0, 0, 0, nullptr};

}  // namespace cpu
}  // namespace deepconv
DEEPCONV_TARGET_END
#endif
