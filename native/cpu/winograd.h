// The Winograd F(2x2, 3x3) convolution conv.cc hands 3x3 / stride 1 / pad 1 float layers to
// (winograd.cc says how it works).
#pragma once

#include <cstdint>

#include "deepconv/cpu.h"

namespace deepconv {
namespace cpu {

// Below these the im2col GEMM measured as fast or faster (bench/NOTES.md): with fewer channels
// than 32 the 16 products are too thin (depth C, F rows), maps under 7x7 (fewer than 16 tiles)
// pay the transforms for partial tiles, and fewer tile columns than a few GEMM panels (a
// batch-1 forward) leave the transforms' cost uncovered. 32-channel layers measured even on a
// Zen 5 when only the forward and dx ran by Winograd, and 20% faster on a Zen 4 with dw too.
constexpr int64_t kWinogradMinChannels = 32;
constexpr int64_t kWinogradMinTiles = 16;
constexpr int64_t kWinogradMinColumns = 256;

inline int64_t winograd_tiles(int64_t H, int64_t W) { return ((H + 1) / 2) * ((W + 1) / 2); }

// The distance in floats between a group's 16 transform matrices (V, M or Z) of `floats` each:
// whole cache lines (the packed panels' aligned loads), an odd number of them. The transforms
// read or write all 16 at once; a power-of-two distance (32 channels x 256 columns) put those
// 16 streams into one L1 set, more lines than its ways. An odd line count spreads them over 16.
inline int64_t winograd_xi_stride(int64_t floats) { return (((floats + 15) / 16) | 1) * 16; }

// Whether conv_forward and conv_backward (dw, and dx: the shape is symmetric in C and F) of a
// float layer of shape s run by Winograd.
bool winograd_applies(const ConvShape& s);

// out (N, Co, H, W) = the 3x3 cross-correlation with pad 1 of x (N, Ci, H, W) + b (Co; null: no
// bias), overwritten. The weights are w (Co, Ci, 3, 3), or with `rotated` w (Ci, Co, 3, 3) read
// transposed and turned by 180 degrees (dx = that correlation of dout). Images go to `team`
// threads in groups of `group` (a cut that must not depend on the team; see conv.cc).
void conv3x3_winograd(float* out, const float* x, const float* w, const float* b, int64_t N, int64_t Ci, int64_t Co,
                      int64_t H, int64_t W, bool rotated, int64_t group, int team);

// dw (Co, Ci, 3, 3) and db (Co), overwritten: the gradients of that correlation (rotated false)
// for dout (N, Co, H, W) at x (N, Ci, H, W). Images cut as for conv3x3_winograd, the groups
// summed in up to `runs` fixed runs (conv.cc's dw_runs; again not the team).
void winograd_weight_grad(float* dw, float* db, const float* x, const float* dout, int64_t N, int64_t Ci, int64_t Co,
                          int64_t H, int64_t W, int64_t group, int64_t runs, int team);

}  // namespace cpu
}  // namespace deepconv
