// What differs between the compilers deepconv builds with: GCC (Linux prebuilds), clang (macOS)
// and MSVC (Windows). One place, so kernels stay free of #ifs.
#pragma once
#include <cstdint>
#include <limits>

// GCC turns short copy and fill loops into memmove / memset calls (loop distribution); where that
// costs more than it saves (rows of 8-32 values), this keeps the loop. Other compilers: nothing.
#if defined(__GNUC__) && !defined(__clang__)
#define DEEPCONV_KEEP_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define DEEPCONV_KEEP_LOOPS
#endif

// Code compiled for one ISA path lies between DEEPCONV_TARGET_BEGIN("avx2,fma") and
// DEEPCONV_TARGET_END: GCC's target pragma, or the attribute form clang (macOS's compiler) takes.
#define DEEPCONV_PRAGMA(...) _Pragma(#__VA_ARGS__)
#if defined(__clang__)
#define DEEPCONV_TARGET_BEGIN(isa) DEEPCONV_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#define DEEPCONV_TARGET_END DEEPCONV_PRAGMA(clang attribute pop)
#elif defined(__GNUC__)
#define DEEPCONV_TARGET_BEGIN(isa) DEEPCONV_PRAGMA(GCC push_options) DEEPCONV_PRAGMA(GCC target(isa))
#define DEEPCONV_TARGET_END DEEPCONV_PRAGMA(GCC pop_options)
#endif

namespace deepconv {

// a * b into *out for a, b >= 0; true when it overflows.
inline bool mul_overflows(int64_t a, int64_t b, int64_t* out) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_mul_overflow(a, b, out);
#else
  if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) return true;
  *out = a * b;
  return false;
#endif
}

}  // namespace deepconv
