// Run-time ISA choice (see deepconv/isa.h).
#include "deepconv/isa.h"

#include <atomic>
#include <cstring>

namespace deepconv {
namespace {

bool cpu_has(Isa isa) {
  if (isa == Isa::generic) return true;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (isa == Isa::avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (isa == Isa::avx512) return __builtin_cpu_supports("avx512f");
#endif
  return false;
}

// -1: not chosen yet (the first reader picks best_isa()).
std::atomic<int> active{-1};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return "avx512";
    case Isa::avx2:
      return "avx2";
    default:
      return "generic";
  }
}

bool parse_isa(const char* name, Isa* out) {
  for (int i = 0; i < kIsaCount; ++i) {
    if (std::strcmp(name, isa_name(Isa(i))) == 0) {
      *out = Isa(i);
      return true;
    }
  }
  return false;
}

bool isa_supported(Isa isa) { return cpu_has(isa); }

Isa best_isa() {
  for (int i = kIsaCount - 1; i > 0; --i)
    if (cpu_has(Isa(i))) return Isa(i);
  return Isa::generic;
}

Isa active_isa() {
  int v = active.load(std::memory_order_relaxed);
  if (v < 0) {
    int expected = -1;
    active.compare_exchange_strong(expected, int(best_isa()));
    v = active.load(std::memory_order_relaxed);
  }
  return Isa(v);
}

void set_isa(Isa isa) { active.store(int(isa), std::memory_order_relaxed); }

}  // namespace deepconv
