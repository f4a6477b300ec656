// Batch normalization over x viewed as (N, D, S): statistics per feature d over the N*S values
// x[n, d, s]. Plain batchnorm is S = 1; spatial batchnorm on (N, C, H, W) is D = C, S = H*W, so
// one kernel family serves both without transposes. The bodies are in batchnorm_kernels.h, once
// per ISA path; these entry points take the active one.
#include <cmath>
#include <cstdint>

#include "deepconv/cpu.h"

#define DEEPCONV_KERNELS "batchnorm_kernels.h"
#include "isa_passes.h"

namespace deepconv {
namespace cpu {

template <typename T>
void batchnorm_forward_train(T* out, T* mean, T* rstd, T* running_mean, T* running_var, const T* x, const T* gamma,
                             const T* beta, int64_t N, int64_t D, int64_t S, double eps, double momentum, bool relu) {
  DEEPCONV_ISA_CALL(batchnorm_forward_train<T>, out, mean, rstd, running_mean, running_var, x, gamma, beta, N, D, S,
                    eps, momentum, relu);
}

template <typename T>
void batchnorm_forward_test(T* out, const T* x, const T* gamma, const T* beta, const T* running_mean,
                            const T* running_var, int64_t N, int64_t D, int64_t S, double eps, bool relu) {
  DEEPCONV_ISA_CALL(batchnorm_forward_test<T>, out, x, gamma, beta, running_mean, running_var, N, D, S, eps, relu);
}

template <typename T>
void batchnorm_backward(T* dx, T* dgamma, T* dbeta, const T* dout, const T* x, const T* gamma, const T* mean,
                        const T* rstd, int64_t N, int64_t D, int64_t S) {
  DEEPCONV_ISA_CALL(batchnorm_backward<T>, dx, dgamma, dbeta, dout, x, gamma, mean, rstd, N, D, S);
}

template <typename T>
void batchnorm_backward_alt(T* dx, T* dgamma, T* dbeta, const T* dout, const T* x, const T* gamma, const T* mean,
                            const T* rstd, const T* relu_out, int64_t N, int64_t D, int64_t S) {
  DEEPCONV_ISA_CALL(batchnorm_backward_alt<T>, dx, dgamma, dbeta, dout, x, gamma, mean, rstd, relu_out, N, D, S);
}

#define DEEPCONV_INSTANTIATE(T)                                                                             \
  template void batchnorm_forward_train<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, \
                                           int64_t, double, double, bool);                                  \
  template void batchnorm_forward_test<T>(T*, const T*, const T*, const T*, const T*, const T*, int64_t,      \
                                          int64_t, int64_t, double, bool);                                  \
  template void batchnorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, int64_t,  \
                                      int64_t, int64_t);                                                    \
  template void batchnorm_backward_alt<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,       \
                                          const T*, int64_t, int64_t, int64_t);
DEEPCONV_INSTANTIATE(float)
DEEPCONV_INSTANTIATE(double)
#undef DEEPCONV_INSTANTIATE

}  // namespace cpu
}  // namespace deepconv
