// SPDX-License-Identifier: Apache-2.0
// Backend factories behind engine/distributed/comm.h (internal to engine/distributed).
#pragma once
#include <memory>

#include "engine/distributed/comm.h"

namespace leseg::dist {

// MPI_COMM_WORLD (MPI initialised here, finalised at exit). Error when built without MPI.
std::unique_ptr<Communicator> make_mpi_world();
// MPI_Abort(MPI_COMM_WORLD, code) when MPI is initialised; returns otherwise.
void mpi_abort(int code);
// NCCL over the ranks of `bootstrap` (rank 0's ncclUniqueId is broadcast through it), on `device`.
std::unique_ptr<Communicator> make_nccl_communicator(Communicator& bootstrap, Device device);

}  // namespace leseg::dist
