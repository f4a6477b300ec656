// Convolution: im2col + GEMM (col2im for dx), Winograd for float 3x3 layers (winograd.cc), and
// the direct-loop reference.
//
// Per image n: col (K, P) = im2col(x_n) with K = C*HH*WW, P = Ho*Wo, then
//   out_n (F, P) = w (F, K) @ col + b
//   dw (F, K)   += dout_n (F, P) @ col^T
//   dcol (K, P)  = w^T @ dout_n, dx_n = col2im(dcol)
// The im2col panel of one image is rebuilt in backward instead of being cached for the whole
// batch: a (128, 576, 1024) float cache would cost 300 MB for one layer.
// With a batch at least as large as the team, threads take whole images (GEMMs run serially
// inside); with fewer images the GEMMs themselves run on the team.
#include <algorithm>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

#include "deepconv/compiler.h"
#include "deepconv/cpu.h"
#include "deepconv/parallel.h"
#include "deepconv/workspace.h"
#include "gemm_kernels.h"
#include "winograd.h"

#define DEEPCONV_KERNELS "im2col_kernels.h"
#include "isa_passes.h"

namespace deepconv {
namespace cpu {
namespace {

inline bool is_pointwise(const ConvShape& s) { return s.HH == 1 && s.WW == 1 && s.stride == 1 && s.pad == 0; }

}  // namespace

namespace {

// The active ISA path's im2col / col2im (im2col_kernels.h).
template <typename T>
void im2col_ld(T* col, int64_t ld, const T* x, const ConvShape& s) {
  DEEPCONV_ISA_CALL(im2col_ld<T>, col, ld, x, s);
}

template <typename T>
void col2im_ld(T* dx, const T* col, int64_t ld, const ConvShape& s) {
  DEEPCONV_ISA_CALL(col2im_ld<T>, dx, col, ld, s);
}

// How the batch is cut: `team` threads take groups of `group` images each (team 1: the GEMMs
// themselves run on the thread team). A group's columns share one GEMM, so small feature maps
// still give the micro-kernel wide enough panels (g * Ho*Wo >= 256 columns when possible).
//
// The cut itself (group size; conv_backward's runs) follows kNominal, a fixed count of the
// machine's threads, never the team of this call: the team shrinks when other processes take
// cores (binding/team.cc) or with DEEPCONV_NUM_THREADS, and a cut that followed it would change
// the order of dw's sums, so the same seed would train to different bits on a busy machine.
struct Split {
  int team;
  int64_t group;
};

inline int nominal_threads() {
  static const int n = std::max(1, std::min(hardware_threads(), 16));
  return n;
}

// The fixed runs conv_backward cuts its groups into for dw's partial sums (see there).
inline int64_t dw_runs(int64_t groups) { return std::min<int64_t>(groups, 4 * nominal_threads()); }

// Groups of images whose `columns_per_image` add up to >= 256 GEMM columns where the batch
// allows, at most a nominal thread's share, and whose workspace (`floats_per_image` each) stays
// within `budget_floats` a thread.
inline Split split_images(const ConvShape& s, int64_t columns_per_image, int64_t floats_per_image,
                          int64_t budget_floats) {
  const int t = in_parallel() ? 1 : max_threads();
  const int team = s.N >= t ? t : 1;
  const int nominal = nominal_threads();
  const int64_t want = (256 + columns_per_image - 1) / columns_per_image;
  const int64_t share = (s.N + nominal - 1) / nominal;
  const int64_t budget = std::max<int64_t>(1, budget_floats / std::max<int64_t>(1, floats_per_image));
  return {team, std::max<int64_t>(1, std::min({want, share, budget}))};
}

// im2col: a column matrix of C*HH*WW rows per image, up to 16 MB a thread.
inline Split split_batch(const ConvShape& s) {
  const int64_t P = s.Ho * s.Wo;
  return split_images(s, P, s.C * s.HH * s.WW * P, int64_t(1) << 22);
}

// Winograd (winograd.h): a tile is a column; V and M hold 16 (C + F) floats per tile, up to
// 8 MB a thread.
inline Split split_winograd(const ConvShape& s) {
  const int64_t T = winograd_tiles(s.H, s.W);
  return split_images(s, T, 16 * (s.C + s.F) * T, int64_t(1) << 21);
}

}  // namespace

template <typename T>
void im2col(T* col, const T* x, const ConvShape& s) {
  im2col_ld(col, s.Ho * s.Wo, x, s);
}

template <typename T>
void col2im(T* dx, const T* col, const ConvShape& s) {
  col2im_ld(dx, col, s.Ho * s.Wo, s);
}

template <typename T>
void conv_forward(T* out, const T* x, const T* w, const T* b, const ConvShape& s) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd_applies(s)) {
      const Split sp = split_winograd(s);
      conv3x3_winograd(out, x, w, b, s.N, s.C, s.F, s.H, s.W, false, sp.group, sp.team);
      return;
    }
  }
  const int64_t K = s.C * s.HH * s.WW, P = s.Ho * s.Wo, CHW = s.C * s.H * s.W;
  const Split sp = split_batch(s);
  const int64_t groups = (s.N + sp.group - 1) / sp.group;
  // The weights, packed once for every image's GEMM (W4's last layer: 2.4 MB a copy).
  const GemmKernel<T>& kern = gemm_kernel<T>(active_isa());
  static thread_local std::vector<T> w_space;
  T* wp = scratch_aligned(w_space, packed_a_size(kern, s.F, K));
  bool failed = false;  // a workspace allocation failed: rethrown after the region
