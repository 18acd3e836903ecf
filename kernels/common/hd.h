// SPDX-License-Identifier: Apache-2.0
// LESEG_HD marks math shared by CPU twins and CUDA kernels: one definition, compiled for both.
// Every *_math.h under kernels/ uses it, so CPU tests exercise the exact formulas the GPU runs.
#pragma once

#if defined(__CUDACC__)
#define LESEG_HD __host__ __device__ inline
#define LESEG_DEVICE __device__ inline
#else
#define LESEG_HD inline
#define LESEG_DEVICE inline
#endif

#ifndef LESEG_WITH_CUDA
#define LESEG_WITH_CUDA 0
#endif

#include <cstdint>

namespace leseg::kernels {
// Stream handle as seen by kernel headers: cudaStream_t when CUDA is built, an opaque pointer otherwise.
using StreamHandle = void*;
}  // namespace leseg::kernels
