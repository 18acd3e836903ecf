// SPDX-License-Identifier: Apache-2.0
#include "kernels/counter/counter.h"

namespace leseg::kernels {

void increment_i64_cpu(int64_t* p, int64_t by) { *p += by; }

}  // namespace leseg::kernels
