// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/cpu_utils.h"
#include "kernels/random/random.h"
#include "kernels/random/random_math.h"

namespace leseg::kernels {
template <class T>
void uniform_cpu(T* out, int64_t n, uint64_t seed, uint64_t sub, PhiloxOffset at) {
  const uint64_t offset = at.resolve();
  cpu::for_each(n, [=](int64_t i) { out[i] = RandomDraw<T>::uniform(seed, sub, offset + uint64_t(i)); }, 4096);
}
template <class T>
void normal_cpu(T* out, int64_t n, uint64_t seed, uint64_t sub, PhiloxOffset at) {
  const uint64_t offset = at.resolve();
  cpu::for_each(n, [=](int64_t i) { out[i] = RandomDraw<T>::normal(seed, sub, offset + uint64_t(i)); }, 4096);
}
void bernoulli_mask_cpu(uint8_t* mask, int64_t n, float keep_prob, uint64_t seed, uint64_t sub, PhiloxOffset at) {
  const uint64_t offset = at.resolve();
  cpu::for_each(n, [=](int64_t i) { mask[i] = philox::uniform_f32(seed, sub, offset + uint64_t(i)) <= keep_prob; }, 4096);
}
template void uniform_cpu<float>(float*, int64_t, uint64_t, uint64_t, PhiloxOffset);
template void uniform_cpu<double>(double*, int64_t, uint64_t, uint64_t, PhiloxOffset);
template void normal_cpu<float>(float*, int64_t, uint64_t, uint64_t, PhiloxOffset);
template void normal_cpu<double>(double*, int64_t, uint64_t, uint64_t, PhiloxOffset);
}  // namespace leseg::kernels
