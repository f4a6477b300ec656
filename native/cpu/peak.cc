// The machine's floating-point ceiling: independent FMA chains on every thread, for the
// benchmark's "fraction of peak", on the active ISA path (the GEMM's): AVX-512, AVX2+FMA or
// the generic path's 4-wide multiply-add.
#include <chrono>

#include "deepconv/cpu.h"
#include "deepconv/isa.h"
#include "deepconv/parallel.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace deepconv {
namespace cpu {
namespace {

constexpr int kChains = 12;  // enough independent accumulators to cover FMA latency x ports

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) double fma_loop_avx512(int64_t iters) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  volatile float sink = 0;  // keeps the chains alive
  for (int i = 0; i < kChains; ++i) sink = sink + _mm512_cvtss_f32(acc[i]);
  return double(iters) * kChains * 16 * 2;  // flops
}

__attribute__((target("avx2,fma"))) double fma_loop_avx2(int64_t iters) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(float(i) * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  volatile float sink = 0;
  for (int i = 0; i < kChains; ++i) sink = sink + _mm256_cvtss_f32(acc[i]);
  return double(iters) * kChains * 8 * 2;
}
#endif

// The generic path's ceiling: 4-wide multiply-add chains, what the baseline ISA (SSE2, NEON)
// vectorises the portable tile into.
double fma_loop_generic(int64_t iters) {
  float acc[kChains][4];
  for (int i = 0; i < kChains; ++i)
    for (int l = 0; l < 4; ++l) acc[i][l] = float(i + l) * 1e-3f;
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i)
      for (int l = 0; l < 4; ++l) acc[i][l] = acc[i][l] * 0.999999f + 1e-7f;
  volatile float sink = 0;
  for (int i = 0; i < kChains; ++i) sink = sink + acc[i][0];
  return double(iters) * kChains * 4 * 2;
}

double fma_loop(int64_t iters, Isa path) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (path == Isa::avx512) return fma_loop_avx512(iters);
  if (path == Isa::avx2) return fma_loop_avx2(iters);
#endif
  (void)path;
  return fma_loop_generic(iters);
}

}  // namespace

double fma_peak_gflops(double seconds, const char** isa) {
  const Isa path = active_isa();
  *isa = isa_name(path);
  const int64_t iters = 1 << 22;
  double flops = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
#pragma omp parallel reduction(+ : flops)
    flops += fma_loop(iters, path);
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return flops / elapsed / 1e9;
}

}  // namespace cpu
}  // namespace deepconv
