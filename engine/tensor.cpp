// SPDX-License-Identifier: Apache-2.0
#include "engine/tensor.h"

#include <ostream>

#include "engine/autograd.h"
#include "engine/host_sync.h"
#include "engine/rng.h"
#include "kernels/cast/cast.h"
#include "kernels/common/philox_math.h"
#include "kernels/common/all_types.h"
#include "kernels/fill/fill.h"
#include "kernels/random/random.h"

namespace leseg {

namespace {
std::shared_ptr<TensorImpl> make_impl(const Shape& s, DType t, Device d) {
  for (int i = 0; i < s.ndim(); ++i) LESEG_CHECK(s[i] >= 0, "tensor shape ", s.str(), " has a negative dimension");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(s.numel()) * dtype_size(t), d);
  impl->shape = s;
  impl->dtype = t;
  return impl;
}

template <class T>
T from_double(double v) {
  return Convert<T, double>::apply(v);
}

void fill_raw(void* p, int64_t n, DType t, Device d, double value) {
  LESEG_DISPATCH_ALL(t, "fill", {
    scalar_t v = from_double<scalar_t>(value);
    LESEG_DISPATCH_DEVICE(d, "fill", kernels::fill_cpu<scalar_t>(static_cast<scalar_t*>(p), n, v),
                          kernels::fill_cuda<scalar_t>(static_cast<scalar_t*>(p), n, v, current_stream(d)));
  });
}

void cast_raw(const void* in, DType from, void* out, DType to, int64_t n, Device d) {
  LESEG_DISPATCH_ALL(from, "cast", {
    using from_t = scalar_t;
    LESEG_DISPATCH_ALL(to, "cast", {
      LESEG_DISPATCH_DEVICE(
          d, "cast", (kernels::cast_cpu<scalar_t, from_t>(static_cast<const from_t*>(in), static_cast<scalar_t*>(out), n)),
          (kernels::cast_cuda<scalar_t, from_t>(static_cast<const from_t*>(in), static_cast<scalar_t*>(out), n,
                                                current_stream(d))));
    });
  });
}

// New tensor sharing storage with `t` (view), no autograd state.
Tensor alias(const Tensor& t, const Shape& s, size_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.impl()->storage;
  impl->offset = offset;
  impl->shape = s;
  impl->dtype = t.dtype();
  return Tensor(impl);
}
}  // namespace

void Tensor::check_defined(const char* what) const {
  LESEG_CHECK(impl_ != nullptr, what, ": tensor is undefined");
}

Tensor Tensor::empty(const Shape& s, DType t, Device d) { return Tensor(make_impl(s, t, d)); }
Tensor Tensor::full(const Shape& s, double value, DType t, Device d) {
  Tensor r = empty(s, t, d);
  fill_raw(r.data_ptr(), r.numel(), t, d, value);
  return r;
}
Tensor Tensor::zeros(const Shape& s, DType t, Device d) { return full(s, 0.0, t, d); }
Tensor Tensor::ones(const Shape& s, DType t, Device d) { return full(s, 1.0, t, d); }
Tensor Tensor::arange(int64_t n, DType t, Device d) {
  Tensor r = empty(Shape{n}, DType::f64, Device::cpu());
  double* p = r.data<double>();
  for (int64_t i = 0; i < n; ++i) p[i] = double(i);
  r = r.to(t);
  return d.is_cpu() ? r : r.to(d);
}
Tensor Tensor::rand(const Shape& s, uint64_t seed, uint64_t sub, DType t, Device d) {
  Generator g(seed, sub);
  return leseg::rand(s, g, t, d);
}
Tensor Tensor::randn(const Shape& s, uint64_t seed, uint64_t sub, DType t, Device d) {
  Generator g(seed, sub);
  return leseg::randn(s, g, t, d);
}

