// SPDX-License-Identifier: Apache-2.0
// conv2d: dense 2-D cross-correlation (PyTorch Conv2d, groups = 1), NCHW, row-major.
//   defines: conv2d_forward_cpu / conv2d_backward_cpu, conv2d_forward_cuda / conv2d_backward_cuda,
//            conv2d_cpu_workspace_bytes, conv2d_cuda_workspace_bytes, conv2d_cuda_backend
//   x (N, C_in, H, W), w (C_out, C_in, KH, KW), b (C_out) or null  ->  y (N, C_out, H_out, W_out)
//   y[n, o, oy, ox] = b[o] + Σ_{c,i,j} w[o, c, i, j] · x[n, c, oy·sh − ph + i·dh, ox·sw − pw + j·dw]
// As a GEMM per image (index maps in conv2d_math.h): y_n (C_out, P) = W (C_out, K) · col_n (K, P), K = C_in·KH·KW.
// Gradient: dW = Σ_n dy_n · col_nᵀ;  dcol_n = Wᵀ · dy_n, dx_n = col2im(dcol_n) (the adjoint of im2col);
//           db[o] = Σ_{n,p} dy[n, o, p].
// CPU: per image, im2col (OpenMP over column blocks) then Eigen GEMMs on fixed output tiles (64 rows × 128
//   columns; dW 64 × 64) in parallel, Eigen single-threaded inside; dW accumulates image by image; col2im is a
//   gather over input pixels; bias sums in double. Tiles depend on the shape only, so results do not depend
//   on the thread count. Workspace: one image's col, K·P values (0 for pointwise 1×1 convs).
// CUDA: cuDNN (loaded at run time with dlopen, so the build needs no cuDNN link; cudnnConvolutionForward /
//   BackwardData / BackwardFilter, heuristic algorithm choice, deterministic algorithms for the backward,
//   FMA math unless allow_tf32), else im2col + cuBLAS (kernels/matmul) with the same gathers as the CPU twin.
//   The caller allocates the workspace reported by conv2d_cuda_workspace_bytes (cuDNN's, or one col buffer).
// T: float, double
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/conv2d/conv2d_math.h"

namespace leseg::kernels {

template <class T> size_t conv2d_cpu_workspace_bytes(const Conv2dShape& s);
template <class T>
void conv2d_forward_cpu(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s, void* workspace);
// dx, dw, db may each be null (not wanted). Outputs are overwritten, not accumulated.
template <class T>
void conv2d_backward_cpu(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, const Conv2dShape& s,
                         void* workspace);

enum class Conv2dBackend { cudnn, im2col_cublas };
// The backend the CUDA launchers use now: cuDNN when libcudnn.so.9 loads and creates a handle, unless
// forced to the fallback (tests compare both).
Conv2dBackend conv2d_cuda_backend();
void conv2d_cuda_force_fallback(bool on);
// Bytes of workspace the CUDA forward + backward need (the max over the three passes).
template <class T> size_t conv2d_cuda_workspace_bytes(const Conv2dShape& s, bool allow_tf32);
template <class T>
void conv2d_forward_cuda(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s, void* workspace,
                         size_t workspace_bytes, bool allow_tf32, StreamHandle stream);
template <class T>
void conv2d_backward_cuda(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, const Conv2dShape& s,
                          void* workspace, size_t workspace_bytes, bool allow_tf32, StreamHandle stream);

}  // namespace leseg::kernels
