// ReLU's and dropout's bodies, compiled once per ISA path (isa_passes.h; included by
// activation.cc only, after everything they use). The contract is cpu.h's.
namespace deepconv {
namespace cpu {
namespace DEEPCONV_ISA_NS {

template <typename T>
void relu_forward(T* out, const T* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] > T(0) ? x[i] : T(0);
}

template <typename T>
void relu_backward(T* dx, const T* dout, const T* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const T g = dout[i];  // loaded unconditionally so the select vectorizes: no branch to mispredict
    dx[i] = x[i] > T(0) ? g : T(0);
  }
}

// splitmix64 of (seed, i): a counter-based stream, so the mask depends only on the seed and the
// element index, whatever the thread count (and the CUDA kernel can draw the same numbers).
inline double uniform01(uint64_t seed, uint64_t i) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return double(z >> 11) * (1.0 / 9007199254740992.0);
}

template <typename T>
void dropout_forward(T* out, T* mask, const T* x, int64_t n, double p, uint64_t seed) {
  const T keep = T(1.0 / p);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    mask[i] = uniform01(seed, uint64_t(i)) < p ? keep : T(0);
    out[i] = x[i] * mask[i];
  }
}

template <typename T>
void dropout_backward(T* dx, const T* dout, const T* mask, int64_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
  for (int64_t i = 0; i < n; ++i) dx[i] = dout[i] * mask[i];
}

}  // namespace DEEPCONV_ISA_NS
}  // namespace cpu
}  // namespace deepconv
