// SPDX-License-Identifier: Apache-2.0
// CUDA dataflows GroupedGemm and TensorCoreImplicitGemm (sparse_conv.h), the Morton order and tile masks they use
// (sparse_conv_tc.h), and the CUDA-event timer of the engine's autotune. Index math: sparse_conv_tc_math.h.
// No float atomics anywhere: every output element is written by one thread (reduction over offsets in order).
// The kernels (and their __device__ helpers) are in sparse_conv_tc_kernels.cuh, shared with the CPU warp emulator's
// test (tests/kernels/sparse_conv/sparse_conv_tc_emulated_test.cpp); this file holds the launchers and cuBLAS calls.
#include <cublas_v2.h>
#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "kernels/common/cuda_utils.cuh"
#include "kernels/common/half_math.h"
#include "kernels/sparse_conv/sparse_conv_cuda_internal.h"
#include "kernels/sparse_conv/sparse_conv_tc.h"

#include "kernels/sparse_conv/sparse_conv_tc_kernels.cuh"  // the kernels (device code only)

namespace leseg::kernels {
namespace {

void cublas_ok(cublasStatus_t st, const char* what, int line) {
  if (st != CUBLAS_STATUS_SUCCESS) {
    std::ostringstream os;
    os << __FILE__ << ":" << line << ": cuBLAS error " << int(st) << " in " << what;
    throw std::runtime_error(os.str());
  }
}
#define LESEG_TC_CUBLAS(expr) cublas_ok((expr), #expr, __LINE__)

inline size_t align_up(size_t v) { return (v + 255) & ~size_t(255); }

// ---------------------------------------------------------------- element types (cuBLAS); Ty, AccOf, kIsHalf: the .cuh
template <class T> struct CudaTy;
template <> struct CudaTy<float> { static constexpr cudaDataType_t cuda = CUDA_R_32F; };
template <> struct CudaTy<bf16_t> { static constexpr cudaDataType_t cuda = CUDA_R_16BF; };
template <> struct CudaTy<f16_t> { static constexpr cudaDataType_t cuda = CUDA_R_16F; };

// ---------------------------------------------------------------- grouped plan
// Rows per batch: bounded so that the gather + product buffers stay near 2^26 elements.
int64_t batch_rows(int64_t c_max, int64_t total_pairs) {
  const int64_t r = std::clamp<int64_t>((int64_t(1) << 26) / std::max<int64_t>(1, c_max), 4096, int64_t(1) << 20);
  return std::max<int64_t>(1, std::min(r, total_pairs));
}
struct Batch {
  int64_t p_begin = 0, p_end = 0;  // pair range (contiguous)
  int32_t k_first = 0, k_last = -1;
  int nseg = 0;
  tc::Segment seg[kMaxSegs];
};
std::vector<Batch> plan_batches(const ConvMap& m, int64_t budget) {
  const int64_t n = tc::plan_segments(m.offsets, m.volume, budget, nullptr, nullptr);
  std::vector<tc::Segment> segs(static_cast<size_t>(n));
  std::vector<int64_t> bof(static_cast<size_t>(n));
  tc::plan_segments(m.offsets, m.volume, budget, segs.data(), bof.data());
  std::vector<Batch> out;
  for (int64_t i = 0; i < n; ++i) {
    if (out.empty() || int64_t(out.size()) - 1 != bof[size_t(i)]) {
      out.emplace_back();
      out.back().p_begin = segs[size_t(i)].begin;
      out.back().k_first = int32_t(segs[size_t(i)].k);
    }
    Batch& b = out.back();
    if (b.nseg >= kMaxSegs) throw std::logic_error("sparse_conv grouped: more segments in a batch than offsets");
    b.seg[b.nseg++] = segs[size_t(i)];
    b.p_end = segs[size_t(i)].end;
    b.k_last = int32_t(segs[size_t(i)].k);
  }
  return out;
}

struct Layout {  // byte offsets into the grouped workspace
  size_t pos, bufA, bufB, prod, acc, gwacc, ptrs, partial, total;
};
int bias_blocks(int64_t n) { return int(std::clamp<int64_t>((n + kBiasRowsPerBlock - 1) / kBiasRowsPerBlock, 1, 128)); }
Layout layout(const ConvMap& m, int64_t n_in, int64_t n_out, int64_t c_in, int64_t c_out, size_t es) {
  const int64_t cmax = std::max<int64_t>(1, std::max(c_in, c_out)), nmax = std::max<int64_t>(1, std::max(n_in, n_out));
  const int64_t P = m.offsets ? m.offsets[m.volume] : 0;
  const int64_t rows = batch_rows(cmax, std::max<int64_t>(1, P));
  const size_t acc_es = es == 8 ? 8 : 4;
  Layout l{};
  size_t o = 0;
  l.pos = o, o += align_up(size_t(m.volume * nmax) * 4);
  l.bufA = o, o += align_up(size_t(rows * cmax) * es);
  l.bufB = o, o += align_up(size_t(rows * cmax) * es);
  l.prod = o, o += align_up(size_t(rows * cmax) * acc_es);
  l.acc = o, o += es == 2 ? align_up(size_t(nmax * cmax) * 4) : 0;
  l.gwacc = o, o += es == 2 ? align_up(size_t(m.volume * c_in * c_out) * 4) : 0;
  l.ptrs = o, o += align_up(3 * kMaxSegs * sizeof(void*));
  l.partial = o, o += align_up(size_t(bias_blocks(nmax) * cmax) * acc_es);
  l.total = o;
  return l;
}

template <class T>
void gather(const T* src, const int32_t* idx, int64_t rows, int64_t C, T* dst, cudaStream_t st) {
  if (rows == 0 || C == 0) return;
  const size_t bytes = size_t(C) * sizeof(T);
  const unsigned threads = 256;
  auto grid = [&](int64_t n) { return cuda::grid_for(n, int(threads)); };
  const bool a16 = bytes % 16 == 0 && reinterpret_cast<uintptr_t>(src) % 16 == 0 && reinterpret_cast<uintptr_t>(dst) % 16 == 0;
  const bool a4 = bytes % 4 == 0 && reinterpret_cast<uintptr_t>(src) % 4 == 0 && reinterpret_cast<uintptr_t>(dst) % 4 == 0;
  if (a16) {
    const int64_t u = int64_t(bytes / 16);
    gather_kernel<uint4><<<grid(rows * u), threads, 0, st>>>(reinterpret_cast<const uint4*>(src), idx, rows, u,
                                                             reinterpret_cast<uint4*>(dst));
  } else if (a4) {
    const int64_t u = int64_t(bytes / 4);
    gather_kernel<uint32_t><<<grid(rows * u), threads, 0, st>>>(reinterpret_cast<const uint32_t*>(src), idx, rows, u,
                                                                reinterpret_cast<uint32_t*>(dst));
  } else {
    gather_kernel<T><<<grid(rows * C), threads, 0, st>>>(src, idx, rows, C, dst);
  }
  LESEG_CUDA_CHECK_LAUNCH("sparse_conv grouped gather_kernel");
}

template <class T>
void reduce(const AccOf<T>* prod, const int32_t* pos, int64_t n, int64_t C, const Batch& b, const T* bias, bool first,
            bool last, AccOf<T>* acc, T* out, cudaStream_t st) {
  if (n == 0 || C == 0) return;
  const bool vec = std::is_same_v<AccOf<T>, float> && C % 4 == 0;
  const int64_t work = n * (vec ? C / 4 : C);
  if (vec)
    reduce_kernel<T, 4><<<cuda::grid_for(work, 256), 256, 0, st>>>(prod, pos, n, C, b.k_first, b.k_last, b.p_begin,
                                                                   b.p_end, bias, first, last, acc, out);
  else
    reduce_kernel<T, 1><<<cuda::grid_for(work, 256), 256, 0, st>>>(prod, pos, n, C, b.k_first, b.k_last, b.p_begin,
                                                                   b.p_end, bias, first, last, acc, out);
  LESEG_CUDA_CHECK_LAUNCH("sparse_conv grouped reduce_kernel");
}

// ---------------------------------------------------------------- grouped GEMMs (ptr_kernel: the .cuh)
struct GemmShape {  // one problem of a grouped call (column-major, cuBLAS convention)
  cublasOperation_t ta, tb;
  int m, n, k, lda, ldb, ldc;
  float beta;
};
// Runs the problems: one cublasGemmGroupedBatchedEx (or a loop of cublasGemmEx where the grouped call does not take
// the type combination). A, B, C: device pointer arrays already filled (ptr_kernel), hostA/B/C: host copies for the
// loop fallback.
template <class T>
void grouped_gemm(cublasHandle_t h, const std::vector<GemmShape>& g, const void** A, const void** B, void** C,
                  const std::vector<const void*>& hA, const std::vector<const void*>& hB, const std::vector<void*>& hC,
                  const ConvMath& math) {
  const int n = int(g.size());
  if (n == 0) return;
  if constexpr (std::is_same_v<T, double>) {
    for (int i = 0; i < n; ++i) {
      const double one = 1.0, beta = g[size_t(i)].beta;
      LESEG_TC_CUBLAS(cublasDgemm(h, g[size_t(i)].ta, g[size_t(i)].tb, g[size_t(i)].m, g[size_t(i)].n, g[size_t(i)].k,
                                  &one, static_cast<const double*>(hA[size_t(i)]), g[size_t(i)].lda,
                                  static_cast<const double*>(hB[size_t(i)]), g[size_t(i)].ldb, &beta,
                                  static_cast<double*>(hC[size_t(i)]), g[size_t(i)].ldc));
    }
  } else {
    const cublasComputeType_t ct =
        (std::is_same_v<T, float> && math.allow_tf32) ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    const size_t N = static_cast<size_t>(n);
    std::vector<cublasOperation_t> ta(N), tb(N);
    std::vector<int> m(N), nn(N), k(N), lda(N), ldb(N), ldc(N), gs(N, 1);
    std::vector<float> alpha(N, 1.f), beta(N);
    for (size_t i = 0; i < size_t(n); ++i) {
      const GemmShape& q = g[i];
      ta[i] = q.ta;
      tb[i] = q.tb;
      m[i] = q.m;
      nn[i] = q.n;
      k[i] = q.k;
      lda[i] = q.lda;
      ldb[i] = q.ldb;
      ldc[i] = q.ldc;
      beta[i] = q.beta;
    }
    const cublasStatus_t st = cublasGemmGroupedBatchedEx(h, ta.data(), tb.data(), m.data(), nn.data(), k.data(),
                                                         alpha.data(), A, CudaTy<T>::cuda, lda.data(), B,
                                                         CudaTy<T>::cuda, ldb.data(), beta.data(), C, CUDA_R_32F,
                                                         ldc.data(), n, gs.data(), ct);
    if (st == CUBLAS_STATUS_SUCCESS) return;
    if (st != CUBLAS_STATUS_NOT_SUPPORTED && st != CUBLAS_STATUS_INVALID_VALUE)
      cublas_ok(st, "cublasGemmGroupedBatchedEx", __LINE__);
    for (int i = 0; i < n; ++i)  // type combination not taken by the grouped call: same math, one call per offset
      LESEG_TC_CUBLAS(cublasGemmEx(h, ta[size_t(i)], tb[size_t(i)], m[size_t(i)], nn[size_t(i)], k[size_t(i)],
                                   &alpha[size_t(i)], hA[size_t(i)], CudaTy<T>::cuda, lda[size_t(i)], hB[size_t(i)],
                                   CudaTy<T>::cuda, ldb[size_t(i)], &beta[size_t(i)], hC[size_t(i)], CUDA_R_32F,
                                   ldc[size_t(i)], ct, CUBLAS_GEMM_DEFAULT));
  }
}

// Builds the device pointer arrays for the segments of batch b and runs the grouped GEMM.
//   X_i = bx + k * xk + (seg.begin - b.p_begin) * xr   (X in {A, B, C}; strides in bytes)
template <class T>
void batch_gemm(cublasHandle_t h, const Batch& b, const GemmShape& proto, bool per_seg_n, bool per_seg_k,
                bool beta_first_only, const int64_t* offsets, const char* ba, int64_t ak, int64_t ar, const char* bb,
                int64_t bk, int64_t br, char* bc, int64_t ck, int64_t cr, void** ptrs, cudaStream_t st,
                const ConvMath& math) {
  PtrDesc d{};
  d.n = b.nseg;
  std::vector<GemmShape> g;
  std::vector<const void*> hA, hB;
  std::vector<void*> hC;
  for (int i = 0; i < b.nseg; ++i) {
    const tc::Segment& s = b.seg[i];
    const int64_t rows = s.end - s.begin, row = s.begin - b.p_begin;
    d.s[i] = PtrSeg{int32_t(s.k), int32_t(row)};
    GemmShape q = proto;
    if (per_seg_n) q.n = int(rows);
    if (per_seg_k) q.k = int(rows);
    q.beta = beta_first_only ? (s.begin == offsets[s.k] ? proto.beta : 1.f) : proto.beta;
    g.push_back(q);
    hA.push_back(ba + s.k * ak + row * ar);
    hB.push_back(bb + s.k * bk + row * br);
    hC.push_back(bc + s.k * ck + row * cr);
  }
  const void** A = const_cast<const void**>(reinterpret_cast<void**>(ptrs));
  const void** B = A + kMaxSegs;
  void** C = ptrs + 2 * kMaxSegs;
  ptr_kernel<<<1, kMaxSegs, 0, st>>>(d, ba, ak, ar, bb, bk, br, bc, ck, cr, A, B, C);
  LESEG_CUDA_CHECK_LAUNCH("sparse_conv grouped ptr_kernel");
  grouped_gemm<T>(h, g, A, B, C, hA, hB, hC, math);
}

void check_map(const ConvMap& m, int64_t c_in, int64_t c_out, const char* who) {
  if (!m.offsets || m.volume < 1) throw std::invalid_argument(std::string(who) + ": kernel map without offsets");
  if (m.volume > kMaxSegs - 1) throw std::invalid_argument(std::string(who) + ": more than 127 kernel offsets");
  if (m.offsets[m.volume] >= (int64_t(1) << 31) || c_in >= (int64_t(1) << 31) || c_out >= (int64_t(1) << 31))
    throw std::invalid_argument(std::string(who) + ": pair count or channels exceed the int32 range");
}

OffsetTable offset_table(const ConvMap& m) {
  OffsetTable t{};
  t.volume = int(m.volume);
  for (int64_t k = 0; k <= m.volume; ++k) t.off[k] = m.offsets[k];
  return t;
}

void build_pos(const int32_t* idx, const ConvMap& m, int64_t n, int32_t* pos, cudaStream_t st) {
  LESEG_CUDA_CHECK(cudaMemsetAsync(pos, 0xff, size_t(m.volume * n) * 4, st));
  const int64_t P = m.offsets[m.volume];
  if (P == 0) return;
  pair_pos_kernel<<<cuda::grid_for(P, 256), 256, 0, st>>>(idx, P, n, offset_table(m), pos);
  LESEG_CUDA_CHECK_LAUNCH("sparse_conv grouped pair_pos_kernel");
}

template <class T>
void bias_grad(const T* gy, int64_t n, int64_t C, T* gb, AccOf<T>* partial, cudaStream_t st) {
  if (C == 0) return;
  const int blocks = bias_blocks(n);
  bias_partial_kernel<T><<<dim3(unsigned((C + 31) / 32), unsigned(blocks)), dim3(32, 8), 0, st>>>(gy, n, C, partial);
  LESEG_CUDA_CHECK_LAUNCH("sparse_conv bias_partial_kernel");
  bias_final_kernel<T><<<unsigned((C + 255) / 256), 256, 0, st>>>(partial, blocks, n, C, gb);
  LESEG_CUDA_CHECK_LAUNCH("sparse_conv bias_final_kernel");
}

// One "gather -> grouped GEMM -> output-stationary reduce" pass: out (n_dst, c_dst) = sum over pairs of
// src[src_idx] * op(W_k), reduced by the pair position matrix of dst_idx. trans_w: use W_k^T (input gradient).
template <class T>
void grouped_pass(const T* src, const int32_t* src_idx, const int32_t* dst_idx, const T* w, const T* bias,
                  const ConvMap& m, int64_t n_dst, int64_t c_src, int64_t c_dst, int64_t c_in, int64_t c_out,
                  bool trans_w, T* out, const Layout& l, char* ws, cudaStream_t st, cublasHandle_t h,
                  const ConvMath& math) {
  using A = AccOf<T>;
  auto* pos = reinterpret_cast<int32_t*>(ws + l.pos);
  auto* xg = reinterpret_cast<T*>(ws + l.bufA);
  auto* prod = reinterpret_cast<A*>(ws + l.prod);
  A* acc = kIsHalf<T> ? reinterpret_cast<A*>(ws + l.acc) : reinterpret_cast<A*>(out);
  build_pos(dst_idx, m, n_dst, pos, st);
  const int64_t P = m.offsets[m.volume];
  const auto batches = plan_batches(m, batch_rows(std::max(c_in, c_out), std::max<int64_t>(1, P)));
  if (batches.empty()) {  // no pairs: out = bias (or 0)
    Batch none;
    none.k_first = 0, none.k_last = -1;
    reduce<T>(prod, pos, n_dst, c_dst, none, bias, true, true, acc, out, st);
    return;
  }
  for (size_t bi = 0; bi < batches.size(); ++bi) {
    const Batch& b = batches[bi];
    gather(src, src_idx + b.p_begin, b.p_end - b.p_begin, c_src, xg, st);
    GemmShape proto{};
    if (!trans_w) {  // row-major prod (P, c_out) = xg (P, c_in) W_k  <=>  col-major prod^T = W_k^T xg^T
      proto = GemmShape{CUBLAS_OP_N, CUBLAS_OP_N, int(c_out), 0, int(c_in), int(c_out), int(c_in), int(c_out), 0.f};
      batch_gemm<T>(h, b, proto, true, false, false, m.offsets, reinterpret_cast<const char*>(w),
                    int64_t(c_in * c_out * sizeof(T)), 0, reinterpret_cast<const char*>(xg), 0,
                    int64_t(c_in * sizeof(T)), reinterpret_cast<char*>(prod), 0, int64_t(c_out * sizeof(A)),
                    reinterpret_cast<void**>(ws + l.ptrs), st, math);
    } else {  // row-major prod (P, c_in) = gg (P, c_out) W_k^T  <=>  col-major prod^T = W_k gg^T
      proto = GemmShape{CUBLAS_OP_T, CUBLAS_OP_N, int(c_in), 0, int(c_out), int(c_out), int(c_out), int(c_in), 0.f};
      batch_gemm<T>(h, b, proto, true, false, false, m.offsets, reinterpret_cast<const char*>(w),
                    int64_t(c_in * c_out * sizeof(T)), 0, reinterpret_cast<const char*>(xg), 0,
                    int64_t(c_out * sizeof(T)), reinterpret_cast<char*>(prod), 0, int64_t(c_in * sizeof(A)),
                    reinterpret_cast<void**>(ws + l.ptrs), st, math);
    }
    reduce<T>(prod, pos, n_dst, c_dst, b, bias, bi == 0, bi + 1 == batches.size(), acc, out, st);
  }
}

// ---------------------------------------------------------------- tensor-core implicit GEMM (tc_kernel: the .cuh)
template <class T, bool TRANS>
void tc_launch(const T* x, const T* w, const T* bias, const int32_t* nbr, const int32_t* order, const uint32_t* masks,
               int64_t volume, int64_t n_rows, int64_t in_ch, int64_t out_ch, bool relu, T* y, cudaStream_t st) {
  if (n_rows == 0 || out_ch == 0) return;
  if (!nbr || !order || !masks)
    throw std::invalid_argument("sparse_conv TensorCoreImplicitGemm: the map lacks the neighbour matrix, the Morton "
                                "order or the tile masks (sparse_conv_tc.h)");
  int dev = 0, major = 0;
  LESEG_CUDA_CHECK(cudaGetDevice(&dev));
  LESEG_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  if (major < 8) throw std::invalid_argument("sparse_conv TensorCoreImplicitGemm needs compute capability 8.0+");
  const int64_t tiles = tc::num_tiles(n_rows), ctiles = (out_ch + tc::kTileN - 1) / tc::kTileN;
  if (tiles > 0x7fffffff || ctiles > 65535) throw std::invalid_argument("sparse_conv TensorCoreImplicitGemm: grid too large");
  tc_kernel<T, TRANS><<<dim3(unsigned(tiles), unsigned(ctiles)), tc::kWarps * 32, 0, st>>>(
      x, w, bias, nbr, order, masks, tc::mask_words(volume), n_rows, in_ch, out_ch, relu, y);
  LESEG_CUDA_CHECK_LAUNCH("sparse_conv tc_kernel");
}

// ---------------------------------------------------------------- Morton order, tile masks (kernels: the .cuh)
size_t sort_temp_bytes(int64_t n) {
  size_t b = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, b, static_cast<const uint64_t*>(nullptr), static_cast<uint64_t*>(nullptr),
                                  static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr),
                                  int(n > 0 ? n : 1));
  return b;
}

}  // namespace

