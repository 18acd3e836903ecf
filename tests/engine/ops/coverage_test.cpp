// SPDX-License-Identifier: Apache-2.0
// Coverage: every op of engine/ops/ops.def has harness cases and a CUDA path (or a stated CPU-only
// reason); every case names a listed op; the harness holds at least 40 ops. The CUDA path is proven by
// running each case on the CPU under a DispatchProbe (engine/device.h): the forward must reach device
// dispatch, and every dispatch site reached in forward or backward must have a compiled CUDA statement.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "engine/device.h"
#include "tests/engine/ops/harness_common.h"
#include "tests/engine/ops/op_harness.h"

namespace leseg::testing {

struct OpRow {
  std::string name;
  bool cuda;
  std::string cpu_only_reason;
};
static const std::vector<OpRow> kRows = {
#define LESEG_OP(n) {#n, true, ""},
#define LESEG_OP_CPU_ONLY(n, why) {#n, false, why},
#include "engine/ops/ops.def"
#undef LESEG_OP
#undef LESEG_OP_CPU_ONLY
};

TEST(OpCoverage, EveryOpHasCasesAndBothPaths) {
  std::map<std::string, int> counts;
  for (const auto& c : op_cases()) counts[c.op]++;
  std::set<std::string> names;
  for (const auto& r : kRows) {
    names.insert(r.name);
    EXPECT_GT(counts[r.name], 0) << "op `" << r.name << "` has no harness case";
    EXPECT_TRUE(r.cuda || !r.cpu_only_reason.empty()) << "op `" << r.name << "` has no CUDA path and no reason";
  }
  for (const auto& [op, n] : counts) EXPECT_TRUE(names.count(op)) << "case for unlisted op `" << op << "`";
  EXPECT_GE(kRows.size(), 40u);
}

namespace {
struct Probe {
  bool reached = false;  // the forward reached at least one device dispatch
  std::string missing;   // dispatch sites reached (forward or backward) that have no CUDA statement
};
// Runs case `c` on the CPU with inputs of `dt` under a DispatchProbe.
Probe probe_case(const OpCase& c, DType dt = DType::f32) {
  auto in = make_inputs(c, dt, Device::cpu());
  std::vector<Tensor> outs;
  std::vector<std::pair<std::string, bool>> hits;
  {
    DispatchProbe p;
    outs = c.fn(in);
    hits = p.hits;
  }
  Probe r;
  r.reached = !hits.empty();
  if (c.differentiable) {
    auto w = loss_weights(outs, dt, Device::cpu());
    DispatchProbe p;
    backward_weighted(outs, w);
    hits.insert(hits.end(), p.hits.begin(), p.hits.end());
  }
  for (const auto& [name, has_cuda] : hits)
    if (!has_cuda) r.missing += "dispatch site '" + name + "' has no CUDA statement; ";
  return r;
}
}  // namespace

// An op listed with a CUDA path must reach device dispatch in the forward of at least one of its cases (a case
// may be an identity, e.g. dropout in eval mode or a cast to the input's own dtype), in f32 or f64, and no site any
// case reaches may lack a CUDA statement.
TEST(OpCoverage, EveryCudaRowReachesDispatchWithACudaPath) {
  if (!cuda_built()) GTEST_SKIP() << "CPU-only build (LESEG_CUDA=OFF): no CUDA statement is compiled, nothing to probe";
  std::map<std::string, bool> reached;
  for (const auto& r : kRows)
    if (r.cuda) reached[r.name] = false;
  for (const auto& c : op_cases()) {
    auto it = reached.find(c.op);
    if (it == reached.end()) continue;
    for (DType dt : {DType::f32, DType::f64}) {
      const Probe p = probe_case(c, dt);
      it->second = it->second || p.reached;
      EXPECT_TRUE(p.missing.empty()) << "op `" << c.op << "` (case " << c.name << ", " << dtype_name(dt)
                                     << ") is listed with a CUDA path, but " << p.missing;
    }
  }
  for (const auto& [op, ok] : reached)
    EXPECT_TRUE(ok) << "op `" << op << "` is listed with a CUDA path, but no case's forward reaches a device dispatch "
                    << "(computed on the host only?)";
  EXPECT_GE(reached.size(), 40u);
}

// The probe can fail: an "op" computed on the host is caught, and so is a site compiled without CUDA.
TEST(OpCoverage, ProbeCatchesAHostOnlyOp) {
  OpCase host_only;
  host_only.op = "fake_host_op";
  host_only.inputs = {{Shape{4}, Gen::Normal, false}};
  host_only.fn = [](const std::vector<Tensor>& in) {
    std::vector<float> v = in[0].to_vector<float>();
    for (auto& x : v) x *= 2;
    return std::vector<Tensor>{Tensor::from_vector(v, Shape{4})};
  };
  host_only.differentiable = false;
  EXPECT_FALSE(probe_case(host_only).reached);

  OpCase cpu_only;
  cpu_only.op = "fake_cpu_only_op";
  cpu_only.inputs = {{Shape{4}, Gen::Normal, false}};
  cpu_only.fn = [](const std::vector<Tensor>& in) {
    LESEG_DISPATCH_CPU_ONLY(in[0].device(), "fake_cpu_only_op", (void)0);
    return std::vector<Tensor>{in[0]};
  };
  cpu_only.differentiable = false;
  const Probe p = probe_case(cpu_only);
  EXPECT_TRUE(p.reached);
  EXPECT_NE(p.missing.find("'fake_cpu_only_op' has no CUDA statement"), std::string::npos);
}

}  // namespace leseg::testing
