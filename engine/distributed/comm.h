// SPDX-License-Identifier: Apache-2.0
// Communicator: the collectives data-parallel training needs (rank, world size, all-reduce, broadcast,
// all-gather, reduce-scatter, barrier), with three backends:
//   local — world size 1, every collective is the identity (a single process; also the 1-rank reference in tests);
//   mpi   — MPI_COMM_WORLD of an `mpirun -np N` launch (Open MPI): CPU tensors (CUDA tensors are staged through
//           host copies), and the bootstrap that hands NCCL its unique id;
//   nccl  — GPU tensors on the rank's device (engine/distributed/nccl_comm.cpp, CUDA builds with NCCL only),
//           bootstrapped through an MPI broadcast of the ncclUniqueId.
// Every collective is a blocking call that all ranks must make in the same order with the same shapes and
// dtypes (a fixed call order: the results never depend on timing). Reductions are done by the backend
// (MPI / NCCL) with an algorithm fixed by (world size, message size): deterministic from run to run, and every
// rank receives the same bits.
// Failure: a collective that does not complete within timeout_s (another rank died, hangs, or took a different
// path) throws leseg::Error naming the rank, the collective and its sequence number; the CLI then aborts the
// whole job (abort_job) so that no rank is left waiting. The MPI backend polls non-blocking collectives
// (MPI_I*) against that deadline; the NCCL backend polls ncclCommGetAsyncError and aborts the communicator.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace leseg::dist {

enum class ReduceOp { sum, max, min };
const char* reduce_op_name(ReduceOp op);

// A collective in flight (all_reduce_start). wait() completes it (against the communicator's timeout) and leaves
// the result in the tensor; test() progresses it without blocking and says whether it is done.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  virtual bool test() { return true; }
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string backend() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Rank among the processes on this node (node-local rank -> GPU index); 0 for the local backend.
  virtual int local_rank() const { return 0; }
  virtual int local_size() const { return 1; }

  // In place on a contiguous f32 / f64 / i32 / i64 tensor (every rank: same shape and dtype).
  virtual void all_reduce(Tensor& t, ReduceOp op = ReduceOp::sum) = 0;
  // Starts an in-place all-reduce and returns at once (the MPI backend on CPU tensors: MPI_Iallreduce); the
  // tensor must stay alive and untouched until wait(). Other backends complete it before returning.
  virtual std::unique_ptr<Work> all_reduce_start(Tensor& t, ReduceOp op = ReduceOp::sum);
  // In place: every rank receives root's values.
  virtual void broadcast(Tensor& t, int root = 0) = 0;
  // (size·n0, n1, …): rank r's tensor (n0, n1, …) at rows [r·n0, (r+1)·n0).
  virtual Tensor all_gather(const Tensor& t) = 0;
  // t (size·n0, n1, …) on every rank: rank r gets rows [r·n0, (r+1)·n0) of the element-wise reduction.
  virtual Tensor reduce_scatter(const Tensor& t, ReduceOp op = ReduceOp::sum) = 0;
  virtual void barrier() = 0;

  // Seconds a collective may wait for the other ranks before it fails (default 300; LESEG_DIST_TIMEOUT).
  double timeout_s() const { return timeout_s_; }
  void set_timeout_s(double s);

  // Host helpers built on the tensor collectives.
  void all_reduce(std::vector<double>& v, ReduceOp op = ReduceOp::sum);
  void all_reduce(std::vector<int64_t>& v, ReduceOp op = ReduceOp::sum);
  void broadcast(std::string& s, int root = 0);
  std::vector<uint64_t> all_gather(uint64_t v);
  std::vector<std::string> all_gather(const std::string& s);

 protected:
  double timeout_s_ = 300.0;
};

// World size 1: the collectives are the identity (all_gather / reduce_scatter return copies).
std::unique_ptr<Communicator> make_local_communicator();

// One group over two backends of the same ranks: CPU tensors go to `cpu` (MPI), CUDA tensors to `gpu` (NCCL).
// What a multi-GPU run uses: gradients, buffers and sync-BN statistics on NCCL, the trainer's host-side
// reductions (loss weights, flags, fingerprints) on MPI. Both see the calls in the same program order on every rank.
std::unique_ptr<Communicator> make_hybrid_communicator(Communicator& cpu, Communicator& gpu);

// True when this process was started by an MPI launcher with more than one rank (OMPI_COMM_WORLD_SIZE,
// PMI_SIZE or PMIX_SIZE > 1), whether or not this build has MPI.
bool launched_multi_rank();
bool mpi_built();   // LESEG_WITH_MPI
bool nccl_built();  // LESEG_WITH_NCCL

// The process-wide communicator: MPI over every rank when launched by mpirun (MPI is initialised on the first
// call and finalised at exit), otherwise the local backend. A multi-rank launch of a build without MPI is an
// error saying so.
Communicator& world();
// NCCL over the same ranks as world(), on `device` (one GPU per rank), created on first use; error without NCCL.
Communicator& world_nccl(Device device);

// world()'s size if it was created already, else 1 (never initialises MPI).
int world_size_if_started();

// The group a run on `device` uses: world() for CPU runs (and CUDA runs of builds without NCCL: host copies);
// for CUDA runs with NCCL, a hybrid of world() (CPU tensors) and world_nccl(device) (CUDA tensors).
Communicator& world_for(Device device);

// Ends every rank of the job with `code` after an error on this one (MPI_Abort when multi-rank; std::exit
// otherwise), so that no rank is left waiting in a collective.
[[noreturn]] void abort_job(int code);

// Test and fault-injection hook: LESEG_DIST_FAULT="<kind>:<rank>:<step>" with kind kill (SIGKILL itself) or hang
// (sleep forever) makes rank <rank> fail at optimizer step <step>; called by the trainer before each step.
void maybe_inject_fault(const Communicator& comm, int64_t step);

// Scope that installs `comm` as the communicator of synchronised BatchNorm (engine/distributed/sync_batch_norm.h):
// while it lives, every BatchNorm1d (and SparseBatchNorm) in training mode normalises with statistics over all
// ranks. nullptr or a world of size 1 = per-process statistics.
class SyncBatchNormScope {
 public:
  explicit SyncBatchNormScope(Communicator* comm);
  ~SyncBatchNormScope();
  SyncBatchNormScope(const SyncBatchNormScope&) = delete;
  SyncBatchNormScope& operator=(const SyncBatchNormScope&) = delete;

 private:
  Communicator* prev_;
};
Communicator* sync_batch_norm_comm();

// Scope that names the data-parallel group of the training run in progress (the Trainer sets it), for state that
// consumes batch statistics outside BatchNorm (ERDA's class prototypes reduce their per-class sums over it).
// nullptr outside a run or for a world of one.
class TrainingGroupScope {
 public:
  explicit TrainingGroupScope(Communicator* comm);
  ~TrainingGroupScope();
  TrainingGroupScope(const TrainingGroupScope&) = delete;
  TrainingGroupScope& operator=(const TrainingGroupScope&) = delete;

 private:
  Communicator* prev_;
};
Communicator* training_group();

}  // namespace leseg::dist
