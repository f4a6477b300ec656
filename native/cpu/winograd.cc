// 3x3 convolution (stride 1, pad 1) by Winograd F(2x2, 3x3), float: 16 products of
// (Co, Ci) @ (Ci, tiles) instead of one of (Co, 9 Ci) @ (9 Ci, pixels), 2.25x fewer
// multiply-adds, and no column matrix. conv.cc chooses it (conv_forward, and dx in conv_backward,
// which is the same correlation with the weights rotated and transposed); dw stays im2col + GEMM.
//
//   U (16, Co, Ci) = G g G^T per weight 3x3, packed once per call for the GEMM
//   per group of images (columns: image i's tiles at i*T .. i*T + T-1):
//     V (16, Ci, g*T) = B^T d B per 4x4 input tile           (winograd_kernels.h)
//     M[xi] (Co, g*T) = U[xi] @ V[xi]                         (16 GEMMs)
//     out = A^T M A + b per 2x2 output tile                    (winograd_kernels.h)
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

#define DEEPCONV_KERNELS "winograd_kernels.h"
#include "isa_passes.h"

namespace deepconv {
namespace cpu {
namespace {

void winograd_input(float* V, int64_t ld, const float* x, int64_t C, int64_t H, int64_t W, int64_t TH, int64_t TW,
                    float* scratch) {
  DEEPCONV_ISA_CALL(winograd_input, V, ld, x, C, H, W, TH, TW, scratch);
}

void winograd_output(float* out, const float* M, int64_t ld, const float* b, int64_t F, int64_t H, int64_t W,
                     int64_t TH, int64_t TW, float* scratch) {
  DEEPCONV_ISA_CALL(winograd_output, out, M, ld, b, F, H, W, TH, TW, scratch);
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
  bool failed = false;  // a workspace allocation failed: rethrown after the region
#pragma omp parallel num_threads(team) if (team > 1)
  {
    transform_weights(U, w, Co, Ci, rotated);  // orphaned omp for: ends at a barrier
    for (int xi = 0; xi < 16; ++xi) pack_a(kern, false, Co, Ci, U + xi * Co * Ci, Ci, Up + xi * up_stride);
    static thread_local std::vector<float> v_space, m_space, t_space;
    float *V = nullptr, *M = nullptr, *tmp = nullptr;
    if (team_allocated(&failed, [&] {
          V = scratch(v_space, size_t(16 * Ci * group * T));
          M = scratch(m_space, size_t(16 * Co * group * T));
          tmp = scratch(t_space, size_t(generic::winograd_scratch(TH, TW)));
        })) {
#pragma omp for schedule(dynamic, 1)
      for (int64_t gi = 0; gi < groups; ++gi) {
        const int64_t n0 = gi * group, gn = std::min(group, N - n0), ld = gn * T;
        for (int64_t i = 0; i < gn; ++i) winograd_input(V + i * T, ld, x + (n0 + i) * plane_in, Ci, H, W, TH, TW, tmp);
        for (int xi = 0; xi < 16; ++xi)
          gemm_packed_a<float>(kern, Co, ld, Ci, 1.0f, Up + xi * up_stride, false, V + xi * Ci * ld, ld, 0.0f,
                               M + xi * Co * ld, ld);
        for (int64_t i = 0; i < gn; ++i) winograd_output(out + (n0 + i) * plane_out, M + i * T, ld, b, Co, H, W, TH, TW, tmp);
      }
    }
  }
  if (failed) throw std::bad_alloc();
}

}  // namespace cpu
}  // namespace deepconv
