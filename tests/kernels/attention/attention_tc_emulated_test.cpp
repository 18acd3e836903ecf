// SPDX-License-Identifier: Apache-2.0
// The tensor-core attention kernels' own source (kernels/attention/attention_tc_kernels.cuh), run on the CPU by the
// warp emulator (tests/support/warp_emu.h: threads as fibers, real barriers around __syncthreads, the warp
// shuffles and mma.sync, whose m16n8k16 product is formed from the PTX ISA fragment layouts), against the CPU twin
// (attention_forward_cpu / attention_backward_cpu with round_products), with the GPU parity test's tolerance:
// |emulated - twin| <= 4u |twin| + 4u max|twin| per element (u: the storage type's unit roundoff). The same launch
// sequence as attention_tc_cuda.cu: forward blocks (query blocks x heads), the split combine, D_i, the dQ pass and
// its combine, the dK/dV/dBias pass. Covered: every padded width (16, 32, 64, 96, 128), odd head dims, tails of
// every tile size, empty sets, a fully masked set, split-KV with its deterministic combines, mask and bias, bf16
// and f16. What it cannot show: the hardware's own accumulation order inside an mma, register or shared-memory
// limits, the launchers (tests/engine/attention: AttentionTcGpu.*, on a GPU).
#include <gtest/gtest.h>

// Built with -Wno-unknown-pragmas -Wno-sign-compare (CMakeLists.txt): #pragma unroll, unsigned threadIdx.
#include "tests/support/warp_emu.h"
#include "kernels/attention/attention_tc_kernels.cuh"

#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace leseg::kernels {
namespace {

using namespace attn_tc;

std::vector<int64_t> offsets(const std::vector<int64_t>& lens) {
  std::vector<int64_t> c{0};
  for (int64_t l : lens) c.push_back(c.back() + l);
  return c;
}

template <class T>
std::vector<float> floats(const std::vector<T>& x) {
  std::vector<float> r;
  r.reserve(x.size());
  for (const T& e : x) r.push_back(Convert<float, T>::apply(e));
  return r;
}

// Elements outside 4u|twin| + 4u max|twin|; prints the worst error in units of u * max|twin|.
int64_t count_bad(const char* what, const std::vector<float>& got, const std::vector<float>& want, double u,
                  const std::string& label) {
  double mx = 0;
  for (float x : want) mx = std::max(mx, double(std::abs(x)));
  int64_t bad = 0;
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::abs(double(got[i]) - double(want[i]));
    worst = std::max(worst, err / (u * (mx > 0 ? mx : 1.0)));
    if (!(err <= 4 * u * std::abs(double(want[i])) + 4 * u * mx)) {
      if (bad < 3) ADD_FAILURE() << label << " " << what << "[" << i << "]: emulated " << got[i] << ", twin " << want[i];
      ++bad;
    }
  }
  std::printf("  %-5s n=%-8zu worst %.3f u*max\n", what, want.size(), worst);
  return bad;
}

struct Case {
  std::vector<int64_t> lq, lk;
  int64_t heads, dim;
  bool mask, bias;
  int64_t target_blocks;  // the schedule's split target (small: force split-KV)
  uint32_t seed;
};

