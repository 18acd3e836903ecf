// SPDX-License-Identifier: Apache-2.0
// CUDA elementwise kernels: the same loop bodies as the CPU twin (elementwise_loops.h), launched by the
// checked grid-stride cuda::for_each on the caller's stream, one NVTX range per launch.
#include "kernels/common/cuda_utils.cuh"
#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/elementwise_dispatch.h"

namespace leseg::kernels {

namespace {
struct CudaLaunch {
  StreamHandle s;
  const char* name;
  template <class F>
  void operator()(int64_t n, const F& f) const {
    cuda::for_each(n, f, s, name);
  }
};

__global__ void one_hot_kernel_i64(const int64_t* idx, float* out, int64_t n, int64_t C, unsigned long long* bad) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n * C; t += int64_t(gridDim.x) * blockDim.x) {
    int64_t j = t / C, c = t % C;
    int64_t k = idx[j];
    out[t] = (k == c) ? 1.f : 0.f;
    if (c == 0 && (k < 0 || k >= C) && atomicCAS(bad, 0ull, 1ull) == 0ull) bad[1] = (unsigned long long)k;
  }
}
__global__ void one_hot_kernel_i32(const int32_t* idx, float* out, int64_t n, int64_t C, unsigned long long* bad) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n * C; t += int64_t(gridDim.x) * blockDim.x) {
    int64_t j = t / C, c = t % C;
    int64_t k = idx[j];
    out[t] = (k == c) ? 1.f : 0.f;
    if (c == 0 && (k < 0 || k >= C) && atomicCAS(bad, 0ull, 1ull) == 0ull) bad[1] = (unsigned long long)k;
  }
}
}  // namespace

template <class T>
void binary_forward_cuda(BinaryOp op, const T* a, const T* b, T* out, int64_t n, const BroadcastIndex* bi, StreamHandle s) {
  ew::binary_forward<T>(CudaLaunch{s, "leseg::binary_forward"}, op, a, b, out, n, bi);
}
template <class T>
void binary_backward_cuda(BinaryOp op, const T* a, const T* b, const T* g, T* ga, T* gb, int64_t n, const BroadcastIndex* bi,
                          StreamHandle s) {
  ew::binary_backward<T>(CudaLaunch{s, "leseg::binary_backward"}, op, a, b, g, ga, gb, n, bi);
}
template <class T>
void binary_scalar_forward_cuda(BinaryOp op, const T* x, T sv, bool scalar_first, T* out, int64_t n, StreamHandle s) {
  ew::binary_scalar_forward<T>(CudaLaunch{s, "leseg::binary_scalar_forward"}, op, x, sv, scalar_first, out, n);
}
template <class T>
void binary_scalar_backward_cuda(BinaryOp op, const T* x, T sv, bool scalar_first, const T* g, T* gx, int64_t n,
                                 StreamHandle s) {
  ew::binary_scalar_backward<T>(CudaLaunch{s, "leseg::binary_scalar_backward"}, op, x, sv, scalar_first, g, gx, n);
}
template <class T>
void unary_forward_cuda(UnaryOp op, const T* x, T* y, int64_t n, UnaryParams p, StreamHandle s) {
  ew::unary_forward<T>(CudaLaunch{s, "leseg::unary_forward"}, op, x, y, n, p);
}
template <class T>
void unary_backward_cuda(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, UnaryParams p, StreamHandle s) {
  ew::unary_backward<T>(CudaLaunch{s, "leseg::unary_backward"}, op, x, y, gy, gx, n, p);
}
template <class T>
void where_forward_cuda(const uint8_t* cond, const T* a, T a_value, const T* b, T* out, int64_t n, const BroadcastIndex& bi,
                        StreamHandle s) {
  cuda::for_each(n, ew::WhereFwd<T>{cond, a, a_value, b, out, bi}, s, "leseg::where_forward");
}
template <class T>
void where_backward_cuda(const uint8_t* cond, const T* g, T* ga, T* gb, int64_t n, const BroadcastIndex& bi, StreamHandle s) {
  if (!ga && !gb) return;
  cuda::for_each(n, ew::WhereBwd<T>{cond, g, ga, gb, bi}, s, "leseg::where_backward");
}
template <class T>
void broadcast_copy_cuda(const T* in, T* out, int64_t n, const BroadcastIndex& bi, StreamHandle s) {
  cuda::for_each(n, ew::BroadcastCopy<T>{in, out, bi}, s, "leseg::broadcast_copy");
}
template <>
void one_hot_cuda<int64_t>(const int64_t* idx, float* out, int64_t n, int64_t C, int64_t* bad, StreamHandle s) {
  if (n * C <= 0) return;
  cuda::NvtxRange r("leseg::one_hot");
  one_hot_kernel_i64<<<cuda::grid_for(n * C, 256), 256, 0, cuda::stream_of(s)>>>(idx, out, n, C,
                                                                                reinterpret_cast<unsigned long long*>(bad));
  LESEG_CUDA_CHECK_LAUNCH("leseg::one_hot");
}
template <>
void one_hot_cuda<int32_t>(const int32_t* idx, float* out, int64_t n, int64_t C, int64_t* bad, StreamHandle s) {
  if (n * C <= 0) return;
  cuda::NvtxRange r("leseg::one_hot");
  one_hot_kernel_i32<<<cuda::grid_for(n * C, 256), 256, 0, cuda::stream_of(s)>>>(idx, out, n, C,
                                                                                reinterpret_cast<unsigned long long*>(bad));
  LESEG_CUDA_CHECK_LAUNCH("leseg::one_hot");
}

#define X(T)                                                                                                       \
  template void binary_forward_cuda<T>(BinaryOp, const T*, const T*, T*, int64_t, const BroadcastIndex*, StreamHandle); \
  template void binary_backward_cuda<T>(BinaryOp, const T*, const T*, const T*, T*, T*, int64_t, const BroadcastIndex*, \
                                        StreamHandle);                                                             \
  template void binary_scalar_forward_cuda<T>(BinaryOp, const T*, T, bool, T*, int64_t, StreamHandle);             \
  template void binary_scalar_backward_cuda<T>(BinaryOp, const T*, T, bool, const T*, T*, int64_t, StreamHandle);  \
  template void unary_forward_cuda<T>(UnaryOp, const T*, T*, int64_t, UnaryParams, StreamHandle);                  \
  template void unary_backward_cuda<T>(UnaryOp, const T*, const T*, const T*, T*, int64_t, UnaryParams, StreamHandle); \
  template void where_forward_cuda<T>(const uint8_t*, const T*, T, const T*, T*, int64_t, const BroadcastIndex&,     \
                                      StreamHandle);                                                               \
  template void where_backward_cuda<T>(const uint8_t*, const T*, T*, T*, int64_t, const BroadcastIndex&, StreamHandle); \
  template void broadcast_copy_cuda<T>(const T*, T*, int64_t, const BroadcastIndex&, StreamHandle);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
