// SPDX-License-Identifier: Apache-2.0
// MPI backend of engine/distributed/comm.h (Open MPI). Compiled to stubs that fail clearly without MPI.
// Each collective is the non-blocking MPI call (MPI_Iallreduce, MPI_Ibcast, MPI_Iallgather,
// MPI_Ireduce_scatter_block, MPI_Ibarrier) completed by polling MPI_Test against the communicator's timeout, so a
// dead or hung peer turns into an error here instead of a silent hang. Open MPI picks the algorithm from (world
// size, message size): fixed for a given run, so reductions are deterministic and identical on every rank.
#include "engine/distributed/backends.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "engine/error.h"

#if LESEG_WITH_MPI
#include <mpi.h>
#endif

namespace leseg::dist {

#if LESEG_WITH_MPI
namespace {

MPI_Datatype mpi_type(DType t, const char* what) {
  switch (t) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i32: return MPI_INT32_T;
    case DType::i64: return MPI_INT64_T;
    case DType::u8: return MPI_UINT8_T;
    default: break;
  }
  LESEG_FAIL("distributed (mpi): ", what, " of a ", dtype_name(t), " tensor (f32, f64, i32, i64 and u8 only)");
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return MPI_SUM;
    case ReduceOp::max: return MPI_MAX;
    case ReduceOp::min: return MPI_MIN;
  }
  return MPI_SUM;
}

