// Linear (affine) layer on the GPU: out = x @ w + b through cuBLAS, as native/cpu/linear.cc.
#include "common.cuh"

namespace deepconv {
namespace cuda {
namespace {

// out[i, j] = b[j]; the GEMM then accumulates with beta = 1, as the CPU.
__global__ void fill_rows_kernel(float* __restrict__ out, const float* __restrict__ b, int64_t N, int64_t M) {
  const int64_t total = N * M;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = b[i % M];
}

// db[j] = sum_i dout[i, j]: one thread per column (coalesced across j), summed in double in row order.
__global__ void column_sum_kernel(float* __restrict__ db, const float* __restrict__ dout, int64_t N, int64_t M) {
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < M; j += int64_t(gridDim.x) * blockDim.x) {
    double sum = 0;
    for (int64_t i = 0; i < N; ++i) sum += dout[i * M + j];
    db[j] = float(sum);
  }
}

}  // namespace

void linear_forward(Context& ctx, float* out, const float* x, const float* w, const float* b, int64_t N, int64_t D,
                    int64_t M) {
  if (N * M == 0) return;
  ctx.activate();
  fill_rows_kernel<<<detail::grid_for(N * M), detail::kThreads, 0, ctx.stream()>>>(out, b, N, M);
  DEEPCONV_LAUNCH_CHECK("fill_rows_kernel");
  gemm(ctx, false, false, N, M, D, 1.0f, x, D, w, M, 1.0f, out, M);
}

void linear_backward(Context& ctx, float* dx, float* dw, float* db, const float* dout, const float* x, const float* w,
                     int64_t N, int64_t D, int64_t M) {
  ctx.activate();
  if (dx && N * D > 0) gemm(ctx, false, true, N, D, M, 1.0f, dout, M, w, M, 0.0f, dx, D);  // dx = dout @ w^T
  if (D * M > 0) gemm(ctx, true, false, D, M, N, 1.0f, x, D, dout, M, 0.0f, dw, M);        // dw = x^T @ dout
  if (M > 0) {
    column_sum_kernel<<<detail::grid_for(M), detail::kThreads, 0, ctx.stream()>>>(db, dout, N, M);
    DEEPCONV_LAUNCH_CHECK("column_sum_kernel");
  }
}

}  // namespace cuda
}  // namespace deepconv
