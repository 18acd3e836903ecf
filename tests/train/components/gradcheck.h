// SPDX-License-Identifier: Apache-2.0
// A tiny central-difference gradient check for the component tests (f64 leaves on the CPU): compares the
// autograd gradient of a scalar loss with (L(x + ε) − L(x − ε)) / 2ε element by element and reports the
// first mismatches. The loss closure must rebuild its graph from the leaves on every call.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "engine/autograd.h"
#include "engine/tensor.h"

namespace leseg::testing {

inline void expect_gradcheck(const std::function<Tensor()>& loss_fn, const std::vector<Tensor>& leaves,
                             double atol = 1e-6, double rtol = 1e-5, double eps = 1e-6) {
  for (const Tensor& x : leaves) {
    ASSERT_EQ(x.dtype(), DType::f64);
    const_cast<Tensor&>(x).zero_grad();
  }
  Tensor L = loss_fn();
  L.backward();
  for (size_t li = 0; li < leaves.size(); ++li) {
    const Tensor& x = leaves[li];
    ASSERT_TRUE(x.grad().defined()) << "leaf " << li << " got no gradient";
    std::vector<double> g = x.grad().to_vector<double>();
    double* p = x.data<double>();
    int bad = 0;
    double gmax = 0.0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double keep = p[i];
      double lp, lm;
      {
        NoGradGuard ng;
        p[i] = keep + eps;
        x.bump_version();
        lp = loss_fn().item_double();
        p[i] = keep - eps;
        x.bump_version();
        lm = loss_fn().item_double();
        p[i] = keep;
        x.bump_version();
      }
      const double fd = (lp - lm) / (2 * eps);
      gmax = std::max(gmax, std::abs(fd));
      if (std::abs(fd - g[size_t(i)]) > atol + rtol * std::abs(fd) && bad++ < 5)
        ADD_FAILURE() << "leaf " << li << " element " << i << ": autograd " << g[size_t(i)] << " vs finite difference "
                      << fd;
    }
    EXPECT_EQ(bad, 0) << "leaf " << li << ": " << bad << " mismatching elements";
    EXPECT_GT(gmax, 1e-8) << "leaf " << li << ": gradient is trivially zero";
  }
}

}  // namespace leseg::testing
