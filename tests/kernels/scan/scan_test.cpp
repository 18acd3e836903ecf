// SPDX-License-Identifier: Apache-2.0
// Integer prefix sums (kernels/scan, engine cumsum): the CPU twin against a direct sum per element, inclusive and
// exclusive, every input dtype, in place; the op's shape, dtype and errors; and the rank of selected elements, what
// the regimes use it for (the k-th element of a mask gets k).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "engine/error.h"
#include "engine/host_sync.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/ops/reduce.h"
#include "kernels/scan/scan.h"

using namespace leseg;

namespace {
std::vector<int64_t> direct(const std::vector<int64_t>& x, bool exclusive) {
  std::vector<int64_t> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t s = 0;
    for (size_t j = 0; j < i + (exclusive ? 0 : 1); ++j) s += x[j];
    out[i] = s;
  }
  return out;
}
}  // namespace

TEST(Scan, CpuTwinIsTheDirectSum) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < 257; ++i) v.push_back((i * 7919) % 23 - 11);
  v.push_back(int64_t(1) << 40);  // beyond i32
  v.push_back(-(int64_t(1) << 40));
  for (bool ex : {false, true}) {
    std::vector<int64_t> out(v.size());
    kernels::cumsum_i64_cpu<int64_t>(v.data(), int64_t(v.size()), ex, out.data());
    EXPECT_EQ(out, direct(v, ex)) << (ex ? "exclusive" : "inclusive");
    std::vector<int64_t> inplace = v;  // out aliasing the input
    kernels::cumsum_i64_cpu<int64_t>(inplace.data(), int64_t(inplace.size()), ex, inplace.data());
    EXPECT_EQ(inplace, out);
    std::vector<int32_t> v32(v.begin(), v.begin() + 257);
    std::vector<int64_t> o32(v32.size());
    kernels::cumsum_i64_cpu<int32_t>(v32.data(), int64_t(v32.size()), ex, o32.data());
    EXPECT_EQ(o32, direct(std::vector<int64_t>(v32.begin(), v32.end()), ex));
  }
}

TEST(Scan, OpOnEveryDtypeAndItsErrors) {
  const std::vector<int64_t> v = {3, 0, -2, 5, 1, 1, 0, 7};
  const Tensor x = Tensor::from_vector(v, Shape{8});
  for (bool ex : {false, true}) {
    const Tensor y = cumsum(x, ex);
    EXPECT_EQ(y.dtype(), DType::i64);
    EXPECT_EQ(y.shape(), (Shape{8}));
    EXPECT_EQ(y.to_vector<int64_t>(), direct(v, ex));
    EXPECT_EQ(cumsum(x.to(DType::i32), ex).to_vector<int64_t>(), direct(v, ex));
    // A mask (u8 from a comparison, and bool): the exclusive sum ranks the selected elements.
    const Tensor m = gt(x, 0.0);
    std::vector<int64_t> mv;
    for (int64_t a : v) mv.push_back(a > 0);
    EXPECT_EQ(cumsum(m, ex).to_vector<int64_t>(), direct(mv, ex));
    EXPECT_EQ(cumsum(m.to(DType::b8), ex).to_vector<int64_t>(), direct(mv, ex));
  }
  // A transposed copy and a narrowed view are read in their logical order.
  const Tensor two = Tensor::from_vector<int64_t>({1, 10, 2, 20, 3, 30}, Shape{3, 2});
  EXPECT_EQ(cumsum(transpose(two, 0, 1).reshape(Shape{6})).to_vector<int64_t>(),
            (std::vector<int64_t>{1, 3, 6, 16, 36, 66}));
  EXPECT_EQ(cumsum(x.narrow(3, 4)).to_vector<int64_t>(), (std::vector<int64_t>{5, 6, 7, 7}));
  EXPECT_EQ(cumsum(Tensor::empty(Shape{0}, DType::i64)).numel(), 0);
  // Nothing is read back: the op is a device computation.
  {
    HostSyncCounter counter;
    (void)cumsum(x, true);
    EXPECT_EQ(counter.total(), 0) << counter.report();
  }
  auto message = [](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { (void)cumsum(two); }).find("must be 1-D"), std::string::npos);
  EXPECT_NE(message([&] { (void)cumsum(x.to(DType::f32)); }).find("dtype f32 not supported"), std::string::npos);
  EXPECT_NE(message([&] { (void)cumsum(Tensor()); }).find("undefined"), std::string::npos);
}
