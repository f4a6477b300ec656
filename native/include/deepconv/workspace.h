// Per-thread workspaces that grow to the largest request and are then reused, so steady-state
// kernel calls allocate nothing. Callers keep the vector `static thread_local`.
#pragma once

#include <cstddef>
#include <vector>

namespace deepconv {

template <typename T>
T* scratch(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace deepconv
