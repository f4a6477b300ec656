// Per-thread workspaces that grow to the largest request and are then reused, so steady-state
// kernel calls allocate nothing. Callers keep the vector `static thread_local`.
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

}  // namespace deepconv
