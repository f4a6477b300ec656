// Shared plumbing for the CUDA kernels: error checks that throw, launch sizing, block reductions.
// Internal to native/cuda (the public API is deepconv/cuda.h).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "deepconv/cuda.h"

namespace deepconv {
namespace cuda {
namespace detail {

// Throw std::runtime_error("file:line: what: cudaErrorX: description").
[[noreturn]] void throw_cuda(cudaError_t err, const char* what, const char* file, int line);
[[noreturn]] void throw_cublas(cublasStatus_t status, const char* what, const char* file, int line);

inline void check_cuda(cudaError_t err, const char* what, const char* file, int line) {
  if (err != cudaSuccess) throw_cuda(err, what, file, line);
}
inline void check_cublas(cublasStatus_t status, const char* what, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_cublas(status, what, file, line);
}

inline cudaStream_t stream(const Context& ctx) { return ctx.stream(); }

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items (at least 1; the loop covers the rest).
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return unsigned(std::min<int64_t>(std::max<int64_t>(blocks, 1), int64_t(1) << 20));
}

// Kernels index with int32 when every index fits (integer division is much cheaper), else int64.
inline bool fits_int32(int64_t n) { return n < int64_t(std::numeric_limits<int32_t>::max()) - 4096; }

__device__ __forceinline__ double warp_sum(double v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Sums each of v[0..K) over the block, the same fixed tree every run (deterministic); every thread
// gets the totals. blockDim.x must be a multiple of 32 (at most 1024); all threads must call it.
template <int K>
__device__ __forceinline__ void block_sum(double (&v)[K]) {
  __shared__ double part[K][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
#pragma unroll
  for (int k = 0; k < K; ++k) v[k] = warp_sum(v[k]);
  if (lane == 0) {
#pragma unroll
    for (int k = 0; k < K; ++k) part[k][warp] = v[k];
  }
  __syncthreads();
#pragma unroll
  for (int k = 0; k < K; ++k) v[k] = warp_sum(lane < warps ? part[k][lane] : 0.0);
  __syncthreads();  // part is free for the next call
}

}  // namespace detail
}  // namespace cuda
}  // namespace deepconv

#define DEEPCONV_CUDA_CHECK(call) ::deepconv::cuda::detail::check_cuda((call), #call, __FILE__, __LINE__)
#define DEEPCONV_CUBLAS_CHECK(call) ::deepconv::cuda::detail::check_cublas((call), #call, __FILE__, __LINE__)
// After every <<<...>>>: launch-configuration errors and earlier asynchronous faults.
#define DEEPCONV_LAUNCH_CHECK(name) \
  ::deepconv::cuda::detail::check_cuda(cudaGetLastError(), "launch of " name, __FILE__, __LINE__)
