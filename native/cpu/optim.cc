// In-place optimizer updates, the seed's rules. Elementwise, so threads split the range.
#include <cmath>

#include "deepconv/cpu.h"

namespace deepconv {
namespace cpu {

template <typename T>
void sgd_update(T* w, const T* dw, int64_t n, double lr) {
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
  for (int64_t i = 0; i < n; ++i) w[i] -= T(lr) * dw[i];
}

template <typename T>
void sgd_momentum_update(T* w, T* v, const T* dw, int64_t n, double lr, double momentum) {
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    v[i] = T(momentum) * v[i] - T(lr) * dw[i];
    w[i] += v[i];
  }
}

// Nesterov momentum in the velocity form of the course notes (Sutskever et al. 2013):
// v = momentum v - lr dw; w += momentum v - lr dw (the step looks ahead along the new velocity).
template <typename T>
void nesterov_update(T* w, T* v, const T* dw, int64_t n, double lr, double momentum) {
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const T g = T(lr) * dw[i];
    v[i] = T(momentum) * v[i] - g;
    w[i] += T(momentum) * v[i] - g;
  }
}

// Exponential moving average of weights: avg = decay avg + (1 - decay) w.
template <typename T>
void ema_update(T* avg, const T* w, int64_t n, double decay) {
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
  for (int64_t i = 0; i < n; ++i) avg[i] = T(decay) * avg[i] + T(1 - decay) * w[i];
}

template <typename T>
void rmsprop_update(T* w, T* cache, const T* dw, int64_t n, double lr, double decay, double eps) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    cache[i] = T(decay) * cache[i] + T(1 - decay) * dw[i] * dw[i];
    w[i] -= T(lr) * dw[i] / (std::sqrt(cache[i]) + T(eps));
  }
}

template <typename T>
void adam_update(T* w, T* m, T* v, const T* dw, int64_t n, double lr, double beta1, double beta2, double eps,
                 int64_t t) {
  const double c1 = 1.0 / (1.0 - std::pow(beta1, double(t)));  // bias corrections
  const double c2 = 1.0 / (1.0 - std::pow(beta2, double(t)));
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    m[i] = T(beta1) * m[i] + T(1 - beta1) * dw[i];
    v[i] = T(beta2) * v[i] + T(1 - beta2) * dw[i] * dw[i];
    const T mt = m[i] * T(c1), vt = v[i] * T(c2);
    w[i] -= T(lr) * mt / (std::sqrt(vt) + T(eps));
  }
}

template <typename T>
void l2_penalty(double* sum_sq, T* dw, const T* w, int64_t n, double reg) {
  // One thread, in index order: the sum is the same every run (weights are at most a few million).
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = double(w[i]);
    s += v * v;
    dw[i] = T(double(dw[i]) + 2 * reg * v);
  }
  *sum_sq = s;
}

#define DEEPCONV_INSTANTIATE(T)                                                            \
  template void sgd_update<T>(T*, const T*, int64_t, double);                              \
  template void sgd_momentum_update<T>(T*, T*, const T*, int64_t, double, double);         \
  template void nesterov_update<T>(T*, T*, const T*, int64_t, double, double);             \
  template void ema_update<T>(T*, const T*, int64_t, double);                              \
  template void rmsprop_update<T>(T*, T*, const T*, int64_t, double, double, double);      \
  template void l2_penalty<T>(double*, T*, const T*, int64_t, double);                     \
  template void adam_update<T>(T*, T*, T*, const T*, int64_t, double, double, double, double, int64_t);
DEEPCONV_INSTANTIATE(float)
DEEPCONV_INSTANTIATE(double)
#undef DEEPCONV_INSTANTIATE

}  // namespace cpu
}  // namespace deepconv
