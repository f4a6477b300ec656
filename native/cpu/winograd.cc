// 3x3 convolution (stride 1, pad 1) by Winograd F(2x2, 3x3), float: 16 products of
// (Co, Ci) @ (Ci, tiles) instead of one of (Co, 9 Ci) @ (9 Ci, pixels), 2.25x fewer
// multiply-adds, and no column matrix. conv.cc chooses it (conv_forward; in conv_backward dx,
// which is the same correlation with the weights rotated and transposed, and dw, below).
//
//   U (16, Co, Ci) = G g G^T per weight 3x3, packed once per call for the GEMM
//   per group of images (columns: image i's tiles at i*T .. i*T + T-1):
//     V (16, Ci, g*T) = B^T d B per 4x4 input tile           (winograd_kernels.h; written
//                       straight into the GEMM's packed B panels where the tile rows allow)
//     M[xi] (Co, g*T) = U[xi] @ V[xi]                         (16 GEMMs)
//     out = A^T M A + b per 2x2 output tile                    (winograd_kernels.h)
// The weight gradient runs the forward backwards: with Z = A dY A^T per 2x2 tile of dout,
//   M[xi] (Co, Ci) = sum over the batch's tiles of Z[xi] (Co, tiles) @ V[xi]^T (tiles, Ci)
//   dw = G^T M G per (o, i), db = the sum of Z[5] (= the tile's four outputs' sum)
// Float rounding differs from im2col's (the transforms add and subtract neighbours before the
// products): the conv tests hold it to 1e-5 of the largest float64 output, as they hold
// im2col's float path; double keeps im2col, which the 1e-12 reference tests hold to.
#include "winograd.h"

#include <algorithm>
#include <new>
#include <vector>

#include "deepconv/compiler.h"
#include "deepconv/parallel.h"
#include "deepconv/workspace.h"
#include "gemm_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>  // the AVX-512 and AVX2 passes' input transform (winograd_input_regs)
#endif

#define DEEPCONV_KERNELS "winograd_kernels.h"
#include "isa_passes.h"

