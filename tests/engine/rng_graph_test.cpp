// SPDX-License-Identifier: Apache-2.0
// Generator draws recorded into a CUDA graph (engine/rng.h): the host emulation of record-once, replay-many.
// A recorded launch keeps its arguments; the draws it makes must still be new every replay and equal the eager
// ones, and the generator must end each replay where eager draws would have left it. The GPU twin of this test
// captures real graphs (rng_graph_gpu_test.cpp).
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/ops/nn_functional.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "kernels/random/random.h"

using namespace leseg;

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}
template <class T>
std::vector<T> bytes_of(const Tensor& t) {
  return t.to_vector<T>();
}
// One "step" of draws, as launches with their recorded arguments: a dropout keep mask, f32 uniforms, f64 normals.
struct Recorded {
  kernels::PhiloxOffset mask, uni, nrm;
};
constexpr int64_t kMask = 1000, kUni = 37, kNrm = 11;
constexpr float kKeep = 0.7f;
struct StepOut {
  std::vector<uint8_t> mask;
  std::vector<float> uni;
  std::vector<double> nrm;
};
StepOut run_recorded(const Generator& g, const Recorded& r) {
  StepOut o{std::vector<uint8_t>(kMask), std::vector<float>(kUni), std::vector<double>(kNrm)};
  kernels::bernoulli_mask_cpu(o.mask.data(), kMask, kKeep, g.seed(), g.subsequence(), r.mask);
  kernels::uniform_cpu<float>(o.uni.data(), kUni, g.seed(), g.subsequence(), r.uni);
  kernels::normal_cpu<double>(o.nrm.data(), kNrm, g.seed(), g.subsequence(), r.nrm);
  return o;
}
StepOut run_eager(Generator& g) {
  return {bytes_of<uint8_t>(bernoulli_mask(Shape{kMask}, kKeep, g)), bytes_of<float>(rand(Shape{kUni}, g)),
          bytes_of<double>(randn(Shape{kNrm}, g, DType::f64))};
}
}  // namespace

TEST(GraphRng, ReplaysDrawTheEagerNumbersAndAdvanceTheGenerator) {
  Generator eager(7, 2), graph(7, 2);
  rand(Shape{5}, eager), rand(Shape{5}, graph);  // a non-zero starting offset
  GraphRngFeed feed(graph, Device::cpu());
  feed.begin();
  EXPECT_TRUE(graph.recording_graph());
  const Recorded rec{graph.reserve(kMask, Device::cpu(), "mask"), graph.reserve(kUni, Device::cpu(), "uni"),
                     graph.reserve(kNrm, Device::cpu(), "nrm")};
  feed.end();
  EXPECT_FALSE(graph.recording_graph());
  EXPECT_EQ(graph.offset(), 5u) << "recording runs nothing: the generator must not move";
  EXPECT_EQ(feed.per_replay(), uint64_t(kMask + kUni + kNrm));
  EXPECT_EQ(rec.mask.base, feed.base());
  EXPECT_EQ(rec.uni.offset, uint64_t(kMask));

  std::vector<uint8_t> first_mask;
  for (int step = 0; step < 4; ++step) {
    const StepOut want = run_eager(eager);
    feed.before_replay(nullptr);
    const StepOut got = run_recorded(graph, rec);  // the same launch arguments every replay
    EXPECT_EQ(got.mask, want.mask) << "step " << step;
    EXPECT_EQ(got.uni, want.uni) << "step " << step;
    EXPECT_EQ(got.nrm, want.nrm) << "step " << step;
    EXPECT_EQ(graph.offset(), eager.offset()) << "step " << step;
    const RngState se = RngState::of(eager), sg = RngState::of(graph);  // what a checkpoint would save
    EXPECT_EQ(sg.seed, se.seed);
    EXPECT_EQ(sg.offset, se.offset);
    EXPECT_EQ(sg.subsequence, se.subsequence);
    if (step == 0) first_mask = got.mask;
    else EXPECT_NE(got.mask, first_mask) << "a replay repeated the recorded mask";
  }
  // The failure this guards against: offsets frozen at recording time repeat the first replay's draws.
  Generator frozen_src(7, 2);
  rand(Shape{5}, frozen_src);
  const uint64_t at = frozen_src.advance(kMask);
  std::vector<uint8_t> frozen(kMask), fresh = run_eager(frozen_src).mask;
  kernels::bernoulli_mask_cpu(frozen.data(), kMask, kKeep, 7, 2, kernels::PhiloxOffset(at));
  EXPECT_NE(frozen, fresh);
}

TEST(GraphRng, EngineDrawsWhileRecordingUseTheBaseWordAndLeaveTheGeneratorAlone) {
  // On the CPU the engine's ops run at once: while recording, they read the word (0 here) plus their reservation.
  Generator g(3, 1), ref(3, 1);
  rand(Shape{9}, g);
  GraphRngFeed feed(g, Device::cpu());
  feed.begin();
  const Tensor m = bernoulli_mask(Shape{200}, 0.5, g);
  const Tensor x = Tensor::ones(Shape{50}, DType::f32);
  const Tensor y = dropout(x, 0.25, /*training=*/true, g);
  feed.end();
  EXPECT_EQ(g.offset(), 9u);
  EXPECT_EQ(feed.per_replay(), 250u);
  EXPECT_EQ(bytes_of<uint8_t>(m), bytes_of<uint8_t>(bernoulli_mask(Shape{200}, 0.5, ref)));  // word 0 + 0
  Generator ref2(3, 1);
  ref2.advance(200);
  EXPECT_EQ(bytes_of<float>(y), bytes_of<float>(dropout(x, 0.25, true, ref2)));  // word 0 + 200
}

TEST(GraphRng, MisuseIsAClearError) {
  Generator g(1);
  uint64_t word = 0;
  EXPECT_NE(error_of([&] { g.begin_graph(nullptr, Device::cpu()); }).find("null base word"), std::string::npos);
  EXPECT_NE(error_of([&] { g.end_graph(); }).find("no recording is open"), std::string::npos);
  g.begin_graph(&word, Device::cpu());
  EXPECT_NE(error_of([&] { g.begin_graph(&word, Device::cpu()); }).find("already open"), std::string::npos);
  EXPECT_NE(error_of([&] { g.set_state(2, 0); }).find("recording"), std::string::npos);
  EXPECT_NE(error_of([&] { randperm(10, g); }).find("randperm: a host draw while a CUDA graph records"),
            std::string::npos);
  EXPECT_NE(error_of([&] { uniform(Shape{3}, 0.0, 1.0, g); }).find("uniform: a host draw"), std::string::npos);
  EXPECT_EQ(g.end_graph(), 0u);
  // A CPU kernel cannot read a base word in device memory.
  g.begin_graph(&word, Device::cuda(0));
  const std::string e = error_of([&] { rand(Shape{4}, g); });
  EXPECT_NE(e.find("rand: a CPU draw while a CUDA graph records this generator's draws (its base word is on cuda:0"),
            std::string::npos)
      << e;
  g.end_graph();
  EXPECT_EQ(g.offset(), 0u);
  GraphRngFeed feed(g, Device::cpu());
  EXPECT_NE(error_of([&] { feed.before_replay(nullptr); }).find("nothing recorded yet"), std::string::npos);
  feed.begin();
  feed.end();
  EXPECT_NE(error_of([&] { feed.begin(); }).find("already recorded"), std::string::npos);
  // Untouched after the errors: eager draws are the plain ones.
  Generator ref(1);
  EXPECT_EQ(bytes_of<float>(rand(Shape{6}, g)), bytes_of<float>(rand(Shape{6}, ref)));
}
