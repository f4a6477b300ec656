// OpenMP in one place, with a serial fallback so the kernels also build without it.
#pragma once

#include <new>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace deepconv {

inline void set_num_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n > 0 ? n : 1);  // thread-local: applies to regions this thread opens
#else
  (void)n;
#endif
}

inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

inline bool in_parallel() {
#ifdef _OPENMP
  return omp_in_parallel();
#else
  return false;
#endif
}

inline int hardware_threads() {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  return 1;
#endif
}

// Inside a parallel region, every thread of the team calls this: `alloc` sizes the thread's own
// workspaces. An exception must not leave an OpenMP region (that terminates the process), so a
// failed allocation sets *failed (shared by the team) instead; after the barrier every thread
// sees the same answer: whether the team may start. The caller rethrows after the region.
template <class Alloc>
inline bool team_allocated(bool* failed, Alloc&& alloc) {
  try {
    alloc();
  } catch (const std::bad_alloc&) {
#pragma omp atomic write
    *failed = true;
  }
#pragma omp barrier
  bool f;
#pragma omp atomic read
  f = *failed;
  return !f;
}

}  // namespace deepconv