// ---------------------------------------------------------------- public support functions
size_t morton_order_cuda_workspace_bytes(int64_t n) {
  const size_t m = size_t(n > 0 ? n : 1);
  return 2 * align_up(m * 8) + align_up(m * 4) + align_up(sort_temp_bytes(n));
}
void morton_order_cuda(const int32_t* coords, int64_t n, int32_t stride, int32_t* order, void* workspace,
                       size_t workspace_bytes, StreamHandle s) {
  if (stride < 1) throw std::invalid_argument("morton_order_cuda: stride must be >= 1");
  if (n <= 0) return;
  if (n >= (int64_t(1) << 31)) throw std::invalid_argument("morton_order_cuda: more than 2^31 rows");
  if (workspace_bytes < morton_order_cuda_workspace_bytes(n))
    throw std::invalid_argument("morton_order_cuda: workspace too small");
  auto st = cuda::stream_of(s);
  char* w = static_cast<char*>(workspace);
  auto* keys = reinterpret_cast<uint64_t*>(w);
  auto* keys_out = reinterpret_cast<uint64_t*>(w + align_up(size_t(n) * 8));
  auto* ids = reinterpret_cast<int32_t*>(w + 2 * align_up(size_t(n) * 8));
  void* temp = w + 2 * align_up(size_t(n) * 8) + align_up(size_t(n) * 4);
  size_t temp_bytes = sort_temp_bytes(n);
  morton_keys_kernel<<<cuda::grid_for(n, 256), 256, 0, st>>>(coords, n, stride, keys, ids);
  LESEG_CUDA_CHECK_LAUNCH("morton_keys_kernel");
  // radix sort is stable: ties keep row order, like the CPU twin's stable_sort
  LESEG_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys, keys_out, ids, order, int(n), 0, 64, st));
}
void tile_masks_cuda(const int32_t* nbr, const int32_t* order, int64_t n_rows, int64_t volume, uint32_t* masks,
                     StreamHandle s) {
  const int64_t tiles = tc::num_tiles(n_rows);
  const int words = tc::mask_words(volume);
  if (tiles == 0) return;
  tile_masks_kernel<<<cuda::grid_for(tiles * words, 128), 128, 0, cuda::stream_of(s)>>>(nbr, order, n_rows, volume,
                                                                                       tiles, words, masks);
  LESEG_CUDA_CHECK_LAUNCH("tile_masks_kernel");
}

