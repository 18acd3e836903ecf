// SPDX-License-Identifier: Apache-2.0
// CUDA conv2d: cuDNN when it loads (dlopen, no link-time dependency), else im2col + cuBLAS. See conv2d.h.
#include <cudnn.h>
#include <dlfcn.h>

#include <atomic>
#include <climits>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "kernels/common/check.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/conv2d/conv2d.h"
#include "kernels/matmul/matmul.h"

namespace leseg::kernels {
namespace {

// ---- cuDNN, resolved at run time ----
struct CudnnApi {
  bool ok = false;
  decltype(&cudnnCreate) create = nullptr;
  decltype(&cudnnSetStream) set_stream = nullptr;
  decltype(&cudnnGetErrorString) error_string = nullptr;
  decltype(&cudnnCreateTensorDescriptor) create_tensor = nullptr;
  decltype(&cudnnSetTensor4dDescriptor) set_tensor4d = nullptr;
  decltype(&cudnnCreateFilterDescriptor) create_filter = nullptr;
  decltype(&cudnnSetFilter4dDescriptor) set_filter4d = nullptr;
  decltype(&cudnnCreateConvolutionDescriptor) create_conv = nullptr;
  decltype(&cudnnSetConvolution2dDescriptor) set_conv2d = nullptr;
  decltype(&cudnnSetConvolutionMathType) set_math = nullptr;
  decltype(&cudnnGetConvolutionForwardAlgorithm_v7) fwd_algo = nullptr;
  decltype(&cudnnGetConvolutionBackwardDataAlgorithm_v7) bwd_data_algo = nullptr;
  decltype(&cudnnGetConvolutionBackwardFilterAlgorithm_v7) bwd_filter_algo = nullptr;
  decltype(&cudnnGetConvolutionForwardWorkspaceSize) fwd_ws = nullptr;
  decltype(&cudnnGetConvolutionBackwardDataWorkspaceSize) bwd_data_ws = nullptr;
  decltype(&cudnnGetConvolutionBackwardFilterWorkspaceSize) bwd_filter_ws = nullptr;
  decltype(&cudnnConvolutionForward) forward = nullptr;
  decltype(&cudnnConvolutionBackwardData) backward_data = nullptr;
  decltype(&cudnnConvolutionBackwardFilter) backward_filter = nullptr;
};

template <class F>
bool resolve(void* lib, const char* name, F& f) {
  f = reinterpret_cast<F>(dlsym(lib, name));
  return f != nullptr;
}

const CudnnApi& cudnn() {
  static CudnnApi api;
  static std::once_flag once;
  std::call_once(once, [] {
    void* lib = dlopen("libcudnn.so.9", RTLD_NOW | RTLD_LOCAL);
    if (!lib) lib = dlopen("libcudnn.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    CudnnApi a;
    bool ok = resolve(lib, "cudnnCreate", a.create) && resolve(lib, "cudnnSetStream", a.set_stream) &&
              resolve(lib, "cudnnGetErrorString", a.error_string) &&
              resolve(lib, "cudnnCreateTensorDescriptor", a.create_tensor) &&
              resolve(lib, "cudnnSetTensor4dDescriptor", a.set_tensor4d) &&
              resolve(lib, "cudnnCreateFilterDescriptor", a.create_filter) &&
              resolve(lib, "cudnnSetFilter4dDescriptor", a.set_filter4d) &&
              resolve(lib, "cudnnCreateConvolutionDescriptor", a.create_conv) &&
              resolve(lib, "cudnnSetConvolution2dDescriptor", a.set_conv2d) &&
              resolve(lib, "cudnnSetConvolutionMathType", a.set_math) &&
              resolve(lib, "cudnnGetConvolutionForwardAlgorithm_v7", a.fwd_algo) &&
              resolve(lib, "cudnnGetConvolutionBackwardDataAlgorithm_v7", a.bwd_data_algo) &&
              resolve(lib, "cudnnGetConvolutionBackwardFilterAlgorithm_v7", a.bwd_filter_algo) &&
              resolve(lib, "cudnnGetConvolutionForwardWorkspaceSize", a.fwd_ws) &&
              resolve(lib, "cudnnGetConvolutionBackwardDataWorkspaceSize", a.bwd_data_ws) &&
              resolve(lib, "cudnnGetConvolutionBackwardFilterWorkspaceSize", a.bwd_filter_ws) &&
              resolve(lib, "cudnnConvolutionForward", a.forward) &&
              resolve(lib, "cudnnConvolutionBackwardData", a.backward_data) &&
              resolve(lib, "cudnnConvolutionBackwardFilter", a.backward_filter);
    a.ok = ok;
    api = a;
  });
  return api;
}

std::atomic<bool> g_force_fallback{false};

void cudnn_check(cudnnStatus_t st, const char* what) {
  if (st != CUDNN_STATUS_SUCCESS)
    throw std::runtime_error(std::string("conv2d: cuDNN ") + what + " failed: " + cudnn().error_string(st));
}

// One handle per (host thread, device); nullptr when creation fails (then the fallback runs).
cudnnHandle_t cudnn_handle() {
  thread_local std::unordered_map<int, cudnnHandle_t> handles;
  int dev = 0;
  LESEG_CUDA_CHECK(cudaGetDevice(&dev));
  auto it = handles.find(dev);
  if (it != handles.end()) return it->second;
  cudnnHandle_t h = nullptr;
  if (cudnn().create(&h) != CUDNN_STATUS_SUCCESS) h = nullptr;
  handles.emplace(dev, h);
  return h;
}

// Descriptors and algorithms for one (shape, dtype, math, device), built once per host thread.
struct Plan {
  bool usable = false;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t ws = 0;  // max over the three passes
};
constexpr size_t kMaxCudnnWorkspace = size_t(1) << 30;

template <class T>
void build_plan(Plan& p, const Conv2dShape& s, bool tf32);

template <class T>
Plan& plan_for(const Conv2dShape& s, bool tf32) {
  using Key = std::tuple<int, bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                         int64_t, int64_t, int64_t, int64_t, int64_t>;
  thread_local std::map<Key, Plan> plans;
  int dev = 0;
  LESEG_CUDA_CHECK(cudaGetDevice(&dev));
  Key key{dev, sizeof(T) == 8, tf32, s.n, s.c_in, s.h, s.w, s.c_out, s.kh, s.kw, s.stride_h, s.stride_w, s.pad_h,
          s.pad_w, s.dil_h, s.dil_w};
  auto it = plans.find(key);
  if (it != plans.end()) return it->second;
  Plan& p = plans[key];
  try {
    build_plan<T>(p, s, tf32);
  } catch (const std::exception&) {
    p.usable = false;  // any cuDNN failure while planning: this shape runs on the im2col + cuBLAS path
  }
  return p;
}

template <class T>
void build_plan(Plan& p, const Conv2dShape& s, bool tf32) {
  cudnnHandle_t h = cudnn_handle();
  const bool fits = s.n * s.c_in * s.h * s.w < INT_MAX && s.n * s.c_out * s.p() < INT_MAX && s.c_out * s.k() < INT_MAX;
  if (!h || !fits || s.n == 0 || s.p() == 0 || s.c_out == 0 || s.c_in == 0) return;
  const CudnnApi& c = cudnn();
  const cudnnDataType_t dt = sizeof(T) == 8 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  cudnn_check(c.create_tensor(&p.x), "create tensor descriptor");
  cudnn_check(c.create_tensor(&p.y), "create tensor descriptor");
  cudnn_check(c.create_filter(&p.w), "create filter descriptor");
  cudnn_check(c.create_conv(&p.conv), "create convolution descriptor");
  cudnn_check(c.set_tensor4d(p.x, CUDNN_TENSOR_NCHW, dt, int(s.n), int(s.c_in), int(s.h), int(s.w)), "set x");
  cudnn_check(c.set_tensor4d(p.y, CUDNN_TENSOR_NCHW, dt, int(s.n), int(s.c_out), int(s.h_out), int(s.w_out)), "set y");
  cudnn_check(c.set_filter4d(p.w, dt, CUDNN_TENSOR_NCHW, int(s.c_out), int(s.c_in), int(s.kh), int(s.kw)), "set w");
  cudnn_check(c.set_conv2d(p.conv, int(s.pad_h), int(s.pad_w), int(s.stride_h), int(s.stride_w), int(s.dil_h),
                           int(s.dil_w), CUDNN_CROSS_CORRELATION, dt),
              "set convolution");
  cudnn_check(c.set_math(p.conv, (sizeof(T) == 4 && tf32) ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH), "set math type");
  bool found_f = false, found_d = false, found_w = false;
  {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int got = 0;
    cudnn_check(c.fwd_algo(h, p.x, p.w, p.conv, p.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf), "forward heuristic");
    for (int i = 0; i < got && !found_f; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC &&
          perf[i].memory <= kMaxCudnnWorkspace) {
        size_t ws = 0;
        if (c.fwd_ws(h, p.x, p.w, p.conv, p.y, perf[i].algo, &ws) != CUDNN_STATUS_SUCCESS) continue;
        p.fwd = perf[i].algo, p.ws = std::max(p.ws, ws), found_f = true;
      }
  }
  {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int got = 0;
    cudnn_check(c.bwd_data_algo(h, p.w, p.y, p.conv, p.x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, perf),
                "backward-data heuristic");
    for (int i = 0; i < got && !found_d; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC &&
          perf[i].memory <= kMaxCudnnWorkspace) {
        size_t ws = 0;
        if (c.bwd_data_ws(h, p.w, p.y, p.conv, p.x, perf[i].algo, &ws) != CUDNN_STATUS_SUCCESS) continue;
        p.bwd_data = perf[i].algo, p.ws = std::max(p.ws, ws), found_d = true;
      }
  }
  {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int got = 0;
    cudnn_check(c.bwd_filter_algo(h, p.x, p.y, p.conv, p.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, perf),
                "backward-filter heuristic");
    for (int i = 0; i < got && !found_w; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC &&
          perf[i].memory <= kMaxCudnnWorkspace) {
        size_t ws = 0;
        if (c.bwd_filter_ws(h, p.x, p.y, p.conv, p.w, perf[i].algo, &ws) != CUDNN_STATUS_SUCCESS) continue;
        p.bwd_filter = perf[i].algo, p.ws = std::max(p.ws, ws), found_w = true;
      }
  }
  p.usable = found_f && found_d && found_w;
}

template <class T>
bool use_cudnn(const Conv2dShape& s, bool tf32) {
  return conv2d_cuda_backend() == Conv2dBackend::cudnn && plan_for<T>(s, tf32).usable;
}

size_t fallback_ws(const Conv2dShape& s, size_t elem) { return s.pointwise() ? 0 : size_t(s.k()) * size_t(s.p()) * elem; }

template <class T>
void im2col_cuda(const T* xn, const Conv2dShape& s, T* col, StreamHandle stream) {
  const int64_t P = s.p();
  cuda::for_each(s.k() * P, [=] __device__(int64_t i) { col[i] = im2col_value(xn, s, i / P, i % P); }, stream,
                 "leseg::conv2d_im2col");
}

template <class T>
void add_bias_cuda(T* y, const T* b, const Conv2dShape& s, StreamHandle stream) {
  const int64_t P = s.p(), Co = s.c_out;
  cuda::for_each(s.n * Co * P, [=] __device__(int64_t i) { y[i] += b[(i / P) % Co]; }, stream, "leseg::conv2d_bias");
}
}  // namespace

Conv2dBackend conv2d_cuda_backend() {
  return (!g_force_fallback && cudnn().ok) ? Conv2dBackend::cudnn : Conv2dBackend::im2col_cublas;
}
void conv2d_cuda_force_fallback(bool on) { g_force_fallback = on; }

template <class T>
size_t conv2d_cuda_workspace_bytes(const Conv2dShape& s, bool allow_tf32) {
  if (use_cudnn<T>(s, allow_tf32)) return plan_for<T>(s, allow_tf32).ws;
  return fallback_ws(s, sizeof(T));
}

template <class T>
void conv2d_forward_cuda(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s, void* workspace,
                         size_t workspace_bytes, bool allow_tf32, StreamHandle stream) {
  cuda::NvtxRange range("leseg::conv2d_forward");
  const int64_t K = s.k(), P = s.p(), Co = s.c_out;
  if (s.n == 0 || P == 0 || Co == 0) return;
  if (K == 0) {
    LESEG_CUDA_CHECK(cudaMemsetAsync(y, 0, size_t(s.n * Co * P) * sizeof(T), cuda::stream_of(stream)));
  } else if (use_cudnn<T>(s, allow_tf32)) {
    Plan& p = plan_for<T>(s, allow_tf32);
    LESEG_KCHECK(workspace_bytes >= p.ws, "conv2d_forward_cuda: workspace ", workspace_bytes, " < ", p.ws);
    cudnnHandle_t h = cudnn_handle();
    cudnn_check(cudnn().set_stream(h, cuda::stream_of(stream)), "set stream");
    const T one = 1, zero = 0;
    cudnn_check(cudnn().forward(h, &one, p.x, x, p.w, w, p.conv, p.fwd, workspace, p.ws, &zero, p.y, y), "forward");
  } else {
    LESEG_KCHECK(workspace_bytes >= fallback_ws(s, sizeof(T)), "conv2d_forward_cuda: workspace too small");
    T* col = static_cast<T*>(workspace);
    GemmShape g;
    g.m = Co, g.n = P, g.k = K;
    for (int64_t n = 0; n < s.n; ++n) {
      const T* xn = x + n * s.c_in * s.h * s.w;
      if (!s.pointwise()) im2col_cuda(xn, s, col, stream);
      matmul_cuda<T>(w, s.pointwise() ? xn : col, y + n * Co * P, g, T(0), allow_tf32, stream);
    }
  }
  if (b) add_bias_cuda(y, b, s, stream);
}

template <class T>
void conv2d_backward_cuda(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, const Conv2dShape& s,
                          void* workspace, size_t workspace_bytes, bool allow_tf32, StreamHandle stream) {
  cuda::NvtxRange range("leseg::conv2d_backward");
  const int64_t K = s.k(), P = s.p(), Co = s.c_out, N = s.n;
  cudaStream_t st = cuda::stream_of(stream);
  if (db) {
    // Fixed order per channel (images, then pixels) in double: deterministic, matches the CPU twin's sum.
    cuda::for_each(Co, [=] __device__(int64_t o) {
      double acc = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t q = 0; q < P; ++q) acc += double(dy[(n * Co + o) * P + q]);
      db[o] = T(acc);
    }, stream, "leseg::conv2d_bias_grad");
  }
  const bool empty = N == 0 || P == 0 || Co == 0 || K == 0;
  if (empty || !use_cudnn<T>(s, allow_tf32)) {
    if (dw) LESEG_CUDA_CHECK(cudaMemsetAsync(dw, 0, size_t(Co * K) * sizeof(T), st));
    if (dx) LESEG_CUDA_CHECK(cudaMemsetAsync(dx, 0, size_t(N * s.c_in * s.h * s.w) * sizeof(T), st));
  }
  if (empty) return;
  if (use_cudnn<T>(s, allow_tf32)) {
    Plan& p = plan_for<T>(s, allow_tf32);
    LESEG_KCHECK(workspace_bytes >= p.ws, "conv2d_backward_cuda: workspace ", workspace_bytes, " < ", p.ws);
    cudnnHandle_t h = cudnn_handle();
    cudnn_check(cudnn().set_stream(h, st), "set stream");
    const T one = 1, zero = 0;
    if (dw)
      cudnn_check(cudnn().backward_filter(h, &one, p.x, x, p.y, dy, p.conv, p.bwd_filter, workspace, p.ws, &zero, p.w, dw),
                  "backward filter");
    if (dx)
      cudnn_check(cudnn().backward_data(h, &one, p.w, w, p.y, dy, p.conv, p.bwd_data, workspace, p.ws, &zero, p.x, dx),
                  "backward data");
    return;
  }
  LESEG_KCHECK(workspace_bytes >= fallback_ws(s, sizeof(T)), "conv2d_backward_cuda: workspace too small");
  T* col = static_cast<T*>(workspace);
  for (int64_t n = 0; n < N; ++n) {
    const T* xn = x + n * s.c_in * s.h * s.w;
    const T* dyn = dy + n * Co * P;
    if (dw) {
      if (!s.pointwise()) im2col_cuda(xn, s, col, stream);
      GemmShape g;  // dW (Co, K) += dy_n (Co, P) · col_nᵀ
      g.m = Co, g.n = K, g.k = P, g.trans_b = true;
      matmul_cuda<T>(dyn, s.pointwise() ? xn : col, dw, g, T(1), allow_tf32, stream);
    }
    if (dx) {
      T* dxn = dx + n * s.c_in * s.h * s.w;
      GemmShape g;  // dcol (K, P) = Wᵀ · dy_n
      g.m = K, g.n = P, g.k = Co, g.trans_a = true;
      T* dcol = s.pointwise() ? dxn : col;
      matmul_cuda<T>(w, dyn, dcol, g, T(0), allow_tf32, stream);
      if (!s.pointwise()) {
        const int64_t H = s.h, W = s.w;
        cuda::for_each(s.c_in * H * W, [=] __device__(int64_t i) {
          dxn[i] = col2im_value<T, T>(dcol, s, i / (H * W), (i / W) % H, i % W);
        }, stream, "leseg::conv2d_col2im");
      }
    }
  }
}

#define X(T)                                                                                                     \
  template size_t conv2d_cuda_workspace_bytes<T>(const Conv2dShape&, bool);                                      \
  template void conv2d_forward_cuda<T>(const T*, const T*, const T*, T*, const Conv2dShape&, void*, size_t, bool, \
                                       StreamHandle);                                                            \
  template void conv2d_backward_cuda<T>(const T*, const T*, const T*, T*, T*, T*, const Conv2dShape&, void*,      \
                                        size_t, bool, StreamHandle);
X(float)
X(double)
#undef X
}  // namespace leseg::kernels
