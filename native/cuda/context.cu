// The per-device context (stream, cuBLAS handle, workspace, scratch) and the error helpers.
#include <cstdio>
#include <stdexcept>
#include <string>

#include "common.cuh"

namespace deepconv {
namespace cuda {
namespace detail {

namespace {
std::string where(const char* what, const char* file, int line) {
  return std::string(file) + ":" + std::to_string(line) + ": " + what + ": ";
}
const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}
}  // namespace

void throw_cuda(cudaError_t err, const char* what, const char* file, int line) {
  throw std::runtime_error(where(what, file, line) + cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}

void throw_cublas(cublasStatus_t status, const char* what, const char* file, int line) {
  throw std::runtime_error(where(what, file, line) + cublas_status_name(status) + ": " +
                           cublasGetStatusString(status));
}

}  // namespace detail

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // no driver / no device: clear the error, report none
    return 0;
  }
  return n;
}

namespace {
constexpr size_t kBlasWorkspaceBytes = size_t(32) << 20;  // what cuBLAS suggests for Hopper
}

Context::Context(int device) : device_(device) {
  try {
    DEEPCONV_CUDA_CHECK(cudaSetDevice(device));
    cudaStream_t s = nullptr;
    DEEPCONV_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    stream_ = s;
    cublasHandle_t h = nullptr;
    DEEPCONV_CUBLAS_CHECK(cublasCreate(&h));
    blas_ = h;
    DEEPCONV_CUBLAS_CHECK(cublasSetStream(h, s));  // resets the workspace: set ours after it
    DEEPCONV_CUDA_CHECK(cudaMalloc(&blas_workspace_, kBlasWorkspaceBytes));
    DEEPCONV_CUBLAS_CHECK(cublasSetWorkspace(h, blas_workspace_, kBlasWorkspaceBytes));
    // Strict float32: no TF32 tensor-core rounding.
    DEEPCONV_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
  } catch (...) {
    if (blas_) cublasDestroy(blas_);
    if (blas_workspace_) cudaFree(blas_workspace_);
    if (stream_) cudaStreamDestroy(stream_);
    throw;
  }
}

Context::~Context() {
  // Destructors must not throw: errors here are ignored (the device may already be lost).
  cudaSetDevice(device_);
  if (stream_) cudaStreamSynchronize(stream_);
  if (blas_) cublasDestroy(blas_);
  if (blas_workspace_) cudaFree(blas_workspace_);
  if (scratch_) cudaFree(scratch_);
  if (aux_) cudaFree(aux_);
  if (stream_) cudaStreamDestroy(stream_);
  cudaGetLastError();
}

void Context::activate() const { DEEPCONV_CUDA_CHECK(cudaSetDevice(device_)); }

void Context::synchronize() const {
  activate();
  DEEPCONV_CUDA_CHECK(cudaStreamSynchronize(stream_));
  DEEPCONV_CUDA_CHECK(cudaGetLastError());
}

namespace {
// Replaces buffer p (have bytes) with one of want bytes; the old contents are not kept. Freeing
// waits for the stream first: queued work may still read p.
void regrow(cudaStream_t stream, void*& p, size_t& have, size_t want) {
  if (p) {
    DEEPCONV_CUDA_CHECK(cudaStreamSynchronize(stream));
    DEEPCONV_CUDA_CHECK(cudaFree(p));
    p = nullptr;
    have = 0;
  }
  DEEPCONV_CUDA_CHECK(cudaMalloc(&p, want));
  have = want;
}
}  // namespace

void* Context::scratch(size_t bytes) {
  if (bytes <= scratch_bytes_ && scratch_) return scratch_;
  activate();
  // Grow by at least half again, in whole MiB, so a growing sequence of calls settles quickly.
  size_t want = std::max(bytes, scratch_bytes_ + scratch_bytes_ / 2);
  want = (want + (size_t(1) << 20) - 1) & ~((size_t(1) << 20) - 1);
  regrow(stream_, scratch_, scratch_bytes_, want);
  return scratch_;
}

void* Context::aux(size_t bytes) {
  if (bytes <= aux_bytes_ && aux_) return aux_;
  activate();
  regrow(stream_, aux_, aux_bytes_, std::max<size_t>(bytes, 4096));
  return aux_;
}

void* Context::alloc(size_t bytes) {
  activate();
  void* p = nullptr;
  DEEPCONV_CUDA_CHECK(cudaMalloc(&p, bytes > 0 ? bytes : 1));
  return p;
}

void Context::release(void* p) noexcept {
  if (!p) return;
  cudaSetDevice(device_);
  cudaStreamSynchronize(stream_);  // queued kernels may still use p
  cudaFree(p);
  cudaGetLastError();
}

void Context::upload(void* dst, const void* src, size_t bytes) {
  activate();
  DEEPCONV_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
  DEEPCONV_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void Context::download(void* dst, const void* src, size_t bytes) {
  activate();
  DEEPCONV_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  DEEPCONV_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void Context::fill_zero(void* dst, size_t bytes) {
  activate();
  DEEPCONV_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream_));
}

void Context::copy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  activate();
  DEEPCONV_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
}

}  // namespace cuda
}  // namespace deepconv