#pragma omp parallel num_threads(sp.team) if (sp.team > 1)
  {
    pack_a(kern, false, s.F, K, w, K, wp);  // shared by the team; ends at a barrier
    static thread_local std::vector<T> col_space, tmp_space;
    T* col = nullptr;
    T* tmp = nullptr;
    if (team_allocated(&failed, [&] {
          col = scratch(col_space, size_t(K * sp.group * P));
          if (sp.group > 1) tmp = scratch(tmp_space, size_t(s.F * sp.group * P));
        })) {
    // dynamic: a thread that loses its core to another process (or to JavaScript) takes fewer
    // groups instead of holding the rest of the team at the barrier.
#pragma omp for schedule(dynamic, 1)
    for (int64_t gi = 0; gi < groups; ++gi) {
      const int64_t n0 = gi * sp.group, gn = std::min(sp.group, s.N - n0), ld = gn * P;
      if (gn == 1) {
        // One image: the GEMM writes straight into out, the bias added as it stores.
        T* on = out + n0 * s.F * P;
        const T* cn = x + n0 * CHW;
        if (!is_pointwise(s)) {
          im2col_ld(col, P, cn, s);
          cn = col;
        }
        gemm_packed_a<T>(kern, s.F, P, K, T(1), wp, false, cn, P, T(0), on, P, b);
        continue;
      }
      for (int64_t i = 0; i < gn; ++i) im2col_ld(col + i * P, ld, x + (n0 + i) * CHW, s);
      gemm_packed_a<T>(kern, s.F, ld, K, T(1), wp, false, col, ld, T(0), tmp, ld);
      for (int64_t i = 0; i < gn; ++i)
        for (int64_t f = 0; f < s.F; ++f) {
          const T* src = tmp + f * ld + i * P;
          T* dst = out + ((n0 + i) * s.F + f) * P;
          const T bias = b[f];
          for (int64_t p = 0; p < P; ++p) dst[p] = src[p] + bias;
        }
    }
    }
  }
  if (failed) throw std::bad_alloc();
}

