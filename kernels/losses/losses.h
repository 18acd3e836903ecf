// SPDX-License-Identifier: Apache-2.0
// Fused row losses: forward and gradient in one kernel per loss (the row is read for its online softmax
// statistics, then once more to write the gradient when one is asked for). No autograd, no allocation.
// defines: cross_entropy, soft_cross_entropy, entropy, kl_div, negative_learning, confidence_split,
//          cosine_embedding, mse (each _cpu / _cuda), loss_finalize, loss_grad_scale, confidence_split_grad.
// T (storage type of logits / inputs and of their gradients): float, double, f16_t, bf16_t. Half inputs
// are converted per element (leseg::Convert, kernels/common/half_math.h) and accumulated like f32 ones
// (double on the CPU twin, f32 on CUDA); gradients are written back as T. P = loss_param_t<T> is the type
// of class weights, of the loss value and of the incoming scalar gradient: T for f32/f64, float for halves.
// Rows are int64-indexed (N up to 1e7 and beyond), C any. CUDA variants (LossVariant): one warp per row, or
// one block per row for wide rows; Auto picks by C (loss_variant_for).
//
// Contract shared by every loss: `acc` (f64, 2 slots; 4 for confidence_split) receives
//   acc[0] = Σ_i ℓ_i (row losses, already weighted), acc[1] = Σ_i weight_i (the mean's divisor).
// The loss is acc[0] / acc[1] (0 when acc[1] == 0, e.g. all rows ignored or N = 0): loss_finalize.
// Gradient outputs (nullable: nullptr skips the gradient) receive ∂(Σ_i ℓ_i)/∂input, NOT divided by
// acc[1]; the autograd op scales them by (incoming grad)/acc[1] with loss_grad_scale. Ignored rows get 0.
// On CUDA, acc is device memory and is zeroed by the kernel launcher (stream-ordered).
// CUDA accumulation (the trailing `partials` argument of every CUDA loss):
//   nullptr (default): each block adds its per-block sums to acc with one double atomicAdd per slot, so the
//            order of the block sums varies run to run (ulp-level differences in acc).
//   a device buffer of kLossPartials doubles: the fixed-order two-pass reduction used in deterministic mode
//            (engine/determinism.h): at most kLossDetBlocks blocks each write their sums to partials[slot][block],
//            then one block adds them in a fixed tree order (loss_reduce_math.h) into acc. The
//            rows each block visits are fixed too, so acc repeats bit for bit. It is not the CPU twin's order
//            (the twin sums rows sequentially in double, the GPU's row losses are f32): parity is to rounding.
//            Order and grid: kernels/losses/loss_reduce_math.h.
// Maths and derivations: kernels/losses/losses_math.h.
#pragma once
#include <cstdint>

#include "kernels/common/half_math.h"
#include "kernels/common/hd.h"
#include "kernels/losses/loss_reduce_math.h"

