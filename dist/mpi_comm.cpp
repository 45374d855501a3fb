// The MPI communicator. One progress thread per process makes every MPI call after MPI_Init; the
// main thread only queues jobs and waits for them. Open MPI 4.1 has no asynchronous progress
// ("OMPI progress: no"): a nonblocking collective advances only inside MPI calls. So the thread
// starts each job's nonblocking call and polls MPI_Test with short sleeps: a gradient bucket
// queued during backward is reduced while backward goes on, and no core is spent spinning (a
// blocking MPI call spins at 100% of a core). Jobs run one at a time in queue order, which is the
// same on every rank. The watchdog (dist/mpi_watchdog.cpp) acts when a job is late.
#include "dist/mpi_comm.h"

#include <cstdlib>

#include "flowgrad/tensor/error.h"

#ifndef FG_HAVE_MPI

namespace fg::dist {
bool mpi_built() { return false; }
std::unique_ptr<Communicator> make_mpi_communicator(int*, char***, const MpiOptions&) {
  fail("this flowgrad was built without MPI: install libopenmpi-dev (tools/bootstrap does) and "
       "reconfigure (meson setup --reconfigure build -Dmpi=enabled)");
}
void mpi_finalize(std::unique_ptr<Communicator>) {}
void mpi_abort(int code) { std::_Exit(code); }
}  // namespace fg::dist

#else

#include <climits>

#include "dist/mpi_progress.h"
#include "flowgrad/tensor/ops.h"

namespace fg::dist {

namespace {

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::F32: return MPI_FLOAT;
    case DType::F64: return MPI_DOUBLE;
    case DType::I32: return MPI_INT32_T;
    case DType::U8: return MPI_UINT8_T;
  }
  return MPI_BYTE;
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::Sum ? MPI_SUM : MPI_MAX; }

int mpi_count(int64_t n, const std::string& what) {
  FG_CHECK(n <= INT_MAX, "{}: {} elements is more than one MPI call carries (INT_MAX); use smaller buckets", what, n);
  return static_cast<int>(n);
}

// t itself when it is a dense CPU tensor, else a dense CPU copy (CUDA tensors are staged through
// the host: correct, not fast; NCCL is the fast path for them).
Tensor host_dense(const Tensor& t) {
  if (t.device().is_cpu() && t.is_contiguous()) return t;
  return t.contiguous().to(Device::cpu());
}

