// SPDX-License-Identifier: Apache-2.0
#include "tests/engine/ops/harness_common.h"

#include <cmath>
#include <sstream>

#include "engine/autograd.h"
#include "engine/rng.h"

namespace leseg::testing {

std::vector<Tensor> make_inputs(const OpCase& c, DType fdt, Device d) {
  std::vector<Tensor> ins;
  uint64_t seed = std::hash<std::string>{}(c.op + "/" + c.name);
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const InputSpec& s = c.inputs[i];
    Tensor t = make_input(s, fdt, seed + 7919 * i);
    if (d.is_cuda()) t = t.to(d);
    if (s.grad && is_floating(t.dtype()) && s.gen != Gen::Index && s.gen != Gen::Mask) t.requires_grad_();
    ins.push_back(t);
  }
  return ins;
}

std::vector<Tensor> loss_weights(const std::vector<Tensor>& outs, DType fdt, Device d) {
  std::vector<Tensor> w;
  Generator g(12345);
  for (const auto& o : outs) {
    if (!o.defined() || !is_floating(o.dtype())) {
      w.emplace_back();
      continue;
    }
    Tensor t = uniform(o.shape(), -1.0, 1.0, g, DType::f64).to(fdt);
    w.push_back(d.is_cuda() ? t.to(d) : t);
  }
  return w;
}

void backward_weighted(const std::vector<Tensor>& outs, const std::vector<Tensor>& weights) {
  std::vector<Tensor> roots, grads;
  for (size_t k = 0; k < outs.size(); ++k)
    if (weights[k].defined() && needs_grad(outs[k])) roots.push_back(outs[k]), grads.push_back(weights[k]);
  if (!roots.empty()) run_backward(roots, grads, false);
}

std::vector<Tensor> input_grads(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> g;
  for (const auto& t : inputs) g.push_back(t.requires_grad() ? t.grad() : Tensor());
  return g;
}

namespace {
double weighted_loss(const OpCase& c, const std::vector<Tensor>& inputs, const std::vector<Tensor>& weights) {
  NoGradGuard ng;
  auto outs = c.fn(inputs);
  double s = 0;
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!weights[k].defined()) continue;
    auto o = outs[k].to_vector<double>();
    auto w = weights[k].to_vector<double>();
    for (size_t j = 0; j < o.size(); ++j) s += o[j] * w[j];
  }
  return s;
}
}  // namespace

std::vector<Tensor> numeric_grads(const OpCase& c, const std::vector<Tensor>& inputs, const std::vector<Tensor>& weights) {
  constexpr double eps = 1e-6;
  std::vector<Tensor> res;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) {
      res.emplace_back();
      continue;
    }
    Tensor g = Tensor::zeros(inputs[i].shape(), DType::f64);
    double* p = inputs[i].data<double>();
    for (int64_t j = 0; j < inputs[i].numel(); ++j) {
      double orig = p[j];
      p[j] = orig + eps;
      double lp = weighted_loss(c, inputs, weights);
      p[j] = orig - eps;
      double lm = weighted_loss(c, inputs, weights);
      p[j] = orig;
      g.data<double>()[j] = (lp - lm) / (2 * eps);
    }
    res.push_back(g);
  }
  return res;
}

bool any_nonzero(const std::vector<Tensor>& ts) {
  for (const auto& t : ts) {
    if (!t.defined() || t.numel() == 0) continue;
    for (double v : t.to_vector<double>())
      if (v != 0.0) return true;
  }
  return false;
}

std::string compare(const Tensor& a, const Tensor& ref, double atol, double rtol, const std::string& what) {
  std::ostringstream os;
  if (a.shape() != ref.shape()) {
    os << what << ": shape " << a.shape().str() << " vs " << ref.shape().str();
    return os.str();
  }
  auto va = a.to_vector<double>(), vr = ref.to_vector<double>();
  int bad = 0;
  for (size_t j = 0; j < va.size(); ++j) {
    bool ok = std::abs(va[j] - vr[j]) <= atol + rtol * std::abs(vr[j]) || (std::isnan(va[j]) && std::isnan(vr[j]));
    if (!ok && bad++ < 8) os << what << "[" << j << "]: " << va[j] << " vs reference " << vr[j] << "\n";
  }
  if (bad) os << what << ": " << bad << " of " << va.size() << " elements differ\n";
  return os.str();
}

std::string case_name(const ::testing::TestParamInfo<OpCase>& info) {
  std::string s = info.param.op + "_" + info.param.name;
  for (char& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s + "_" + std::to_string(info.index);
}

}  // namespace leseg::testing