const Shape& Tensor::shape() const {
  check_defined("shape");
  return impl_->shape;
}
DType Tensor::dtype() const {
  check_defined("dtype");
  return impl_->dtype;
}
Device Tensor::device() const {
  check_defined("device");
  return impl_->storage->device();
}
const void* Tensor::storage_id() const { return impl_ ? impl_->storage.get() : nullptr; }
void* Tensor::data_ptr() const {
  check_defined("data_ptr");
  return static_cast<char*>(impl_->storage->data()) + impl_->offset;
}
std::string Tensor::str() const {
  if (!impl_) return "Tensor(undefined)";
  return std::string("Tensor(") + dtype_name(dtype()) + ", " + device().str() + ", " + shape().str() + ")";
}
double Tensor::item_double() const { return item<double>(); }

Tensor Tensor::to(Device d) const {
  check_defined("to(device)");
  if (d == device()) return *this;
  Tensor r = empty(shape(), dtype(), d);
  copy_bytes(r.data_ptr(), d, data_ptr(), device(), nbytes());
  Device src = device();
  return record("to_device", {*this}, r, [src](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0].to(src)}; });
}

Tensor Tensor::to(DType t) const {
  check_defined("to(dtype)");
  if (t == dtype()) return *this;
  Tensor r = empty(shape(), t, device());
  cast_raw(data_ptr(), dtype(), r.data_ptr(), t, numel(), device());
  if (!(is_floating(t) && is_floating(dtype()))) return r;
  DType src = dtype();
  return record("cast", {*this}, r, [src](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0].to(src)}; });
}

Tensor Tensor::clone() const {
  check_defined("clone");
  Tensor r = empty(shape(), dtype(), device());
  detail::DeviceCopyScope dc;  // storage to storage: a device-side copy, not a host read
  copy_bytes(r.data_ptr(), device(), data_ptr(), device(), nbytes());
  return record("clone", {*this}, r, [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
}

void Tensor::copy_(const Tensor& src) {
  check_defined("copy_");
  LESEG_CHECK(src.shape() == shape(), "copy_: source shape ", src.shape().str(), " != destination ", shape().str());
  LESEG_CHECK(src.dtype() == dtype(), "copy_: source dtype ", dtype_name(src.dtype()), " != destination ", dtype_name(dtype()));
  detail::DeviceCopyScope dc;  // storage to storage (a real device->host copy still counts: engine/allocator.cpp)
  copy_bytes(data_ptr(), device(), src.data_ptr(), src.device(), nbytes());
  bump_version();
}

void Tensor::fill_(double value) {
  check_defined("fill_");
  fill_raw(data_ptr(), numel(), dtype(), device(), value);
  bump_version();
}

Tensor Tensor::reshape(const Shape& s) const {
  check_defined("reshape");
  Shape out;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < s.ndim(); ++i) {
    if (s[i] == -1) {
      LESEG_CHECK(infer < 0, "reshape: more than one -1 in ", s.str());
      infer = i;
    }
  }
  std::vector<int64_t> dims;
  for (int i = 0; i < s.ndim(); ++i) {
    if (i != infer) known *= s[i];
    dims.push_back(s[i]);
  }
  if (infer >= 0) {
    LESEG_CHECK(known > 0 && numel() % known == 0, "reshape: cannot infer -1 in ", s.str(), " for ", numel(), " elements");
    dims[infer] = numel() / known;
  }
  out = Shape(dims);
  LESEG_CHECK(out.numel() == numel(), "reshape: shape ", shape().str(), " (", numel(), " elements) cannot become ", out.str());
  Tensor r = alias(*this, out, impl_->offset);
  Shape in_shape = shape();
  return record("reshape", {*this}, r, [in_shape](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0].reshape(in_shape)}; });
}

Tensor Tensor::unsqueeze(int dim) const {
  std::vector<int64_t> d = shape().vec();
  int nd = dim < 0 ? dim + ndim() + 1 : dim;
  LESEG_CHECK(nd >= 0 && nd <= ndim(), "unsqueeze: dim ", dim, " out of range for ", shape().str());
  d.insert(d.begin() + nd, 1);
  return reshape(Shape(d));
}
Tensor Tensor::squeeze(int dim) const {
  int nd = shape().norm_dim(dim);
  LESEG_CHECK(shape()[nd] == 1, "squeeze: dim ", dim, " of ", shape().str(), " is not 1");
  std::vector<int64_t> d = shape().vec();
  d.erase(d.begin() + nd);
  return reshape(Shape(d));
}

