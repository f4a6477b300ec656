// GEMM: C = alpha * op(A) @ op(B) + beta * C, row-major, float and double.
//
// The classic Goto/BLIS structure: for each KC-deep slice of K, op(A) is packed into MR-row
// panels and op(B) into NR-column panels (zero-padded at the edges, so the register tile never
// branches), then an MR x NR tile of C is accumulated per panel pair. Packing absorbs the
// transposes. The tile kernel and its blocking come from the active ISA path (gemm_kernels.h:
// AVX-512, AVX2+FMA or portable); nothing here needs -march=native.
//
// Threads: outside an OpenMP region the packing and the tile loop run on the team; inside one
// (conv's per-image loop) everything runs on the calling thread.
#include <algorithm>
#include <cstring>
#include <vector>

#include "deepconv/cpu.h"
#include "deepconv/parallel.h"
#include "deepconv/workspace.h"
#include "gemm_kernels.h"

namespace deepconv {
namespace cpu {
namespace {

// Packs rows [i0, i0+MR) x depth [p0, p0+kc) of op(A) into dst (kc, MR), zero-padding rows past M.
template <typename T>
void pack_a_panel(const GemmKernel<T>& kern, T* dst, const T* A, int64_t lda, bool trans, int64_t i0, int64_t M,
                  int64_t p0, int64_t kc) {
  const int64_t MR = kern.MR;
  const int64_t rows = std::min(MR, M - i0);
  if (trans) {
    // op(A) row i is column i0+i of A: each k reads MR neighbours of one row.
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = A + (p0 + k) * lda + i0;
      T* d = dst + k * MR;
      for (int64_t i = 0; i < rows; ++i) d[i] = src[i];
      for (int64_t i = rows; i < MR; ++i) d[i] = T(0);
    }
    return;
  }
  kern.transpose(dst, MR, A + i0 * lda + p0, lda, rows, kc);  // contiguous reads along each row
  for (int64_t i = rows; i < MR; ++i)
    for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = T(0);
}

// Packs depth [p0, p0+kc) x columns [j0, j0+NR) of op(B) into dst (kc, NR), zero-padding past N.
template <typename T>
void pack_b_panel(const GemmKernel<T>& kern, T* dst, const T* B, int64_t ldb, bool trans, int64_t j0, int64_t N,
                  int64_t p0, int64_t kc) {
  const int64_t NR = kern.NR;
  const int64_t cols = std::min(NR, N - j0);
  if (trans) {
    // op(B) column j is row j0+j of B: read each row contiguously. (Walking k outer would read
    // NR rows in lockstep, and with a power-of-two ldb they all fall into one cache set.)
    kern.transpose(dst, NR, B + j0 * ldb + p0, ldb, cols, kc);
    for (int64_t j = cols; j < NR; ++j)
      for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = T(0);
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    T* d = dst + k * NR;
    const T* src = B + (p0 + k) * ldb + j0;
    // A loop, not memcpy: NR is 4-32 elements, and a library call per row of a panel was 7% of
    // a W3 step (perf: __memmove_avx512_unaligned_erms).
    copy_short(d, src, cols);
    for (int64_t j = cols; j < NR; ++j) d[j] = T(0);
  }
}

template <typename T>
void scale_c(T* C, int64_t ldc, int64_t M, int64_t N, T beta, bool parallel) {
  if (beta == T(1)) return;
#pragma omp parallel for if (parallel && M * N > 16384) schedule(static)
  for (int64_t i = 0; i < M; ++i) {
    T* row = C + i * ldc;
    if (beta == T(0)) {
      std::fill(row, row + N, T(0));  // beta 0 ignores what C held, NaN included
    } else {
      for (int64_t j = 0; j < N; ++j) row[j] *= beta;
    }
  }
}

}  // namespace

template <>
const GemmKernel<float>& gemm_kernel<float>(Isa isa) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (isa == Isa::avx512) return kAvx512F32;
  if (isa == Isa::avx2) return kAvx2F32;
#endif
  (void)isa;
  return kGenericF32;
}

template <>
const GemmKernel<double>& gemm_kernel<double>(Isa isa) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (isa == Isa::avx512) return kAvx512F64;
  if (isa == Isa::avx2) return kAvx2F64;
