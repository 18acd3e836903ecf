// SPDX-License-Identifier: Apache-2.0
#include "io/geometry/normals.h"

#include <Eigen/Dense>

#include "io/geometry/neighbors.h"

namespace leseg::io {

Tensor estimate_normals(const Tensor& coords, const NormalOptions& opt) {
  LESEG_CHECK(coords.defined() && coords.ndim() == 2 && coords.size(1) == 3 && coords.dtype() == DType::f32,
              "estimate_normals: coords must be (N, 3) f32");
  LESEG_CHECK(opt.k >= 3, "estimate_normals: k must be >= 3, got ", opt.k);
  Tensor c = coords.device().is_cpu() ? coords : coords.to(Device::cpu());
  const int64_t n = c.size(0);
  Tensor out = Tensor::empty(Shape{n, 3}, DType::f32);
  if (n == 0) return out;
  KnnResult nn = NeighborIndex(c, opt.cell).knn(c, opt.k);
  const float* p = c.data<float>();
  const int32_t* idx = nn.idx.data<int32_t>();
  float* o = out.data<float>();
  const int k = opt.k;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    Eigen::Vector3d mean = Eigen::Vector3d::Zero();
    int m = 0;
    for (int j = 0; j < k; ++j) {
      const int32_t q = idx[i * k + j];
      if (q < 0) continue;
      mean += Eigen::Vector3d(p[3 * q], p[3 * q + 1], p[3 * q + 2]);
      ++m;
    }
    Eigen::Vector3d nrm(0, 0, 1);
    if (m >= 3) {
      mean /= m;
      Eigen::Matrix3d cov = Eigen::Matrix3d::Zero();
      for (int j = 0; j < k; ++j) {
        const int32_t q = idx[i * k + j];
        if (q < 0) continue;
        Eigen::Vector3d d = Eigen::Vector3d(p[3 * q], p[3 * q + 1], p[3 * q + 2]) - mean;
        cov += d * d.transpose();
      }
      Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> es(cov);
      nrm = es.eigenvectors().col(0).normalized();
    }
    double s;
    if (opt.viewpoint) {
      const auto& v = *opt.viewpoint;
      s = nrm.dot(Eigen::Vector3d(v[0] - p[3 * i], v[1] - p[3 * i + 1], v[2] - p[3 * i + 2]));
    } else {
      s = nrm.z() != 0 ? nrm.z() : (nrm.y() != 0 ? nrm.y() : nrm.x());
    }
    if (s < 0) nrm = -nrm;
    for (int a = 0; a < 3; ++a) o[3 * i + a] = float(nrm[a]);
  }
  return out;
}

}  // namespace leseg::io