Tensor Tensor::narrow(int64_t start, int64_t length) const {
  check_defined("narrow");
  LESEG_CHECK(ndim() >= 1, "narrow: scalar tensor");
  LESEG_CHECK(start >= 0 && length >= 0 && start + length <= size(0), "narrow: rows [", start, ", ", start + length,
              ") out of range for shape ", shape().str());
  Shape s = shape();
  s[0] = length;
  size_t row_bytes = size_t(shape().prod(1, ndim())) * dtype_size(dtype());
  Tensor r = alias(*this, s, impl_->offset + size_t(start) * row_bytes);
  Shape full_shape = shape();
  return record("narrow", {*this}, r, [full_shape, start, row_bytes](const std::vector<Tensor>& g) {
    Tensor gi = Tensor::zeros(full_shape, g[0].dtype(), g[0].device());
    detail::DeviceCopyScope dc;
    copy_bytes(static_cast<char*>(gi.data_ptr()) + size_t(start) * row_bytes, gi.device(), g[0].data_ptr(),
               g[0].device(), g[0].nbytes());
    return std::vector<Tensor>{gi};
  });
}
Tensor Tensor::select(int64_t index) const {
  LESEG_CHECK(ndim() >= 1, "select: scalar tensor");
  LESEG_CHECK(index >= 0 && index < size(0), "select: index ", index, " out of range for shape ", shape().str());
  std::vector<int64_t> d = shape().vec();
  d.erase(d.begin());
  return narrow(index, 1).reshape(Shape(d));
}

bool Tensor::requires_grad() const { return impl_ && (impl_->requires_grad || impl_->grad_fn); }
Tensor& Tensor::requires_grad_(bool on) {
  check_defined("requires_grad_");
  LESEG_CHECK(!impl_->grad_fn, "requires_grad_: only leaf tensors can be marked (this one comes from ",
              impl_->grad_fn->name, "); use detach() first");
  LESEG_CHECK(!on || is_floating(dtype()), "requires_grad_: dtype ", dtype_name(dtype()), " cannot require gradients");
  impl_->requires_grad = on;
  return *this;
}
bool Tensor::is_leaf() const { return impl_ && !impl_->grad_fn; }
Tensor Tensor::grad() const {
  check_defined("grad");
  return impl_->grad ? Tensor(impl_->grad) : Tensor();
}
void Tensor::set_grad(const Tensor& g) {
  check_defined("set_grad");
  if (g.defined())
    LESEG_CHECK(g.shape() == shape() && g.dtype() == dtype(), "set_grad: gradient ", g.str(), " does not match ", str());
  impl_->grad = g.impl();
}
void Tensor::zero_grad() {
  if (impl_) impl_->grad.reset();
}
const std::shared_ptr<Node>& Tensor::grad_fn() const {
  check_defined("grad_fn");
  return impl_->grad_fn;
}
int Tensor::output_nr() const { return impl_ ? impl_->output_nr : 0; }

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  check_defined("backward");
  Tensor g = grad;
  if (!g.defined()) {
    LESEG_CHECK(numel() == 1, "backward(): tensor of shape ", shape().str(),
                " is not a scalar; pass a gradient of the same shape");
    g = Tensor::ones(shape(), dtype(), device());
  }
  run_backward({*this}, {g}, retain_graph);
}

Tensor Tensor::detach() const {
  check_defined("detach");
  return alias(*this, shape(), impl_->offset);
}
void Tensor::bump_version() const {
  check_defined("bump_version");
  impl_->storage->bump_version();
}
uint64_t Tensor::version() const {
  check_defined("version");
  return impl_->storage->version();
}

