// deepconv_cuda_test: every CUDA kernel against the CPU kernel on the same random inputs, then
// W1-W4 training-step timings on the GPU. No Node needed: this is what a GPU machine runs.
//
//   deepconv_cuda_test [--parity-only | --bench-only] [--steps N] [--warmup N] [--device I]
//
// Parity: GPU outputs are poisoned with 0xFF bytes (NaN floats, -1 ints) before each call, so an
// element a kernel forgets to write shows. Floats pass when max|gpu - cpu| / max(max|cpu|, 1e-6)
// is under 1e-5; argmax and dropout masks must match exactly; losses within 1e-5 (same measure).
// One PASS/FAIL line per kernel and case, then "N passed, N failed"; exit 1 on any failure.
//
// Bench: forward + softmax loss + backward + Adam on a fixed random batch of 128 3x32x32 images,
// the median of cudaEvent-timed steps after warm-up, one line per workload:
//   BENCH workload=W1 images_per_s=... median_step_ms=... steps=... loss_first=... loss_last=...
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "deepconv/cpu.h"
#include "deepconv/cuda.h"

namespace dc = deepconv;
using dc::cpu::ConvShape;
using dc::cpu::PoolShape;

namespace {

// ---------------------------------------------------------------- plumbing

// A size as size_t (a function, so `std::vector<float> v(zu(n))` never parses as a declaration).
inline size_t zu(int64_t v) { return size_t(v); }

void check(cudaError_t err, const char* what, const char* file, int line) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + what + ": " +
                             cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}
#define CK(call) check((call), #call, __FILE__, __LINE__)

// splitmix64 stream: uniform and normal floats, labels.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  float normal() {
    const double u1 = std::max(uniform(), 1e-300), u2 = uniform();
    return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  int32_t below(int64_t n) { return int32_t(next() % uint64_t(n)); }
};

std::vector<float> randn(Rng& r, size_t n, float scale = 1.0f, float shift = 0.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = shift + scale * r.normal();
  return v;
}

