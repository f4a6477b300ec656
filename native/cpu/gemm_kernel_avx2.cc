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
  static T hsum(reg r) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(r), _mm256_extractf128_ps(r, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
  }
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

// 3 x 4 dot products: 12 accumulators, 3 A vectors and one B vector fill the 16 registers.
void dot_f32(int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t mr,
             int64_t nr, float alpha, float beta) {
  dot_body<F32x8, 3, 4>(K, a, lda, b, ldb, c, ldc, mr, nr, alpha, beta);
}

}  // namespace

// 8x8 blocks: each row's two 4-float halves loaded into the halves of two registers (the
// insert's load runs on a load port), so a block takes 16 shuffles (8 unpacks, 8 shufps) for 64
// floats, half the SSE2 4x4 form's 32; eight 32-byte stores. Same values.
void avx2::transpose_rows(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows, int64_t kc) {
  int64_t j = 0;
  for (; j + 8 <= rows; j += 8) {
    const float* r = src + j * ld_src;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      for (int h = 0; h < 2; ++h) {  // columns k + 4h .. k + 4h + 3
        const float* q = r + k + 4 * h;
        __m256 t[4];
        for (int i = 0; i < 4; ++i)  // [row i, row i + 4]
          t[i] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(q + i * ld_src)),
                                      _mm_loadu_ps(q + (i + 4) * ld_src), 1);
        const __m256 u0 = _mm256_unpacklo_ps(t[0], t[1]), u1 = _mm256_unpackhi_ps(t[0], t[1]);
        const __m256 u2 = _mm256_unpacklo_ps(t[2], t[3]), u3 = _mm256_unpackhi_ps(t[2], t[3]);
        float* o = dst + (k + 4 * h) * ld_dst + j;
        _mm256_storeu_ps(o, _mm256_shuffle_ps(u0, u2, _MM_SHUFFLE(1, 0, 1, 0)));
        _mm256_storeu_ps(o + ld_dst, _mm256_shuffle_ps(u0, u2, _MM_SHUFFLE(3, 2, 3, 2)));
        _mm256_storeu_ps(o + 2 * ld_dst, _mm256_shuffle_ps(u1, u3, _MM_SHUFFLE(1, 0, 1, 0)));
        _mm256_storeu_ps(o + 3 * ld_dst, _mm256_shuffle_ps(u1, u3, _MM_SHUFFLE(3, 2, 3, 2)));
      }
    }
    if (k < kc) transpose_rows_portable<float>(dst + k * ld_dst + j, ld_dst, r + k, ld_src, 8, kc - k);
  }
  if (j < rows) transpose_rows_portable<float>(dst + j, ld_dst, src + j * ld_src, ld_src, rows - j, kc);
}

// KC: the (KC, NR) panel of B is 16 KiB, half a 32 KiB L1.
const GemmKernel<float> kAvx2F32 = {"avx2 6x16", 6, 16, 256, 120, 3072, tile_f32, avx2::transpose_rows, 3, 4, 28, dot_f32};
const GemmKernel<double> kAvx2F64 = {"avx2 6x8", 6, 8, 256, 120, 1536, tile_f64, transpose_rows_portable<double>, 0, 0, 0, nullptr};

}  // namespace cpu
}  // namespace deepconv
DEEPCONV_TARGET_END
#endif
