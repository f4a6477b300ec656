// Elementwise activations: ReLU and inverted dropout. The bodies are in activation_kernels.h,
// once per ISA path; these entry points take the active one.
#include <cstdint>

#include "deepconv/cpu.h"

#define DEEPCONV_KERNELS "activation_kernels.h"
#include "isa_passes.h"

namespace deepconv {
namespace cpu {

template <typename T>
void relu_forward(T* out, const T* x, int64_t n) {
  DEEPCONV_ISA_CALL(relu_forward<T>, out, x, n);
}

template <typename T>
void relu_backward(T* dx, const T* dout, const T* x, int64_t n) {
  DEEPCONV_ISA_CALL(relu_backward<T>, dx, dout, x, n);
}

template <typename T>
void dropout_forward(T* out, T* mask, const T* x, int64_t n, double p, uint64_t seed) {
  DEEPCONV_ISA_CALL(dropout_forward<T>, out, mask, x, n, p, seed);
}

template <typename T>
void dropout_backward(T* dx, const T* dout, const T* mask, int64_t n) {
  DEEPCONV_ISA_CALL(dropout_backward<T>, dx, dout, mask, n);
}

#define DEEPCONV_INSTANTIATE(T)                                                  \
  template void relu_forward<T>(T*, const T*, int64_t);                          \
  template void relu_backward<T>(T*, const T*, const T*, int64_t);              \
  template void dropout_forward<T>(T*, T*, const T*, int64_t, double, uint64_t); \
  template void dropout_backward<T>(T*, const T*, const T*, int64_t);
DEEPCONV_INSTANTIATE(float)
DEEPCONV_INSTANTIATE(double)
#undef DEEPCONV_INSTANTIATE

}  // namespace cpu
}  // namespace deepconv
