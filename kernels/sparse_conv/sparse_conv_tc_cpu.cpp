// SPDX-License-Identifier: Apache-2.0
// CPU twins of the tensor-core conv's support data (Morton order, tile masks) and the low-precision CPU twins of
// the CUDA conv: widen, run the f32 CPU conv (kernels/sparse_conv/sparse_conv_cpu.cpp), round where the GPU rounds.
#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "kernels/common/lowp_round.h"
#include "kernels/sparse_conv/sparse_conv_tc.h"

namespace leseg::kernels {

void morton_order_cpu(const int32_t* coords, int64_t n, int32_t stride, int32_t* order) {
  if (stride < 1) throw std::invalid_argument("morton_order_cpu: stride must be >= 1");
  std::vector<uint64_t> key(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int32_t* c = coords + 4 * i;
    key[size_t(i)] = tc::morton_key(c[0], c[1], c[2], c[3], stride);
  }
  std::iota(order, order + n, 0);
  std::stable_sort(order, order + n, [&](int32_t a, int32_t b) { return key[size_t(a)] < key[size_t(b)]; });
}

void tile_masks_cpu(const int32_t* nbr, const int32_t* order, int64_t n_rows, int64_t volume, uint32_t* masks) {
  const int words = tc::mask_words(volume);
  const int64_t tiles = tc::num_tiles(n_rows);
  std::fill(masks, masks + tiles * words, 0u);
  for (int64_t t = 0; t < tiles; ++t)
    for (int64_t k = 0; k < volume; ++k)
      if (tc::tile_uses_offset(nbr, order, n_rows, t, k)) masks[t * words + k / 32] |= 1u << (k % 32);
}

namespace {
inline float widen(bf16_t h) { return bf16_to_float(h); }
inline float widen(f16_t h) { return f16_to_float(h); }
template <class H> H narrow(float f);
template <> bf16_t narrow<bf16_t>(float f) { return float_to_bf16(f); }
template <> f16_t narrow<f16_t>(float f) { return float_to_f16(f); }

template <class H>
std::vector<float> widen_all(const H* p, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = widen(p[i]);
  return v;
}
template <class H>
void narrow_all(const std::vector<float>& v, H* out) {
  for (size_t i = 0; i < v.size(); ++i) out[i] = narrow<H>(v[i]);
}
std::vector<float> tf32_all(const float* p, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = round_to_tf32(p[i]);
  return v;
}
std::vector<float> ws_for(const ConvMap& m, int64_t c_in, int64_t c_out) {
  return std::vector<float>(static_cast<size_t>(std::max<int64_t>(1, sparse_conv_cpu_workspace_elems(m, c_in, c_out))));
}
}  // namespace

template <class H>
void sparse_conv_forward_lowp_cpu(const H* x, const H* w, const H* bias, const ConvMap& m, int64_t n_in, int64_t n_out,
                                  int64_t c_in, int64_t c_out, H* y) {
  auto xf = widen_all(x, n_in * c_in), wf = widen_all(w, m.volume * c_in * c_out);
  std::vector<float> bf = bias ? widen_all(bias, c_out) : std::vector<float>();
  std::vector<float> yf(static_cast<size_t>(n_out * c_out)), ws = ws_for(m, c_in, c_out);
  sparse_conv_forward_cpu<float>(xf.data(), wf.data(), bias ? bf.data() : nullptr, m, n_in, n_out, c_in, c_out,
                                 yf.data(), ws.data());
  narrow_all(yf, y);
}

template <class H>
void sparse_conv_backward_lowp_cpu(const H* x, const H* w, const H* gy, const ConvMap& m, int64_t n_in, int64_t n_out,
                                   int64_t c_in, int64_t c_out, H* gx, H* gw, H* gb) {
  auto xf = widen_all(x, n_in * c_in), wf = widen_all(w, m.volume * c_in * c_out), gyf = widen_all(gy, n_out * c_out);
  std::vector<float> gxf(gx ? size_t(n_in * c_in) : 0), gwf(gw ? size_t(m.volume * c_in * c_out) : 0),
      gbf(gb ? size_t(c_out) : 0), ws = ws_for(m, c_in, c_out);
  sparse_conv_backward_cpu<float>(xf.data(), wf.data(), gyf.data(), m, n_in, n_out, c_in, c_out,
                                  gx ? gxf.data() : nullptr, gw ? gwf.data() : nullptr, gb ? gbf.data() : nullptr,
                                  ws.data());
  if (gx) narrow_all(gxf, gx);
  if (gw) narrow_all(gwf, gw);
  if (gb) narrow_all(gbf, gb);
}

void sparse_conv_forward_tf32_cpu(const float* x, const float* w, const float* bias, const ConvMap& m, int64_t n_in,
                                  int64_t n_out, int64_t c_in, int64_t c_out, float* y) {
  auto xr = tf32_all(x, n_in * c_in), wr = tf32_all(w, m.volume * c_in * c_out);
  std::vector<float> ws = ws_for(m, c_in, c_out);
  sparse_conv_forward_cpu<float>(xr.data(), wr.data(), bias, m, n_in, n_out, c_in, c_out, y, ws.data());
}

void sparse_conv_backward_tf32_cpu(const float* x, const float* w, const float* gy, const ConvMap& m, int64_t n_in,
                                   int64_t n_out, int64_t c_in, int64_t c_out, float* gx, float* gw, float* gb) {
  auto xr = tf32_all(x, n_in * c_in), wr = tf32_all(w, m.volume * c_in * c_out), gr = tf32_all(gy, n_out * c_out);
  std::vector<float> ws = ws_for(m, c_in, c_out);
  // the bias gradient is a plain f32 sum (no GEMM): from the unrounded gradient
  sparse_conv_backward_cpu<float>(xr.data(), wr.data(), gr.data(), m, n_in, n_out, c_in, c_out, gx, gw, nullptr,
                                  ws.data());
  if (gb) {
    std::vector<double> acc(static_cast<size_t>(c_out), 0.0);
    for (int64_t j = 0; j < n_out; ++j)
      for (int64_t c = 0; c < c_out; ++c) acc[size_t(c)] += double(gy[j * c_out + c]);
    for (int64_t c = 0; c < c_out; ++c) gb[c] = float(acc[size_t(c)]);
  }
}

template void sparse_conv_forward_lowp_cpu<bf16_t>(const bf16_t*, const bf16_t*, const bf16_t*, const ConvMap&, int64_t,
                                                   int64_t, int64_t, int64_t, bf16_t*);
template void sparse_conv_forward_lowp_cpu<f16_t>(const f16_t*, const f16_t*, const f16_t*, const ConvMap&, int64_t,
                                                  int64_t, int64_t, int64_t, f16_t*);
template void sparse_conv_backward_lowp_cpu<bf16_t>(const bf16_t*, const bf16_t*, const bf16_t*, const ConvMap&, int64_t,
                                                    int64_t, int64_t, int64_t, bf16_t*, bf16_t*, bf16_t*);
template void sparse_conv_backward_lowp_cpu<f16_t>(const f16_t*, const f16_t*, const f16_t*, const ConvMap&, int64_t,
                                                   int64_t, int64_t, int64_t, f16_t*, f16_t*, f16_t*);

}  // namespace leseg::kernels