namespace leseg::kernels {

// Deterministic-mode accumulation (see the header comment): grid cap and partials buffer size in doubles.
constexpr int kLossDetBlocks = losses::kDetBlocks;
constexpr int64_t kLossPartials = int64_t(4) * kLossDetBlocks;  // 4 slots (confidence_split) x blocks

template <class T> struct loss_param { using type = T; };
template <> struct loss_param<f16_t> { using type = float; };
template <> struct loss_param<bf16_t> { using type = float; };
// Class weights, loss value and incoming scalar gradient for logits stored as T (float for f16/bf16).
template <class T> using loss_param_t = typename loss_param<T>::type;

// CUDA row mapping. WarpPerRow: 32 lanes stride over a row (C <= kLossWarpMaxC: <= 32 loads per lane), 8
// rows per 256-thread block. BlockPerRow: the 256 threads of a block share one row, statistics merged by
// warp shuffles then across the 8 warps in shared memory (wide rows, e.g. C = 4096). Both give the CPU
// twin's semantics. MSE is chunked and ignores the variant. The threshold follows common practice (warp-
// persistent softmax up to 1024 columns); it is not tuned on hardware yet: the benchmark
// cross_entropy_wide_4096/kernel/cuda_{warp,block}_per_row compares the two.
enum class LossVariant { Auto, WarpPerRow, BlockPerRow };
constexpr int64_t kLossWarpMaxC = 1024;
// The variant a launch uses for rows of width C (host code, tested on CPU).
inline LossVariant loss_variant_for(int64_t C, LossVariant requested = LossVariant::Auto) {
  if (requested != LossVariant::Auto) return requested;
  return C > kLossWarpMaxC ? LossVariant::BlockPerRow : LossVariant::WarpPerRow;
}

// Softmax cross-entropy. z (N, C), y (N,) labels in [0, C) or == ignore; w (C,) class weights or nullptr;
// eps = label smoothing. acc[1] = Σ_{valid i} w_{y_i}.   dz (N, C) or nullptr.
template <class T>
void cross_entropy_cpu(const T* z, const int64_t* y, const loss_param_t<T>* w, int64_t N, int64_t C, int64_t ignore,
                       double eps, T* dz, double* acc);
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

// loss[0] = scale · acc[num] / acc[den]  (0 when acc[den] == 0). P: float or double.
template <class P>
void loss_finalize_cpu(const double* acc, int num, int den, double scale, P* loss);
// out[i] = d[i] · g[0] · scale / acc[den]  (0 when acc[den] == 0). g: the incoming scalar gradient.
template <class T>
void loss_grad_scale_cpu(const T* d, int64_t n, const loss_param_t<T>* g, const double* acc, int den, double scale,
                         T* out);
// Confidence split backward: out[i, :] = dz[i, :] · (reliable[i] ? g_ce/acc[1] : g_nl/acc[3]).
template <class T>
void confidence_split_grad_cpu(const T* dz, const uint8_t* reliable, int64_t N, int64_t C, const loss_param_t<T>* g_ce,
                               const loss_param_t<T>* g_nl, const double* acc, T* out);

// CUDA versions: same arguments (device pointers) plus the stream and, for the row losses, the variant.
template <class T>
void cross_entropy_cuda(const T* z, const int64_t* y, const loss_param_t<T>* w, int64_t N, int64_t C, int64_t ignore,
                        double eps, T* dz, double* acc, StreamHandle s, LossVariant variant = LossVariant::Auto, double* partials = nullptr);
template <class T>
void soft_cross_entropy_cuda(const T* z, const T* p, int64_t N, int64_t C, T* dz, T* dp, double* acc, StreamHandle s,
                             LossVariant variant = LossVariant::Auto, double* partials = nullptr);
template <class T>
void entropy_cuda(const T* z, int64_t N, int64_t C, T* dz, double* acc, StreamHandle s,
                  LossVariant variant = LossVariant::Auto, double* partials = nullptr);
template <class T>
void kl_div_cuda(const T* zp, const T* zq, int64_t N, int64_t C, double t, T* dzp, T* dzq, double* acc, StreamHandle s,
                 LossVariant variant = LossVariant::Auto, double* partials = nullptr);
template <class T>
void negative_learning_cuda(const T* z, const int64_t* y, int64_t N, int64_t C, int64_t ignore, T* dz, double* acc,
                            StreamHandle s, LossVariant variant = LossVariant::Auto, double* partials = nullptr);
template <class T>
void confidence_split_cuda(const T* z, const T* tz, int64_t N, int64_t C, double tau, uint8_t* reliable,
                           int64_t* pseudo, T* dz, double* acc, StreamHandle s, LossVariant variant = LossVariant::Auto, double* partials = nullptr);
template <class T>
void cosine_embedding_cuda(const T* a, const T* b, int64_t N, int64_t D, T* da, T* db, double* acc, StreamHandle s,
                           LossVariant variant = LossVariant::Auto, double* partials = nullptr);
template <class T>
void mse_cuda(const T* a, const T* b, int64_t n, T* da, double* acc, StreamHandle s, double* partials = nullptr);
template <class P>
void loss_finalize_cuda(const double* acc, int num, int den, double scale, P* loss, StreamHandle s);
template <class T>
void loss_grad_scale_cuda(const T* d, int64_t n, const loss_param_t<T>* g, const double* acc, int den, double scale,
                          T* out, StreamHandle s);
template <class T>
void confidence_split_grad_cuda(const T* dz, const uint8_t* reliable, int64_t N, int64_t C,
                                const loss_param_t<T>* g_ce, const loss_param_t<T>* g_nl, const double* acc, T* out,
                                StreamHandle s);

}  // namespace leseg::kernels
