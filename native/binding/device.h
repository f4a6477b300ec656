// The CUDA side of the bindings: the per-addon device runtime (a cuda::Context and the lock that
// serialises its use between the JS thread and the executor thread).
#pragma once

#include <memory>
#include <mutex>

#include "binding/common.h"

namespace deepconv {

struct DeviceRuntime {
  std::mutex mu;  // held while queuing work on ctx or copying through it
  std::unique_ptr<cuda::Context> ctx;
};

// The addon's device runtime, created (device 0) on first use. Throws std::runtime_error when
// this build has no CUDA backend or no device is usable, saying what to do.
std::shared_ptr<DeviceRuntime> device_runtime(Napi::Env env);

// Registers CudaBuffer, cudaDeviceCount, cudaAlloc, cudaUpload, cudaDownload, cudaCopy,
// cudaSynchronize (each throws a how-to-build error in builds without CUDA, except the count).
void register_device(Napi::Env env, Napi::Object exports);

}  // namespace deepconv
