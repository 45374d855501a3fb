// Communicators for data-parallel training: this process's rank, the world's size, and the
// collectives training needs, on tensors and on small host vectors. Three implementations:
//   single  one process (the default; needs no MPI at run time): every collective is the identity
//   mpi     over MPI (dist/mpi_comm.cpp): CPU tensors directly, CUDA tensors staged through the host;
//           one progress thread per process makes every MPI call, so a collective started during
//           backward advances while backward runs, and it watches for a rank that stopped answering
//   nccl    CUDA tensors over NCCL on a stream of their own (tensor/cuda/nccl_comm.cpp); its unique
//           id and the host collectives go over MPI
// world() is the process's communicator; dist::Session (dist/session.h) sets it under mpirun.
// Every rank must issue the same collectives in the same order; `what` names each one in the
// watchdog's report when a rank does not join.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flowgrad/tensor/tensor.h"

namespace fg::dist {

enum class ReduceOp { Sum, Max };

// A collective in flight. wait() returns when its result may be used: on the host for CPU tensors,
// in stream order for CUDA tensors (the compute stream waits for it; the host does not).
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  // Seconds the collective took on the communicator's thread (0 where not measured, or not done).
  virtual double seconds() const { return 0; }
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* name() const = 0;  // "single", "mpi", "nccl"

  // Tensor collectives on dense tensors (every rank passes the same shape and dtype).
  // In place: t becomes the elementwise reduction over the ranks.
  virtual std::shared_ptr<Work> allreduce_async(Tensor t, ReduceOp op, const std::string& what) = 0;
  void allreduce(Tensor& t, ReduceOp op, const std::string& what) { allreduce_async(t, op, what)->wait(); }
  // In place: t becomes root's t.
  virtual void broadcast(Tensor& t, int root, const std::string& what) = 0;
  // The ranks' tensors concatenated along dim 0 in rank order; they may differ in dim 0 only.
  virtual Tensor allgather(const Tensor& t, const std::string& what) = 0;
  virtual void barrier(const std::string& what) = 0;

  // Host collectives, for control: stop flags, sums of metrics, checksums, configuration hashes.
  virtual void allreduce(std::vector<double>& v, ReduceOp op, const std::string& what) = 0;
  virtual std::vector<uint64_t> allgather(uint64_t v, const std::string& what) = 0;

  // The training step this rank is in, named in the watchdog's reports.
  virtual void set_step(int64_t /*step*/) {}
  // This rank works alone on `what` (rank 0 writing checkpoints or sample grids) until
  // set_solo(""): a rank waiting for it in a collective past the timeout waits on instead of
  // stopping the job, as long as this rank answers.
  virtual void set_solo(const std::string& /*what*/) {}
};

// Marks this rank as working alone on `what` for its scope (Communicator::set_solo).
class SoloScope {
 public:
  SoloScope(Communicator& c, const std::string& what) : c_(c) { c_.set_solo(what); }
  ~SoloScope() { c_.set_solo(""); }
  SoloScope(const SoloScope&) = delete;
  SoloScope& operator=(const SoloScope&) = delete;

 private:
  Communicator& c_;
};

// The process's communicator: a single-process one until set_world() installs another.
Communicator& world();
// Installs c as world() (null: back to the single-process one); returns the previous one.
std::unique_ptr<Communicator> set_world(std::unique_ptr<Communicator> c);
std::unique_ptr<Communicator> make_single_communicator();

// Exit status of a process that stops the job because another rank did not join a collective in
// time (the watchdog), or because the ranks disagree (configuration, parameters out of sync).
constexpr int kExitRankFault = 75;

}  // namespace fg::dist
