// im2col / col2im's bodies, compiled once per ISA path (isa_passes.h; included by conv.cc only,
// after everything they use). With the column matrix's row stride `ld` (>= Ho*Wo), several
// images' columns can sit side by side in one (K, g*P) matrix and share one GEMM.
//
// Stride 1 (every 3x3 pad-1 layer): each output row is one loop over all Wo columns that selects
// the input or zero, which AVX2 / AVX-512 run as masked loads and stores, whole rows of 8-32
// values in one to four vectors. The earlier form (zeros, a copy of the inside run, zeros) left
// a 16-wide loop a scalar tail of up to 15 values per row.
// (no-tree-loop-distribute-patterns: GCC would turn the short fill loops back into memset
// calls, one per output row of 8-32 values.)
namespace deepconv {
namespace cpu {
namespace DEEPCONV_ISA_NS {

template <typename T>
DEEPCONV_KEEP_LOOPS void im2col_ld(T* col, int64_t ld, const T* x, const ConvShape& s) {
  const int32_t W = int32_t(s.W);
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
          if (s.stride == 1) {
            const int32_t shift = int32_t(kw - s.pad);
#pragma omp simd
            for (int32_t ow = 0; ow < int32_t(s.Wo); ++ow) {
              const int32_t w = ow + shift;
              dst[ow] = (w >= 0 && w < W) ? src[w] : T(0);
            }
          } else {
            const T* srow = src + kw - s.pad;
            for (int64_t ow = 0; ow < ow_lo; ++ow) dst[ow] = T(0);
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) dst[ow] = srow[ow * s.stride];
            for (int64_t ow = ow_hi; ow < s.Wo; ++ow) dst[ow] = T(0);
          }
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
  const int32_t W = int32_t(s.W);
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
          if (s.stride == 1) {  // each ow its own pixel: one masked vector add per row
            const int32_t shift = int32_t(kw - s.pad);
#pragma omp simd
            for (int32_t ow = 0; ow < int32_t(s.Wo); ++ow) {
              const int32_t w = ow + shift;
              if (w >= 0 && w < W) drow[w] += src[ow];
            }
          } else {
            T* dst = drow + kw - s.pad;
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
