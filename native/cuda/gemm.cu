// GEMM through cuBLAS: row-major C = alpha * op(A) @ op(B) + beta * C, as cpu::gemm.
//
// cuBLAS is column-major. A row-major (M,N) matrix is the column-major (N,M) matrix of its
// transpose, so C^T = op(B)^T op(A)^T: call sgemm with the operands swapped and M, N exchanged;
// each operand's own transpose flag and leading dimension carry over unchanged.
#include <stdexcept>
#include <string>

#include "common.cuh"

namespace deepconv {
namespace cuda {
namespace {

int as_int(int64_t v, const char* name) {
  if (v < 0 || v > int64_t(std::numeric_limits<int>::max()))
    throw std::invalid_argument(std::string("deepconv::cuda::gemm: ") + name + " = " + std::to_string(v) +
                                " does not fit cuBLAS's int");
  return int(v);
}

inline cublasOperation_t op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

}  // namespace

void gemm(Context& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  ctx.activate();
  DEEPCONV_CUBLAS_CHECK(cublasSgemm(ctx.blas(), op(trans_b), op(trans_a), as_int(N, "N"), as_int(M, "M"),
                                    as_int(K, "K"), &alpha, B, as_int(ldb, "ldb"), A, as_int(lda, "lda"), &beta, C,
                                    as_int(ldc, "ldc")));
}

void gemm_strided_batched(Context& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                          const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
                          int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  ctx.activate();
  DEEPCONV_CUBLAS_CHECK(cublasSgemmStridedBatched(
      ctx.blas(), op(trans_b), op(trans_a), as_int(N, "N"), as_int(M, "M"), as_int(K, "K"), &alpha, B,
      as_int(ldb, "ldb"), (long long)stride_b, A, as_int(lda, "lda"), (long long)stride_a, &beta, C,
      as_int(ldc, "ldc"), (long long)stride_c, as_int(batch, "batch")));
}

}  // namespace cuda
}  // namespace deepconv