#endif
  (void)isa;
  return kGenericF64;
}

namespace {

// K in equal slices of at most kern.KC: K = 288 runs as 2 x 144, not 256 + 32.
template <typename T>
int64_t depth_slice(const GemmKernel<T>& kern, int64_t K) {
  const int64_t k_slices = (K + kern.KC - 1) / kern.KC;
  return (K + k_slices - 1) / k_slices;
}

// The blocked product; op(A) comes from A, packed here slice by slice, or already packed by
// pack_a (`prepacked_a`).
template <typename T>
void gemm_blocked(const GemmKernel<T>& kern, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, int64_t lda, const T* prepacked_a, const T* B, int64_t ldb, const T* prepacked_b, T beta,
                  T* C, int64_t ldc, const T* row_bias) {
  const int64_t MR = kern.MR, NR = kern.NR, MC = kern.MC, NC = kern.NC;
  if (M <= 0 || N <= 0) return;
  // Big enough to be worth a thread team, and not already inside one.
  const bool parallel = !in_parallel() && max_threads() > 1 && M * N * K >= (int64_t(1) << 21);
  // beta 0 with work to do: the first depth slice's tiles overwrite C (with the row's bias
  // added, if any) instead of adding to a zeroed or bias-filled C: one pass over C fewer; what C
  // held, NaN included, is ignored either way.
  const bool overwrite_first = beta == T(0) && K > 0 && alpha != T(0);
  if (!overwrite_first) scale_c(C, ldc, M, N, beta, parallel);
  if (K <= 0 || alpha == T(0)) {
    if (row_bias)
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, row_bias[i]);
    return;
  }
  alignas(64) static const T kZeros[32] = {};  // c_init for a plain overwrite (MR <= 32)

  const int64_t KC = depth_slice(kern, K);
  static thread_local std::vector<T> a_space, b_space;
  const int64_t m_panels = (M + MR - 1) / MR;
  T* a_pack = prepacked_a ? nullptr : scratch_aligned(a_space, size_t(m_panels * MR * KC));
  T* b_pack = prepacked_b ? nullptr : scratch_aligned(b_space, size_t(((std::min(N, NC) + NR - 1) / NR) * NR * KC));
  const PackedB b_layout = packed_b_layout(kern, K, N);  // prepacked_b's

  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    const int64_t n_panels = (nc + NR - 1) / NR;
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      // pack_a's layout: slice after slice, each m_panels (kc, MR) panels.
      const T* a_slice = prepacked_a ? prepacked_a + pc * m_panels * MR : a_pack;
      // PackedB's panels are KC deep in every slice; those packed here, kc deep.
      const T* b_slice = prepacked_b ? prepacked_b + b_layout.at(pc, jc) : b_pack;
      const int64_t b_panel = prepacked_b ? NR * KC : NR * kc;
      // Row blocks times groups of NR panels: the work items the team shares. Up to MC rows and 8
      // panels each; smaller where that would leave fewer than 2 items per thread (M = 128 with
      // N = 256 was one item, so a second thread idled), first fewer panels per group, then
      // fewer rows per block (whole MR panels). Each tile is computed the same way whoever runs
      // it, so the split changes no result.
      const int64_t want = parallel ? 2 * int64_t(max_threads()) : 1;
      int64_t panels_per_group = std::max<int64_t>(1, std::min<int64_t>(8, n_panels));
      int64_t rows_per_block = MC;
      auto items = [&] {
        return ((M + rows_per_block - 1) / rows_per_block) * ((n_panels + panels_per_group - 1) / panels_per_group);
      };
      while (items() < want && panels_per_group > 1) panels_per_group = (panels_per_group + 1) / 2;
      while (items() < want && rows_per_block > MR) rows_per_block = std::max(MR, (rows_per_block / 2 + MR - 1) / MR * MR);
      const int64_t m_blocks = (M + rows_per_block - 1) / rows_per_block;
      const int64_t n_groups = (n_panels + panels_per_group - 1) / panels_per_group;
#pragma omp parallel if (parallel)
      {
        if (!prepacked_a) {
#pragma omp for schedule(static) nowait
          for (int64_t p = 0; p < m_panels; ++p)
            pack_a_panel(kern, a_pack + p * MR * kc, A, lda, trans_a, p * MR, M, pc, kc);
        }
        if (!prepacked_b) {
#pragma omp for schedule(static)
          for (int64_t p = 0; p < n_panels; ++p)
            pack_b_panel(kern, b_pack + p * NR * kc, B, ldb, trans_b, jc + p * NR, jc + nc, pc, kc);
        } else if (!prepacked_a) {
#pragma omp barrier
        }
#pragma omp for schedule(dynamic, 1) collapse(2)
        for (int64_t mb = 0; mb < m_blocks; ++mb) {
          for (int64_t g = 0; g < n_groups; ++g) {
            const int64_t i_end = std::min(M, (mb + 1) * rows_per_block);
            const int64_t p_end = std::min(n_panels, (g + 1) * panels_per_group);
            for (int64_t jp = g * panels_per_group; jp < p_end; ++jp) {
              const int64_t j0 = jp * NR;
              const int64_t nr = std::min(NR, nc - j0);
              for (int64_t i0 = mb * rows_per_block; i0 < i_end; i0 += MR) {
                const int64_t mr = std::min(MR, M - i0);
                const T* c_init = overwrite_first && pc == 0 ? (row_bias ? row_bias + i0 : kZeros) : nullptr;
                kern.tile(kc, a_slice + (i0 / MR) * MR * kc, b_slice + jp * b_panel, C + i0 * ldc + jc + j0, ldc, mr,
                          nr, alpha, c_init);
              }
            }
          }
        }
      }
    }
  }
}

