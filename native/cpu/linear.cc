// Linear (affine) layer: out = x @ w + b, with x flattened to (N, D) by the caller.
#include <algorithm>

#include "deepconv/cpu.h"

namespace deepconv {
namespace cpu {

template <typename T>
void linear_forward(T* out, const T* x, const T* w, const T* b, int64_t N, int64_t D, int64_t M) {
  for (int64_t i = 0; i < N; ++i) std::copy(b, b + M, out + i * M);
  gemm<T>(false, false, N, M, D, T(1), x, D, w, M, T(1), out, M);
}

template <typename T>
void linear_backward(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w, int64_t N, int64_t D,
                     int64_t M) {
  if (dx) gemm<T>(false, true, N, D, M, T(1), dout, M, w, M, T(0), dx, D);  // dx = dout @ w^T
  gemm<T>(true, false, D, M, N, T(1), x, D, dout, M, T(0), dw, M);  // dw = x^T @ dout
  std::fill(db, db + M, T(0));
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < M; ++j) db[j] += dout[i * M + j];
}

#define DEEPCONV_INSTANTIATE(T)                                                                   \
  template void linear_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t); \
  template void linear_backward<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t);
DEEPCONV_INSTANTIATE(float)
DEEPCONV_INSTANTIATE(double)
#undef DEEPCONV_INSTANTIATE

}  // namespace cpu
}  // namespace deepconv