// Device array. Every transfer and poisoning waits for the device: the context's stream does not
// synchronise with the legacy default stream these cudaMemcpy / cudaMemset calls use.
template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  Dev() = default;
  explicit Dev(size_t count) : n(count) { CK(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T))); }
  explicit Dev(const std::vector<T>& h) : Dev(h.size()) { upload(h); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  Dev(Dev&& o) noexcept : p(o.p), n(o.n) { o.p = nullptr, o.n = 0; }
  Dev& operator=(Dev&& o) noexcept {
    std::swap(p, o.p);
    std::swap(n, o.n);
    return *this;
  }
  ~Dev() {
    if (p) cudaFree(p);
  }
  void upload(const std::vector<T>& h) {
    if (h.size() != n) throw std::logic_error("Dev::upload: size mismatch");
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
    CK(cudaDeviceSynchronize());
  }
  void poison() {
    CK(cudaDeviceSynchronize());
    CK(cudaMemset(p, 0xFF, n * sizeof(T)));
    CK(cudaDeviceSynchronize());
  }
  std::vector<T> get() const {
    std::vector<T> h(n);
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
};

// ---------------------------------------------------------------- comparison and report

constexpr double kTol = 1e-5;

// max|a - b| / max(max|b|, 1e-6); infinite when a has a NaN where b has none (an unwritten element).
double norm_err(const std::vector<float>& gpu, const std::vector<float>& cpu) {
  if (gpu.size() != cpu.size()) return INFINITY;
  double diff = 0, ref = 0;
  for (size_t i = 0; i < gpu.size(); ++i) {
    const bool gn = std::isnan(gpu[i]), cn = std::isnan(cpu[i]);
    if (gn || cn) {
      if (gn != cn) return INFINITY;
      continue;
    }
    diff = std::max(diff, std::fabs(double(gpu[i]) - double(cpu[i])));
    ref = std::max(ref, std::fabs(double(cpu[i])));
  }
  return diff / std::max(ref, 1e-6);
}

double scalar_err(double gpu, double cpu) {
  if (std::isnan(gpu) || std::isnan(cpu)) return std::isnan(gpu) && std::isnan(cpu) ? 0.0 : INFINITY;
  return std::fabs(gpu - cpu) / std::max(std::fabs(cpu), 1e-6);
}

// Exact comparison: the number of differing elements (so any mismatch exceeds the tolerance).
template <typename T>
double mismatches(const std::vector<T>& gpu, const std::vector<T>& cpu) {
  if (gpu.size() != cpu.size()) return INFINITY;
  size_t bad = 0;
  for (size_t i = 0; i < gpu.size(); ++i) bad += std::memcmp(&gpu[i], &cpu[i], sizeof(T)) != 0;
  return double(bad);
}

struct Report {
  int passed = 0, failed = 0;
  using Errs = std::vector<std::pair<std::string, double>>;
  void line(const std::string& kernel, const std::string& cas, const Errs& errs) {
    bool ok = true;
    std::string detail;
    for (const auto& e : errs) {
      ok = ok && e.second < kTol;  // false for NaN and inf
      char buf[96];
      std::snprintf(buf, sizeof buf, " %s=%.2e", e.first.c_str(), e.second);
      detail += buf;
    }
    std::printf("%s %-24s %-40s%s\n", ok ? "PASS" : "FAIL", kernel.c_str(), cas.c_str(), detail.c_str());
    std::fflush(stdout);
    (ok ? passed : failed)++;
  }
  void error(const std::string& kernel, const std::string& cas, const std::string& what) {
    std::printf("FAIL %-24s %-40s threw: %s\n", kernel.c_str(), cas.c_str(), what.c_str());
    std::fflush(stdout);
    failed++;
  }
};

// Runs one case; an exception (a CUDA error) becomes a FAIL line and the run goes on.
void guarded(Report& rep, const std::string& kernel, const std::string& cas, const std::function<void()>& body) {
  try {
    body();
  } catch (const std::exception& e) {
    rep.error(kernel, cas, e.what());
    cudaGetLastError();
  }
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

// ---------------------------------------------------------------- parity tests

void test_gemm(dc::cuda::Context& ctx, Report& rep, Rng& rng) {
  struct Case {
    bool ta, tb;
    int64_t M, N, K, pad;
    float alpha, beta;
  };
  const Case cases[] = {{false, false, 7, 5, 3, 0, 1.0f, 0.0f},   {true, false, 13, 17, 9, 2, 1.0f, 0.0f},
                        {false, true, 33, 1, 65, 1, 0.5f, 0.0f},  {true, true, 64, 48, 100, 3, 1.0f, 0.0f},
                        {false, false, 31, 29, 127, 0, 2.0f, 0.5f}, {true, true, 1, 1, 1, 0, 1.0f, 1.0f}};
  for (const Case& c : cases) {
    const std::string cas = fmt("ta=%d tb=%d M=%ld N=%ld K=%ld ld+%ld b=%.1f", c.ta, c.tb, (long)c.M, (long)c.N,
                                (long)c.K, (long)c.pad, c.beta);
    guarded(rep, "gemm", cas, [&] {
      const int64_t arows = c.ta ? c.K : c.M, acols = c.ta ? c.M : c.K, lda = acols + c.pad;
      const int64_t brows = c.tb ? c.N : c.K, bcols = c.tb ? c.K : c.N, ldb = bcols + c.pad;
      const int64_t ldc = c.N + c.pad;
      auto A = randn(rng, zu(arows * lda)), B = randn(rng, zu(brows * ldb)), C = randn(rng, zu(c.M * ldc));
      std::vector<float> ref = C;
      dc::cpu::gemm<float>(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, ref.data(), ldc);
      Dev<float> dA(A), dB(B), dC(C);
      if (c.beta == 0.0f) dC.poison();  // beta = 0 must not read C (NaN * 0 would show)
      dc::cuda::gemm(ctx, c.ta, c.tb, c.M, c.N, c.K, c.alpha, dA.p, lda, dB.p, ldb, c.beta, dC.p, ldc);
      auto got = dC.get();
      // Padding columns of C are outside the product: compare only the (M, N) block.
      std::vector<float> g, r;
      for (int64_t i = 0; i < c.M; ++i)
        for (int64_t j = 0; j < c.N; ++j) {
          g.push_back(got[i * ldc + j]);
          r.push_back(ref[i * ldc + j]);
        }
      rep.line("gemm", cas, {{"C", norm_err(g, r)}});
    });
  }
}

struct ConvCase {
  int64_t N, C, H, W, F, HH, WW, stride, pad;
};

ConvShape conv_shape(const ConvCase& c) {
  ConvShape s{c.N, c.C, c.H, c.W, c.F, c.HH, c.WW, c.stride, c.pad, 0, 0};
  if ((c.H + 2 * c.pad - c.HH) % c.stride || (c.W + 2 * c.pad - c.WW) % c.stride)
    throw std::logic_error("conv case with a fractional output size");
  s.Ho = 1 + (c.H + 2 * c.pad - c.HH) / c.stride;
  s.Wo = 1 + (c.W + 2 * c.pad - c.WW) / c.stride;
  return s;
}

std::string conv_name(const ConvShape& s) {
  return fmt("N=%ld C=%ld %ldx%ld F=%ld k=%ldx%ld s=%ld p=%ld", (long)s.N, (long)s.C, (long)s.H, (long)s.W,
             (long)s.F, (long)s.HH, (long)s.WW, (long)s.stride, (long)s.pad);
}

void test_conv(dc::cuda::Context& ctx, Report& rep, Rng& rng) {
  const ConvCase cases[] = {
      {2, 3, 8, 8, 4, 3, 3, 1, 1},    {1, 2, 7, 9, 3, 3, 5, 2, 2},    {3, 4, 5, 5, 6, 1, 1, 1, 0},
      {4, 3, 11, 11, 5, 5, 5, 2, 0},  {5, 3, 9, 7, 2, 2, 4, 1, 1},    {1, 3, 9, 9, 8, 3, 3, 2, 1},
      {2, 5, 6, 6, 3, 4, 4, 2, 2},    {6, 16, 16, 16, 32, 3, 3, 1, 1}, {16, 64, 16, 16, 64, 3, 3, 1, 1},
      {3, 3, 32, 32, 32, 7, 7, 1, 3}, {1, 1, 1, 1, 1, 1, 1, 1, 0},    {2, 3, 4, 6, 2, 4, 6, 1, 0},
  };
  const size_t default_limit = ctx.conv_workspace_limit;
  for (const ConvCase& cc : cases) {
    const ConvShape s = conv_shape(cc);
    const int64_t K = s.C * s.HH * s.WW, P = s.Ho * s.Wo, CHW = s.C * s.H * s.W;
    auto x = randn(rng, zu(s.N * CHW)), w = randn(rng, zu(s.F * K), 0.3f), b = randn(rng, zu(s.F));
    auto dout = randn(rng, zu(s.N * s.F * P));
    Dev<float> dx_in(x), dw_in(w), db_in(b), ddout(dout);
    const std::string name = conv_name(s);

    // im2col / col2im on the first image
    guarded(rep, "im2col", name, [&] {
      std::vector<float> ref(zu(K * P));
      dc::cpu::im2col<float>(ref.data(), x.data(), s);
      Dev<float> col(ref.size());
      col.poison();
      dc::cuda::im2col(ctx, col.p, dx_in.p, s);
      rep.line("im2col", name, {{"col", norm_err(col.get(), ref)}});
    });
    guarded(rep, "col2im", name, [&] {
      auto colv = randn(rng, zu(K * P));
      std::vector<float> ref(zu(CHW));
      dc::cpu::col2im<float>(ref.data(), colv.data(), s);
      Dev<float> col(colv), img(zu(CHW));
      img.poison();
      dc::cuda::col2im(ctx, img.p, col.p, s);
      rep.line("col2im", name, {{"dx", norm_err(img.get(), ref)}});
    });

    // Whole-batch forward and backward, with the default workspace and with one forcing chunks.
    std::vector<float> out_ref(zu(s.N * s.F * P)), dx_ref(x.size()), dw_ref(w.size()), db_ref(b.size());
    dc::cpu::conv_forward<float>(out_ref.data(), x.data(), w.data(), b.data(), s);
    dc::cpu::conv_backward<float>(dx_ref.data(), dw_ref.data(), db_ref.data(), dout.data(), x.data(), w.data(), s);
    const size_t small = zu(2 * (K + s.F) * P) * sizeof(float) + 1;  // 2 images per backward chunk
    for (const size_t limit : {default_limit, small}) {
      if (limit == small && s.N < 3) continue;
      ctx.conv_workspace_limit = limit;
      const std::string cas = name + (limit == small ? " chunked" : "");
      guarded(rep, "conv_forward", cas, [&] {
        Dev<float> out(out_ref.size());
        out.poison();
        dc::cuda::conv_forward(ctx, out.p, dx_in.p, dw_in.p, db_in.p, s);
        rep.line("conv_forward", cas, {{"out", norm_err(out.get(), out_ref)}});
      });
      guarded(rep, "conv_backward", cas, [&] {
        Dev<float> dx(dx_ref.size()), dw(dw_ref.size()), db(db_ref.size());
        dx.poison(), dw.poison(), db.poison();
        dc::cuda::conv_backward(ctx, dx.p, dw.p, db.p, ddout.p, dx_in.p, dw_in.p, s);
        rep.line("conv_backward", cas,
                 {{"dx", norm_err(dx.get(), dx_ref)}, {"dw", norm_err(dw.get(), dw_ref)},
                  {"db", norm_err(db.get(), db_ref)}});
      });
    }
    ctx.conv_workspace_limit = default_limit;
    guarded(rep, "conv_backward", name + " dx=null", [&] {
      Dev<float> dw(dw_ref.size()), db(db_ref.size());
      dw.poison(), db.poison();
      dc::cuda::conv_backward(ctx, nullptr, dw.p, db.p, ddout.p, dx_in.p, dw_in.p, s);
      rep.line("conv_backward", name + " dx=null",
               {{"dw", norm_err(dw.get(), dw_ref)}, {"db", norm_err(db.get(), db_ref)}});
    });
  }
}

void test_pool(dc::cuda::Context& ctx, Report& rep, Rng& rng) {
  struct Case {
    int64_t N, C, H, W, ph, pw, stride;
    bool ties;
  };
  const Case cases[] = {{2, 3, 8, 8, 2, 2, 2, false},  {2, 3, 8, 8, 2, 2, 2, true},     {1, 2, 9, 9, 3, 3, 2, false},
                        {3, 2, 7, 6, 2, 3, 1, true},   {2, 4, 7, 7, 3, 3, 3, false},    {1, 1, 5, 3, 1, 1, 1, false},
                        {128, 16, 32, 32, 2, 2, 2, false}, {5, 3, 9, 11, 3, 2, 2, true}};
  for (const Case& c : cases) {
    PoolShape s{c.N, c.C, c.H, c.W, c.ph, c.pw, c.stride, 1 + (c.H - c.ph) / c.stride, 1 + (c.W - c.pw) / c.stride};
    const std::string cas = fmt("N=%ld C=%ld %ldx%ld pool=%ldx%ld s=%ld%s", (long)c.N, (long)c.C, (long)c.H,
                                (long)c.W, (long)c.ph, (long)c.pw, (long)c.stride, c.ties ? " ties" : "");
    const size_t nin = zu(s.N * s.C * s.H * s.W), nout = zu(s.N * s.C * s.Ho * s.Wo);
    auto x = randn(rng, nin);
    if (c.ties)
      for (auto& v : x) v = std::round(v);  // a few distinct values: equal maxima in most windows
    auto dout = randn(rng, nout);
    std::vector<float> out_ref(nout), dx_ref(nin);
    std::vector<int32_t> arg_ref(nout);
    dc::cpu::maxpool_forward<float>(out_ref.data(), arg_ref.data(), x.data(), s);
    dc::cpu::maxpool_backward<float>(dx_ref.data(), dout.data(), arg_ref.data(), s);
    Dev<float> dx_in(x), ddout(dout);
    Dev<int32_t> darg(nout);
    guarded(rep, "maxpool_forward", cas, [&] {
      Dev<float> out(nout);
      out.poison(), darg.poison();
      dc::cuda::maxpool_forward(ctx, out.p, darg.p, dx_in.p, s);
      rep.line("maxpool_forward", cas,
               {{"out", norm_err(out.get(), out_ref)}, {"argmax_mismatches", mismatches(darg.get(), arg_ref)}});
    });
    guarded(rep, "maxpool_backward", cas, [&] {
      Dev<int32_t> arg(arg_ref);  // the CPU's argmax, so backward is tested on its own
      Dev<float> dx(nin);
      dx.poison();
      dc::cuda::maxpool_backward(ctx, dx.p, ddout.p, arg.p, s);
      rep.line("maxpool_backward", cas, {{"dx", norm_err(dx.get(), dx_ref)}});
    });
  }
}

void test_activation(dc::cuda::Context& ctx, Report& rep, Rng& rng) {
  for (const int64_t n : {int64_t(1), int64_t(1000), int64_t(100003), int64_t(1) << 21}) {
    auto x = randn(rng, zu(n)), dout = randn(rng, zu(n));
    for (int64_t i = 0; i < n; i += 7) x[zu(i)] = 0.0f;  // the boundary: relu'(0) = 0
    Dev<float> dxin(x), ddout(dout);
    const std::string cas = fmt("n=%ld", (long)n);
    guarded(rep, "relu_forward", cas, [&] {
      std::vector<float> ref(x.size());
      dc::cpu::relu_forward<float>(ref.data(), x.data(), n);
      Dev<float> out(ref.size());
      out.poison();
      dc::cuda::relu_forward(ctx, out.p, dxin.p, n);
      rep.line("relu_forward", cas, {{"out", norm_err(out.get(), ref)}});
    });
    guarded(rep, "relu_backward", cas, [&] {
      std::vector<float> ref(x.size());
      dc::cpu::relu_backward<float>(ref.data(), dout.data(), x.data(), n);
      Dev<float> dx(ref.size());
      dx.poison();
      dc::cuda::relu_backward(ctx, dx.p, ddout.p, dxin.p, n);
      rep.line("relu_backward", cas, {{"dx", norm_err(dx.get(), ref)}});
    });
    for (const double p : {0.5, 0.8}) {
      const uint64_t seed = 0xDEADBEEF12345ull + uint64_t(n);
      const std::string dcas = cas + fmt(" p=%.1f", p);
      guarded(rep, "dropout_forward", dcas, [&] {
        std::vector<float> out_ref(x.size()), mask_ref(x.size());
        dc::cpu::dropout_forward<float>(out_ref.data(), mask_ref.data(), x.data(), n, p, seed);
        Dev<float> out(x.size()), mask(x.size());
        out.poison(), mask.poison();
        dc::cuda::dropout_forward(ctx, out.p, mask.p, dxin.p, n, p, seed);
        rep.line("dropout_forward", dcas,
                 {{"out", norm_err(out.get(), out_ref)}, {"mask_bit_mismatches", mismatches(mask.get(), mask_ref)}});
      });
      guarded(rep, "dropout_backward", dcas, [&] {
        std::vector<float> out_ref(x.size()), mask_ref(x.size()), dx_ref(x.size());
        dc::cpu::dropout_forward<float>(out_ref.data(), mask_ref.data(), x.data(), n, p, seed);
        dc::cpu::dropout_backward<float>(dx_ref.data(), dout.data(), mask_ref.data(), n);
        Dev<float> mask(mask_ref), dx(x.size());
        dx.poison();
        dc::cuda::dropout_backward(ctx, dx.p, ddout.p, mask.p, n);
        rep.line("dropout_backward", dcas, {{"dx", norm_err(dx.get(), dx_ref)}});
      });
    }
  }
}

void test_linear(dc::cuda::Context& ctx, Report& rep, Rng& rng) {
  const int64_t cases[][3] = {{1, 5, 3}, {7, 13, 10}, {128, 8192, 100}, {128, 100, 10}, {3, 1, 1}};
  for (const auto& c : cases) {
    const int64_t N = c[0], D = c[1], M = c[2];
    const std::string cas = fmt("N=%ld D=%ld M=%ld", (long)N, (long)D, (long)M);
    auto x = randn(rng, zu(N * D)), w = randn(rng, zu(D * M), 0.05f), b = randn(rng, zu(M));
    auto dout = randn(rng, zu(N * M));
    Dev<float> dxin(x), dwin(w), dbin(b), ddout(dout);
    guarded(rep, "linear_forward", cas, [&] {
      std::vector<float> ref(zu(N * M));
      dc::cpu::linear_forward<float>(ref.data(), x.data(), w.data(), b.data(), N, D, M);
      Dev<float> out(ref.size());
      out.poison();
      dc::cuda::linear_forward(ctx, out.p, dxin.p, dwin.p, dbin.p, N, D, M);
      rep.line("linear_forward", cas, {{"out", norm_err(out.get(), ref)}});
    });
    guarded(rep, "linear_backward", cas, [&] {
      std::vector<float> dx_ref(x.size()), dw_ref(w.size()), db_ref(b.size());
      dc::cpu::linear_backward<float>(dx_ref.data(), dw_ref.data(), db_ref.data(), dout.data(), x.data(), w.data(),
                                      N, D, M);
      Dev<float> dx(x.size()), dw(w.size()), db(b.size());
      dx.poison(), dw.poison(), db.poison();
      dc::cuda::linear_backward(ctx, dx.p, dw.p, db.p, ddout.p, dxin.p, dwin.p, N, D, M);
      rep.line("linear_backward", cas,
               {{"dx", norm_err(dx.get(), dx_ref)}, {"dw", norm_err(dw.get(), dw_ref)},
                {"db", norm_err(db.get(), db_ref)}});
    });
  }
}

void test_batchnorm(dc::cuda::Context& ctx, Report& rep, Rng& rng) {
  const int64_t cases[][3] = {{4, 5, 1}, {1, 3, 7}, {16, 8, 49}, {2, 3, 1}, {32, 16, 256}, {128, 100, 1}, {7, 1, 1}};
  const double eps = 1e-5, momentum = 0.9;
  for (const auto& c : cases) {
    const int64_t N = c[0], D = c[1], S = c[2], n = N * D * S;
    const std::string cas = fmt("N=%ld D=%ld S=%ld", (long)N, (long)D, (long)S);
    auto x = randn(rng, zu(n), 2.0f, 3.0f);  // a mean well away from 0: the two-pass variance
    auto gamma = randn(rng, zu(D), 0.5f, 1.0f), beta = randn(rng, zu(D));
    auto rm0 = randn(rng, zu(D)), rv0 = randn(rng, zu(D), 0.1f, 1.0f);
    for (auto& v : rv0) v = std::fabs(v);
    auto dout = randn(rng, zu(n));
    Dev<float> dxin(x), dgamma_in(gamma), dbeta_in(beta), ddout(dout);

    std::vector<float> out_ref(zu(n)), mean_ref(zu(D)), rstd_ref(zu(D)), rm_ref = rm0, rv_ref = rv0;
    dc::cpu::batchnorm_forward_train<float>(out_ref.data(), mean_ref.data(), rstd_ref.data(), rm_ref.data(),
                                            rv_ref.data(), x.data(), gamma.data(), beta.data(), N, D, S, eps,
                                            momentum, false);
    guarded(rep, "batchnorm_forward_train", cas, [&] {
      Dev<float> out(zu(n)), mean(zu(D)), rstd(zu(D)), rm(rm0), rv(rv0);
      out.poison(), mean.poison(), rstd.poison();
      dc::cuda::batchnorm_forward_train(ctx, out.p, mean.p, rstd.p, rm.p, rv.p, dxin.p, dgamma_in.p, dbeta_in.p, N,
                                        D, S, eps, momentum, false);
      rep.line("batchnorm_forward_train", cas,
               {{"out", norm_err(out.get(), out_ref)}, {"mean", norm_err(mean.get(), mean_ref)},
                {"rstd", norm_err(rstd.get(), rstd_ref)}, {"run_mean", norm_err(rm.get(), rm_ref)},
                {"run_var", norm_err(rv.get(), rv_ref)}});
    });
    guarded(rep, "batchnorm_forward_test", cas, [&] {
      std::vector<float> ref(zu(n));
      dc::cpu::batchnorm_forward_test<float>(ref.data(), x.data(), gamma.data(), beta.data(), rm0.data(), rv0.data(),
                                             N, D, S, eps, false);
      Dev<float> out(zu(n)), rm(rm0), rv(rv0);
      out.poison();
      dc::cuda::batchnorm_forward_test(ctx, out.p, dxin.p, dgamma_in.p, dbeta_in.p, rm.p, rv.p, N, D, S, eps, false);
      rep.line("batchnorm_forward_test", cas, {{"out", norm_err(out.get(), ref)}});
    });
    // Backward from the CPU's caches, so each backward is tested on its own.
    Dev<float> dmean(mean_ref), drstd(rstd_ref);
    for (const bool alt : {false, true}) {
      const char* kname = alt ? "batchnorm_backward_alt" : "batchnorm_backward";
      guarded(rep, kname, cas, [&] {
        std::vector<float> dx_ref(zu(n)), dg_ref(zu(D)), db_ref(zu(D));
        if (alt) {
          dc::cpu::batchnorm_backward_alt<float>(dx_ref.data(), dg_ref.data(), db_ref.data(), dout.data(), x.data(),
                                                 gamma.data(), mean_ref.data(), rstd_ref.data(), nullptr, N, D, S);
        } else {
          dc::cpu::batchnorm_backward<float>(dx_ref.data(), dg_ref.data(), db_ref.data(), dout.data(), x.data(),
                                             gamma.data(), mean_ref.data(), rstd_ref.data(), N, D, S);
        }
        Dev<float> dx(zu(n)), dg(zu(D)), db(zu(D));
        dx.poison(), dg.poison(), db.poison();
        if (alt) {
          dc::cuda::batchnorm_backward_alt(ctx, dx.p, dg.p, db.p, ddout.p, dxin.p, dgamma_in.p, dmean.p, drstd.p,
                                           nullptr, N, D, S);
        } else {
          dc::cuda::batchnorm_backward(ctx, dx.p, dg.p, db.p, ddout.p, dxin.p, dgamma_in.p, dmean.p, drstd.p, N, D, S);
        }
        rep.line(kname, cas,
                 {{"dx", norm_err(dx.get(), dx_ref)}, {"dgamma", norm_err(dg.get(), dg_ref)},
                  {"dbeta", norm_err(db.get(), db_ref)}});
      });
    }
    // Batchnorm with the ReLU fused: forward, then the closed-form backward masked by its output.
    guarded(rep, "batchnorm_relu", cas, [&] {
      std::vector<float> y_ref(zu(n)), m_ref(zu(D)), r_ref(zu(D)), rm_r = rm0, rv_r = rv0;
      dc::cpu::batchnorm_forward_train<float>(y_ref.data(), m_ref.data(), r_ref.data(), rm_r.data(), rv_r.data(),
                                              x.data(), gamma.data(), beta.data(), N, D, S, eps, momentum, true);
      std::vector<float> dx_ref(zu(n)), dg_ref(zu(D)), db_ref(zu(D));
      dc::cpu::batchnorm_backward_alt<float>(dx_ref.data(), dg_ref.data(), db_ref.data(), dout.data(), x.data(),
                                             gamma.data(), m_ref.data(), r_ref.data(), y_ref.data(), N, D, S);
      Dev<float> y(zu(n)), mean(zu(D)), rstd(zu(D)), rm(rm0), rv(rv0), dx(zu(n)), dg(zu(D)), db(zu(D));
      y.poison(), dx.poison(), dg.poison(), db.poison();
      dc::cuda::batchnorm_forward_train(ctx, y.p, mean.p, rstd.p, rm.p, rv.p, dxin.p, dgamma_in.p, dbeta_in.p, N, D,
                                        S, eps, momentum, true);
      Dev<float> y_cpu(y_ref);  // the mask from the CPU's output, so backward is tested on its own
      dc::cuda::batchnorm_backward_alt(ctx, dx.p, dg.p, db.p, ddout.p, dxin.p, dgamma_in.p, dmean.p, drstd.p, y_cpu.p,
                                       N, D, S);
      rep.line("batchnorm_relu", cas,
               {{"out", norm_err(y.get(), y_ref)}, {"dx", norm_err(dx.get(), dx_ref)},
                {"dgamma", norm_err(dg.get(), dg_ref)}, {"dbeta", norm_err(db.get(), db_ref)}});
    });
  }
}

void test_loss(dc::cuda::Context& ctx, Report& rep, Rng& rng) {
  const int64_t cases[][2] = {{1, 1}, {5, 10}, {128, 10}, {3, 1000}, {64, 37}, {1000, 100}};
  for (const auto& c : cases) {
    const int64_t N = c[0], C = c[1];
    const std::string cas = fmt("N=%ld C=%ld", (long)N, (long)C);
    auto scores = randn(rng, zu(N * C), 3.0f);
    std::vector<int32_t> y(zu(N));
    for (auto& v : y) v = rng.below(C);
    Dev<float> dscores(scores);
    Dev<int32_t> dy(y);
    for (const bool svm : {false, true}) {
      const char* kname = svm ? "svm_loss" : "softmax_loss";
      guarded(rep, kname, cas, [&] {
        double loss_ref = 0;
        std::vector<float> dx_ref(scores.size());
        if (svm) dc::cpu::svm_loss<float>(&loss_ref, dx_ref.data(), scores.data(), y.data(), N, C);
        else dc::cpu::softmax_loss<float>(&loss_ref, dx_ref.data(), scores.data(), y.data(), N, C, 0.1);
        Dev<double> loss(1);
        Dev<float> dx(scores.size());
        loss.poison(), dx.poison();
        if (svm) dc::cuda::svm_loss(ctx, loss.p, dx.p, dscores.p, dy.p, N, C);
        else dc::cuda::softmax_loss(ctx, loss.p, dx.p, dscores.p, dy.p, N, C, 0.1);  // with label smoothing
        rep.line(kname, cas, {{"loss", scalar_err(loss.get()[0], loss_ref)}, {"dx", norm_err(dx.get(), dx_ref)}});
      });
    }
  }
}

void test_optim(dc::cuda::Context& ctx, Report& rep, Rng& rng) {
  for (const int64_t n : {int64_t(1), int64_t(1000), int64_t(100003)}) {
    auto w = randn(rng, zu(n)), dw = randn(rng, zu(n), 0.1f), s1 = randn(rng, zu(n), 0.01f);
    auto s2 = randn(rng, zu(n), 0.01f);
    for (auto& v : s2) v = std::fabs(v);  // second moments are non-negative
    const std::string cas = fmt("n=%ld", (long)n);
    Dev<float> ddw(dw);
    guarded(rep, "sgd_update", cas, [&] {
      auto ref = w;
      dc::cpu::sgd_update<float>(ref.data(), dw.data(), n, 1e-2);
      Dev<float> dwt(w);
      dc::cuda::sgd_update(ctx, dwt.p, ddw.p, n, 1e-2);
      rep.line("sgd_update", cas, {{"w", norm_err(dwt.get(), ref)}});
    });
    guarded(rep, "sgd_momentum_update", cas, [&] {
      auto ref = w, v = s1;
      dc::cpu::sgd_momentum_update<float>(ref.data(), v.data(), dw.data(), n, 1e-2, 0.9);
      Dev<float> dwt(w), dv(s1);
      dc::cuda::sgd_momentum_update(ctx, dwt.p, dv.p, ddw.p, n, 1e-2, 0.9);
      rep.line("sgd_momentum_update", cas, {{"w", norm_err(dwt.get(), ref)}, {"v", norm_err(dv.get(), v)}});
    });
    guarded(rep, "nesterov_update", cas, [&] {
      auto ref = w, v = s1;
      dc::cpu::nesterov_update<float>(ref.data(), v.data(), dw.data(), n, 1e-2, 0.9);
      Dev<float> dwt(w), dv(s1);
      dc::cuda::nesterov_update(ctx, dwt.p, dv.p, ddw.p, n, 1e-2, 0.9);
      rep.line("nesterov_update", cas, {{"w", norm_err(dwt.get(), ref)}, {"v", norm_err(dv.get(), v)}});
    });
    guarded(rep, "ema_update", cas, [&] {
      auto ref = s1;
      dc::cpu::ema_update<float>(ref.data(), w.data(), n, 0.99);
      Dev<float> davg(s1), dwt(w);
      dc::cuda::ema_update(ctx, davg.p, dwt.p, n, 0.99);
      rep.line("ema_update", cas, {{"avg", norm_err(davg.get(), ref)}});
    });
    guarded(rep, "rmsprop_update", cas, [&] {
      auto ref = w, cache = s2;
      dc::cpu::rmsprop_update<float>(ref.data(), cache.data(), dw.data(), n, 1e-2, 0.99, 1e-8);
      Dev<float> dwt(w), dc_(s2);
      dc::cuda::rmsprop_update(ctx, dwt.p, dc_.p, ddw.p, n, 1e-2, 0.99, 1e-8);
      rep.line("rmsprop_update", cas, {{"w", norm_err(dwt.get(), ref)}, {"cache", norm_err(dc_.get(), cache)}});
    });
    guarded(rep, "l2_penalty", cas, [&] {
      auto ref = dw;
      double sum_ref = 0;
      dc::cpu::l2_penalty<float>(&sum_ref, ref.data(), w.data(), n, 0.05);
      Dev<float> dg(dw), dwt(w);
      Dev<double> sum(1);
      sum.poison();
      dc::cuda::l2_penalty(ctx, sum.p, dg.p, dwt.p, n, 0.05);
      rep.line("l2_penalty", cas, {{"dw", norm_err(dg.get(), ref)}, {"sum_sq", scalar_err(sum.get()[0], sum_ref)}});
    });
    for (const int64_t t : {int64_t(1), int64_t(7)}) {
      const std::string acas = cas + fmt(" t=%ld", (long)t);
      guarded(rep, "adam_update", acas, [&] {
        auto ref = w, m = s1, v = s2;
        dc::cpu::adam_update<float>(ref.data(), m.data(), v.data(), dw.data(), n, 1e-3, 0.9, 0.999, 1e-8, t);
        Dev<float> dwt(w), dm(s1), dv(s2);
        dc::cuda::adam_update(ctx, dwt.p, dm.p, dv.p, ddw.p, n, 1e-3, 0.9, 0.999, 1e-8, t);
        rep.line("adam_update", acas,
                 {{"w", norm_err(dwt.get(), ref)}, {"m", norm_err(dm.get(), m)}, {"v", norm_err(dv.get(), v)}});
      });
    }
  }
}

// ---------------------------------------------------------------- W1-W4 training steps

// A sequential network composed directly from the CUDA kernels, every buffer allocated up front.
class Net {
 public:
  Net(dc::cuda::Context& ctx, int64_t N, int64_t C, int64_t H, int64_t W, Rng& rng)
      : ctx_(ctx), rng_(rng), N_(N), C_(C), H_(H), W_(W), in_n_(N * C * H * W) {}

  void conv(int64_t F, int64_t k, int64_t pad) {
    Layer L;
    L.kind = Kind::Conv;
    L.cs = ConvShape{N_, C_, H_, W_, F, k, k, 1, pad, 1 + (H_ + 2 * pad - k), 1 + (W_ + 2 * pad - k)};
    const int64_t fan_in = C_ * k * k;
    L.params = {param(F * fan_in, std::sqrt(2.0f / float(fan_in)), 0.0f), param(F, 0.0f, 0.0f)};
    C_ = F, H_ = L.cs.Ho, W_ = L.cs.Wo;
    add(std::move(L));
  }
  void batchnorm() {  // spatial: (N, C, H*W)
    Layer L;
    L.kind = Kind::BatchNorm;
    L.bn_D = C_, L.bn_S = H_ * W_;
    L.params = {param(C_, 0.0f, 1.0f), param(C_, 0.0f, 0.0f)};
    L.mean = Dev<float>(zu(C_)), L.rstd = Dev<float>(zu(C_));
    L.run_mean = Dev<float>(std::vector<float>(zu(C_), 0.0f));
    L.run_var = Dev<float>(std::vector<float>(zu(C_), 1.0f));
    add(std::move(L));
  }
  void relu() {
    Layer L;
    L.kind = Kind::ReLU;
    add(std::move(L));
  }
  void pool2() {
    Layer L;
    L.kind = Kind::Pool;
    L.ps = PoolShape{N_, C_, H_, W_, 2, 2, 2, 1 + (H_ - 2) / 2, 1 + (W_ - 2) / 2};
    H_ = L.ps.Ho, W_ = L.ps.Wo;
    L.argmax = Dev<int32_t>(zu(N_ * C_ * H_ * W_));
    add(std::move(L));
  }
  void linear(int64_t M) {
    Layer L;
    L.kind = Kind::Linear;
    L.lin_D = C_ * H_ * W_, L.lin_M = M;
    const float gain = 2.0f;  // before a ReLU, or close enough for timing
    L.params = {param(L.lin_D * M, std::sqrt(gain / float(L.lin_D)), 0.0f), param(M, 0.0f, 0.0f)};
    C_ = M, H_ = 1, W_ = 1;
    add(std::move(L));
  }

  // Input batch and labels, fixed for every step.
  void set_batch(const std::vector<float>& x, const std::vector<int32_t>& y) {
    x_ = Dev<float>(x);
    y_ = Dev<int32_t>(y);
    dscores_ = Dev<float>(zu(N_ * C_));
    loss_ = Dev<double>(1);
  }

  // forward, softmax loss, backward, Adam: all queued on the context's stream.
  void step() {
    const float* in = x_.p;
    for (Layer& L : layers_) {
      forward(L, in);
      in = L.out.p;
    }
    dc::cuda::softmax_loss(ctx_, loss_.p, dscores_.p, in, y_.p, N_, C_, 0.0);
    const float* g = dscores_.p;
    for (size_t i = layers_.size(); i-- > 0;) {
      Layer& L = layers_[i];
      const float* lin = i == 0 ? x_.p : layers_[i - 1].out.p;
      backward(L, i == 0 ? nullptr : L.dx.p, g, lin);
      g = L.dx.p;
    }
    ++t_;
    for (Param& p : params_)
      dc::cuda::adam_update(ctx_, p.w.p, p.m.p, p.v.p, p.dw.p, p.n, 1e-3, 0.9, 0.999, 1e-8, t_);
  }

  double loss() { return loss_.get()[0]; }

 private:
  enum class Kind { Conv, BatchNorm, ReLU, Pool, Linear };
  struct Param {
    Dev<float> w, dw, m, v;
    int64_t n = 0;
  };
  struct Layer {
    Kind kind = Kind::ReLU;
    ConvShape cs{};
    PoolShape ps{};
    int64_t bn_D = 0, bn_S = 0, lin_D = 0, lin_M = 0;
    std::vector<size_t> params;
    Dev<float> out, dx, mean, rstd, run_mean, run_var;
    Dev<int32_t> argmax;
    int64_t in_n = 0, out_n = 0;
  };

  size_t param(int64_t n, float std, float value) {
    Param p;
    std::vector<float> h(zu(n));
    for (auto& v : h) v = value + std * rng_.normal();
    p.w = Dev<float>(h);
    p.dw = Dev<float>(zu(n));
    p.m = Dev<float>(std::vector<float>(zu(n), 0.0f));
    p.v = Dev<float>(std::vector<float>(zu(n), 0.0f));
    p.n = n;
    params_.push_back(std::move(p));
    return params_.size() - 1;
  }

  void add(Layer L) {
    L.in_n = layers_.empty() ? in_n_ : layers_.back().out_n;
    L.out_n = N_ * C_ * H_ * W_;
    L.out = Dev<float>(zu(L.out_n));
    L.dx = Dev<float>(zu(L.in_n));
    layers_.push_back(std::move(L));
  }

  void forward(Layer& L, const float* in) {
    switch (L.kind) {
      case Kind::Conv:
        dc::cuda::conv_forward(ctx_, L.out.p, in, params_[L.params[0]].w.p, params_[L.params[1]].w.p, L.cs);
        break;
      case Kind::BatchNorm:
        dc::cuda::batchnorm_forward_train(ctx_, L.out.p, L.mean.p, L.rstd.p, L.run_mean.p, L.run_var.p, in,
                                          params_[L.params[0]].w.p, params_[L.params[1]].w.p, N_, L.bn_D, L.bn_S,
                                          1e-5, 0.9, false);
        break;
      case Kind::ReLU:
        dc::cuda::relu_forward(ctx_, L.out.p, in, L.out_n);
        break;
      case Kind::Pool:
        dc::cuda::maxpool_forward(ctx_, L.out.p, L.argmax.p, in, L.ps);
        break;
      case Kind::Linear:
        dc::cuda::linear_forward(ctx_, L.out.p, in, params_[L.params[0]].w.p, params_[L.params[1]].w.p, N_, L.lin_D,
                                 L.lin_M);
        break;
    }
  }

  // dx may be null (the first layer: no input gradient needed, where the kernel allows it).
  void backward(Layer& L, float* dx, const float* dout, const float* in) {
    float* dxa = dx ? dx : L.dx.p;  // kernels that always write dx get the layer's own buffer
    switch (L.kind) {
      case Kind::Conv:
        dc::cuda::conv_backward(ctx_, dx, params_[L.params[0]].dw.p, params_[L.params[1]].dw.p, dout, in,
                                params_[L.params[0]].w.p, L.cs);
        break;
      case Kind::BatchNorm:
        dc::cuda::batchnorm_backward_alt(ctx_, dxa, params_[L.params[0]].dw.p, params_[L.params[1]].dw.p, dout, in,
                                         params_[L.params[0]].w.p, L.mean.p, L.rstd.p, nullptr, N_, L.bn_D, L.bn_S);
        break;
      case Kind::ReLU:
        dc::cuda::relu_backward(ctx_, dxa, dout, in, L.in_n);
        break;
      case Kind::Pool:
        dc::cuda::maxpool_backward(ctx_, dxa, dout, L.argmax.p, L.ps);
        break;
      case Kind::Linear:
        dc::cuda::linear_backward(ctx_, dx, params_[L.params[0]].dw.p, params_[L.params[1]].dw.p, dout, in,
                                  params_[L.params[0]].w.p, N_, L.lin_D, L.lin_M);
        break;
    }
  }

  dc::cuda::Context& ctx_;
  Rng& rng_;
  int64_t N_, C_, H_, W_, in_n_;
  int64_t t_ = 0;
  std::vector<Layer> layers_;
  std::vector<Param> params_;
  Dev<float> x_, dscores_;
  Dev<int32_t> y_;
  Dev<double> loss_;
};

void build(Net& net, const std::string& name) {
  if (name == "W1" || name == "W2") {
    for (const int64_t F : {16, 32, 64}) {
      net.conv(F, 3, 1);
      if (name == "W2") net.batchnorm();
      net.relu();
      net.pool2();
    }
    net.linear(10);
  } else if (name == "W3") {
    net.conv(32, 7, 3);
    net.relu();
    net.pool2();
    net.linear(100);
    net.relu();
    net.linear(10);
  } else if (name == "W4") {
    const int64_t filters[] = {64, 64, 128, 128, 256, 256};
    for (int i = 0; i < 6; ++i) {
      net.conv(filters[i], 3, 1);
      net.batchnorm();
      net.relu();
      if (i == 1 || i == 3 || i == 5) net.pool2();
    }
    net.linear(10);
  } else {
    throw std::invalid_argument("unknown workload " + name);
  }
}

void bench(dc::cuda::Context& ctx, int steps, int warmup) {
  const int64_t N = 128;
  cudaEvent_t start, stop;
  CK(cudaEventCreate(&start));
  CK(cudaEventCreate(&stop));
  for (const std::string name : {"W1", "W2", "W3", "W4"}) {
    Rng rng(42);
    Net net(ctx, N, 3, 32, 32, rng);
    build(net, name);
    std::vector<int32_t> y(zu(N));
    for (auto& v : y) v = rng.below(10);
    net.set_batch(randn(rng, zu(N * 3 * 32 * 32)), y);
    net.step();
    ctx.synchronize();
    const double loss_first = net.loss();
    for (int i = 1; i < warmup; ++i) net.step();
    ctx.synchronize();
    std::vector<float> ms;
    for (int i = 0; i < steps; ++i) {
      CK(cudaEventRecord(start, ctx.stream()));
      net.step();
      CK(cudaEventRecord(stop, ctx.stream()));
      CK(cudaEventSynchronize(stop));
      float t = 0;
      CK(cudaEventElapsedTime(&t, start, stop));
      ms.push_back(t);
    }
    ctx.synchronize();
    const double loss_last = net.loss();
    std::sort(ms.begin(), ms.end());
    const double med = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
    std::printf("BENCH workload=%s images_per_s=%.1f median_step_ms=%.3f steps=%d loss_first=%.4f loss_last=%.4f\n",
                name.c_str(), double(N) / (med / 1000.0), med, steps, loss_first, loss_last);
    std::fflush(stdout);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

}  // namespace

int main(int argc, char** argv) {
  bool parity = true, timing = true;
  int steps = 30, warmup = 5, device = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--parity-only") {
      timing = false;
    } else if (a == "--bench-only") {
      parity = false;
    } else if (a == "--steps" && i + 1 < argc) {
      steps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--warmup" && i + 1 < argc) {
      warmup = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--device" && i + 1 < argc) {
      device = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--parity-only | --bench-only] [--steps N] [--warmup N] [--device I]\n",
                   argv[0]);
      return 2;
    }
  }
  const int devices = dc::cuda::device_count();
  if (devices <= device) {
    std::printf("FAIL no CUDA device %d (found %d): run this on a machine with a GPU\n", device, devices);
    return 2;
  }
  try {
    cudaDeviceProp prop{};
    CK(cudaGetDeviceProperties(&prop, device));
    std::printf("device %d: %s, compute capability %d.%d, %.1f GiB\n", device, prop.name, prop.major, prop.minor,
                double(prop.totalGlobalMem) / double(1 << 30));
    dc::cuda::Context ctx(device);
    Report rep;
    if (parity) {
      Rng rng(20240611);
      test_gemm(ctx, rep, rng);
      test_conv(ctx, rep, rng);
      test_pool(ctx, rep, rng);
      test_activation(ctx, rep, rng);
      test_linear(ctx, rep, rng);
      test_batchnorm(ctx, rep, rng);
      test_loss(ctx, rep, rng);
      test_optim(ctx, rep, rng);
      std::printf("%d passed, %d failed\n", rep.passed, rep.failed);
      std::fflush(stdout);
    }
    if (timing) bench(ctx, steps, warmup);
    return rep.failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::printf("FAIL error: %s\n", e.what());
    return 1;
  }
}