float sparse_conv_time_cuda(void (*fn)(void*), void* ctx, int reps, StreamHandle s) {
  auto st = cuda::stream_of(s);
  fn(ctx);  // warm-up (cuBLAS heuristics, first-touch)
  cudaEvent_t a, b;
  LESEG_CUDA_CHECK(cudaEventCreate(&a));
  LESEG_CUDA_CHECK(cudaEventCreate(&b));
  LESEG_CUDA_CHECK(cudaEventRecord(a, st));
  for (int i = 0; i < std::max(1, reps); ++i) fn(ctx);
  LESEG_CUDA_CHECK(cudaEventRecord(b, st));
  LESEG_CUDA_CHECK(cudaEventSynchronize(b));
  float ms = 0;
  LESEG_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms / float(std::max(1, reps));
}

int sparse_conv_cuda_cc_major() {
  int dev = 0, major = 0;
  LESEG_CUDA_CHECK(cudaGetDevice(&dev));
  LESEG_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  return major;
}

namespace detail {

size_t grouped_workspace_bytes(const ConvMap& m, int64_t n_in, int64_t n_out, int64_t c_in, int64_t c_out,
                               size_t elem_size) {
  return layout(m, n_in, n_out, c_in, c_out, elem_size).total;
}

template <class T>
void grouped_forward(const T* x, const T* w, const T* bias, const ConvMap& m, int64_t n_in, int64_t n_out,
                     int64_t c_in, int64_t c_out, T* y, void* workspace, StreamHandle s, const ConvMath& math) {
  check_map(m, c_in, c_out, "sparse_conv GroupedGemm");
  cuda::NvtxRange r("leseg::sparse_conv_grouped_forward");
  if (n_out == 0 || c_out == 0) return;
  const Layout l = layout(m, n_in, n_out, c_in, c_out, sizeof(T));
  auto h = static_cast<cublasHandle_t>(sparse_conv_cublas_handle(s));
  grouped_pass<T>(x, m.in_idx, m.out_idx, w, bias, m, n_out, c_in, c_out, c_in, c_out, false, y, l,
                  static_cast<char*>(workspace), cuda::stream_of(s), h, math);
}

template <class T>
void grouped_backward(const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in, int64_t n_out,
                      int64_t c_in, int64_t c_out, T* gx, T* gw, T* gb, void* workspace, StreamHandle s,
                      const ConvMath& math) {
  using A = AccOf<T>;
  check_map(m, c_in, c_out, "sparse_conv GroupedGemm");
  cuda::NvtxRange r("leseg::sparse_conv_grouped_backward");
  auto st = cuda::stream_of(s);
  const Layout l = layout(m, n_in, n_out, c_in, c_out, sizeof(T));
  char* ws = static_cast<char*>(workspace);
  auto h = static_cast<cublasHandle_t>(sparse_conv_cublas_handle(s));
  if (gb) bias_grad<T>(gy, n_out, c_out, gb, reinterpret_cast<A*>(ws + l.partial), st);
  if (gx && n_in > 0 && c_in > 0)
    grouped_pass<T>(gy, m.out_idx, m.in_idx, w, static_cast<const T*>(nullptr), m, n_in, c_out, c_in, c_in, c_out,
                    true, gx, l, ws, st, h, math);
  if (!gw) return;
  const int64_t wn = m.volume * c_in * c_out;
  A* gwacc = kIsHalf<T> ? reinterpret_cast<A*>(ws + l.gwacc) : reinterpret_cast<A*>(gw);
  LESEG_CUDA_CHECK(cudaMemsetAsync(gwacc, 0, size_t(wn) * sizeof(A), st));
  const int64_t P = m.offsets[m.volume];
  if (P > 0 && c_in > 0 && c_out > 0) {
    auto* xg = reinterpret_cast<T*>(ws + l.bufA);
    auto* gg = reinterpret_cast<T*>(ws + l.bufB);
    for (const Batch& b : plan_batches(m, batch_rows(std::max(c_in, c_out), P))) {
      gather(x, m.in_idx + b.p_begin, b.p_end - b.p_begin, c_in, xg, st);
      gather(gy, m.out_idx + b.p_begin, b.p_end - b.p_begin, c_out, gg, st);
      // row-major gW_k (c_in, c_out) += xg^T gg  <=>  col-major gW_k^T (c_out, c_in) += gg^T xg; segments of one
      // offset accumulate in batch order (beta = 1 on a zeroed accumulator): deterministic
      const GemmShape proto{CUBLAS_OP_N, CUBLAS_OP_T, int(c_out), int(c_in), 0, int(c_out), int(c_in), int(c_out), 1.f};
      batch_gemm<T>(h, b, proto, false, true, false, m.offsets, reinterpret_cast<const char*>(gg), 0,
                    int64_t(c_out * sizeof(T)), reinterpret_cast<const char*>(xg), 0, int64_t(c_in * sizeof(T)),
                    reinterpret_cast<char*>(gwacc), int64_t(c_in * c_out * sizeof(A)), 0,
                    reinterpret_cast<void**>(ws + l.ptrs), st, math);
    }
  }
  if constexpr (kIsHalf<T>) {
    convert_kernel<float, T><<<cuda::grid_for(wn, 256), 256, 0, st>>>(gwacc, wn, gw);
    LESEG_CUDA_CHECK_LAUNCH("sparse_conv grouped convert_kernel");
  }
}

template <class T>
void tc_forward(const T* x, const T* w, const T* bias, const ConvMap& m, int64_t n_in, int64_t n_out, int64_t c_in,
                int64_t c_out, T* y, StreamHandle s, const ConvMath& math) {
  (void)n_in;
  if constexpr (std::is_same_v<T, double>) {
    throw std::invalid_argument("sparse_conv TensorCoreImplicitGemm: f64 has no tensor-core path");
  } else {
    check_map(m, c_in, c_out, "sparse_conv TensorCoreImplicitGemm");
    cuda::NvtxRange r("leseg::sparse_conv_tc_forward");
    tc_launch<T, false>(x, w, bias, m.nbr_out, m.order_out, m.tile_mask_out, m.volume, n_out, c_in, c_out,
                        math.fuse_relu, y, cuda::stream_of(s));
  }
}

template <class T>
void tc_backward(const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in, int64_t n_out, int64_t c_in,
                 int64_t c_out, T* gx, T* gw, T* gb, void* workspace, StreamHandle s, const ConvMath& math) {
  if constexpr (std::is_same_v<T, double>) {
    throw std::invalid_argument("sparse_conv TensorCoreImplicitGemm: f64 has no tensor-core path");
  } else {
    check_map(m, c_in, c_out, "sparse_conv TensorCoreImplicitGemm");
    cuda::NvtxRange r("leseg::sparse_conv_tc_backward");
    // gx (n_in, c_in) = sum_k gy[nbr_in] W_k^T: the same kernel over the input-stationary map, W read transposed
    if (gx) tc_launch<T, true>(gy, w, static_cast<const T*>(nullptr), m.nbr_in, m.order_in, m.tile_mask_in, m.volume,
                               n_in, c_out, c_in, false, gx, cuda::stream_of(s));
    if (gw || gb) grouped_backward<T>(x, w, gy, m, n_in, n_out, c_in, c_out, nullptr, gw, gb, workspace, s, math);
  }
}

#define LESEG_INST(T)                                                                                              \
  template void grouped_forward<T>(const T*, const T*, const T*, const ConvMap&, int64_t, int64_t, int64_t, int64_t, \
                                   T*, void*, StreamHandle, const ConvMath&);                                       \
  template void grouped_backward<T>(const T*, const T*, const T*, const ConvMap&, int64_t, int64_t, int64_t,       \
                                    int64_t, T*, T*, T*, void*, StreamHandle, const ConvMath&);                     \
  template void tc_forward<T>(const T*, const T*, const T*, const ConvMap&, int64_t, int64_t, int64_t, int64_t, T*, \
                              StreamHandle, const ConvMath&);                                                        \
  template void tc_backward<T>(const T*, const T*, const T*, const ConvMap&, int64_t, int64_t, int64_t, int64_t, T*, \
                               T*, T*, void*, StreamHandle, const ConvMath&);
LESEG_INST(float)
LESEG_INST(double)
LESEG_INST(bf16_t)
LESEG_INST(f16_t)
#undef LESEG_INST

}  // namespace detail
}  // namespace leseg::kernels
