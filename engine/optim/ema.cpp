// SPDX-License-Identifier: Apache-2.0
#include "engine/optim/ema.h"

#include <string>

#include "engine/autograd.h"
#include "kernels/optim/optim.h"

namespace leseg {

namespace {
void check_pair(const Tensor& t, const Tensor& s, const std::string& what) {
  LESEG_CHECK(t.defined() && s.defined(), "ema_update: ", what, " is undefined");
  LESEG_CHECK(t.shape() == s.shape(), "ema_update: ", what, ": teacher shape ", t.shape().str(), " vs student ",
              s.shape().str());
  LESEG_CHECK(t.dtype() == s.dtype(), "ema_update: ", what, ": teacher dtype ", dtype_name(t.dtype()), " vs student ",
              dtype_name(s.dtype()));
  LESEG_CHECK(t.device() == s.device(), "ema_update: ", what, ": teacher on ", t.device().str(), ", student on ",
              s.device().str());
}

void ema_one(const Tensor& t, const Tensor& s, double m) {
  Device d = t.device();
  int64_t n = t.numel();
  LESEG_DISPATCH_FLOAT(t.dtype(), "ema_update", {
    LESEG_DISPATCH_DEVICE(d, "ema_update", kernels::ema_update_cpu<scalar_t>(t.data<scalar_t>(), s.data<scalar_t>(), n, scalar_t(m)),
                          kernels::ema_update_cuda<scalar_t>(t.data<scalar_t>(), s.data<scalar_t>(), n, scalar_t(m),
                                                             current_stream(d)));
  });
  t.bump_version();
}

void update(const Tensor& t, const Tensor& s, double m, bool ema) {
  if (ema && (t.dtype() == DType::f32 || t.dtype() == DType::f64)) {
    ema_one(t, s, m);
  } else {
    Tensor td = t.detach();
    td.copy_(s);
  }
}
}  // namespace

void ema_update(const std::vector<Tensor>& teacher, const std::vector<Tensor>& student, double momentum) {
  LESEG_CHECK(momentum >= 0 && momentum <= 1, "ema_update: momentum ", momentum, " outside [0, 1]");
  LESEG_CHECK(teacher.size() == student.size(), "ema_update: ", teacher.size(), " teacher tensors vs ", student.size(),
              " student tensors");
  for (size_t i = 0; i < teacher.size(); ++i) check_pair(teacher[i], student[i], "tensor " + std::to_string(i));
  NoGradGuard ng;
  for (size_t i = 0; i < teacher.size(); ++i) update(teacher[i], student[i], momentum, true);
}

void ema_update(Module& teacher, const Module& student, double momentum, EmaBuffers buffers) {
  LESEG_CHECK(momentum >= 0 && momentum <= 1, "ema_update: momentum ", momentum, " outside [0, 1]");
  auto tp = teacher.named_parameters(), sp = student.named_parameters();
  auto tb = teacher.named_buffers(), sb = student.named_buffers();
  LESEG_CHECK(tp.size() == sp.size(), "ema_update: teacher has ", tp.size(), " parameters, student ", sp.size());
  LESEG_CHECK(tb.size() == sb.size(), "ema_update: teacher has ", tb.size(), " buffers, student ", sb.size());
  for (size_t i = 0; i < tp.size(); ++i) {
    LESEG_CHECK(tp[i].first == sp[i].first, "ema_update: parameter ", i, " is '", tp[i].first, "' in the teacher, '",
                sp[i].first, "' in the student");
    check_pair(tp[i].second, sp[i].second, "'" + tp[i].first + "'");
  }
  for (size_t i = 0; i < tb.size(); ++i) {
    LESEG_CHECK(tb[i].first == sb[i].first, "ema_update: buffer ", i, " is '", tb[i].first, "' in the teacher, '",
                sb[i].first, "' in the student");
    check_pair(tb[i].second, sb[i].second, "'" + tb[i].first + "'");
  }
  NoGradGuard ng;
  for (size_t i = 0; i < tp.size(); ++i) update(tp[i].second, sp[i].second, momentum, true);
  for (size_t i = 0; i < tb.size(); ++i) update(tb[i].second, sb[i].second, momentum, buffers == EmaBuffers::ema);
}

}  // namespace leseg
