// SPDX-License-Identifier: Apache-2.0
// Shared steps of the harness tests (inputs, weighted backward, finite differences, comparisons).
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/engine/ops/op_harness.h"

namespace leseg::testing {

std::vector<Tensor> make_inputs(const OpCase& c, DType float_dtype, Device d);
std::vector<Tensor> loss_weights(const std::vector<Tensor>& outs, DType float_dtype, Device d);
void backward_weighted(const std::vector<Tensor>& outs, const std::vector<Tensor>& weights);
std::vector<Tensor> input_grads(const std::vector<Tensor>& inputs);
std::vector<Tensor> numeric_grads(const OpCase& c, const std::vector<Tensor>& inputs, const std::vector<Tensor>& weights);
bool any_nonzero(const std::vector<Tensor>& ts);
// Element-wise |a - b| <= atol + rtol |b|; returns failures described (first 8).
std::string compare(const Tensor& a, const Tensor& ref, double atol, double rtol, const std::string& what);
std::string case_name(const ::testing::TestParamInfo<OpCase>& info);

}  // namespace leseg::testing
