// SPDX-License-Identifier: Apache-2.0
// The baseline harness's input writer/reader (benchmarks/baselines/case_io.h): what the harness writes is what
// both sides read, bit for bit, with dtypes kept; missing or mistyped inputs fail naming the file; the documented
// leseg <-> spconv kernel layout mapping is a bijection that puts known elements where the docs say.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "benchmarks/baselines/case_io.h"
#include "engine/checkpoint/safetensors.h"

namespace fs = std::filesystem;
using namespace leseg;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("leseg_baselines_test_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  return d;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0;
}

TEST(BaselineCaseIO, RoundTripKeepsDtypesShapesAndBytes) {
  const std::string dir = temp_dir("roundtrip").string();
  Tensor coords = Tensor::from_vector<int32_t>({0, -3, 4, 5, 0, 2, -1, 7, 1, 1048575, -1048576, 0}, Shape{3, 4});
  Tensor feats = Tensor::randn(Shape{3, 5}, 7);
  Tensor labels = Tensor::from_vector<int64_t>({-1, 19, int64_t(1) << 40}, Shape{3});
  Tensor g = Tensor::from_vector<int64_t>({42}, Shape{});
  Tensor w64 = Tensor::randn(Shape{8, 2, 3}, 8).to(DType::f64);
  baselines::write_case(dir, {{"coords", coords}, {"feats", feats}, {"labels", labels}, {"num_groups", g}, {"w", w64}});
  auto back = baselines::read_case(dir, {"coords", "feats", "labels", "num_groups", "w"});
  EXPECT_TRUE(same_bytes(back["coords"], coords));
  EXPECT_TRUE(same_bytes(back["feats"], feats));
  EXPECT_TRUE(same_bytes(back["labels"], labels));
  EXPECT_TRUE(same_bytes(back["w"], w64));
  EXPECT_EQ(back["num_groups"].ndim(), 0);
  EXPECT_EQ(back["num_groups"].item<int64_t>(), 42);
  EXPECT_TRUE(baselines::case_has(dir, "feats"));
  EXPECT_FALSE(baselines::case_has(dir, "gy"));
  fs::remove_all(dir);
}

TEST(BaselineCaseIO, MissingAndMistypedInputsNameTheFile) {
  const std::string dir = temp_dir("errors").string();
  baselines::write_case(dir, {{"x", Tensor::zeros(Shape{2, 2})}});
  try {
    baselines::read_case_array(dir, "coords", DType::i32);
    FAIL() << "no error for a missing input";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(baselines::case_path(dir, "coords")), std::string::npos) << e.what();
  }
  try {
    baselines::read_case_array(dir, "x", DType::i64);
    FAIL() << "no error for a mistyped input";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("x.npy holds f32, expected i64"), std::string::npos) << e.what();
  }
  EXPECT_THROW(baselines::write_case(dir, {{"a/b", Tensor::zeros(Shape{1})}}), std::exception);
  fs::remove_all(dir);
}

// The train rows' checkpoint: written by the worker with save_safetensors, read back by both sides.
TEST(BaselineCaseIO, CheckpointRoundTripKeepsMetadata) {
  const fs::path dir = temp_dir("ckpt");
  fs::create_directories(dir);
  StateDict sd{{"backbone.conv0p1s1.kernel", Tensor::randn(Shape{27, 3, 32}, 1)},
               {"head.linear.bias", Tensor::randn(Shape{20}, 2)}};
  save_safetensors((dir / "w.safetensors").string(), sd, {{"layers", "1,1,1,1,1,1,1,1"}, {"num_classes", "20"}});
  SafetensorsContent c = load_safetensors((dir / "w.safetensors").string());
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_TRUE(same_bytes(c.tensors["backbone.conv0p1s1.kernel"], sd["backbone.conv0p1s1.kernel"]));
  EXPECT_TRUE(same_bytes(c.tensors["head.linear.bias"], sd["head.linear.bias"]));
  EXPECT_EQ(c.metadata["layers"], "1,1,1,1,1,1,1,1");
  EXPECT_EQ(c.metadata["num_classes"], "20");
  fs::remove_all(dir);
}

TEST(BaselineCaseIO, SpconvLayoutMappingIsABijectionWithTheDocumentedAnchors) {
  for (int64_t K : {1, 2, 3}) {
    const int64_t Ci = 3, Co = 5, V = K * K * K;
    std::set<int64_t> seen;
    for (int64_t o = 0; o < Co; ++o)
      for (int64_t ix = 0; ix < K; ++ix)
        for (int64_t iy = 0; iy < K; ++iy)
          for (int64_t iz = 0; iz < K; ++iz)
            for (int64_t i = 0; i < Ci; ++i) seen.insert(baselines::leseg_index_of_spconv(o, ix, iy, iz, i, K, Ci, Co));
    EXPECT_EQ(int64_t(seen.size()), V * Ci * Co);
    EXPECT_EQ(*seen.begin(), 0);
    EXPECT_EQ(*seen.rbegin(), V * Ci * Co - 1);
  }
  // x fastest in leseg: spconv (o, ix=1, iy=0, iz=0, i) is leseg kernel row 1; (o, 0, 0, 1, i) is row K*K.
  EXPECT_EQ(baselines::leseg_index_of_spconv(4, 1, 0, 0, 2, 3, 3, 5), (1 * 3 + 2) * 5 + 4);
  EXPECT_EQ(baselines::leseg_index_of_spconv(0, 0, 0, 1, 0, 3, 3, 5), (9 * 3 + 0) * 5 + 0);
  EXPECT_EQ(baselines::leseg_index_of_spconv(0, 0, 1, 0, 0, 3, 3, 5), (3 * 3 + 0) * 5 + 0);
}

}  // namespace