void finalize_at_exit() {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MPI_Finalize();
}

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() {
    int init = 0;
    MPI_Initialized(&init);
    if (!init) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      std::atexit(finalize_at_exit);
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
  }
  std::string backend() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }

  void all_reduce(Tensor& t, ReduceOp op) override {
    Staged s(t, "all_reduce");
    MPI_Request req;
    MPI_Iallreduce(MPI_IN_PLACE, s.host.data_ptr(), int(count(s.host)), mpi_type(t.dtype(), "all_reduce"), mpi_op(op),
                   comm_, &req);
    wait(req, "all_reduce", t);
    s.finish(t);
  }
  std::unique_ptr<Work> all_reduce_start(Tensor& t, ReduceOp op) override {
    if (!t.defined() || !t.device().is_cpu()) return Communicator::all_reduce_start(t, op);  // staged: blocking
    auto w = std::make_unique<MpiWork>(this, t, "all_reduce (overlapped)");
    MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), int(count(t)), mpi_type(t.dtype(), "all_reduce"), mpi_op(op), comm_,
                   &w->req);
    return w;
  }
  void broadcast(Tensor& t, int root) override {
    LESEG_CHECK(root >= 0 && root < size_, "distributed (mpi): broadcast root ", root, " outside [0, ", size_, ")");
    Staged s(t, "broadcast");
    MPI_Request req;
    MPI_Ibcast(s.host.data_ptr(), int(count(s.host)), mpi_type(t.dtype(), "broadcast"), root, comm_, &req);
    wait(req, "broadcast", t);
    s.finish(t);
  }
  Tensor all_gather(const Tensor& t) override {
    LESEG_CHECK(t.defined() && t.ndim() >= 1, "distributed (mpi): all_gather needs a tensor with a leading dim");
    Tensor h = t.device().is_cpu() ? t : t.to(Device::cpu());
    Shape dims = t.shape();
    dims[0] *= size_;
    Tensor out = Tensor::empty(dims, t.dtype());
    MPI_Request req;
    MPI_Iallgather(h.data_ptr(), int(count(h)), mpi_type(t.dtype(), "all_gather"), out.data_ptr(), int(count(h)),
                   mpi_type(t.dtype(), "all_gather"), comm_, &req);
    wait(req, "all_gather", t);
    return t.device().is_cpu() ? out : out.to(t.device());
  }
  Tensor reduce_scatter(const Tensor& t, ReduceOp op) override {
    LESEG_CHECK(t.defined() && t.ndim() >= 1 && t.size(0) % size_ == 0, "distributed (mpi): reduce_scatter needs a "
                "leading dim divisible by the world size ", size_, ", got ", t.defined() ? t.shape().str() : "undefined");
    Tensor h = t.device().is_cpu() ? t : t.to(Device::cpu());
    Shape dims = t.shape();
    dims[0] /= size_;
    Tensor out = Tensor::empty(dims, t.dtype());
    MPI_Request req;
    MPI_Ireduce_scatter_block(h.data_ptr(), out.data_ptr(), int(count(out)), mpi_type(t.dtype(), "reduce_scatter"),
                              mpi_op(op), comm_, &req);
    wait(req, "reduce_scatter", t);
    return t.device().is_cpu() ? out : out.to(t.device());
  }
  void barrier() override {
    MPI_Request req;
    MPI_Ibarrier(comm_, &req);
    wait(req, "barrier", Tensor());
  }

 private:
  // CUDA tensors go through a host copy (the NCCL backend is the fast path for them).
  struct Staged {
    Tensor host;
    Staged(const Tensor& t, const char* what) {
      LESEG_CHECK(t.defined(), "distributed (mpi): ", what, " of an undefined tensor");
      host = t.device().is_cpu() ? t : t.to(Device::cpu());
    }
    void finish(Tensor& t) {
      if (!t.device().is_cpu()) t.copy_(host);
      else t.bump_version();
    }
  };
  static int64_t count(const Tensor& t) {
    LESEG_CHECK(t.numel() < (int64_t(1) << 31), "distributed (mpi): ", t.numel(), " elements in one collective (max 2^31 - 1)");
    return t.numel();
  }
  struct MpiWork : Work {
    MpiCommunicator* c;
    Tensor t;
    const char* what;
    MPI_Request req = MPI_REQUEST_NULL;
    bool done = false;
    MpiWork(MpiCommunicator* c_, const Tensor& t_, const char* w) : c(c_), t(t_), what(w) {}
    void wait() override {
      if (done) return;
      c->wait(req, what, t);
      done = true;
      t.bump_version();
    }
    bool test() override {
      if (done) return true;
      int flag = 0;
      MPI_Test(&req, &flag, MPI_STATUS_IGNORE);
      if (flag) {
        done = true;
        t.bump_version();
      }
      return done;
    }
  };

  void wait(MPI_Request& req, const char* what, const Tensor& t) {
    ++seq_;
    const auto t0 = std::chrono::steady_clock::now();
    const auto deadline = t0 + std::chrono::duration<double>(timeout_s_);
    int done = 0;
    for (int spins = 0;; ++spins) {
      MPI_Test(&req, &done, MPI_STATUS_IGNORE);
      if (done) return;
      if (spins > 2000) std::this_thread::sleep_for(std::chrono::microseconds(spins > 20000 ? 1000 : 50));
      if ((spins & 63) == 0 && std::chrono::steady_clock::now() > deadline)
        LESEG_FAIL("distributed: rank ", rank_, " of ", size_, ": ", what, " #", seq_,
                   t.defined() ? " (" + t.shape().str() + " " + dtype_name(t.dtype()) + ")" : std::string(),
                   " did not complete within ", timeout_s_,
                   " s: another rank died, hangs, or is in a different collective (distributed.timeout_s / "
                   "LESEG_DIST_TIMEOUT)");
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  int64_t seq_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_world() { return std::make_unique<MpiCommunicator>(); }

void mpi_abort(int code) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MPI_Abort(MPI_COMM_WORLD, code);
}

#else

std::unique_ptr<Communicator> make_mpi_world() {
  LESEG_FAIL("distributed: leseg was built without MPI (install libopenmpi-dev and rebuild)");
}
void mpi_abort(int) {}

#endif

#if !LESEG_WITH_NCCL
std::unique_ptr<Communicator> make_nccl_communicator(Communicator&, Device) {
  LESEG_FAIL("distributed: leseg was built without NCCL (a CUDA build finds it in the CUDA toolkit)");
}
#endif

}  // namespace leseg::dist
