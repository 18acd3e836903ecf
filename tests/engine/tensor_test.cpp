// SPDX-License-Identifier: Apache-2.0
// Tensor runtime: factories, views share storage, casts (f16/bf16 rounding), device errors, autograd core.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "kernels/common/philox_math.h"

using namespace leseg;

TEST(Tensor, FactoriesAndMetadata) {
  Tensor t = Tensor::full(Shape{2, 3}, 1.5);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.dtype(), DType::f32);
  EXPECT_TRUE(t.device().is_cpu());
  for (float v : t.to_vector<float>()) EXPECT_EQ(v, 1.5f);
  EXPECT_EQ(Tensor::zeros(Shape{0, 4}).numel(), 0);
  EXPECT_EQ(Tensor::scalar(3.0).item<double>(), 3.0);
  EXPECT_THROW(Tensor::zeros(Shape{1, 1, 1, 1, 1, 1, 1}), Error);  // 7-D
  EXPECT_EQ(reinterpret_cast<uintptr_t>(Tensor::empty(Shape{3}).data_ptr()) % kCpuAlignment, 0u);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, Shape{3, 2});
  Tensor r = t.reshape(Shape{2, -1});
  EXPECT_EQ(r.shape(), (Shape{2, 3}));
  EXPECT_EQ(r.storage_id(), t.storage_id());
  Tensor row = t.select(1);
  EXPECT_EQ(row.to_vector<float>(), (std::vector<float>{2, 3}));
  Tensor nar = t.narrow(1, 2);
  nar.fill_(7);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 1, 7, 7, 7, 7}));
  EXPECT_THROW(t.reshape(Shape{4}), Error);
  EXPECT_THROW(t.narrow(2, 2), Error);
}

TEST(Tensor, CastsRoundToNearestEven) {
  // 1 + 2^-11 is halfway between two f16 values: ties to even -> 1.0; 1 + 3*2^-11 -> 1 + 2^-9.
  Tensor t = Tensor::from_vector<float>({1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 65520.f, -0.f, 1e-8f}, Shape{5});
  auto back = t.to(DType::f16).to(DType::f32).to_vector<float>();
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], 1.0f + 1.0f / 512);
  EXPECT_TRUE(std::isinf(back[2]));
  EXPECT_EQ(back[3], 0.f);
  EXPECT_NEAR(back[4], 0.f, 6e-8);  // subnormal range, rounds to 0 or 2^-24
  auto bf = Tensor::from_vector<float>({1.0f + 1.0f / 256, 3.14159f}, Shape{2}).to(DType::bf16).to(DType::f32).to_vector<float>();
  EXPECT_EQ(bf[0], 1.0f);  // tie to even
  EXPECT_NEAR(bf[1], 3.14159f, 0.01f);
  auto ints = Tensor::from_vector<float>({1.7f, -2.2f}, Shape{2}).to(DType::i64).to_vector<int64_t>();
  EXPECT_EQ(ints, (std::vector<int64_t>{1, -2}));
}

TEST(Tensor, CudaRequestIsAClearErrorWithoutDevice) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present; this checks the no-device error";
  try {
    Tensor::zeros(Shape{2}, DType::f32, Device::cuda(0));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
}

TEST(Rng, PhiloxKnownAnswer) {
  // Random123 known-answer test for philox4x32-10: counter = key = 0.
  philox::U4 r = philox::philox4x32_10({0, 0, 0, 0}, 0, 0);
  EXPECT_EQ(r.x, 0x6627e8d5u);
  EXPECT_EQ(r.y, 0xe169c58du);
  EXPECT_EQ(r.z, 0xbc57ac4cu);
  EXPECT_EQ(r.w, 0x9b00dbd8u);
  // counter = key = all ones
  r = philox::philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, 0xffffffffu, 0xffffffffu);
  EXPECT_EQ(r.x, 0x408f276du);
  EXPECT_EQ(r.y, 0x41c83b0eu);
  EXPECT_EQ(r.z, 0xa20bc7c6u);
  EXPECT_EQ(r.w, 0x6d5451fdu);
}

TEST(Rng, StreamIsIndependentOfChunking) {
  Generator g1(42), g2(42);
  Tensor whole = rand(Shape{1000}, g1);
  Tensor a = rand(Shape{300}, g2);
  Tensor b = rand(Shape{700}, g2);
  auto w = whole.to_vector<float>(), va = a.to_vector<float>(), vb = b.to_vector<float>();
  for (int i = 0; i < 300; ++i) EXPECT_EQ(w[i], va[i]);
  for (int i = 0; i < 700; ++i) EXPECT_EQ(w[300 + i], vb[i]);
  double mean = 0;
  for (float v : w) {
    EXPECT_GT(v, 0.f);
    EXPECT_LE(v, 1.f);
    mean += v;
  }
  EXPECT_NEAR(mean / 1000, 0.5, 0.05);
  Tensor n = Tensor::randn(Shape{20000}, 7);
  double m = 0, s = 0;
  for (float v : n.to_vector<float>()) m += v, s += double(v) * v;
  m /= 20000;
  s = s / 20000 - m * m;
  EXPECT_NEAR(m, 0.0, 0.03);
  EXPECT_NEAR(s, 1.0, 0.05);
}

TEST(Autograd, ViewsAndAccumulation) {
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 4}, Shape{2, 2});
  x.requires_grad_();
  Tensor y = x.reshape(Shape{4}).narrow(1, 2);  // elements 2, 3
  y.backward(Tensor::from_vector<double>({10, 20}, Shape{2}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 10, 20, 0}));
  // A second, new graph accumulates.
  Tensor z = x.reshape(Shape{4}).narrow(0, 1);
  z.backward(Tensor::from_vector<double>({1}, Shape{1}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 10, 20, 0}));
}

TEST(Autograd, SecondBackwardIsAClearError) {
  Tensor x = Tensor::from_vector<double>({1, 2}, Shape{2});
  x.requires_grad_();
  Tensor y = x.clone();
  y.backward(Tensor::ones(Shape{2}, DType::f64));
  EXPECT_THROW(y.backward(Tensor::ones(Shape{2}, DType::f64)), Error);
  Tensor w = x.clone();
  w.backward(Tensor::ones(Shape{2}, DType::f64), /*retain_graph=*/true);
  EXPECT_NO_THROW(w.backward(Tensor::ones(Shape{2}, DType::f64)));
}

TEST(Autograd, NoGradAndDetach) {
  Tensor x = Tensor::ones(Shape{3}, DType::f64);
  x.requires_grad_();
  {
    NoGradGuard g;
    EXPECT_FALSE(x.clone().requires_grad());
  }
  EXPECT_TRUE(x.clone().requires_grad());
  Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.storage_id(), x.storage_id());
  EXPECT_THROW(x.clone().requires_grad_(), Error);  // non-leaf
}

TEST(Autograd, DeepChainHasNoRecursion) {
  Tensor x = Tensor::ones(Shape{1}, DType::f64);
  x.requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 200000; ++i) y = y.clone();
  y.backward();
  EXPECT_EQ(x.grad().item<double>(), 1.0);
}
