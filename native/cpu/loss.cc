// Classification losses over scores (N, C) and labels y (N): the mean loss and d(scores).
#include <algorithm>
#include <cmath>
#include <limits>

#include "deepconv/cpu.h"

namespace deepconv {
namespace cpu {

namespace {
// A label outside [0, C): its row of dx is NaN and so is the loss (the CUDA backend's contract).
template <typename T>
bool bad_label(int32_t label, T* d, int64_t C, double* total) {
  if (label >= 0 && int64_t(label) < C) return false;
  std::fill(d, d + C, std::numeric_limits<T>::quiet_NaN());
  *total += std::numeric_limits<double>::quiet_NaN();
  return true;
}
}  // namespace

// Row i's loss is -sum_j q_j log p_j with q = (1 - e) one-hot(y_i) + e / C, which is
// log_z - (1 - e)(s_y - mx) - (e / C) sum_j (s_j - mx); its gradient (p - q) / N.
template <typename T>
void softmax_loss(double* loss, T* dx, const T* scores, const int32_t* y, int64_t N, int64_t C, double smoothing) {
  const double e = smoothing, off = e / double(C), on = 1.0 - e + off;
  double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (N * C > 65536)
  for (int64_t i = 0; i < N; ++i) {
    const T* s = scores + i * C;
    T* d = dx + i * C;
    if (bad_label(y[i], d, C, &total)) continue;
    const double mx = *std::max_element(s, s + C);  // shift for exp's range
    double z = 0, shifted = 0;
    for (int64_t j = 0; j < C; ++j) {
      z += std::exp(double(s[j]) - mx);
      shifted += double(s[j]) - mx;
    }
    const double log_z = std::log(z);
    total += log_z - (1.0 - e) * (double(s[y[i]]) - mx) - off * (e > 0 ? shifted : 0.0);
    for (int64_t j = 0; j < C; ++j) d[j] = T((std::exp(double(s[j]) - mx - log_z) - (j == y[i] ? on : off)) / double(N));
  }
  *loss = total / double(N);
}

template <typename T>
void svm_loss(double* loss, T* dx, const T* scores, const int32_t* y, int64_t N, int64_t C) {
  double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (N * C > 65536)
  for (int64_t i = 0; i < N; ++i) {
    const T* s = scores + i * C;
    T* d = dx + i * C;
    if (bad_label(y[i], d, C, &total)) continue;
    const double correct = s[y[i]];
    int64_t positive = 0;
    for (int64_t j = 0; j < C; ++j) {
      const double margin = double(s[j]) - correct + 1.0;
      if (j != y[i] && margin > 0) {
        total += margin;
        d[j] = T(1.0 / double(N));
        ++positive;
      } else {
        d[j] = T(0);
      }
    }
    d[y[i]] = T(-double(positive) / double(N));
  }
  *loss = total / double(N);
}

template void softmax_loss<float>(double*, float*, const float*, const int32_t*, int64_t, int64_t, double);
template void softmax_loss<double>(double*, double*, const double*, const int32_t*, int64_t, int64_t, double);
template void svm_loss<float>(double*, float*, const float*, const int32_t*, int64_t, int64_t);
template void svm_loss<double>(double*, double*, const double*, const int32_t*, int64_t, int64_t);

}  // namespace cpu
}  // namespace deepconv
