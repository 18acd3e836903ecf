// SPDX-License-Identifier: Apache-2.0
// Shape: up to 6 dimensions, stored inline. Row-major (C order) strides are implied: all tensors are
// contiguous, and views (reshape, narrow along dim 0) share storage with an offset.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "engine/error.h"

namespace leseg {

constexpr int kMaxDims = 6;

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(const std::vector<int64_t>& dims) { assign(dims.begin(), dims.end()); }

  int ndim() const { return n_; }
  int64_t operator[](int i) const { return d_[i]; }
  int64_t& operator[](int i) { return d_[i]; }
  // Size of dimension d; negative d counts from the end.
  int64_t size(int d) const { return d_[norm_dim(d)]; }
  int norm_dim(int d) const {
    int nd = d < 0 ? d + n_ : d;
    LESEG_CHECK(nd >= 0 && nd < n_, "dimension ", d, " out of range for shape ", str());
    return nd;
  }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < n_; ++i) n *= d_[i];
    return n;
  }
  // Product of dims [begin, end).
  int64_t prod(int begin, int end) const {
    int64_t n = 1;
    for (int i = begin; i < end; ++i) n *= d_[i];
    return n;
  }
  void push_back(int64_t v) {
    LESEG_CHECK(n_ < kMaxDims, "shape ", str(), ": at most ", kMaxDims, " dimensions");
    LESEG_CHECK(v >= -1, "shape: negative dimension ", v, " (only -1, meaning 'infer', is allowed in reshape)");
    d_[n_++] = v;
  }
  std::vector<int64_t> vec() const { return std::vector<int64_t>(d_.begin(), d_.begin() + n_); }
  const int64_t* begin() const { return d_.data(); }
  const int64_t* end() const { return d_.data() + n_; }
  bool operator==(const Shape& o) const {
    if (n_ != o.n_) return false;
    for (int i = 0; i < n_; ++i)
      if (d_[i] != o.d_[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const {
    std::string s = "(";
    for (int i = 0; i < n_; ++i) s += (i ? ", " : "") + std::to_string(d_[i]);
    if (n_ == 1) s += ",";
    return s + ")";
  }

 private:
  template <class It>
  void assign(It b, It e) {
    n_ = 0;
    for (; b != e; ++b) push_back(*b);
  }
  std::array<int64_t, kMaxDims> d_{};
  int n_ = 0;
};

}  // namespace leseg
