// Module registration: per-addon state, thread control, build information, and every op family.
#include <napi.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "binding/common.h"
#include "binding/device.h"
#include "binding/executor.h"
#include "binding/host_memory.h"
#include "binding/team.h"
#include "cpu/gemm_kernels.h"
#include "cpu/winograd.h"
#include "deepconv/cpu.h"
#include "deepconv/isa.h"
#include "deepconv/parallel.h"

namespace deepconv {
namespace {

int default_threads() {
  // DEEPCONV_NUM_THREADS wins, then OMP_NUM_THREADS (through OpenMP), then every core.
  if (const char* v = std::getenv("DEEPCONV_NUM_THREADS")) {
    const int n = std::atoi(v);
    if (n > 0) return n;
  }
  return max_threads() > 0 ? max_threads() : 1;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Args& a) {
    state(info.Env()).num_threads = int(a.integer("threads", 1, 1024));
    return info.Env().Undefined();
  });
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), state(info.Env()).num_threads);
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
#ifdef _OPENMP
  o.Set("openmp", Napi::Number::New(env, _OPENMP));
#else
  o.Set("openmp", env.Null());
#endif
#if defined(__clang__)
  o.Set("compiler", Napi::String::New(env, std::string("clang ") + __clang_version__));
#elif defined(__GNUC__)
  o.Set("compiler", Napi::String::New(env, std::string("gcc ") + __VERSION__));
#endif
  o.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
#ifdef DEEPCONV_WITH_CUDA
  o.Set("cuda", Napi::Boolean::New(env, true));
#else
  o.Set("cuda", Napi::Boolean::New(env, false));
#endif
#ifdef DEEPCONV_CUDA_EMULATOR
  o.Set("cudaEmulator", Napi::Boolean::New(env, true));
#else
  o.Set("cudaEmulator", Napi::Boolean::New(env, false));
#endif
  o.Set("hardwareThreads", Napi::Number::New(env, hardware_threads()));
  Napi::Array features = Napi::Array::New(env);
  uint32_t k = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) features.Set(k++, "avx2");
  if (__builtin_cpu_supports("fma")) features.Set(k++, "fma");
  if (__builtin_cpu_supports("avx512f")) features.Set(k++, "avx512f");
#endif
  o.Set("cpuFeatures", features);
  return o;
}

// Path names, best first: every one the build knows, or only those this CPU runs.
std::vector<std::string> isa_names(bool available_only) {
  std::vector<std::string> names;
  for (int i = kIsaCount - 1; i >= 0; --i)
    if (!available_only || isa_supported(Isa(i))) names.push_back(isa_name(Isa(i)));
  return names;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// isaInfo() -> { active, available: names this CPU runs, best first, gemmF32, gemmF64: the tiles,
// winograd: the float 3x3 layers conv hands to Winograd (cpu/winograd.h's thresholds) }
Napi::Value IsaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  const Isa isa = active_isa();
  o.Set("active", isa_name(isa));
  o.Set("best", isa_name(best_isa()));
  Napi::Array available = Napi::Array::New(env);
  uint32_t k = 0;
  for (const std::string& n : isa_names(true)) available.Set(k++, n);
  o.Set("available", available);
  o.Set("gemmF32", cpu::gemm_kernel<float>(isa).name);
  o.Set("gemmF64", cpu::gemm_kernel<double>(isa).name);
  Napi::Object wino = Napi::Object::New(env);
  wino.Set("minChannels", double(cpu::kWinogradMinChannels));
  wino.Set("minTiles", double(cpu::kWinogradMinTiles));
  wino.Set("minColumns", double(cpu::kWinogradMinColumns));
  o.Set("winograd", wino);
  return o;
}

// setIsa(name): process-wide. A name this CPU cannot run is refused, never attempted.
Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Args& a) {
    const std::string name = a.string("isa");
    a.check_arity();
    Isa isa;
    if (!parse_isa(name.c_str(), &isa)) {
      throw ArgRangeError("isa must be one of " + joined(isa_names(false)) + ", got \"" + name + "\"");
    }
    if (!isa_supported(isa)) {
      throw ArgRangeError("isa \"" + name + "\" is not available: this CPU runs " + joined(isa_names(true)));
    }
    set_isa(isa);
    return info.Env().Undefined();
  });
}

// teamAdvice() -> { othersBusy: cores other processes kept busy lately (-1: not measured yet),
// cores: the team that leaves them (0: no advice yet) }
Napi::Value TeamAdviceJs(const Napi::CallbackInfo& info) {
  const TeamAdvice t = team_advice();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("othersBusy", t.others_busy);
  o.Set("cores", t.cores);
  return o;
}

// executorStats() -> { batches: settle batches handed to the JS thread so far, pending: calls
// queued and not yet settled }. Zeros before the first asynchronous call (no executor yet).
Napi::Value ExecutorStats(const Napi::CallbackInfo& info) {
  const AddonState& st = state(info.Env());
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("batches", st.executor ? static_cast<double>(st.executor->batches()) : 0.0);
  o.Set("pending", st.executor ? st.executor->pending() : 0);
  return o;
}

// fmaPeak(seconds) -> { gflops, isa, threads }: runs synchronously, it is a benchmark.
Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Args& a) {
    const double seconds = a.number("seconds");
    set_num_threads(state(info.Env()).num_threads);
    const char* isa = "";
    const double g = cpu::fma_peak_gflops(seconds, &isa);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("gflops", g);
    o.Set("isa", isa);
    o.Set("threads", state(info.Env()).num_threads);
    return Napi::Value(o);
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* st = new AddonState();
  st->num_threads = default_threads();
  env.SetInstanceData(st);  // deleted by N-API when this environment (or worker) goes away
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
  exports.Set("fmaPeak", Napi::Function::New(env, FmaPeak));
  exports.Set("teamAdvice", Napi::Function::New(env, TeamAdviceJs));
  exports.Set("executorStats", Napi::Function::New(env, ExecutorStats));
  exports.Set("isaInfo", Napi::Function::New(env, IsaInfo));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  register_gemm(env, exports);
  register_conv(env, exports);
  register_pool(env, exports);
  register_activation(env, exports);
  register_linear(env, exports);
  register_batchnorm(env, exports);
  register_loss(env, exports);
  register_optim(env, exports);
  register_device(env, exports);
  register_host_memory(env, exports);
  return exports;
}

}  // namespace
}  // namespace deepconv

static Napi::Object InitDeepconv(Napi::Env env, Napi::Object exports) { return deepconv::Init(env, exports); }
NODE_API_MODULE(deepconv, InitDeepconv)
