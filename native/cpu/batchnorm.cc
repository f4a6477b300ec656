// Batch normalization over x viewed as (N, D, S): statistics per feature d over the N*S values
// x[n, d, s]. Plain batchnorm is S = 1; spatial batchnorm on (N, C, H, W) is D = C, S = H*W, so
// one kernel family serves both without transposes. Sums run in double for float too.
#include <cmath>

#include "deepconv/cpu.h"

namespace deepconv {
namespace cpu {

template <typename T>
void batchnorm_forward_train(T* out, T* mean, T* rstd, T* running_mean, T* running_var, const T* x, const T* gamma,
                             const T* beta, int64_t N, int64_t D, int64_t S, double eps, double momentum) {
  const double m = double(N * S);
#pragma omp parallel for schedule(static) if (N * D * S > 16384)
  for (int64_t d = 0; d < D; ++d) {
    double sum = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T* row = x + (n * D + d) * S;
#pragma omp simd reduction(+ : sum)
      for (int64_t s = 0; s < S; ++s) sum += row[s];
    }
    const double mu = sum / m;
    double sq = 0;  // second pass: no cancellation for large means
    for (int64_t n = 0; n < N; ++n) {
      const T* row = x + (n * D + d) * S;
#pragma omp simd reduction(+ : sq)
      for (int64_t s = 0; s < S; ++s) {
        const double c = row[s] - mu;
        sq += c * c;
      }
    }
    const double var = sq / m;  // biased, as the normalisation uses
    const double r = 1.0 / std::sqrt(var + eps);
    mean[d] = T(mu);
    rstd[d] = T(r);
    running_mean[d] = T(momentum * running_mean[d] + (1 - momentum) * mu);
    running_var[d] = T(momentum * running_var[d] + (1 - momentum) * var);
    const double g = gamma[d], b = beta[d];
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * D + d) * S + s;
        out[i] = T(g * (x[i] - mu) * r + b);
      }
  }
}

template <typename T>
void batchnorm_forward_test(T* out, const T* x, const T* gamma, const T* beta, const T* running_mean,
                            const T* running_var, int64_t N, int64_t D, int64_t S, double eps) {
#pragma omp parallel for schedule(static) if (N * D * S > 16384)
  for (int64_t d = 0; d < D; ++d) {
    const double r = 1.0 / std::sqrt(double(running_var[d]) + eps);
    const double scale = gamma[d] * r, shift = beta[d] - running_mean[d] * scale;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * D + d) * S + s;
        out[i] = T(x[i] * scale + shift);
      }
  }
}

// Stage by stage, as the forward graph was built:
//   xmu = x - mu; var = mean(xmu^2); sqrtvar = sqrt(var + eps); ivar = 1 / sqrtvar;
//   xhat = xmu * ivar; out = gamma * xhat + beta
// and each stage's local derivative applied in reverse.
template <typename T>
void batchnorm_backward(T* dx, T* dgamma, T* dbeta, const T* dout, const T* x, const T* gamma, const T* mean,
                        const T* rstd, int64_t N, int64_t D, int64_t S) {
  const double m = double(N * S);
#pragma omp parallel for schedule(static) if (N * D * S > 16384)
  for (int64_t d = 0; d < D; ++d) {
    const double mu = mean[d], ivar = rstd[d], sqrtvar = 1.0 / ivar, g = gamma[d];
    double sum_dout = 0, sum_dout_xhat = 0, divar = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * D + d) * S + s;
        const double xmu = x[i] - mu, dxhat = dout[i] * g;
        sum_dout += dout[i];
        sum_dout_xhat += dout[i] * xmu * ivar;
        divar += dxhat * xmu;
      }
    dbeta[d] = T(sum_dout);
    dgamma[d] = T(sum_dout_xhat);
    const double dsqrtvar = -divar / (sqrtvar * sqrtvar);
    const double dvar = 0.5 / sqrtvar * dsqrtvar;
    // dxmu = dxhat * ivar + 2 xmu dvar / m; dmu = -sum(dxmu); dx = dxmu + dmu / m
    double sum_dxmu = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * D + d) * S + s;
        const double xmu = x[i] - mu;
        sum_dxmu += dout[i] * g * ivar + 2.0 * xmu * dvar / m;
      }
    const double dmu = -sum_dxmu;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * D + d) * S + s;
        const double xmu = x[i] - mu;
        dx[i] = T(dout[i] * g * ivar + 2.0 * xmu * dvar / m + dmu / m);
      }
  }
}

template <typename T>
void batchnorm_backward_alt(T* dx, T* dgamma, T* dbeta, const T* dout, const T* x, const T* gamma, const T* mean,
                            const T* rstd, int64_t N, int64_t D, int64_t S) {
  const double m = double(N * S);
#pragma omp parallel for schedule(static) if (N * D * S > 16384)
  for (int64_t d = 0; d < D; ++d) {
    const double mu = mean[d], r = rstd[d], g = gamma[d];
    double sum_dout = 0, sum_dout_xhat = 0;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t o = (n * D + d) * S;
#pragma omp simd reduction(+ : sum_dout, sum_dout_xhat)
      for (int64_t s = 0; s < S; ++s) {
        sum_dout += dout[o + s];
        sum_dout_xhat += dout[o + s] * (x[o + s] - mu) * r;
      }
    }
    dbeta[d] = T(sum_dout);
    dgamma[d] = T(sum_dout_xhat);
    // With dxhat = g dout: dx = r/m (m dxhat - sum dxhat - xhat sum(dxhat xhat))
    const double k = g * r / m;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * D + d) * S + s;
        const double xhat = (x[i] - mu) * r;
        dx[i] = T(k * (m * dout[i] - sum_dout - xhat * sum_dout_xhat));
      }
  }
}

#define DEEPCONV_INSTANTIATE(T)                                                                             \
  template void batchnorm_forward_train<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, \
                                           int64_t, double, double);                                        \
  template void batchnorm_forward_test<T>(T*, const T*, const T*, const T*, const T*, const T*, int64_t,      \
                                          int64_t, int64_t, double);                                        \
  template void batchnorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, int64_t,  \
                                      int64_t, int64_t);                                                    \
  template void batchnorm_backward_alt<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,       \
                                          int64_t, int64_t, int64_t);
DEEPCONV_INSTANTIATE(float)
DEEPCONV_INSTANTIATE(double)
#undef DEEPCONV_INSTANTIATE

}  // namespace cpu
}  // namespace deepconv
