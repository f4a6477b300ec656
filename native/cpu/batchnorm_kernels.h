// Batchnorm's bodies, compiled once per ISA path (isa_passes.h; included by batchnorm.cc only,
// after everything they use). The contract is cpu.h's. Sums run in double for float too; the
// elementwise passes run in T with per-feature coefficients (for float: within a few ulp of
// the same formula in double, and 16 lanes wide instead of 2).
namespace deepconv {
namespace cpu {
namespace DEEPCONV_ISA_NS {

// out = max(v, 0) as relu_forward writes it (NaN -> 0), or v.
template <typename T>
inline T maybe_relu(T v, bool relu) {
  return relu ? (v > T(0) ? v : T(0)) : v;
}

// out (N, D, S) = (x - mu) * scale + shift for feature d, then the ReLU when asked.
template <typename T>
void bn_apply(T* out, const T* x, int64_t N, int64_t D, int64_t S, int64_t d, T mu, T scale, T shift, bool relu) {
  for (int64_t n = 0; n < N; ++n) {
    const T* __restrict xr = x + (n * D + d) * S;
    T* __restrict orow = out + (n * D + d) * S;
    if (relu) {
#pragma omp simd
      for (int64_t s = 0; s < S; ++s) orow[s] = maybe_relu((xr[s] - mu) * scale + shift, true);
    } else {
#pragma omp simd
      for (int64_t s = 0; s < S; ++s) orow[s] = (xr[s] - mu) * scale + shift;
    }
  }
}

template <typename T>
void batchnorm_forward_train(T* out, T* mean, T* rstd, T* running_mean, T* running_var, const T* x, const T* gamma,
                             const T* beta, int64_t N, int64_t D, int64_t S, double eps, double momentum, bool relu) {
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
    bn_apply(out, x, N, D, S, d, T(mu), T(gamma[d] * r), beta[d], relu);
  }
}

template <typename T>
void batchnorm_forward_test(T* out, const T* x, const T* gamma, const T* beta, const T* running_mean,
                            const T* running_var, int64_t N, int64_t D, int64_t S, double eps, bool relu) {
#pragma omp parallel for schedule(static) if (N * D * S > 16384)
  for (int64_t d = 0; d < D; ++d) {
    const double r = 1.0 / std::sqrt(double(running_var[d]) + eps);
    bn_apply(out, x, N, D, S, d, running_mean[d], T(gamma[d] * r), beta[d], relu);
  }
}

// Stage by stage, as the forward graph was built:
//   xmu = x - mu; var = mean(xmu^2); sqrtvar = sqrt(var + eps); ivar = 1 / sqrtvar;
//   xhat = xmu * ivar; out = gamma * xhat + beta
// and each stage's local derivative applied in reverse. (The reference form: all in double.)
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

// dout where the ReLU fused into the forward passed its input (relu_out, the fused output, > 0),
// else 0; with kMasked false, plain dout.
template <bool kMasked, typename T>
inline T grad_at(const T* dout, const T* relu_out, int64_t i) {
  const T g = dout[i];  // loaded unconditionally: the select vectorizes
  if constexpr (kMasked) return relu_out[i] > T(0) ? g : T(0);
  return g;
}

// Feature d of batchnorm_backward_alt; kMasked: through the fused ReLU.
template <bool kMasked, typename T>
void bn_backward_alt_feature(T* dx, T* dgamma, T* dbeta, const T* dout, const T* x, const T* gamma, const T* mean,
                             const T* rstd, const T* relu_out, int64_t N, int64_t D, int64_t S, int64_t d) {
  const double m = double(N * S);
  const double mu = mean[d], r = rstd[d], g = gamma[d];
  double sum_dout = 0, sum_dout_xhat = 0;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t o = (n * D + d) * S;
#pragma omp simd reduction(+ : sum_dout, sum_dout_xhat)
    for (int64_t s = 0; s < S; ++s) {
      const double gs = grad_at<kMasked>(dout, relu_out, o + s);
      sum_dout += gs;
      sum_dout_xhat += gs * (x[o + s] - mu) * r;
    }
  }
  dbeta[d] = T(sum_dout);
  dgamma[d] = T(sum_dout_xhat);
  // With dxhat = g dout: dx = g r/m (m dout - sum dout - xhat sum(dout xhat)), as
  // dx = dout * c_dout + (x - mu) * c_x + c_0.
  const double k = g * r / m;
  const T c_dout = T(k * m), c_x = T(-k * r * sum_dout_xhat), c_0 = T(-k * sum_dout), mu_t = T(mu);
  for (int64_t n = 0; n < N; ++n) {
    const int64_t o = (n * D + d) * S;
#pragma omp simd
    for (int64_t s = 0; s < S; ++s)
      dx[o + s] = grad_at<kMasked>(dout, relu_out, o + s) * c_dout + (x[o + s] - mu_t) * c_x + c_0;
  }
}

template <typename T>
void batchnorm_backward_alt(T* dx, T* dgamma, T* dbeta, const T* dout, const T* x, const T* gamma, const T* mean,
                            const T* rstd, const T* relu_out, int64_t N, int64_t D, int64_t S) {
#pragma omp parallel for schedule(static) if (N * D * S > 16384)
  for (int64_t d = 0; d < D; ++d) {
    if (relu_out) {
      bn_backward_alt_feature<true>(dx, dgamma, dbeta, dout, x, gamma, mean, rstd, relu_out, N, D, S, d);
    } else {
      bn_backward_alt_feature<false>(dx, dgamma, dbeta, dout, x, gamma, mean, rstd, relu_out, N, D, S, d);
    }
  }
}

}  // namespace DEEPCONV_ISA_NS
}  // namespace cpu
}  // namespace deepconv