// C = alpha * A @ B^T + beta * C as dot products of rows (the kernel's dot tile), no packing.
template <typename T>
void gemm_dot(const GemmKernel<T>& kern, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
              const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  const int64_t DM = kern.DM, DN = kern.DN, m_blocks = (M + DM - 1) / DM, n_blocks = (N + DN - 1) / DN;
  const bool parallel = !in_parallel() && max_threads() > 1 && M * N * K >= (int64_t(1) << 21);
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
  for (int64_t ib = 0; ib < m_blocks; ++ib)
    for (int64_t jb = 0; jb < n_blocks; ++jb) {
      const int64_t i0 = ib * DM, j0 = jb * DN;
      kern.dot(K, A + i0 * lda, lda, B + j0 * ldb, ldb, C + i0 * ldc + j0, ldc, std::min(DM, M - i0),
               std::min(DN, N - j0), alpha, beta);
    }
}

// Whether A @ B^T runs as dot products. Both operands lie along K, so packing them for the
// register tile transposes (M + N) K values; the dot tile reads them as they lie but runs at a
// lower share of peak, and sums each accumulator's lanes at the end. So it pays where the copy
// weighs most against the product, MN / (M + N) small (at most the kernel's dot_max), and the
// depth covers the lane sums (K >= 512): a first conv layer's dW (16-32 filters by 27). Measured
// per path on conv dW shapes (bench/NOTES.md).
template <typename T>
bool dot_pays(const GemmKernel<T>& kern, int64_t M, int64_t N, int64_t K) {
  return kern.dot != nullptr && K >= 512 && M * N <= kern.dot_max * (M + N);
}

}  // namespace

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  const GemmKernel<T>& kern = gemm_kernel<T>(active_isa());
  if (!trans_a && trans_b && M > 0 && N > 0 && alpha != T(0) && dot_pays(kern, M, N, K))
    return gemm_dot(kern, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  gemm_blocked<T>(kern, trans_a, trans_b, M, N, K, alpha, A, lda, nullptr, B, ldb, nullptr, beta, C, ldc, nullptr);
}

template <typename T>
size_t packed_a_size(const GemmKernel<T>& kern, int64_t M, int64_t K) {
  return size_t(((M + kern.MR - 1) / kern.MR) * kern.MR * std::max<int64_t>(K, 0));
}

