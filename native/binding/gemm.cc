// gemm(transA, transB, M, N, K, alpha, beta, naive, C, A, B, async?)
// Contiguous row-major operands: C holds M*N, A M*K, B K*N elements.
#include "common.h"
#include "deepconv/cpu.h"

namespace deepconv {
namespace {

template <typename T>
Napi::Value gemm_t(Args& a) {
  const bool ta = a.boolean("transA"), tb = a.boolean("transB");
  const int64_t M = a.integer("M", 0), N = a.integer("N", 0), K = a.integer("K", 0);
  const T alpha = T(a.number("alpha")), beta = T(a.number("beta"));
  const bool naive = a.boolean("naive");
  T* C = a.out<T>("C", checked_product({M, N}, "C"));
  const T* A = a.in<T>("A", checked_product({M, K}, "A"));
  const T* B = a.in<T>("B", checked_product({K, N}, "B"));
  return run<T>(
      a,
      [=] {
        (naive ? cpu::gemm_naive<T> : cpu::gemm<T>)(ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
      },
      // cuBLAS on the GPU, whatever `naive` says (there is no naive GPU GEMM).
      [=](auto& ctx) { cuda::gemm(ctx, ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N); });
}
DEEPCONV_DISPATCH(gemm)

}  // namespace

void register_gemm(Napi::Env env, Napi::Object exports) { exports.Set("gemm", Napi::Function::New(env, gemm)); }

}  // namespace deepconv
