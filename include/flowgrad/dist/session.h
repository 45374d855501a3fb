// Starting and ending one process of a data-parallel job. A program makes one Session at the start
// of main, after parsing its options: launched by mpirun (OMPI_COMM_WORLD_SIZE, PMI_SIZE or
// PMIX_RANK in the environment), it initializes MPI and installs the MPI communicator as world();
// otherwise world() stays the single process and MPI is never touched, so a build without MPI, or
// a run without mpirun, behaves as before. use_device(cuda) moves the tensor collectives to NCCL.
// The destructor finalizes MPI; a rank that fails calls abort_job instead, which ends every rank
// at once (MPI_Finalize would wait for ranks that are waiting for it).
#pragma once
#include <memory>
#include <string>

#include "flowgrad/dist/communicator.h"
#include "flowgrad/tensor/dtype.h"

namespace fg::dist {

struct SessionOptions {
  double timeout_s = 600;  // --dist-timeout: a collective late by this much ends the job (watchdog)
};

class Session {
 public:
  explicit Session(const SessionOptions& o = {}, int* argc = nullptr, char*** argv = nullptr);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  // The device this rank trains on, given --device: under mpirun, "cuda" (cuda:0) becomes
  // cuda:<local rank> when several ranks share a node. For a CUDA device the tensor collectives
  // then go over NCCL (also for one rank, so that a one-GPU run takes the multi-GPU path), or,
  // in a build without NCCL, over MPI through host copies (with a warning).
  Device use_device(Device requested);

 private:
  SessionOptions o_;
  bool mpi_ = false;
};

// True when this process was started by mpirun/mpiexec (or a PMI launcher such as srun).
bool launched_by_mpirun();
// Ends the job: under MPI, MPI_Abort(code) ends every rank; otherwise exit(code). Flushes stderr.
[[noreturn]] void abort_job(int code);

}  // namespace fg::dist