namespace deepconv {
namespace cpu {
namespace {

void winograd_input(float* V, const PackedB& layout, int64_t xs, int64_t col0, const float* x, int64_t C, int64_t H,
                    int64_t W, int64_t TH, int64_t TW, float* scratch) {
  DEEPCONV_ISA_CALL(winograd_input, V, layout, xs, col0, x, C, H, W, TH, TW, scratch);
}

void winograd_output(float* out, const float* M, int64_t ld, int64_t xs, const float* b, int64_t F, int64_t H,
                     int64_t W, int64_t TH, int64_t TW, float* scratch) {
  DEEPCONV_ISA_CALL(winograd_output, out, M, ld, xs, b, F, H, W, TH, TW, scratch);
}

void winograd_output_grad(float* Z, int64_t ld, int64_t xs, const float* dout, int64_t F, int64_t H, int64_t W,
                          int64_t TH, int64_t TW, float* scratch) {
  DEEPCONV_ISA_CALL(winograd_output_grad, Z, ld, xs, dout, F, H, W, TH, TW, scratch);
}

// U[xi][o][i] = (G g G^T)[xi] for the 3x3 g that maps input channel i to output channel o:
// w[o][i] as stored, or, `rotated`, w[i][o] turned by 180 degrees (dx's correlation).
//   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
void transform_weights(float* U, const float* w, int64_t Co, int64_t Ci, bool rotated) {
  const int64_t xi_stride = Co * Ci;
#pragma omp for schedule(static)
  for (int64_t o = 0; o < Co; ++o)
    for (int64_t i = 0; i < Ci; ++i) {
      float g[3][3];
      const float* src = rotated ? w + (i * Co + o) * 9 : w + (o * Ci + i) * 9;
      for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) g[r][c] = rotated ? src[(2 - r) * 3 + (2 - c)] : src[r * 3 + c];
      float gg[4][3];  // G g
      for (int c = 0; c < 3; ++c) {
        gg[0][c] = g[0][c];
        gg[1][c] = 0.5f * (g[0][c] + g[1][c] + g[2][c]);
        gg[2][c] = 0.5f * (g[0][c] - g[1][c] + g[2][c]);
        gg[3][c] = g[2][c];
      }
      float* u = U + o * Ci + i;
      for (int r = 0; r < 4; ++r) {  // (G g) G^T
        u[(4 * r + 0) * xi_stride] = gg[r][0];
        u[(4 * r + 1) * xi_stride] = 0.5f * (gg[r][0] + gg[r][1] + gg[r][2]);
        u[(4 * r + 2) * xi_stride] = 0.5f * (gg[r][0] - gg[r][1] + gg[r][2]);
        u[(4 * r + 3) * xi_stride] = gg[r][2];
      }
    }
}

// A thread's workspace for one group of images: V (v_floats: 16 (Ci, group*T), plain or packed),
// the other side of the 16 products (16 (Co, group*T), winograd_xi_stride apart: M in the
// forward, Z for dw) and the transforms' scratch. Every thread of the team calls it
// (team_allocated ends at a barrier); false: one allocation failed.
struct GroupSpace {
  float* V = nullptr;
  float* other = nullptr;
  float* tmp = nullptr;
};
bool group_space(bool* failed, GroupSpace* g, int64_t v_floats, int64_t Co, int64_t group, int64_t TH, int64_t TW) {
  static thread_local std::vector<float> v_space, other_space, t_space;
  const int64_t T = TH * TW;
  return team_allocated(failed, [&] {
    g->V = scratch_aligned(v_space, size_t(v_floats));
    g->other = scratch(other_space, size_t(16 * winograd_xi_stride(Co * group * T)));
    g->tmp = scratch(t_space, size_t(generic::winograd_scratch(TH, TW)));
  });
}

// dw (3, 3) += G^T m G for the 16 sums m of one (output, input) channel pair, xi_stride apart.
void weight_grad_tile(float* dw, const float* m, int64_t xi_stride) {
  float t[4][3];  // m G
  for (int r = 0; r < 4; ++r) {
    const float m0 = m[(4 * r + 0) * xi_stride], m1 = m[(4 * r + 1) * xi_stride];
    const float m2 = m[(4 * r + 2) * xi_stride], m3 = m[(4 * r + 3) * xi_stride];
    t[r][0] = m0 + 0.5f * (m1 + m2);
    t[r][1] = 0.5f * (m1 - m2);
    t[r][2] = 0.5f * (m1 + m2) + m3;
  }
  for (int c = 0; c < 3; ++c) {  // G^T (m G)
    dw[0 * 3 + c] = t[0][c] + 0.5f * (t[1][c] + t[2][c]);
    dw[1 * 3 + c] = 0.5f * (t[1][c] - t[2][c]);
    dw[2 * 3 + c] = 0.5f * (t[1][c] + t[2][c]) + t[3][c];
  }
}

}  // namespace

bool winograd_applies(const ConvShape& s) {
  return s.HH == 3 && s.WW == 3 && s.stride == 1 && s.pad == 1 && s.C >= kWinogradMinChannels &&
         s.F >= kWinogradMinChannels && winograd_tiles(s.H, s.W) >= kWinogradMinTiles &&
         s.N * winograd_tiles(s.H, s.W) >= kWinogradMinColumns;
}

void conv3x3_winograd(float* out, const float* x, const float* w, const float* b, int64_t N, int64_t Ci, int64_t Co,
                      int64_t H, int64_t W, bool rotated, int64_t group, int team) {
  const int64_t TH = (H + 1) / 2, TW = (W + 1) / 2, T = TH * TW, plane_in = Ci * H * W, plane_out = Co * H * W;
  const int64_t groups = (N + group - 1) / group;
  const GemmKernel<float>& kern = gemm_kernel<float>(active_isa());
  const int64_t packed = int64_t(packed_a_size(kern, Co, Ci));
  static thread_local std::vector<float> u_space, up_space;
  float* U = scratch(u_space, size_t(16 * Co * Ci));
  float* Up = scratch_aligned(up_space, size_t(16 * packed + 16 * 16));  // each packed U on a 64-byte boundary
  const int64_t up_stride = (packed + 15) / 16 * 16;
  // V straight into the products' packed B panels where a tile row never straddles two panels
  // (TW divides NR: every power-of-two map); else plain rows, packed by each product.
  const bool packed_v = kern.NR % TW == 0;
  auto v_layout = [&](int64_t ld) { return packed_v ? packed_b_layout(kern, Ci, ld) : PackedB::rows(Ci, ld); };
  const int64_t v_floats = 16 * winograd_xi_stride(v_layout(group * T).size);
  bool failed = false;  // a workspace allocation failed: rethrown after the region
#pragma omp parallel num_threads(team) if (team > 1)
  {
    transform_weights(U, w, Co, Ci, rotated);  // orphaned omp for: ends at a barrier
    for (int xi = 0; xi < 16; ++xi) pack_a(kern, false, Co, Ci, U + xi * Co * Ci, Ci, Up + xi * up_stride);
    GroupSpace g;
    if (group_space(&failed, &g, v_floats, Co, group, TH, TW)) {
      float *V = g.V, *M = g.other, *tmp = g.tmp;
#pragma omp for schedule(dynamic, 1)
      for (int64_t gi = 0; gi < groups; ++gi) {
        const int64_t n0 = gi * group, gn = std::min(group, N - n0), ld = gn * T;
        const PackedB vl = v_layout(ld);
        const int64_t vs = winograd_xi_stride(vl.size), ms = winograd_xi_stride(Co * ld);
        for (int64_t i = 0; i < gn; ++i)
          winograd_input(V, vl, vs, i * T, x + (n0 + i) * plane_in, Ci, H, W, TH, TW, tmp);
        for (int xi = 0; xi < 16; ++xi) {
          float* Vxi = V + xi * vs;
          float* Mxi = M + xi * ms;
          if (packed_v) {
            zero_packed_b_tail(vl, Ci, ld, Vxi);
            gemm_packed_ab<float>(kern, Co, ld, Ci, 1.0f, Up + xi * up_stride, Vxi, 0.0f, Mxi, ld);
          } else {
            gemm_packed_a<float>(kern, Co, ld, Ci, 1.0f, Up + xi * up_stride, false, Vxi, ld, 0.0f, Mxi, ld);
          }
        }
        for (int64_t i = 0; i < gn; ++i)
          winograd_output(out + (n0 + i) * plane_out, M + i * T, ld, ms, b, Co, H, W, TH, TW, tmp);
      }
    }
  }
  if (failed) throw std::bad_alloc();
}

void winograd_weight_grad(float* dw, float* db, const float* x, const float* dout, int64_t N, int64_t Ci, int64_t Co,
                          int64_t H, int64_t W, int64_t group, int64_t runs, int team) {
  const int64_t TH = (H + 1) / 2, TW = (W + 1) / 2, T = TH * TW, plane_in = Ci * H * W, plane_out = Co * H * W;
  const int64_t groups = (N + group - 1) / group;
  // As conv.cc's im2col dw: the groups in `chunks` fixed runs, each summing into its own slot
  // (16 (Co, Ci) sums, then Co for db), the slots added in run order: the same bits at any team.
  const int64_t chunks = std::max<int64_t>(1, std::min(groups, runs));
  const int64_t per_chunk = (groups + chunks - 1) / chunks;
  const int64_t sums = 16 * Co * Ci, slot = sums + Co;
  static thread_local std::vector<float> parts_space;
  float* parts = scratch(parts_space, size_t(chunks * slot));
  bool failed = false;  // a workspace allocation failed: rethrown after the region
#pragma omp parallel num_threads(team) if (team > 1)
  {
    GroupSpace g;
    if (group_space(&failed, &g, 16 * winograd_xi_stride(Ci * group * T), Co, group, TH, TW)) {
      float *V = g.V, *Z = g.other, *tmp = g.tmp;
#pragma omp for schedule(dynamic, 1)
      for (int64_t c = 0; c < chunks; ++c) {
        float* m = parts + c * slot;
        float* my_db = m + sums;
        std::fill(my_db, my_db + Co, 0.0f);
        const int64_t g_end = std::min(groups, (c + 1) * per_chunk);
        for (int64_t gi = c * per_chunk; gi < g_end; ++gi) {
          const int64_t n0 = gi * group, gn = std::min(group, N - n0), ld = gn * T;
          const int64_t vs = winograd_xi_stride(Ci * ld), zs = winograd_xi_stride(Co * ld);
          for (int64_t i = 0; i < gn; ++i) {
            winograd_input(V, PackedB::rows(Ci, ld), vs, i * T, x + (n0 + i) * plane_in, Ci, H, W, TH, TW, tmp);
            winograd_output_grad(Z + i * T, ld, zs, dout + (n0 + i) * plane_out, Co, H, W, TH, TW, tmp);
          }
          const float beta = gi == c * per_chunk ? 0.0f : 1.0f;  // the run's first group starts its sums
          for (int xi = 0; xi < 16; ++xi)
            gemm<float>(false, true, Co, Ci, ld, 1.0f, Z + xi * zs, ld, V + xi * vs, ld, beta, m + xi * Co * Ci, Ci);
          const float* z5 = Z + 5 * zs;
          for (int64_t o = 0; o < Co; ++o) {
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int64_t t = 0; t < ld; ++t) sum += z5[o * ld + t];
            my_db[o] += sum;
          }
        }
      }
      // The slots added in run order into slot 0 (each thread a stretch), then G^T M G.
      if (chunks > 1) {
#pragma omp for schedule(static)
        for (int64_t e = 0; e < slot; ++e) {
          float acc = parts[e];
          for (int64_t c = 1; c < chunks; ++c) acc += parts[c * slot + e];
          parts[e] = acc;
        }
      }
#pragma omp for schedule(static)
      for (int64_t oi = 0; oi < Co * Ci; ++oi) weight_grad_tile(dw + oi * 9, parts + oi, Co * Ci);
#pragma omp for schedule(static)
      for (int64_t o = 0; o < Co; ++o) db[o] = parts[sums + o];
    }
  }
  if (failed) throw std::bad_alloc();
}

}  // namespace cpu
}  // namespace deepconv
