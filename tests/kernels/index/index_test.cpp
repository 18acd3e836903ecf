// SPDX-License-Identifier: Apache-2.0
// Gather / scatter-add CPU twins vs serial loops on dyadic values (exact in any order), repeated targets,
// identical bits across runs and thread counts; engine ops: index errors name value and range; concat /
// split round trip; the deterministic switch.
#include <gtest/gtest.h>
#include <omp.h>

#include <vector>

#include "engine/ops/shape_ops.h"
#include "kernels/index/index.h"

using namespace leseg;

TEST(IndexCpu, SelectAndAddMatchSerialLoops) {
  const int64_t R = 37, D = 33, n = 2000;
  std::vector<float> x(static_cast<size_t>(R * D)), src(static_cast<size_t>(n * D));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 17) - 8) * 0.25f;
  for (size_t i = 0; i < src.size(); ++i) src[i] = float(int(i % 13) - 6) * 0.125f;
  std::vector<int32_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[size_t(i)] = int32_t((i * 7919) % R);
  std::vector<float> sel(static_cast<size_t>(n * D));
  kernels::index_select_rows_cpu(x.data(), R, D, idx.data(), n, sel.data());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t d = 0; d < D; ++d) ASSERT_EQ(sel[size_t(i * D + d)], x[size_t(idx[size_t(i)] * D + d)]);
  std::vector<float> out = x, ref = x;
  kernels::index_add_rows_cpu(out.data(), R, D, idx.data(), n, src.data());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t d = 0; d < D; ++d) ref[size_t(idx[size_t(i)] * D + d)] += src[size_t(i * D + d)];
  EXPECT_EQ(out, ref);
  // Non-dyadic values: bits must not depend on the thread count (each column sums in i order).
  for (size_t i = 0; i < src.size(); ++i) src[i] = 0.1f * float(i % 7) + 1e-3f * float(i % 11);
  std::vector<float> a = x, b = x;
  kernels::index_add_rows_cpu(a.data(), R, D, idx.data(), n, src.data());
  const int nt = omp_get_max_threads();
  omp_set_num_threads(1);
  kernels::index_add_rows_cpu(b.data(), R, D, idx.data(), n, src.data());
  omp_set_num_threads(nt);
  EXPECT_EQ(a, b);
  EXPECT_EQ(kernels::index_first_bad_cpu(idx.data(), n, R), n);
  idx[5] = int32_t(R);
  EXPECT_EQ(kernels::index_first_bad_cpu(idx.data(), n, R), 5);
}

TEST(IndexOp, ErrorsNameValueAndRange) {
  Tensor x = Tensor::ones(Shape{4, 2});
  Tensor idx = Tensor::from_vector<int64_t>({0, 3, 7, 1}, Shape{4});
  try {
    index_select(x, 0, idx);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("index 7"), std::string::npos) << m;
    EXPECT_NE(m.find("[0, 4)"), std::string::npos) << m;
  }
  EXPECT_THROW(index_select(x, 0, Tensor::from_vector<int32_t>({-1}, Shape{1})), Error);
  EXPECT_THROW(index_select(x, 0, Tensor::ones(Shape{2})), Error);  // float index
  EXPECT_THROW(index_add(x, Tensor::from_vector<int64_t>({0}, Shape{1}), Tensor::ones(Shape{2, 2})), Error);
  EXPECT_THROW(embedding(Tensor::from_vector<int32_t>({4}, Shape{1}), x), Error);
}

TEST(IndexOp, ScatterAddEmbeddingConcatSplit) {
  Tensor src = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, Shape{3, 2});
  Tensor idx = Tensor::from_vector<int32_t>({2, 0, 2}, Shape{3});
  EXPECT_EQ(scatter_add(4, idx, src).to_vector<float>(), (std::vector<float>{3, 4, 0, 0, 6, 8, 0, 0}));
  Tensor e = embedding(Tensor::from_vector<int64_t>({1, 1, 0, 2}, Shape{2, 2}), src);
  EXPECT_EQ(e.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(e.to_vector<float>(), (std::vector<float>{3, 4, 3, 4, 1, 2, 5, 6}));
  Tensor a = Tensor::arange(6, DType::i64).reshape(Shape{2, 3});
  Tensor b = Tensor::arange(4, DType::i64).reshape(Shape{2, 2});
  Tensor c = concat({a, b}, 1);
  EXPECT_EQ(c.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 0, 1, 3, 4, 5, 2, 3}));
  auto parts = split(c, {3, 2}, 1);
  EXPECT_EQ(parts[0].to_vector<int64_t>(), a.to_vector<int64_t>());
  EXPECT_EQ(parts[1].to_vector<int64_t>(), b.to_vector<int64_t>());
  EXPECT_THROW(split(c, {3, 3}, 1), Error);
  EXPECT_THROW(concat({a, Tensor::arange(3, DType::i64).reshape(Shape{3, 1})}, 1), Error);
  EXPECT_FALSE(deterministic());
  set_deterministic(true);
  EXPECT_EQ(scatter_add(4, idx, src).to_vector<float>(), (std::vector<float>{3, 4, 0, 0, 6, 8, 0, 0}));
  set_deterministic(false);
}