template <typename T>
void conv_backward(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w, const ConvShape& s) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd_applies(s)) {
      // dw, db and dx (N, C, H, W) = dout (N, F, H, W) correlated with w rotated and
      // transposed: Winograd, like the forward.
      const Split sp = split_winograd(s);
      const int64_t groups = (s.N + sp.group - 1) / sp.group;
      winograd_weight_grad(dw, db, x, dout, s.N, s.C, s.F, s.H, s.W, sp.group, dw_runs(groups), sp.team);
      if (dx) conv3x3_winograd(dx, dout, w, nullptr, s.N, s.F, s.C, s.H, s.W, true, sp.group, sp.team);
      return;
    }
  }
  const int64_t K = s.C * s.HH * s.WW, P = s.Ho * s.Wo, CHW = s.C * s.H * s.W;
  const Split sp = split_batch(s);
  const int64_t groups = (s.N + sp.group - 1) / sp.group;

  // The groups are cut into `chunks` fixed runs, taken dynamically by the team (see
  // conv_forward). Each run sums its dw and db into its own slot (run 0 straight into dw, db) and
  // the slots are added in run order: the result depends neither on which thread took which run
  // nor on the team's size (the runs follow nominal_threads), so training stays bit-for-bit
  // reproducible, idle or busy, at any DEEPCONV_NUM_THREADS.
  const int64_t chunks = dw_runs(groups);
  const int64_t per_chunk = (groups + chunks - 1) / chunks;
  const int64_t slot = s.F * K + s.F;  // one run's dw, then its db
  static thread_local std::vector<T> parts_space;
  T* parts = chunks > 1 ? scratch(parts_space, size_t((chunks - 1) * slot)) : nullptr;

  // w^T for the dx GEMMs, packed once (see conv_forward).
  const GemmKernel<T>& kern = gemm_kernel<T>(active_isa());
  static thread_local std::vector<T> wt_space;
  T* wtp = dx ? scratch_aligned(wt_space, packed_a_size(kern, K, s.F)) : nullptr;

  bool failed = false;  // see conv_forward
#pragma omp parallel num_threads(sp.team) if (sp.team > 1)
  {
    if (dx) pack_a(kern, true, K, s.F, w, K, wtp);  // shared by the team; ends at a barrier
    static thread_local std::vector<T> col_space, dcol_space, dout_space;
    T* col = nullptr;
    T* dcol = nullptr;
    T* dg = nullptr;
    if (team_allocated(&failed, [&] {
          col = scratch(col_space, size_t(K * sp.group * P));
          if (dx) dcol = scratch(dcol_space, size_t(K * sp.group * P));
          if (sp.group > 1) dg = scratch(dout_space, size_t(s.F * sp.group * P));
        })) {
#pragma omp for schedule(dynamic, 1)
      for (int64_t c = 0; c < chunks; ++c) {
        T* my_dw = c == 0 ? dw : parts + (c - 1) * slot;
        T* my_db = c == 0 ? db : parts + (c - 1) * slot + s.F * K;
        std::fill(my_dw, my_dw + s.F * K, T(0));
        std::fill(my_db, my_db + s.F, T(0));
        const int64_t g_end = std::min(groups, (c + 1) * per_chunk);
        for (int64_t gi = c * per_chunk; gi < g_end; ++gi) {
          const int64_t n0 = gi * sp.group, gn = std::min(sp.group, s.N - n0), ld = gn * P;
          for (int64_t i = 0; i < gn; ++i)
            for (int64_t f = 0; f < s.F; ++f) {
              const T* d = dout + ((n0 + i) * s.F + f) * P;
              T sum = 0;
#pragma omp simd reduction(+ : sum)  // a vector of partial sums: no chain of dependent adds
              for (int64_t p = 0; p < P; ++p) sum += d[p];
              my_db[f] += sum;
            }
          // dout of the group as one (F, gn*P) matrix.
          const T* dn = dout + n0 * s.F * P;
          if (gn > 1) {
            for (int64_t i = 0; i < gn; ++i)
              for (int64_t f = 0; f < s.F; ++f)
                std::memcpy(dg + f * ld + i * P, dout + ((n0 + i) * s.F + f) * P, sizeof(T) * P);
            dn = dg;
          }
          for (int64_t i = 0; i < gn; ++i) im2col_ld(col + i * P, ld, x + (n0 + i) * CHW, s);
          gemm<T>(false, true, s.F, K, ld, T(1), dn, ld, col, ld, T(1), my_dw, K);
          if (!dx) continue;  // the caller needs no input gradient (a network's first layer)
          gemm_packed_a<T>(kern, K, ld, s.F, T(1), wtp, false, dn, ld, T(0), dcol, ld);
          for (int64_t i = 0; i < gn; ++i) col2im_ld(dx + (n0 + i) * CHW, dcol + i * P, ld, s);
        }
      }
      // The runs' slots, added in run order; each thread takes a stretch of the elements.
      if (chunks > 1) {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < slot; ++i) {
          T* dst = i < s.F * K ? dw + i : db + (i - s.F * K);
          T acc = *dst;
          for (int64_t c = 1; c < chunks; ++c) acc += parts[(c - 1) * slot + i];
          *dst = acc;
        }
      }
    }
  }
  if (failed) throw std::bad_alloc();
}