template <typename T>
void pack_a(const GemmKernel<T>& kern, bool trans_a, int64_t M, int64_t K, const T* A, int64_t lda, T* dst) {
  if (M <= 0 || K <= 0) return;
  const int64_t MR = kern.MR, KC = depth_slice(kern, K), m_panels = (M + MR - 1) / MR;
  for (int64_t pc = 0; pc < K; pc += KC) {
    const int64_t kc = std::min(KC, K - pc);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < m_panels; ++p)
      pack_a_panel(kern, dst + pc * m_panels * MR + p * MR * kc, A, lda, trans_a, p * MR, M, pc, kc);
  }
}

template <typename T>
void gemm_packed_a(const GemmKernel<T>& kern, int64_t M, int64_t N, int64_t K, T alpha, const T* Ap, bool trans_b,
                   const T* B, int64_t ldb, T beta, T* C, int64_t ldc, const T* row_bias) {
  gemm_blocked<T>(kern, false, trans_b, M, N, K, alpha, nullptr, 0, Ap, B, ldb, nullptr, row_bias ? T(0) : beta, C, ldc,
                  row_bias);
}

template <typename T>
PackedB packed_b_layout(const GemmKernel<T>& kern, int64_t K, int64_t N) {
  const int64_t kc = K > 0 ? depth_slice(kern, K) : 1, NR = kern.NR, panels = (std::max<int64_t>(N, 0) + NR - 1) / NR;
  const int64_t slices = (std::max<int64_t>(K, 0) + kc - 1) / kc;
  return {kc, NR, panels * NR * kc, slices * panels * NR * kc};
}

template <typename T>
void zero_packed_b_tail(const PackedB& layout, int64_t K, int64_t N, T* Bp) {
  const int64_t pad = (N + layout.nr - 1) / layout.nr * layout.nr;
  if (pad == N) return;
  for (int64_t k = 0; k < K; ++k) std::fill(Bp + layout.at(k, N), Bp + layout.at(k, N) + (pad - N), T(0));
}

template <typename T>
void gemm_packed_ab(const GemmKernel<T>& kern, int64_t M, int64_t N, int64_t K, T alpha, const T* Ap, const T* Bp,
                    T beta, T* C, int64_t ldc, const T* row_bias) {
  gemm_blocked<T>(kern, false, false, M, N, K, alpha, nullptr, 0, Ap, nullptr, 0, Bp, row_bias ? T(0) : beta, C, ldc,
                  row_bias);
}

template <typename T>
void gemm_naive(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        const T a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const T b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += double(a) * double(b);
      }
      T& c = C[i * ldc + j];
      c = T(alpha * acc + (beta == T(0) ? T(0) : beta * c));
    }
  }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template size_t packed_a_size<float>(const GemmKernel<float>&, int64_t, int64_t);
template size_t packed_a_size<double>(const GemmKernel<double>&, int64_t, int64_t);
template void pack_a<float>(const GemmKernel<float>&, bool, int64_t, int64_t, const float*, int64_t, float*);
template void pack_a<double>(const GemmKernel<double>&, bool, int64_t, int64_t, const double*, int64_t, double*);
template void gemm_packed_a<float>(const GemmKernel<float>&, int64_t, int64_t, int64_t, float, const float*, bool,
                                   const float*, int64_t, float, float*, int64_t, const float*);
template void gemm_packed_a<double>(const GemmKernel<double>&, int64_t, int64_t, int64_t, double, const double*, bool,
                                    const double*, int64_t, double, double*, int64_t, const double*);
template PackedB packed_b_layout<float>(const GemmKernel<float>&, int64_t, int64_t);
template PackedB packed_b_layout<double>(const GemmKernel<double>&, int64_t, int64_t);
template void zero_packed_b_tail<float>(const PackedB&, int64_t, int64_t, float*);
template void zero_packed_b_tail<double>(const PackedB&, int64_t, int64_t, double*);
template void gemm_packed_ab<float>(const GemmKernel<float>&, int64_t, int64_t, int64_t, float, const float*,
                                    const float*, float, float*, int64_t, const float*);
template void gemm_packed_ab<double>(const GemmKernel<double>&, int64_t, int64_t, int64_t, double, const double*,
                                     const double*, double, double*, int64_t, const double*);
template void gemm_naive<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                int64_t, float, float*, int64_t);
template void gemm_naive<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                 const double*, int64_t, double, double*, int64_t);

}  // namespace cpu
}  // namespace deepconv
