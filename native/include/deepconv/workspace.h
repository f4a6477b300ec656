// Per-thread workspaces that grow to the largest request and are then reused, so steady-state
// kernel calls allocate nothing (callers keep the vector `static thread_local`); and the short
// copies that fill them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace deepconv {

template <typename T>
T* scratch(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// The same, starting on a 64-byte boundary (a cache line; what aligned AVX-512 loads need).
template <typename T>
T* scratch_aligned(std::vector<T>& v, size_t n) {
  constexpr size_t pad = 64 / sizeof(T);
  T* p = scratch(v, n + pad);
  const uintptr_t skip = (64 - reinterpret_cast<uintptr_t>(p) % 64) % 64;
  return p + skip / sizeof(T);
}

// Copies n elements between arrays that do not overlap, as an inline loop the compiler
// vectorises: for the short rows of packing and im2col, where a memcpy call costs more than
// the copy.
template <typename T>
inline void copy_short(T* __restrict dst, const T* __restrict src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}

}  // namespace deepconv