// After the collective: copy a staged result back into t (on the waiting thread).
std::function<void()> copy_back(const Tensor& staged, const Tensor& t) {
  if (staged.raw() == t.raw() && staged.device() == t.device()) return {};
  Tensor dst = t;
  return [staged, dst]() mutable { copy_into(staged.to(dst.device()), dst); };
}

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(const MpiOptions& o) : progress_(o) {}
  int rank() const override { return progress_.rank(); }
  int size() const override { return progress_.size(); }
  const char* name() const override { return "mpi"; }
  void set_step(int64_t step) override { progress_.set_step(step); }
  void set_solo(const std::string& what) override { progress_.set_solo(what); }
  void shutdown() { progress_.stop(); }

  std::shared_ptr<Work> allreduce_async(Tensor t, ReduceOp op, const std::string& what) override {
    FG_CHECK(t.defined(), "{}: allreduce of an undefined tensor", what);
    Tensor buf = host_dense(t);
    const int n = mpi_count(buf.numel(), what);
    MPI_Comm c = progress_.data_comm();
    return progress_.submit(what, [buf, n, op, c](MPI_Request* r) {
      MPI_Iallreduce(MPI_IN_PLACE, buf.raw(), n, mpi_type(buf.dtype()), mpi_op(op), c, r);
    }, copy_back(buf, t));
  }

  void broadcast(Tensor& t, int root, const std::string& what) override {
    FG_CHECK(root >= 0 && root < size(), "{}: broadcast from rank {} in a world of {}", what, root, size());
    Tensor buf = host_dense(t);
    const int n = mpi_count(buf.numel(), what);
    MPI_Comm c = progress_.data_comm();
    progress_.submit(what, [buf, n, root, c](MPI_Request* r) {
      MPI_Ibcast(buf.raw(), n, mpi_type(buf.dtype()), root, c, r);
    }, copy_back(buf, t))->wait();
  }

  Tensor allgather(const Tensor& t, const std::string& what) override {
    FG_CHECK(t.defined() && t.dim() >= 1, "{}: allgather needs a tensor with a first dimension", what);
    // every rank's rows, and the rest of each shape (and dtype) checked equal
    Shape rest(t.shape().begin() + 1, t.shape().end());
    uint64_t key = static_cast<uint64_t>(t.dtype()) + 0x9e3779b97f4a7c15ull;
    for (int64_t d : rest) key = key * 1099511628211ull + static_cast<uint64_t>(d);
    const std::vector<uint64_t> keys = allgather(key, what + " (shapes)");
    for (int r = 0; r < size(); ++r)
      FG_CHECK(keys[r] == key, "{}: rank {} gathers a tensor of another dtype or shape than rank {}'s {} {}", what, r,
               rank(), dtype_name(t.dtype()), shape_str(t.shape()));
    const std::vector<uint64_t> rows = allgather(static_cast<uint64_t>(t.size(0)), what + " (rows)");
    const int64_t row = numel(rest);
    std::vector<int> counts(size()), displs(size());
    int64_t total = 0;
    for (int r = 0; r < size(); ++r) {
      displs[r] = mpi_count(total * row, what);
      counts[r] = mpi_count(static_cast<int64_t>(rows[r]) * row, what);
      total += static_cast<int64_t>(rows[r]);
    }
    mpi_count(total * row, what);
    Shape out_shape = t.shape();
    out_shape[0] = total;
    Tensor out = Tensor::empty(out_shape, t.dtype(), Device::cpu());
    Tensor buf = host_dense(t);
    MPI_Comm c = progress_.data_comm();
    progress_.submit(what, [&](MPI_Request* r) {
      MPI_Iallgatherv(buf.raw(), counts[rank()], mpi_type(buf.dtype()), out.raw(), counts.data(), displs.data(),
                      mpi_type(buf.dtype()), c, r);
    })->wait();
    return out.to(t.device());
  }

  void barrier(const std::string& what) override {
    MPI_Comm c = progress_.data_comm();
    progress_.submit(what, [c](MPI_Request* r) { MPI_Ibarrier(c, r); })->wait();
  }

  void allreduce(std::vector<double>& v, ReduceOp op, const std::string& what) override {
    const int n = mpi_count(static_cast<int64_t>(v.size()), what);
    MPI_Comm c = progress_.data_comm();
    progress_.submit(what, [&v, n, op, c](MPI_Request* r) {
      MPI_Iallreduce(MPI_IN_PLACE, v.data(), n, MPI_DOUBLE, mpi_op(op), c, r);
    })->wait();
  }

  std::vector<uint64_t> allgather(uint64_t v, const std::string& what) override {
    std::vector<uint64_t> out(static_cast<size_t>(size()));
    MPI_Comm c = progress_.data_comm();
    progress_.submit(what, [&](MPI_Request* r) {
      MPI_Iallgather(&v, 1, MPI_UINT64_T, out.data(), 1, MPI_UINT64_T, c, r);
    })->wait();
    return out;
  }

 private:
  ProgressThread progress_;
};

}  // namespace

bool mpi_built() { return true; }

std::unique_ptr<Communicator> make_mpi_communicator(int* argc, char*** argv, const MpiOptions& o) {
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
  if (provided < MPI_THREAD_MULTIPLE) {
    std::fprintf(stderr, "flowgrad: the MPI library gives thread level %d; flowgrad needs MPI_THREAD_MULTIPLE (%d): its "
                 "progress thread makes the MPI calls while any thread may abort the job\n", provided,
                 MPI_THREAD_MULTIPLE);
    MPI_Abort(MPI_COMM_WORLD, kExitRankFault);
  }
  return std::make_unique<MpiCommunicator>(o);
}

void mpi_finalize(std::unique_ptr<Communicator> c) {
  if (auto* m = dynamic_cast<MpiCommunicator*>(c.get())) m->shutdown();
  c.reset();
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MPI_Finalize();
}

void mpi_abort(int code) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  std::fflush(stderr);
  if (init && !fin) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace fg::dist

#endif  // FG_HAVE_MPI
