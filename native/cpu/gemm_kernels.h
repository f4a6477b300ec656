// The GEMM's register-tile kernels, one set per ISA path, and the blocking each one wants.
// Internal to native/cpu: gemm.cc drives whichever set deepconv::active_isa() names.
//
// Contract of `tile`: acc(MR, NR) = sum_k a[k*MR + i] * b[k*NR + j] over k < kc, then
// C(i, j) += alpha * acc(i, j) for i < mr, j < nr, or with `c_init` (mr values)
// C(i, j) = alpha * acc(i, j) + c_init[i] without reading C (a product with beta 0: its first
// depth slice needs no zeroed C, nor one filled with a per-row bias)
// (mr <= MR, nr <= NR; the packed panels are zero-padded to MR and NR, so the accumulation
// never branches; only the store is partial).
// c points at C(i0, j0) with row stride ldc.
#pragma once

#include <cstddef>
#include <cstdint>

#include "deepconv/isa.h"

namespace deepconv {
namespace cpu {

template <typename T>
struct GemmKernel {
  const char* name;
  int64_t MR, NR;  // register tile
  int64_t KC;      // depth of one packed slice: a (KC, NR) panel of B stays in L1
  int64_t MC;      // rows of A packed per block (a multiple of MR): the A block stays in L2
  int64_t NC;      // columns of B packed per slice
  void (*tile)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int64_t mr, int64_t nr, T alpha, const T* c_init);
  // The packing's transposing copy: dst[k * ld_dst + j] = src[j * ld_src + k] for j < rows,
  // k < kc (op(A)'s rows into MR-wide panels, op(B)^T's into NR-wide ones).
  void (*transpose)(T* dst, int64_t ld_dst, const T* src, int64_t ld_src, int64_t rows, int64_t kc);
  // The dot-product tile for A @ B^T with both operands' rows along K (gemm_tile.h dot_body):
  // a DM x DN block of C from DM rows of A and DN rows of B, unpacked; gemm uses it for products
  // with MN / (M + N) <= dot_max (gemm.cc dot_pays). Null where it never pays (the portable path).
  int64_t DM, DN, dot_max;
  void (*dot)(int64_t K, const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc, int64_t mr, int64_t nr,
              T alpha, T beta);
};

// Defined in gemm_kernel_<isa>.cc; the x86 ones exist only on x86-64 builds.
extern const GemmKernel<float> kGenericF32;
extern const GemmKernel<double> kGenericF64;
#if defined(__x86_64__) && defined(__GNUC__)
extern const GemmKernel<float> kAvx2F32, kAvx512F32;
extern const GemmKernel<double> kAvx2F64, kAvx512F64;
#endif

template <typename T>
const GemmKernel<T>& gemm_kernel(Isa isa);

// GemmKernel::transpose for every CPU (gemm_kernel_generic.cc: SSE2 4x4 blocks for floats on
// x86-64), and the wider paths' edges.
template <typename T>
void transpose_rows_portable(T* dst, int64_t ld_dst, const T* src, int64_t ld_src, int64_t rows, int64_t kc);
#if defined(__x86_64__) && defined(__GNUC__)
// 8x8 blocks through AVX registers (gemm_kernel_avx2.cc; AVX2 and AVX-512 CPUs only).
namespace avx2 {
void transpose_rows(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows, int64_t kc);
}
#endif

// op(A) packed once for many products that share it (a convolution's weights, across its
// images): pack_a writes packed_a_size elements (64-byte aligned dst) for `kern`, and
// gemm_packed_a multiplies with them. Called inside an OpenMP region, pack_a splits the work
// over the team (an orphaned `omp for`: every thread of the team must call it); outside one it
// runs on the calling thread.
template <typename T>
size_t packed_a_size(const GemmKernel<T>& kern, int64_t M, int64_t K);
template <typename T>
void pack_a(const GemmKernel<T>& kern, bool trans_a, int64_t M, int64_t K, const T* A, int64_t lda, T* dst);
// C = alpha * op(A) @ op(B) + beta * C, with op(A) (M, K) from pack_a; or, given row_bias (M
// values; beta must be 0), C(i, j) = alpha * (op(A) @ op(B))(i, j) + row_bias[i], one pass over C.
template <typename T>
void gemm_packed_a(const GemmKernel<T>& kern, int64_t M, int64_t N, int64_t K, T alpha, const T* Ap, bool trans_b,
                   const T* B, int64_t ldb, T beta, T* C, int64_t ldc, const T* row_bias = nullptr);

// op(B) (K, N) packed ahead by its producer rather than by the product (Winograd's input
// transform writes its V so): the NR-column panels gemm_blocked would pack, slice after KC-deep
// slice, every slice laid out kc deep (the last one may use fewer rows). Columns past N, up to
// the last panel's edge, must hold zeros (zero_packed_b_tail): the tile multiplies them too.
// A plain row-major (K, ld) matrix is the one-slice, one-panel case: rows(K, ld).
struct PackedB {
  int64_t kc;            // rows of one depth slice (gemm_blocked's, from the kernel's KC)
  int64_t nr;            // columns of one panel (the kernel's NR)
  int64_t slice_stride;  // elements per depth slice: every panel of N, nr * kc each
  int64_t size;          // elements in all
  int64_t at(int64_t k, int64_t j) const { return (k / kc) * slice_stride + (j / nr) * nr * kc + (k % kc) * nr + j % nr; }
  static PackedB rows(int64_t K, int64_t ld) { return {K, ld, K * ld, K * ld}; }
};
template <typename T>
PackedB packed_b_layout(const GemmKernel<T>& kern, int64_t K, int64_t N);
template <typename T>
void zero_packed_b_tail(const PackedB& layout, int64_t K, int64_t N, T* Bp);
// C = alpha * op(A) @ op(B) + beta * C (or the row_bias form) with op(A) from pack_a and op(B)
// (K, N) in `layout` (packed_b_layout(kern, K, N)).
template <typename T>
void gemm_packed_ab(const GemmKernel<T>& kern, int64_t M, int64_t N, int64_t K, T alpha, const T* Ap, const T* Bp,
                    T beta, T* C, int64_t ldc, const T* row_bias = nullptr);

}  // namespace cpu
}  // namespace deepconv
