// im2col / col2im's bodies, compiled once per ISA path (isa_passes.h; included by conv.cc only,
// after everything they use). With the column matrix's row stride `ld` (>= Ho*Wo), several
// images' columns can sit side by side in one (K, g*P) matrix and share one GEMM.
//
// Stride 1 (every 3x3 pad-1 layer) has three forms, by what the pass's stores cost:
// - AVX-512 (cheap masked stores): each output row runs in fixed chunks of kChunk columns, each
//   column selecting the input or zero and stored only inside the row: masked loads and stores,
//   rows of 3-32 values (28, 14, 7 and 3 on 28x28 images) in one or two chunks, no scalar tail.
// - AVX2 (masked loads only: its masked store is microcoded on AMD): rows of at least
//   kOverlap columns run in chunks of kOverlap with plain stores, the last chunk moved back to
//   end at the row's end (it rewrites a few values with the same values); shorter rows take the
//   plain form. col2im's adds cannot overlap, so it takes the plain form.
// - generic, and the fallback of the others: zeros, a copy of the inside run, zeros (a 16-wide
//   loop with a scalar tail of up to 15 values per row; SSE2 has no masked loads or stores).
// (no-tree-loop-distribute-patterns: GCC would turn the short fill loops back into memset
// calls, one per output row of 8-32 values.)
namespace deepconv {
namespace cpu {
namespace DEEPCONV_ISA_NS {

constexpr int32_t kChunk = 16;
constexpr int32_t kOverlap = 8;  // one AVX2 register of floats

template <typename T>
DEEPCONV_KEEP_LOOPS void im2col_ld(T* col, int64_t ld, const T* x, const ConvShape& s) {
  [[maybe_unused]] const int32_t W = int32_t(s.W);
  for (int64_t c = 0; c < s.C; ++c) {
    for (int64_t kh = 0; kh < s.HH; ++kh) {
      for (int64_t kw = 0; kw < s.WW; ++kw) {
        T* row = col + ((c * s.HH + kh) * s.WW + kw) * ld;
        // Output columns whose input column w = ow*stride - pad + kw lies inside [0, W).
        const int64_t ow_lo = std::min(s.Wo, std::max<int64_t>(0, (s.pad - kw + s.stride - 1) / s.stride));
        const int64_t last = s.W - 1 + s.pad - kw;  // negative: this kernel column never lands inside
        const int64_t ow_hi = last < 0 ? ow_lo : std::max(ow_lo, std::min(s.Wo, last / s.stride + 1));
        for (int64_t oh = 0; oh < s.Ho; ++oh) {
          const int64_t h = oh * s.stride - s.pad + kh;
          T* __restrict dst = row + oh * s.Wo;
          if (h < 0 || h >= s.H) {
            for (int64_t ow = 0; ow < s.Wo; ++ow) dst[ow] = T(0);
            continue;
          }
          const T* __restrict src = x + (c * s.H + h) * s.W;
#if DEEPCONV_ISA_MASKED_STORES
          if (s.stride == 1) {
            const int32_t shift = int32_t(kw - s.pad), Wo = int32_t(s.Wo);
            for (int32_t o0 = 0; o0 < Wo; o0 += kChunk) {
#pragma omp simd
              for (int32_t l = 0; l < kChunk; ++l) {
                // (bitwise &, and the load apart from the store: the forms GCC vectorizes)
                const int32_t ow = o0 + l, w = ow + shift;
                const bool inside = ow < Wo;
                const T v = (inside & (w >= 0) & (w < W)) ? src[w] : T(0);
                if (inside) dst[ow] = v;
              }
            }
            continue;
          }
#elif DEEPCONV_ISA_MASKED_LOADS
          if (s.stride == 1 && s.Wo >= kOverlap) {
            const int32_t shift = int32_t(kw - s.pad), Wo = int32_t(s.Wo);
            for (int32_t o0 = 0;; o0 += kOverlap) {
              const int32_t o = std::min(o0, Wo - kOverlap);  // the last chunk ends at the row's end
#pragma omp simd
              for (int32_t l = 0; l < kOverlap; ++l) {
                const int32_t ow = o + l, w = ow + shift;
                dst[ow] = ((w >= 0) & (w < W)) ? src[w] : T(0);
              }
              if (o0 + kOverlap >= Wo) break;
            }
            continue;
          }
#endif
          const T* srow = src + kw - s.pad;
          for (int64_t ow = 0; ow < ow_lo; ++ow) dst[ow] = T(0);
          if (s.stride == 1) {
            copy_short(dst + ow_lo, srow + ow_lo, ow_hi - ow_lo);  // rows of 8-32: no library call
          } else {
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow] = srow[ow * s.stride];
          }
          for (int64_t ow = ow_hi; ow < s.Wo; ++ow) dst[ow] = T(0);
        }
      }
    }
  }
}

// Scatter-add of every column entry back onto its input pixel. One image belongs to one
// thread, so the order of the additions is fixed: deterministic without a gather.
template <typename T>
DEEPCONV_KEEP_LOOPS void col2im_ld(T* dx, const T* col, int64_t ld, const ConvShape& s) {
  for (int64_t i = 0; i < s.C * s.H * s.W; ++i) dx[i] = T(0);
  [[maybe_unused]] const int32_t W = int32_t(s.W);
  for (int64_t c = 0; c < s.C; ++c) {
    for (int64_t kh = 0; kh < s.HH; ++kh) {
      for (int64_t kw = 0; kw < s.WW; ++kw) {
        const T* row = col + ((c * s.HH + kh) * s.WW + kw) * ld;
        const int64_t ow_lo = std::min(s.Wo, std::max<int64_t>(0, (s.pad - kw + s.stride - 1) / s.stride));
        const int64_t last = s.W - 1 + s.pad - kw;  // negative: this kernel column never lands inside
        const int64_t ow_hi = last < 0 ? ow_lo : std::max(ow_lo, std::min(s.Wo, last / s.stride + 1));
        for (int64_t oh = 0; oh < s.Ho; ++oh) {
          const int64_t h = oh * s.stride - s.pad + kh;
          if (h < 0 || h >= s.H) continue;
          T* __restrict drow = dx + (c * s.H + h) * s.W;
          const T* __restrict src = row + oh * s.Wo;
#if DEEPCONV_ISA_MASKED_STORES
          if (s.stride == 1) {  // each ow its own pixel: masked vector adds, chunk by chunk
            const int32_t shift = int32_t(kw - s.pad), Wo = int32_t(s.Wo);
            for (int32_t o0 = 0; o0 < Wo; o0 += kChunk) {
#pragma omp simd
              for (int32_t l = 0; l < kChunk; ++l) {
                const int32_t ow = o0 + l, w = ow + shift;
                if (ow < Wo && w >= 0 && w < W) drow[w] += src[ow];
              }
            }
            continue;
          }
#endif
          T* dst = drow + kw - s.pad;
          if (s.stride == 1) {  // contiguous: a loop the compiler vectorizes
            T* __restrict d = dst;
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) d[ow] += src[ow];
          } else {
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow * s.stride] += src[ow];
          }
        }
      }
    }
  }
}

}  // namespace DEEPCONV_ISA_NS
}  // namespace cpu
}  // namespace deepconv
