// SPDX-License-Identifier: Apache-2.0
#include "kernels/cast/cast.h"
#include "kernels/common/all_types.h"
#include "kernels/common/cuda_utils.cuh"

namespace leseg::kernels {
template <class To, class From>
void cast_cuda(const From* in, To* out, int64_t n, StreamHandle stream) {
  cuda::for_each(n, [=] __device__(int64_t i) { out[i] = Convert<To, From>::apply(in[i]); }, stream, "leseg::cast");
}
#define Y(To, From) template void cast_cuda<To, From>(const From*, To*, int64_t, StreamHandle);
#define X(From) Y(float, From) Y(double, From) Y(::leseg::f16_t, From) Y(::leseg::bf16_t, From) \
  Y(int32_t, From) Y(int64_t, From) Y(uint8_t, From) Y(bool, From)
LESEG_FOR_ALL_TYPES(X)
#undef X
#undef Y
}  // namespace leseg::kernels
