// Which instruction-set path the CPU kernels take: chosen once per process at run time (the
// best the CPU has), or forced (DEEPCONV_ISA / setIsa) so every machine can test and measure
// every path it has. Nothing is compiled with -march=native: each path's code carries its own
// target attribute, and only the chosen one runs.
#pragma once

#include <cstdint>

namespace deepconv {

enum class Isa : int { generic = 0, avx2 = 1, avx512 = 2 };
constexpr int kIsaCount = 3;

// "generic", "avx2", "avx512".
const char* isa_name(Isa isa);
// Parses a name isa_name returns; false for anything else.
bool parse_isa(const char* name, Isa* out);
// Whether this build has the path and this CPU runs it: avx2 needs AVX2 and FMA, avx512 AVX-512F.
bool isa_supported(Isa isa);
Isa best_isa();
// The path in use, process-wide (every thread and worker); best_isa() until set_isa.
Isa active_isa();
// Caller checks isa_supported first; an unsupported path would fault on its first instruction.
void set_isa(Isa isa);

}  // namespace deepconv
