// SPDX-License-Identifier: Apache-2.0
// Checkpoint directories: round trip of model / optimizer / meta (step, epoch, config, RNG, scheduler),
// the `latest` pointer, overwrite, and an interrupted write (failure before the rename) that must leave
// the previous checkpoint and pointer intact.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/checkpoint/checkpoint.h"

using namespace leseg;
namespace fs = std::filesystem;

namespace {
std::string fresh_root(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("leseg_ckpt_test_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  return d.string();
}
Checkpoint make(int64_t step, float w) {
  Checkpoint ck;
  ck.model["fc.weight"] = Tensor::full(Shape{2, 3}, w);
  ck.model["bn.num_batches_tracked"] = Tensor::scalar<int64_t>(step);
  ck.optimizer["state.0.step"] = Tensor::scalar<int64_t>(step);
  ck.optimizer["group.0.lr"] = Tensor::scalar<double>(0.01);
  ck.step = step;
  ck.epoch = step / 10;
  ck.config = {{"model", "mlp"}, {"dims", {2, 64, 2}}};
  Generator g(42, 3);
  g.advance(uint64_t(step) * 100);
  ck.rng["data"] = RngState::of(g);
  ck.scheduler = {{"last_step", step}};
  return ck;
}
}  // namespace

TEST(Checkpoint, RoundTripAndLatest) {
  std::string root = fresh_root("rt");
  EXPECT_FALSE(latest_checkpoint(root).has_value());
  std::string dir = save_checkpoint(root, "step_000010", make(10, 1.5f));
  EXPECT_TRUE(fs::exists(dir + "/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir + "/optimizer.safetensors"));
  EXPECT_TRUE(fs::exists(dir + "/meta.json"));
  ASSERT_EQ(latest_checkpoint(root).value_or(""), dir);
  Checkpoint ck = load_checkpoint(dir);
  EXPECT_EQ(ck.step, 10);
  EXPECT_EQ(ck.epoch, 1);
  EXPECT_EQ(ck.config["dims"][1], 64);
  EXPECT_EQ(ck.scheduler["last_step"], 10);
  Generator g;
  ck.rng.at("data").restore(g);
  EXPECT_EQ(g.seed(), 42u);
  EXPECT_EQ(g.subsequence(), 3u);
  EXPECT_EQ(g.offset(), 1000u);
  EXPECT_EQ(ck.model.at("fc.weight").to_vector<float>(), std::vector<float>(6, 1.5f));
  EXPECT_EQ(ck.model.at("bn.num_batches_tracked").item<int64_t>(), 10);
  EXPECT_EQ(ck.optimizer.at("group.0.lr").item<double>(), 0.01);

  std::string dir2 = save_checkpoint(root, "step_000020", make(20, 2.5f));
  EXPECT_EQ(latest_checkpoint(root).value_or(""), dir2);
  // Overwriting an existing name replaces it.
  save_checkpoint(root, "step_000020", make(20, 3.5f));
  EXPECT_EQ(load_checkpoint(dir2).model.at("fc.weight").to_vector<float>()[0], 3.5f);
  for (const auto& e : fs::directory_iterator(root))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST(Checkpoint, InterruptedWriteLeavesPreviousIntact) {
  std::string root = fresh_root("crash");
  std::string dir = save_checkpoint(root, "step_000010", make(10, 1.5f));
  CheckpointWriteOptions o;
  std::string seen_tmp;
  o.before_rename = [&](const std::string& tmp) {
    seen_tmp = tmp;
    throw std::runtime_error("simulated crash before rename");
  };
  EXPECT_THROW(save_checkpoint(root, "step_000020", make(20, 9.f), o), std::runtime_error);
  EXPECT_NE(seen_tmp.find("step_000020.tmp-"), std::string::npos);
  EXPECT_FALSE(fs::exists(root + "/step_000020"));
  EXPECT_EQ(latest_checkpoint(root).value_or(""), dir);
  Checkpoint ck = load_checkpoint(*latest_checkpoint(root));
  EXPECT_EQ(ck.step, 10);
  EXPECT_EQ(ck.model.at("fc.weight").to_vector<float>()[0], 1.5f);
  // Interrupting an overwrite of the same name also keeps the old contents.
  EXPECT_THROW(save_checkpoint(root, "step_000010", make(10, 7.f), o), std::runtime_error);
  EXPECT_EQ(load_checkpoint(dir).model.at("fc.weight").to_vector<float>()[0], 1.5f);
}

TEST(Checkpoint, LoadErrorsNameTheFile) {
  std::string root = fresh_root("bad");
  std::string dir = save_checkpoint(root, "c", make(1, 1.f));
  {
    std::ofstream f(dir + "/model.safetensors", std::ios::binary | std::ios::trunc);
    f << "\x10";
  }
  try {
    load_checkpoint(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.safetensors"), std::string::npos) << e.what();
  }
  std::ofstream(dir + "/meta.json", std::ios::trunc) << "{ not json";
  try {
    load_checkpoint(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("meta.json"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_checkpoint(root + "/missing"), Error);
  EXPECT_THROW(save_checkpoint(root, "a/b", make(1, 1.f)), Error);
}
