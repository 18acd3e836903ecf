// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/cuda_utils.cuh"
#include "kernels/random/random.h"
#include "kernels/random/random_math.h"

namespace leseg::kernels {
template <class T>
void uniform_cuda(T* out, int64_t n, uint64_t seed, uint64_t sub, PhiloxOffset at, StreamHandle s) {
  cuda::for_each(n, [=] __device__(int64_t i) { out[i] = RandomDraw<T>::uniform(seed, sub, at.resolve() + uint64_t(i)); }, s, "leseg::uniform");
}
template <class T>
void normal_cuda(T* out, int64_t n, uint64_t seed, uint64_t sub, PhiloxOffset at, StreamHandle s) {
  cuda::for_each(n, [=] __device__(int64_t i) { out[i] = RandomDraw<T>::normal(seed, sub, at.resolve() + uint64_t(i)); }, s, "leseg::normal");
}
void bernoulli_mask_cuda(uint8_t* mask, int64_t n, float keep_prob, uint64_t seed, uint64_t sub, PhiloxOffset at, StreamHandle s) {
  cuda::for_each(n, [=] __device__(int64_t i) { mask[i] = philox::uniform_f32(seed, sub, at.resolve() + uint64_t(i)) <= keep_prob; }, s, "leseg::bernoulli");
}
template void uniform_cuda<float>(float*, int64_t, uint64_t, uint64_t, PhiloxOffset, StreamHandle);
template void uniform_cuda<double>(double*, int64_t, uint64_t, uint64_t, PhiloxOffset, StreamHandle);
template void normal_cuda<float>(float*, int64_t, uint64_t, uint64_t, PhiloxOffset, StreamHandle);
template void normal_cuda<double>(double*, int64_t, uint64_t, uint64_t, PhiloxOffset, StreamHandle);
}  // namespace leseg::kernels
