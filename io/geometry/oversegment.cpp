// SPDX-License-Identifier: Apache-2.0
#include "io/geometry/oversegment.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "io/geometry/neighbors.h"

namespace leseg::io {

namespace {
struct Dsu {
  std::vector<int32_t> parent, size;
  std::vector<float> thresh;
  explicit Dsu(int64_t n, float t0) : parent(size_t(n)), size(size_t(n), 1), thresh(size_t(n), t0) {
    std::iota(parent.begin(), parent.end(), 0);
  }
  int32_t find(int32_t x) {
    while (parent[size_t(x)] != x) {
      parent[size_t(x)] = parent[size_t(parent[size_t(x)])];
      x = parent[size_t(x)];
    }
    return x;
  }
  int32_t join(int32_t a, int32_t b) {
    if (size[size_t(a)] < size[size_t(b)] || (size[size_t(a)] == size[size_t(b)] && b < a)) std::swap(a, b);
    parent[size_t(b)] = a;
    size[size_t(a)] += size[size_t(b)];
    return a;
  }
};
struct Edge {
  float w;
  int32_t a, b;
};
}  // namespace

Tensor oversegment(const Tensor& coords, const Tensor& normals, const OversegmentOptions& opt) {
  LESEG_CHECK(coords.defined() && coords.ndim() == 2 && coords.size(1) == 3 && coords.dtype() == DType::f32,
              "oversegment: coords must be (N, 3) f32");
  LESEG_CHECK(normals.defined() && normals.dtype() == DType::f32 && normals.ndim() == 2 &&
                  normals.size(0) == coords.size(0) && normals.size(1) == 3,
              "oversegment: normals must be (N, 3) f32 matching coords ", coords.shape().str());
  LESEG_CHECK(opt.k >= 1 && opt.min_size >= 1 && opt.k_thresh >= 0.f, "oversegment: bad options");
  Tensor c = coords.device().is_cpu() ? coords : coords.to(Device::cpu());
  std::vector<float> nv = normals.to_vector<float>();
  const int64_t n = c.size(0);
  if (n == 0) return Tensor::empty(Shape{0}, DType::i32);
  LESEG_CHECK(n < (int64_t(1) << 31), "oversegment: too many points");
  const int k = int(std::min<int64_t>(opt.k + 1, n));
  KnnResult nn = NeighborIndex(c, opt.cell).knn(c, k);
  std::vector<int32_t> idx = nn.idx.to_vector<int32_t>();
  std::vector<Edge> edges;
  edges.reserve(size_t(n) * size_t(k));
  for (int64_t i = 0; i < n; ++i)
    for (int j = 0; j < k; ++j) {
      const int32_t q = idx[size_t(i * k + j)];
      if (q < 0 || q == i) continue;
      const int32_t* nq = idx.data() + size_t(q) * size_t(k);  // (q, i) already emitted from q's list: skip
      if (q < i && std::find(nq, nq + k, int32_t(i)) != nq + k) continue;
      const int32_t a = int32_t(std::min<int64_t>(i, q)), b = int32_t(std::max<int64_t>(i, q));
      const float* na = &nv[size_t(3 * a)];
      const float* nb = &nv[size_t(3 * b)];
      const double d = double(na[0]) * nb[0] + double(na[1]) * nb[1] + double(na[2]) * nb[2];
      edges.push_back({float(1.0 - std::fabs(d)), a, b});
    }
  std::sort(edges.begin(), edges.end(), [](const Edge& x, const Edge& y) {
    return x.w < y.w || (x.w == y.w && (x.a < y.a || (x.a == y.a && x.b < y.b)));
  });
  edges.erase(std::unique(edges.begin(), edges.end(),
                          [](const Edge& x, const Edge& y) { return x.a == y.a && x.b == y.b; }),
              edges.end());
  Dsu u(n, opt.k_thresh);
  for (const Edge& e : edges) {
    int32_t a = u.find(e.a), b = u.find(e.b);
    if (a == b) continue;
    if (e.w <= u.thresh[size_t(a)] && e.w <= u.thresh[size_t(b)]) {
      int32_t r = u.join(a, b);
      u.thresh[size_t(r)] = e.w + opt.k_thresh / float(u.size[size_t(r)]);
    }
  }
  for (const Edge& e : edges) {
    int32_t a = u.find(e.a), b = u.find(e.b);
    if (a != b && (u.size[size_t(a)] < opt.min_size || u.size[size_t(b)] < opt.min_size)) u.join(a, b);
  }
  std::vector<int32_t> id(static_cast<size_t>(n), -1), out(static_cast<size_t>(n));
  int32_t next = 0;
  for (int64_t i = 0; i < n; ++i) {
    int32_t r = u.find(int32_t(i));
    if (id[size_t(r)] < 0) id[size_t(r)] = next++;
    out[size_t(i)] = id[size_t(r)];
  }
  return Tensor::from_vector(out, Shape{n});
}

}  // namespace leseg::io
