// SPDX-License-Identifier: Apache-2.0
// NCCL backend of engine/distributed/comm.h (CUDA builds with NCCL only: LESEG_WITH_NCCL).
// Bootstrap: rank 0 draws the ncclUniqueId and broadcasts it through the bootstrap communicator (MPI), then every
// rank joins with ncclCommInitRankConfig in non-blocking mode on its own GPU (node-local rank -> device index is
// the caller's choice, see train/distributed.cpp). Collectives run on the device's current stream (the one every
// engine op uses), so they are ordered after the kernels that produced the gradients. Each call then waits for the
// stream while polling ncclCommGetAsyncError against the timeout: on an error or a timeout the communicator is
// aborted (ncclCommAbort) and leseg::Error is thrown, naming the rank and the collective.
// Not exercised on the dev machine (no GPU); the GPU kit's single-rank smoke test runs it.
#if LESEG_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "engine/device.h"
#include "engine/distributed/backends.h"
#include "engine/error.h"

namespace leseg::dist {
namespace {

ncclDataType_t nccl_type(DType t, const char* what) {
  switch (t) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::f16: return ncclFloat16;
    case DType::bf16: return ncclBfloat16;
    case DType::i32: return ncclInt32;
    case DType::i64: return ncclInt64;
    case DType::u8: return ncclUint8;
    default: break;
  }
  LESEG_FAIL("distributed (nccl): ", what, " of a ", dtype_name(t), " tensor");
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return ncclSum;
    case ReduceOp::max: return ncclMax;
    case ReduceOp::min: return ncclMin;
  }
  return ncclSum;
}

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(Communicator& boot, Device dev) : dev_(dev), rank_(boot.rank()), size_(boot.size()) {
    LESEG_CHECK(dev.is_cuda(), "distributed (nccl): needs a CUDA device, got ", dev.str());
    local_rank_ = boot.local_rank();
    local_size_ = boot.local_size();
    timeout_s_ = boot.timeout_s();
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    if (rank_ == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    Tensor b = Tensor::zeros(Shape{int64_t(sizeof id)}, DType::u8);
    std::memcpy(b.data_ptr(), &id, sizeof id);
    boot.broadcast(b, 0);
    std::memcpy(&id, b.data_ptr(), sizeof id);
    CudaDeviceGuard g(dev_);
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    ncclResult_t r = ncclCommInitRankConfig(&comm_, size_, id, rank_, &cfg);
    LESEG_CHECK(r == ncclSuccess || r == ncclInProgress, "distributed (nccl): rank ", rank_,
                ": ncclCommInitRankConfig failed: ", ncclGetErrorString(r));
    poll(nullptr, "init");
  }
  ~NcclCommunicator() override {
    if (comm_) ncclCommDestroy(comm_);
  }
  std::string backend() const override { return "nccl"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }

  void all_reduce(Tensor& t, ReduceOp op) override {
    on_device(t, "all_reduce");
    CudaDeviceGuard g(dev_);
    check(ncclAllReduce(t.data_ptr(), t.data_ptr(), size_t(t.numel()), nccl_type(t.dtype(), "all_reduce"), nccl_op(op),
                        comm_, stream()), "ncclAllReduce");
    poll(stream(), "all_reduce");
    t.bump_version();
  }
  void broadcast(Tensor& t, int root) override {
    on_device(t, "broadcast");
    CudaDeviceGuard g(dev_);
    check(ncclBroadcast(t.data_ptr(), t.data_ptr(), size_t(t.numel()), nccl_type(t.dtype(), "broadcast"), root, comm_,
                        stream()), "ncclBroadcast");
    poll(stream(), "broadcast");
    t.bump_version();
  }
  Tensor all_gather(const Tensor& t) override {
    on_device(t, "all_gather");
    Shape s = t.shape();
    s[0] *= size_;
    Tensor out = Tensor::empty(s, t.dtype(), dev_);
    CudaDeviceGuard g(dev_);
    check(ncclAllGather(t.data_ptr(), out.data_ptr(), size_t(t.numel()), nccl_type(t.dtype(), "all_gather"), comm_,
                        stream()), "ncclAllGather");
    poll(stream(), "all_gather");
    return out;
  }
  Tensor reduce_scatter(const Tensor& t, ReduceOp op) override {
    on_device(t, "reduce_scatter");
    LESEG_CHECK(t.size(0) % size_ == 0, "distributed (nccl): reduce_scatter needs a leading dim divisible by ", size_);
    Shape s = t.shape();
    s[0] /= size_;
    Tensor out = Tensor::empty(s, t.dtype(), dev_);
    CudaDeviceGuard g(dev_);
    check(ncclReduceScatter(t.data_ptr(), out.data_ptr(), size_t(out.numel()), nccl_type(t.dtype(), "reduce_scatter"),
                            nccl_op(op), comm_, stream()), "ncclReduceScatter");
    poll(stream(), "reduce_scatter");
    return out;
  }
  void barrier() override {
    Tensor one = Tensor::ones(Shape{1}, DType::f32, dev_);
    all_reduce(one, ReduceOp::sum);
  }

 private:
  cudaStream_t stream() const { return static_cast<cudaStream_t>(current_stream(dev_)); }
  void on_device(const Tensor& t, const char* what) const {
    LESEG_CHECK(t.defined() && t.ndim() >= 1 && t.device() == dev_, "distributed (nccl): ", what, " needs a tensor on ",
                dev_.str(), ", got ", t.defined() ? t.device().str() : "undefined");
  }
  void check(ncclResult_t r, const char* call) {
    if (r == ncclSuccess || r == ncclInProgress) return;
    LESEG_FAIL("distributed (nccl): rank ", rank_, ": ", call, " failed: ", ncclGetErrorString(r));
  }
  // Waits for the stream (or, with s == nullptr, for the communicator's initialisation) against the timeout.
  void poll(cudaStream_t s, const char* what) {
    ++seq_;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s_);
    for (int spins = 0;; ++spins) {
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        LESEG_FAIL("distributed (nccl): rank ", rank_, ": ", what, " #", seq_, " failed: ", ncclGetErrorString(async));
      }
      if (async == ncclSuccess) {
        if (!s) return;
        const cudaError_t q = cudaStreamQuery(s);
        if (q == cudaSuccess) return;
        LESEG_CHECK(q == cudaErrorNotReady, "distributed (nccl): rank ", rank_, ": ", what, ": ", cudaGetErrorString(q));
      }
      if (spins > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
      if (std::chrono::steady_clock::now() > deadline) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        LESEG_FAIL("distributed: rank ", rank_, " of ", size_, ": nccl ", what, " #", seq_, " did not complete within ",
                   timeout_s_, " s: another rank died, hangs, or is in a different collective");
      }
    }
  }

  Device dev_;
  ncclComm_t comm_ = nullptr;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  int64_t seq_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(Communicator& boot, Device device) {
  return std::make_unique<NcclCommunicator>(boot, device);
}

}  // namespace leseg::dist
#endif