template <typename T>
void conv_forward_naive(T* out, const T* x, const T* w, const T* b, const ConvShape& s) {
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t f = 0; f < s.F; ++f)
      for (int64_t oh = 0; oh < s.Ho; ++oh)
        for (int64_t ow = 0; ow < s.Wo; ++ow) {
          T sum = b[f];
          for (int64_t c = 0; c < s.C; ++c)
            for (int64_t kh = 0; kh < s.HH; ++kh)
              for (int64_t kw = 0; kw < s.WW; ++kw) {
                const int64_t h = oh * s.stride - s.pad + kh, wc = ow * s.stride - s.pad + kw;
                if (h < 0 || h >= s.H || wc < 0 || wc >= s.W) continue;
                sum += x[((n * s.C + c) * s.H + h) * s.W + wc] * w[((f * s.C + c) * s.HH + kh) * s.WW + kw];
              }
          out[((n * s.F + f) * s.Ho + oh) * s.Wo + ow] = sum;
        }
}

template <typename T>
void conv_backward_naive(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w, const ConvShape& s) {
  std::fill(dx, dx + s.N * s.C * s.H * s.W, T(0));
  std::fill(dw, dw + s.F * s.C * s.HH * s.WW, T(0));
  std::fill(db, db + s.F, T(0));
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t f = 0; f < s.F; ++f)
      for (int64_t oh = 0; oh < s.Ho; ++oh)
        for (int64_t ow = 0; ow < s.Wo; ++ow) {
          const T d = dout[((n * s.F + f) * s.Ho + oh) * s.Wo + ow];
          db[f] += d;
          for (int64_t c = 0; c < s.C; ++c)
            for (int64_t kh = 0; kh < s.HH; ++kh)
              for (int64_t kw = 0; kw < s.WW; ++kw) {
                const int64_t h = oh * s.stride - s.pad + kh, wc = ow * s.stride - s.pad + kw;
                if (h < 0 || h >= s.H || wc < 0 || wc >= s.W) continue;
                const int64_t xi = ((n * s.C + c) * s.H + h) * s.W + wc;
                const int64_t wi = ((f * s.C + c) * s.HH + kh) * s.WW + kw;
                dw[wi] += d * x[xi];
                dx[xi] += d * w[wi];
              }
        }
}

#define DEEPCONV_INSTANTIATE(T)                                                                       \
  template void im2col<T>(T*, const T*, const ConvShape&);                                            \
  template void col2im<T>(T*, const T*, const ConvShape&);                                            \
  template void conv_forward<T>(T*, const T*, const T*, const T*, const ConvShape&);                  \
  template void conv_backward<T>(T*, T*, T*, const T*, const T*, const T*, const ConvShape&);         \
  template void conv_forward_naive<T>(T*, const T*, const T*, const T*, const ConvShape&);            \
  template void conv_backward_naive<T>(T*, T*, T*, const T*, const T*, const T*, const ConvShape&);
DEEPCONV_INSTANTIATE(float)
DEEPCONV_INSTANTIATE(double)
#undef DEEPCONV_INSTANTIATE

}  // namespace cpu
}  // namespace deepconv