template <int DP, class T>
void run_case(const Case& c) {
  const std::vector<int64_t> cq = offsets(c.lq), ck = offsets(c.lk);
  const int64_t B = int64_t(c.lq.size()), Tq = cq.back(), Tk = ck.back(), H = c.heads, D = c.dim;
  const std::string label = std::string(std::is_same_v<T, f16_t> ? "f16" : "bf16") + " H=" + std::to_string(H) +
                            " D=" + std::to_string(D) + " seed=" + std::to_string(c.seed);
  std::printf("%s\n", label.c_str());
  std::mt19937 g(c.seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  auto make = [&](int64_t n) {
    std::vector<T> x(static_cast<size_t>(n));
    for (T& e : x) e = Convert<T, float>::apply(nd(g));
    return x;
  };
  const std::vector<T> q = make(Tq * H * D), k = make(Tk * H * D), v = make(Tk * H * D), dout = make(Tq * H * D),
                       bias = make(Tk * H);
  std::vector<uint8_t> mask(static_cast<size_t>(Tk));
  for (uint8_t& m : mask) m = uint8_t(g() % 4 == 0);
  if (B > 1)  // the last set fully masked
    for (int64_t j = ck[size_t(B - 1)]; j < Tk; ++j) mask[size_t(j)] = 1;
  const uint8_t* mp = c.mask ? mask.data() : nullptr;
  const T* bp = c.bias ? bias.data() : nullptr;
  const std::vector<int32_t> table = build_tc_schedule(cq.data(), ck.data(), B, H, c.target_blocks);
  const TableView tv{table.data(), B};
  const float scale = float(1.0 / std::sqrt(double(D)));

  // forward
  std::vector<T> o(size_t(Tq * H * D));
  std::vector<float> lse(size_t(Tq * H), -123.f);
  std::vector<float> part(size_t(std::max<int64_t>(1, tv.partial_rows() * H * record_floats(DP))), std::nanf(""));
  warp_emu::run_grid(unsigned(tv.query_blocks()), unsigned(H), kThreads, [&] {
    tc_fwd_kernel<DP, T>(q.data(), k.data(), v.data(), table.data(), B, mp, bp, H, int(D), scale, o.data(), lse.data(),
                         part.data());
  });
  if (tv.partial_rows() > 0)
    warp_emu::run_grid_simple(unsigned((Tq * H + 127) / 128), 128, [&] {
      tc_fwd_combine_kernel<DP, T>(table.data(), B, Tq, H, int(D), part.data(), o.data(), lse.data());
    });
  // backward
  std::vector<float> Di(size_t(Tq * H));
  for (int64_t row = 0; row < Tq * H; ++row) tc_rowdot(row, dout.data(), o.data(), D, Di.data());
  std::vector<T> dq(q.size()), dk(k.size()), dv(v.size()), db(bias.size());
  std::vector<float> dpart(size_t(std::max<int64_t>(1, tv.partial_rows() * H * DP)), std::nanf(""));
  warp_emu::run_grid(unsigned(tv.query_blocks()), unsigned(H), kThreads, [&] {
    tc_dq_kernel<DP, T>(q.data(), k.data(), v.data(), table.data(), B, mp, bp, lse.data(), dout.data(), Di.data(), H,
                        int(D), scale, dq.data(), dpart.data());
  });
  if (tv.partial_rows() > 0)
    warp_emu::run_grid_simple(unsigned((Tq * H * D + 255) / 256), 256, [&] {
      tc_dq_combine_kernel<DP, T>(table.data(), B, Tq, H, int(D), dpart.data(), dq.data());
    });
  warp_emu::run_grid(unsigned(tv.key_blocks()), unsigned(H), kThreads, [&] {
    tc_dkv_kernel<DP, T>(q.data(), k.data(), v.data(), table.data(), B, mp, bp, lse.data(), dout.data(), Di.data(), H,
                         int(D), scale, dk.data(), dv.data(), c.bias ? db.data() : nullptr);
  });

  // the CPU twin
  AttentionDims d;
  d.batch = B, d.heads = H, d.dim = D, d.tq = Tq, d.tk = Tk, d.scale = 1.0 / std::sqrt(double(D));
  d.round_products = true;
  for (int64_t b = 0; b < B; ++b) d.max_lq = std::max(d.max_lq, c.lq[size_t(b)]), d.max_lk = std::max(d.max_lk, c.lk[size_t(b)]);
  std::vector<T> o2(o.size()), dq2(q.size()), dk2(k.size()), dv2(v.size()), db2(bias.size());
  std::vector<float> lse2(lse.size());
  attention_forward_cpu<T, int64_t>(q.data(), k.data(), v.data(), cq.data(), ck.data(), mp, bp, d, o2.data(), lse2.data());
  std::vector<double> ws(size_t(Tq * H + 1));
  attention_backward_cpu<T, int64_t>(q.data(), k.data(), v.data(), cq.data(), ck.data(), mp, bp, o2.data(), lse2.data(),
                                     dout.data(), d, dq2.data(), dk2.data(), dv2.data(), c.bias ? db2.data() : nullptr,
                                     ws.data());
  const double u = std::is_same_v<T, f16_t> ? 1.0 / 2048 : 1.0 / 256;
  int64_t bad = count_bad("o", floats(o), floats(o2), u, label);
  for (size_t i = 0; i < lse.size(); ++i) {
    const bool ok = std::isinf(lse2[i]) ? lse[i] == lse2[i] : std::abs(lse[i] - lse2[i]) <= 1e-4 * (1 + std::abs(lse2[i]));
    if (!ok && bad++ < 3) ADD_FAILURE() << label << " lse[" << i << "]: emulated " << lse[i] << ", twin " << lse2[i];
  }
  bad += count_bad("dq", floats(dq), floats(dq2), u, label);
  bad += count_bad("dk", floats(dk), floats(dk2), u, label);
  bad += count_bad("dv", floats(dv), floats(dv2), u, label);
  if (c.bias) bad += count_bad("dbias", floats(db), floats(db2), u, label);
  EXPECT_EQ(bad, 0) << label;
  // Guards against a vacuous pass: the outputs are not all zero and the twin's are not either.
  double so = 0, sd = 0;
  for (float x : floats(o)) so += std::abs(x);
  for (float x : floats(dk)) sd += std::abs(x);
  EXPECT_GT(so, 0.0) << label;
  EXPECT_GT(sd, 0.0) << label;
}

template <class T>
void run(const Case& c) {
  switch (padded_dim(c.dim)) {
    case 16: return run_case<16, T>(c);
    case 32: return run_case<32, T>(c);
    case 64: return run_case<64, T>(c);
    case 96: return run_case<96, T>(c);
    default: return run_case<128, T>(c);
  }
}

TEST(AttentionTcEmulated, TilesTailsAndEveryPaddedWidth) {
  // Sets of 1..200 rows around the 64-row tiles; the last set fully masked. D = 40 -> 64, D = 8 -> 16.
  run<bf16_t>({{1, 7, 63, 64, 65, 200}, {1, 7, 63, 64, 65, 200}, 2, 40, true, true, 264, 1});
  run<f16_t>({{1, 7, 63, 64, 65, 200}, {1, 7, 63, 64, 65, 200}, 2, 8, true, true, 264, 2});
  run<bf16_t>({{33, 100, 1}, {129, 300, 5}, 2, 80, true, true, 16, 13});  // D = 80 -> 96, cross-attention
  run<f16_t>({{17, 64}, {250, 64}, 3, 24, true, false, 264, 14});         // D = 24 -> 32
  run<bf16_t>({{1, 7, 130}, {1, 7, 130}, 1, 128, true, true, 264, 5});    // D = 128
}

TEST(AttentionTcEmulated, SplitKvAndEmptySets) {
  // Few queries over many keys with a small block target: the keys split, partial records and both combines.
  run<bf16_t>({{20, 3}, {3000, 700}, 2, 32, true, true, 64, 3});
  run<f16_t>({{70}, {2000}, 1, 64, false, false, 64, 6});
  // A set without queries and one without keys.
  run<f16_t>({{0, 5, 130}, {9, 0, 300}, 3, 100, false, true, 264, 4});
}

}  // namespace
}  // namespace leseg::kernels
