// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/all_types.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/device_error/device_error.h"
#include "kernels/index/index.h"

namespace leseg::kernels {

template <class T, class I>
void index_select_rows_cuda(const T* x, int64_t R, int64_t D, const I* idx, int64_t n, T* out, StreamHandle s) {
  cuda::for_each(
      n * D,
      [=] __device__(int64_t k) {
        // An out-of-range index was recorded by index_check_cuda (read once per step); its row reads as 0 here.
        const int64_t r = int64_t(idx[k / D]);
        out[k] = r >= 0 && r < R ? x[r * D + k % D] : T(0);
      },
      s, "leseg::index_select_rows");
}

template <class T, class I>
void index_add_rows_cuda(T* out, int64_t R, int64_t D, const I* idx, int64_t n, const T* src, StreamHandle s) {
  cuda::for_each(
      n * D,
      [=] __device__(int64_t k) {
        const int64_t r = int64_t(idx[k / D]);  // out of range: recorded by index_check_cuda, skipped here
        if (r >= 0 && r < R) atomicAdd(out + r * D + k % D, src[k]);
      },
      s,
      "leseg::index_add_rows");
}

template <class T>
void index_add_rows_csr_cuda(T* out, int64_t R, int64_t D, const int64_t* row_ptr, const int64_t* order, const T* src,
                             StreamHandle s) {
  cuda::for_each(
      R * D,
      [=] __device__(int64_t k) {
        const int64_t r = k / D, d = k % D;
        T acc = out[k];
        for (int64_t p = row_ptr[r]; p < row_ptr[r + 1]; ++p) acc += src[order[p] * D + d];
        out[k] = acc;
      },
      s, "leseg::index_add_rows_csr");
}

template <class I>
void index_check_cuda(const I* idx, int64_t n, int64_t R, int32_t code, StreamHandle s) {
  if (n <= 0) return;
  int dev = 0;
  LESEG_CUDA_CHECK(cudaGetDevice(&dev));
  DeviceErrorRecord* slot = device_error_slot_cuda(dev);
  cuda::for_each(
      n,
      [=] __device__(int64_t i) {
        const int64_t v = int64_t(idx[i]);
        if (v < 0 || v >= R) {
          if (atomicCAS(&slot->code, 0, code) == 0) {  // first writer wins
            slot->index = i;
            slot->value = v;
            slot->bound = R;
          }
        }
      },
      s, "leseg::index_check");
}

template <class I>
void index_first_bad_cuda(const I* idx, int64_t n, int64_t R, int64_t* first_bad, StreamHandle s) {
  auto* fb = reinterpret_cast<unsigned long long*>(first_bad);
  cuda::for_each(
      n,
      [=] __device__(int64_t i) {
        if (int64_t(idx[i]) < 0 || int64_t(idx[i]) >= R) atomicMin(fb, static_cast<unsigned long long>(i));
      },
      s, "leseg::index_first_bad");
}

#define SEL(T, I) \
  template void index_select_rows_cuda<T, I>(const T*, int64_t, int64_t, const I*, int64_t, T*, StreamHandle);
#define SEL_BOTH(T) SEL(T, int32_t) SEL(T, int64_t)
LESEG_FOR_ALL_TYPES(SEL_BOTH)
#undef SEL_BOTH
#undef SEL
#define ADD(T, I) \
  template void index_add_rows_cuda<T, I>(T*, int64_t, int64_t, const I*, int64_t, const T*, StreamHandle);
ADD(float, int32_t) ADD(float, int64_t) ADD(double, int32_t) ADD(double, int64_t)
#undef ADD
template void index_add_rows_csr_cuda<float>(float*, int64_t, int64_t, const int64_t*, const int64_t*, const float*, StreamHandle);
template void index_add_rows_csr_cuda<double>(double*, int64_t, int64_t, const int64_t*, const int64_t*, const double*, StreamHandle);
template void index_first_bad_cuda<int32_t>(const int32_t*, int64_t, int64_t, int64_t*, StreamHandle);
template void index_first_bad_cuda<int64_t>(const int64_t*, int64_t, int64_t, int64_t*, StreamHandle);
template void index_check_cuda<int32_t>(const int32_t*, int64_t, int64_t, int32_t, StreamHandle);
template void index_check_cuda<int64_t>(const int64_t*, int64_t, int64_t, int32_t, StreamHandle);

}  // namespace leseg::kernels