Tensor empty_like(const Tensor& like) { return Tensor::empty(like.shape(), like.dtype(), like.device()); }
Tensor zeros_like(const Tensor& like) { return Tensor::zeros(like.shape(), like.dtype(), like.device()); }
Tensor ones_like(const Tensor& like) { return Tensor::ones(like.shape(), like.dtype(), like.device()); }

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  os << t.str();
  if (t.defined() && t.numel() <= 64 && t.numel() > 0) {
    auto v = t.to_vector<double>();
    os << " [";
    for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
    os << "]";
  }
  return os;
}

// ---- rng.h ----------------------------------------------------------------------------------------
Generator& default_generator() {
  static Generator g(0x1e5e6ULL);
  return g;
}
void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

Tensor rand(const Shape& s, Generator& g, DType t, Device d) {
  Tensor r = Tensor::empty(s, t, d);
  int64_t n = r.numel();
  const kernels::PhiloxOffset off = g.reserve(uint64_t(n), d, "rand");
  LESEG_DISPATCH_FLOAT(t, "rand", {
    LESEG_DISPATCH_DEVICE(d, "rand", kernels::uniform_cpu<scalar_t>(r.data<scalar_t>(), n, g.seed(), g.subsequence(), off),
                          kernels::uniform_cuda<scalar_t>(r.data<scalar_t>(), n, g.seed(), g.subsequence(), off, current_stream(d)));
  });
  return r;
}
Tensor randn(const Shape& s, Generator& g, DType t, Device d) {
  Tensor r = Tensor::empty(s, t, d);
  int64_t n = r.numel();
  const kernels::PhiloxOffset off = g.reserve(uint64_t(n), d, "randn");
  LESEG_DISPATCH_FLOAT(t, "randn", {
    LESEG_DISPATCH_DEVICE(d, "randn", kernels::normal_cpu<scalar_t>(r.data<scalar_t>(), n, g.seed(), g.subsequence(), off),
                          kernels::normal_cuda<scalar_t>(r.data<scalar_t>(), n, g.seed(), g.subsequence(), off, current_stream(d)));
  });
  return r;
}
Tensor uniform(const Shape& s, double lo, double hi, Generator& g, DType t, Device d) {
  g.check_host_draw("uniform");
  Tensor u = rand(s, g, t, Device::cpu());
  LESEG_DISPATCH_FLOAT(t, "uniform", {
    scalar_t* p = u.data<scalar_t>();
    // rand is in (0, 1]; map 1 - u to [0, 1) so that hi is excluded.
    for (int64_t i = 0; i < u.numel(); ++i) p[i] = scalar_t(lo + (hi - lo) * (1.0 - double(p[i])));
  });
  return d.is_cpu() ? u : u.to(d);
}
Tensor randperm(int64_t n, Generator& g) {
  g.check_host_draw("randperm");
  Tensor r = Tensor::arange(n, DType::i64);
  int64_t* p = r.data<int64_t>();
  uint64_t off = g.advance(uint64_t(n) * 2);
  for (int64_t i = n - 1; i > 0; --i) {
    uint64_t a = philox::random_u32(g.seed(), g.subsequence(), off + 2 * uint64_t(i));
    uint64_t b = philox::random_u32(g.seed(), g.subsequence(), off + 2 * uint64_t(i) + 1);
    int64_t j = int64_t(((a << 32) | b) % uint64_t(i + 1));
    std::swap(p[i], p[j]);
  }
  return r;
}
Tensor bernoulli_mask(const Shape& s, double keep_prob, Generator& g, Device d) {
  Tensor m = Tensor::empty(s, DType::u8, d);
  int64_t n = m.numel();
  const kernels::PhiloxOffset off = g.reserve(uint64_t(n), d, "bernoulli_mask");
  LESEG_DISPATCH_DEVICE(d, "bernoulli_mask",
                        kernels::bernoulli_mask_cpu(m.data<uint8_t>(), n, float(keep_prob), g.seed(), g.subsequence(), off),
                        kernels::bernoulli_mask_cuda(m.data<uint8_t>(), n, float(keep_prob), g.seed(), g.subsequence(), off,
                                                     current_stream(d)));
  return m;
}

}  // namespace leseg
