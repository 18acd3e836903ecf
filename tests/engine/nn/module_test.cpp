// SPDX-License-Identifier: Apache-2.0
// Module infrastructure: dotted names, parameters vs buffers, train/eval recursion, zero_grad,
// state_dict round trip (values copied in place, identity kept), strict-mode errors naming the key.
#include <gtest/gtest.h>

#include "engine/nn/module.h"

using namespace leseg;

namespace {
struct Leaf : Module {
  Tensor w, b, stat;
  explicit Leaf(float v) {
    w = register_parameter("weight", Tensor::full(Shape{2, 3}, v));
    b = register_parameter("bias", Tensor::full(Shape{3}, v));
    stat = register_buffer("running_mean", Tensor::zeros(Shape{3}));
  }
  std::string type_name() const override { return "Leaf"; }
};
struct Block : Module {
  std::shared_ptr<Leaf> a, c;
  explicit Block(float v) {
    a = register_module("conv", std::make_shared<Leaf>(v));
    c = register_module("norm", std::make_shared<Leaf>(v + 1));
  }
};
struct Net : Module {
  std::shared_ptr<Block> enc;
  Tensor scale;
  explicit Net(float v) {
    enc = register_module("encoder", std::make_shared<Block>(v));
    scale = register_parameter("scale", Tensor::ones(Shape{1}));
  }
};
std::vector<std::string> names(const std::vector<std::pair<std::string, Tensor>>& v) {
  std::vector<std::string> r;
  for (auto& [n, t] : v) r.push_back(n);
  return r;
}
void expect_load_error(Module& m, const StateDict& sd, const std::string& needle, bool strict = true) {
  try {
    m.load_state_dict(sd, strict);
    FAIL() << "expected an error containing " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(Module, DottedNamesParametersAndBuffers) {
  Net n(1);
  EXPECT_EQ(names(n.named_parameters()),
            (std::vector<std::string>{"scale", "encoder.conv.weight", "encoder.conv.bias", "encoder.norm.weight",
                                      "encoder.norm.bias"}));
  EXPECT_EQ(names(n.named_buffers()),
            (std::vector<std::string>{"encoder.conv.running_mean", "encoder.norm.running_mean"}));
  EXPECT_EQ(n.parameters().size(), 5u);
  for (auto& p : n.parameters()) EXPECT_TRUE(p.requires_grad() && p.is_leaf());
  EXPECT_FALSE(n.enc->a->stat.requires_grad());
  EXPECT_TRUE(n.parameters()[1].same(n.enc->a->w));  // same handle, not a copy
  EXPECT_EQ(n.child("encoder").get(), n.enc.get());
  EXPECT_THROW(n.child("decoder"), Error);
}

TEST(Module, RegistrationErrors) {
  struct Bad : Module {
    void dup() {
      register_parameter("w", Tensor::zeros(Shape{1}));
      register_buffer("w", Tensor::zeros(Shape{1}));
    }
    void dotted() { register_parameter("a.b", Tensor::zeros(Shape{1})); }
  };
  Bad b;
  EXPECT_THROW(b.dup(), Error);
  EXPECT_THROW(b.dotted(), Error);
  EXPECT_THROW(b.forward(Tensor::zeros(Shape{1})), Error);
}

TEST(Module, TrainEvalRecursiveAndZeroGrad) {
  Net n(1);
  EXPECT_TRUE(n.enc->c->is_training());
  n.eval();
  EXPECT_FALSE(n.is_training());
  EXPECT_FALSE(n.enc->a->is_training());
  n.train();
  EXPECT_TRUE(n.enc->c->is_training());
  for (auto& p : n.parameters()) p.set_grad(ones_like(p));
  n.zero_grad();
  for (auto& p : n.parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Module, StateDictRoundTripCopiesInPlace) {
  Net src(3), dst(0);
  src.enc->a->stat.fill_(5);
  StateDict sd = src.state_dict();
  EXPECT_EQ(sd.size(), 7u);
  const void* before = dst.enc->a->w.data_ptr();
  uint64_t v0 = dst.enc->a->w.version();
  dst.load_state_dict(sd);
  EXPECT_EQ(dst.enc->a->w.data_ptr(), before);  // storage kept: optimizers holding it see the new values
  EXPECT_GT(dst.enc->a->w.version(), v0);
  EXPECT_EQ(dst.enc->a->w.to_vector<float>(), std::vector<float>(6, 3.f));
  EXPECT_EQ(dst.enc->c->b.to_vector<float>(), std::vector<float>(3, 4.f));
  EXPECT_EQ(dst.enc->a->stat.to_vector<float>(), std::vector<float>(3, 5.f));
  // state_dict shares storage with the live tensors (no copy) but carries no autograd history.
  EXPECT_EQ(sd.at("encoder.conv.weight").storage_id(), src.enc->a->w.storage_id());
  EXPECT_FALSE(sd.at("encoder.conv.weight").requires_grad());
}

TEST(Module, StrictErrorsNameTheKey) {
  Net n(0);
  StateDict good = Net(2).state_dict();
  StateDict sd = good;
  sd.erase("encoder.norm.bias");
  expect_load_error(n, sd, "missing key 'encoder.norm.bias'");
  sd = good;
  sd["encoder.extra"] = Tensor::zeros(Shape{1});
  expect_load_error(n, sd, "unexpected key 'encoder.extra'");
  sd = good;
  sd["encoder.conv.weight"] = Tensor::zeros(Shape{3, 2});
  expect_load_error(n, sd, "'encoder.conv.weight': shape (3, 2) in the state dict vs (2, 3)");
  sd = good;
  sd["scale"] = Tensor::zeros(Shape{1}, DType::f64);
  expect_load_error(n, sd, "'scale': dtype f64");
  // Shape errors apply even when not strict; nothing was modified by the failed loads.
  expect_load_error(n, sd, "'scale'", false);
  EXPECT_EQ(n.scale.to_vector<float>(), std::vector<float>{1.f});
  EXPECT_EQ(n.enc->a->w.to_vector<float>(), std::vector<float>(6, 0.f));
  // Non-strict: missing and unexpected keys are ignored, the rest loads.
  sd = good;
  sd.erase("scale");
  sd["other"] = Tensor::zeros(Shape{2});
  n.load_state_dict(sd, false);
  EXPECT_EQ(n.enc->a->w.to_vector<float>(), std::vector<float>(6, 2.f));
}

TEST(Module, ToSameDeviceKeepsIdentity) {
  Net n(1);
  const void* p = n.scale.data_ptr();
  n.to(Device::cpu());
  EXPECT_EQ(n.scale.data_ptr(), p);
}
