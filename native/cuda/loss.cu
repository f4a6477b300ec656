// Classification losses on the GPU, as native/cpu/loss.cc: one warp per row writes d(scores) and
// that row's loss (double); one block then sums the row losses in a fixed order and writes the
// mean to the device double `loss`. No atomics: the same inputs give the same bits every run.
#include <cmath>

#include "common.cuh"

namespace deepconv {
namespace cuda {
namespace {

constexpr int kLossThreads = 256;  // 8 rows (warps) per block

__device__ __forceinline__ double warp_max(double v) {
  for (int off = 16; off > 0; off >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Label smoothing e (see cpu/loss.cc): the target is (1 - e) one-hot(y) + e / C.
__global__ void softmax_rows_kernel(double* __restrict__ row_loss, float* __restrict__ dx,
                                    const float* __restrict__ scores, const int32_t* __restrict__ y, int64_t N,
                                    int64_t C, double smoothing) {
  const double off = smoothing / double(C), on = 1.0 - smoothing + off;
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t i = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); i < N; i += warps) {
    const float* s = scores + i * C;
    float* d = dx + i * C;
    const int32_t yi = y[i];
    if (yi < 0 || int64_t(yi) >= C) {  // a bad label poisons its row rather than reading out of bounds
      for (int64_t j = lane; j < C; j += 32) d[j] = NAN;
      if (lane == 0) row_loss[i] = NAN;
      continue;
    }
    double mx = -INFINITY;  // shift for exp's range
    for (int64_t j = lane; j < C; j += 32) mx = fmax(mx, double(s[j]));
    mx = warp_max(mx);
    double z = 0, shifted = 0;
    for (int64_t j = lane; j < C; j += 32) {
      z += exp(double(s[j]) - mx);
      shifted += double(s[j]) - mx;
    }
    z = detail::warp_sum(z);
    shifted = detail::warp_sum(shifted);
    const double log_z = log(z);
    for (int64_t j = lane; j < C; j += 32) d[j] = float((exp(double(s[j]) - mx - log_z) - (j == yi ? on : off)) / double(N));
    if (lane == 0) row_loss[i] = log_z - (1.0 - smoothing) * (double(s[yi]) - mx) - off * (smoothing > 0 ? shifted : 0.0);
  }
}

__global__ void svm_rows_kernel(double* __restrict__ row_loss, float* __restrict__ dx,
                                const float* __restrict__ scores, const int32_t* __restrict__ y, int64_t N,
                                int64_t C, double /*smoothing: softmax only*/) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t i = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); i < N; i += warps) {
    const float* s = scores + i * C;
    float* d = dx + i * C;
    const int32_t yi = y[i];
    if (yi < 0 || int64_t(yi) >= C) {
      for (int64_t j = lane; j < C; j += 32) d[j] = NAN;
      if (lane == 0) row_loss[i] = NAN;
      continue;
    }
    const double correct = s[yi];
    const float pos = float(1.0 / double(N));
    double total = 0;
    double positive = 0;  // a count, summed exactly in double
    for (int64_t j = lane; j < C; j += 32) {
      const double margin = double(s[j]) - correct + 1.0;
      if (j != yi && margin > 0) {
        total += margin;
        d[j] = pos;
        positive += 1.0;
      } else {
        d[j] = 0.0f;
      }
    }
    total = detail::warp_sum(total);
    positive = detail::warp_sum(positive);
    __syncwarp();
    if (lane == 0) {
      d[yi] = float(-positive / double(N));
      row_loss[i] = total;
    }
  }
}

// One block: loss[0] = mean of row_loss, summed in a fixed order.
__global__ void mean_kernel(double* __restrict__ loss, const double* __restrict__ row_loss, int64_t N) {
  double v[1] = {0.0};
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) v[0] += row_loss[i];
  detail::block_sum<1>(v);
  if (threadIdx.x == 0) *loss = v[0] / double(N);
}

template <typename RowKernel>
void run_loss(Context& ctx, RowKernel rows, const char* name, double* loss, float* dx, const float* scores,
              const int32_t* y, int64_t N, int64_t C, double smoothing) {
  ctx.activate();
  double* row_loss = static_cast<double*>(ctx.scratch(size_t(std::max<int64_t>(N, 1)) * sizeof(double)));
  if (N > 0) {
    const int64_t rows_per_block = kLossThreads / 32;
    const unsigned blocks = unsigned(std::min<int64_t>((N + rows_per_block - 1) / rows_per_block, 65535));
    rows<<<blocks, kLossThreads, 0, ctx.stream()>>>(row_loss, dx, scores, y, N, C, smoothing);
    detail::check_cuda(cudaGetLastError(), name, __FILE__, __LINE__);
  }
  mean_kernel<<<1, 1024, 0, ctx.stream()>>>(loss, row_loss, N);
  DEEPCONV_LAUNCH_CHECK("mean_kernel");
}

}  // namespace

void softmax_loss(Context& ctx, double* loss, float* dx, const float* scores, const int32_t* y, int64_t N,
                  int64_t C, double smoothing) {
  run_loss(ctx, softmax_rows_kernel, "launch of softmax_rows_kernel", loss, dx, scores, y, N, C, smoothing);
}

void svm_loss(Context& ctx, double* loss, float* dx, const float* scores, const int32_t* y, int64_t N, int64_t C) {
  run_loss(ctx, svm_rows_kernel, "launch of svm_rows_kernel", loss, dx, scores, y, N, C, 0.0);
}

}  // namespace cuda
}  // namespace deepconv
