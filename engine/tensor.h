// SPDX-License-Identifier: Apache-2.0
// Tensor: a shared handle to (storage, byte offset, shape, dtype) plus autograd state.
// Invariants: storage is contiguous row-major; a view (reshape, narrow/select along dim 0, detach)
// shares storage; everything else makes a new tensor. Copies between devices are explicit: to(device).
#pragma once
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/shape.h"

namespace leseg {

struct Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories ----
  static Tensor empty(const Shape& s, DType t = DType::f32, Device d = Device::cpu());
  static Tensor zeros(const Shape& s, DType t = DType::f32, Device d = Device::cpu());
  static Tensor ones(const Shape& s, DType t = DType::f32, Device d = Device::cpu());
  static Tensor full(const Shape& s, double value, DType t = DType::f32, Device d = Device::cpu());
  // 0, 1, ..., n-1
  static Tensor arange(int64_t n, DType t = DType::i64, Device d = Device::cpu());
  // Counter-based random draws: element i uses Philox stream (seed, subsequence) at index i, so the
  // same call gives identical uniforms on CPU and CUDA (normals within a few ulp of libm).
  static Tensor rand(const Shape& s, uint64_t seed, uint64_t subsequence = 0, DType t = DType::f32,
                     Device d = Device::cpu());
  static Tensor randn(const Shape& s, uint64_t seed, uint64_t subsequence = 0, DType t = DType::f32,
                      Device d = Device::cpu());
  template <class T>
  static Tensor from_vector(const std::vector<T>& v, const Shape& s, Device d = Device::cpu()) {
    LESEG_CHECK(int64_t(v.size()) == s.numel(), "from_vector: ", v.size(), " values for shape ", s.str());
    Tensor t = empty(s, dtype_v<T>, Device::cpu());
    if (!v.empty()) {
      if constexpr (std::is_same_v<T, bool>) {
        bool* p = t.data<bool>();
        for (size_t i = 0; i < v.size(); ++i) p[i] = v[i];
      } else {
        std::memcpy(t.data_ptr(), v.data(), v.size() * sizeof(T));
      }
    }
    return d.is_cpu() ? t : t.to(d);
  }
  template <class T>
  static Tensor scalar(T v, Device d = Device::cpu()) { return from_vector<T>({v}, Shape{}, d); }

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int ndim() const { return shape().ndim(); }
  int64_t size(int d) const { return shape().size(d); }
  int64_t numel() const { return shape().numel(); }
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype()); }
  std::string str() const;  // "Tensor(f32, cpu, (2, 3))"
  // Stable identity of the storage (for tests: views share it).
  const void* storage_id() const;

  // ---- data ----
  void* data_ptr() const;
  template <class T>
  T* data() const {
    LESEG_CHECK(dtype() == dtype_v<T>, "data<", dtype_name(dtype_v<T>), ">() on a tensor of dtype ", dtype_name(dtype()));
    return static_cast<T*>(data_ptr());
  }
  // Copy to host and return the values (any device).
  template <class T>
  std::vector<T> to_vector() const {
    Tensor c = dtype() == dtype_v<T> ? *this : to(dtype_v<T>);
    std::vector<T> out(size_t(c.numel()));
    if (!out.empty()) {
      if constexpr (std::is_same_v<T, bool>) {
        std::vector<uint8_t> tmp(out.size());
        copy_bytes(tmp.data(), Device::cpu(), c.data_ptr(), c.device(), tmp.size());
        for (size_t i = 0; i < out.size(); ++i) out[i] = tmp[i] != 0;
      } else {
        copy_bytes(out.data(), Device::cpu(), c.data_ptr(), c.device(), out.size() * sizeof(T));
      }
    }
    return out;
  }
  template <class T>
  T item() const {
    LESEG_CHECK(numel() == 1, "item(): tensor of shape ", shape().str(), " has ", numel(), " elements, not 1");
    return to_vector<T>()[0];
  }
  double item_double() const;

  // ---- conversions and copies ----
  Tensor to(Device d) const;  // differentiable
  Tensor to(DType t) const;   // differentiable between floating types
  Tensor clone() const;       // differentiable deep copy
  // Copy values of `src` (same shape and dtype, any device) into this tensor's storage, outside autograd.
  void copy_(const Tensor& src);
  void fill_(double value);
  void zero_() { fill_(0.0); }

  // ---- views (differentiable, share storage) ----
  Tensor reshape(const Shape& s) const;  // one dimension may be -1
  Tensor view(const Shape& s) const { return reshape(s); }
  Tensor flatten() const { return reshape(Shape{numel()}); }
  Tensor unsqueeze(int dim) const;
  Tensor squeeze(int dim) const;
  Tensor narrow(int64_t start, int64_t length) const;  // rows [start, start+length) of dim 0
  Tensor select(int64_t index) const;                  // row `index` of dim 0, dim removed

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const;
  Tensor grad() const;
  void set_grad(const Tensor& g);
  void zero_grad();
  const std::shared_ptr<Node>& grad_fn() const;
  int output_nr() const;
  // Backpropagate from this tensor. Without `grad`, the tensor must have one element (gradient 1).
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;  // shares storage, no history
  // Marks an in-place write to the storage (optimizers, copy_): tensors saved for backward notice.
  void bump_version() const;
  uint64_t version() const;

  std::shared_ptr<TensorImpl>& impl() { return impl_; }
  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  void check_defined(const char* what) const;
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;  // bytes into storage
  Shape shape;
  DType dtype = DType::f32;
  bool requires_grad = false;  // leaf flag (set by the user / Parameter)
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;
  int output_nr = 0;
};

// Allocates a tensor with the same shape/dtype/device as `like` (no autograd).
Tensor empty_like(const Tensor& like);
Tensor zeros_like(const Tensor& like);
Tensor ones_like(const Tensor& like);

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace leseg
