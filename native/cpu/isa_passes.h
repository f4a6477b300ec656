// One kernel family compiled once per ISA path, so the elementwise and data-movement kernels
// (batchnorm, ReLU, pooling, im2col) run as wide as the GEMM's tile instead of at the baseline's
// SSE2, and DEEPCONV_ISA / setIsa choose their path too.
//
// A family keeps its bodies in a header of its own (batchnorm_kernels.h, ...), written inside
// `namespace DEEPCONV_ISA_NS`. Its .cc includes everything those bodies use first, then defines
// DEEPCONV_KERNELS as that header's name and includes this file: the header is compiled three
// times, in namespaces avx512, avx2 and generic, each avx pass inside a target region. The .cc's
// entry points then pick one with DEEPCONV_ISA_CALL. For bodies whose best loop form differs:
// DEEPCONV_ISA_MASKED_LOADS is 1 in the passes with masked vector loads (AVX2, AVX-512), and
// DEEPCONV_ISA_MASKED_STORES 1 only where a masked store is one cheap instruction (AVX-512's
// k-masks). AVX2's VMASKMOVPS store is microcoded on AMD Zen 1-4: an im2col built of them ran at
// a third of the AVX-512 pass's speed on a Zen 4 (21% of a W3 step against 8%).
//
// Why the headers must include nothing themselves: a function defined inside a target region is
// compiled for that ISA. Our bodies have names of their own per pass, but an inline library
// function (std::fill<float*, float>, say) first defined inside the region would be compiled for
// AVX-512 under the one name every file shares, and the linker could keep that copy for all of
// them. Defined before the region, it stays baseline code (and is inlined into the wide callers).
#ifndef DEEPCONV_KERNELS
#error "define DEEPCONV_KERNELS as the kernel family's header before including isa_passes.h"
#endif

#include "deepconv/compiler.h"
#include "deepconv/isa.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define DEEPCONV_MULTI_ISA 1
#define DEEPCONV_ISA_MASKED_LOADS 1  // both passes

DEEPCONV_TARGET_BEGIN("avx512f")
#define DEEPCONV_ISA_NS avx512
#define DEEPCONV_ISA_MASKED_STORES 1
#define DEEPCONV_ISA_AVX512 1
#define DEEPCONV_ISA_AVX2 0
#include DEEPCONV_KERNELS
#undef DEEPCONV_ISA_AVX2
#undef DEEPCONV_ISA_AVX512
#undef DEEPCONV_ISA_MASKED_STORES
#undef DEEPCONV_ISA_NS
DEEPCONV_TARGET_END

DEEPCONV_TARGET_BEGIN("avx2,fma")
#define DEEPCONV_ISA_NS avx2
#define DEEPCONV_ISA_MASKED_STORES 0
#define DEEPCONV_ISA_AVX512 0
#define DEEPCONV_ISA_AVX2 1
#include DEEPCONV_KERNELS
#undef DEEPCONV_ISA_AVX2
#undef DEEPCONV_ISA_AVX512
#undef DEEPCONV_ISA_MASKED_STORES
#undef DEEPCONV_ISA_NS
DEEPCONV_TARGET_END

#undef DEEPCONV_ISA_MASKED_LOADS
#else
#define DEEPCONV_MULTI_ISA 0
#endif

#define DEEPCONV_ISA_NS generic
#define DEEPCONV_ISA_MASKED_LOADS 0
#define DEEPCONV_ISA_MASKED_STORES 0
#define DEEPCONV_ISA_AVX512 0
#define DEEPCONV_ISA_AVX2 0
#include DEEPCONV_KERNELS
#undef DEEPCONV_ISA_AVX2
#undef DEEPCONV_ISA_AVX512
#undef DEEPCONV_ISA_MASKED_STORES
#undef DEEPCONV_ISA_MASKED_LOADS
#undef DEEPCONV_ISA_NS

// `return`s fn(args...) from the active path's namespace (used inside namespace deepconv::cpu).
#if DEEPCONV_MULTI_ISA
#define DEEPCONV_ISA_CALL(fn, ...)          \
  switch (::deepconv::active_isa()) {       \
    case ::deepconv::Isa::avx512:           \
      return avx512::fn(__VA_ARGS__);       \
    case ::deepconv::Isa::avx2:             \
      return avx2::fn(__VA_ARGS__);         \
    default:                                \
      return generic::fn(__VA_ARGS__);      \
  }
#else
#define DEEPCONV_ISA_CALL(fn, ...) return generic::fn(__VA_ARGS__)
#endif
