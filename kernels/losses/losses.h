// SPDX-License-Identifier: Apache-2.0
// Fused row losses: forward and gradient in one kernel per loss (the row is read for its online softmax
// statistics, then once more to write the gradient when one is asked for). No autograd, no allocation.
// defines: cross_entropy, soft_cross_entropy, entropy, kl_div, negative_learning, confidence_split,
//          cosine_embedding, mse (each _cpu / _cuda), loss_finalize, loss_grad_scale, confidence_split_grad.
// T: float, double. Rows are int64-indexed (N up to 1e7 and beyond), C any (GPU: one warp per row).
//
// Contract shared by every loss: `acc` (f64, 2 slots; 4 for confidence_split) receives
//   acc[0] = Σ_i ℓ_i (row losses, already weighted), acc[1] = Σ_i weight_i (the mean's divisor).
// The loss is acc[0] / acc[1] (0 when acc[1] == 0, e.g. all rows ignored or N = 0): loss_finalize.
// Gradient outputs (nullable: nullptr skips the gradient) receive ∂(Σ_i ℓ_i)/∂input, NOT divided by
// acc[1]; the autograd op scales them by (incoming grad)/acc[1] with loss_grad_scale. Ignored rows get 0.
// On CUDA, acc is device memory and is zeroed by the kernel launcher (stream-ordered).
// Maths and derivations: kernels/losses/losses_math.h.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

// Softmax cross-entropy. z (N, C), y (N,) labels in [0, C) or == ignore; w (C,) class weights or nullptr;
// eps = label smoothing. acc[1] = Σ_{valid i} w_{y_i}.   dz (N, C) or nullptr.
template <class T>
void cross_entropy_cpu(const T* z, const int64_t* y, const T* w, int64_t N, int64_t C, int64_t ignore, double eps,
                       T* dz, double* acc);
// Soft-target CE ℓ_i = -Σ_k p_ik log softmax(z_i)_k. z, p (N, C). acc[1] = N. dz, dp nullable.
template <class T>
void soft_cross_entropy_cpu(const T* z, const T* p, int64_t N, int64_t C, T* dz, T* dp, double* acc);
// Entropy of softmax(z_i). z (N, C). acc[1] = N.
template <class T>
void entropy_cpu(const T* z, int64_t N, int64_t C, T* dz, double* acc);
// T²·KL(softmax(zp/t) ‖ softmax(zq/t)) per row. zp, zq (N, C). acc[1] = N. dzp, dzq nullable.
template <class T>
void kl_div_cpu(const T* zp, const T* zq, int64_t N, int64_t C, double t, T* dzp, T* dzq, double* acc);
// Negative learning -log(1 - softmax(z_i)[y_i]) (C >= 2). acc[1] = number of valid rows.
template <class T>
void negative_learning_cpu(const T* z, const int64_t* y, int64_t N, int64_t C, int64_t ignore, T* dz, double* acc);
// Confidence split: teacher tz (N, C) → pseudo[i] = argmax (first max), reliable[i] = maxprob >= tau;
// student z (N, C): CE(z, pseudo) on reliable rows, NL(z, pseudo) on unreliable rows.
// acc (4): [Σ CE, n reliable, Σ NL, n unreliable]. dz (N, C) nullable: per row the gradient of that
// row's own loss (CE or NL). C >= 2.
template <class T>
void confidence_split_cpu(const T* z, const T* tz, int64_t N, int64_t C, double tau, uint8_t* reliable,
                          int64_t* pseudo, T* dz, double* acc);
// Cosine embedding ℓ_i = 1 - cos(a_i, b_i). a, b (N, D). acc[1] = N. da, db nullable.
template <class T>
void cosine_embedding_cpu(const T* a, const T* b, int64_t N, int64_t D, T* da, T* db, double* acc);
// MSE ℓ = Σ (a - b)², acc[1] = n. da (n) nullable: 2(a - b) (∂/∂b is its negation).
template <class T>
void mse_cpu(const T* a, const T* b, int64_t n, T* da, double* acc);

// loss[0] = scale · acc[num] / acc[den]  (0 when acc[den] == 0).
template <class T>
void loss_finalize_cpu(const double* acc, int num, int den, double scale, T* loss);
// out[i] = d[i] · g[0] · scale / acc[den]  (0 when acc[den] == 0). g: the incoming scalar gradient.
template <class T>
void loss_grad_scale_cpu(const T* d, int64_t n, const T* g, const double* acc, int den, double scale, T* out);
// Confidence split backward: out[i, :] = dz[i, :] · (reliable[i] ? g_ce/acc[1] : g_nl/acc[3]).
template <class T>
void confidence_split_grad_cpu(const T* dz, const uint8_t* reliable, int64_t N, int64_t C, const T* g_ce,
                               const T* g_nl, const double* acc, T* out);

// CUDA versions: same arguments (device pointers) plus the stream.
template <class T>
void cross_entropy_cuda(const T* z, const int64_t* y, const T* w, int64_t N, int64_t C, int64_t ignore, double eps,
                        T* dz, double* acc, StreamHandle s);
template <class T>
void soft_cross_entropy_cuda(const T* z, const T* p, int64_t N, int64_t C, T* dz, T* dp, double* acc, StreamHandle s);
template <class T>
void entropy_cuda(const T* z, int64_t N, int64_t C, T* dz, double* acc, StreamHandle s);
template <class T>
void kl_div_cuda(const T* zp, const T* zq, int64_t N, int64_t C, double t, T* dzp, T* dzq, double* acc, StreamHandle s);
template <class T>
void negative_learning_cuda(const T* z, const int64_t* y, int64_t N, int64_t C, int64_t ignore, T* dz, double* acc,
                            StreamHandle s);
template <class T>
void confidence_split_cuda(const T* z, const T* tz, int64_t N, int64_t C, double tau, uint8_t* reliable,
                           int64_t* pseudo, T* dz, double* acc, StreamHandle s);
template <class T>
void cosine_embedding_cuda(const T* a, const T* b, int64_t N, int64_t D, T* da, T* db, double* acc, StreamHandle s);
template <class T>
void mse_cuda(const T* a, const T* b, int64_t n, T* da, double* acc, StreamHandle s);
template <class T>
void loss_finalize_cuda(const double* acc, int num, int den, double scale, T* loss, StreamHandle s);
template <class T>
void loss_grad_scale_cuda(const T* d, int64_t n, const T* g, const double* acc, int den, double scale, T* out,
                          StreamHandle s);
template <class T>
void confidence_split_grad_cuda(const T* dz, const uint8_t* reliable, int64_t N, int64_t C, const T* g_ce,
                                const T* g_nl, const double* acc, T* out, StreamHandle s);

}  // namespace leseg::kernels
