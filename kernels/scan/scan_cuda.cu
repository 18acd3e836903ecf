// SPDX-License-Identifier: Apache-2.0
#include <cub/device/device_scan.cuh>

#include "kernels/common/check.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/scan/scan.h"

namespace leseg::kernels {
namespace {
size_t cub_bytes(int64_t n) {
  size_t bytes = 0;
  LESEG_CUDA_CHECK(cub::DeviceScan::InclusiveSum(nullptr, bytes, static_cast<const int64_t*>(nullptr),
                                                 static_cast<int64_t*>(nullptr), n));
  size_t ex = 0;
  LESEG_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, ex, static_cast<const int64_t*>(nullptr),
                                                 static_cast<int64_t*>(nullptr), n));
  return bytes > ex ? bytes : ex;
}
}  // namespace

size_t cumsum_i64_cuda_workspace_bytes(int64_t n) { return n > 0 ? cub_bytes(n) : 0; }

template <class T>
void cumsum_i64_cuda(const T* x, int64_t n, bool exclusive, int64_t* out, void* ws, size_t ws_bytes, StreamHandle s) {
  if (n <= 0) return;
  size_t need = cub_bytes(n);
  LESEG_KCHECK(ws_bytes >= need, "cumsum (CUDA): workspace of ", ws_bytes, " bytes is smaller than ", need);
  if (static_cast<const void*>(x) != static_cast<const void*>(out)) {
    cuda::for_each(n, [=] __device__(int64_t i) { out[i] = int64_t(x[i]); }, s, "leseg::cumsum_widen");
  }
  // In place over the widened values (CUB's scans support d_in == d_out).
  if (exclusive)
    LESEG_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(ws, need, out, out, n, cuda::stream_of(s)));
  else
    LESEG_CUDA_CHECK(cub::DeviceScan::InclusiveSum(ws, need, out, out, n, cuda::stream_of(s)));
}

template void cumsum_i64_cuda<int32_t>(const int32_t*, int64_t, bool, int64_t*, void*, size_t, StreamHandle);
template void cumsum_i64_cuda<int64_t>(const int64_t*, int64_t, bool, int64_t*, void*, size_t, StreamHandle);
template void cumsum_i64_cuda<uint8_t>(const uint8_t*, int64_t, bool, int64_t*, void*, size_t, StreamHandle);

}  // namespace leseg::kernels
