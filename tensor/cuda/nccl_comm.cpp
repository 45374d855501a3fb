// The NCCL communicator for CUDA tensors (built into the CUDA module when NCCL is found). As
// flashlight's and PyTorch's: the collectives run on a stream of their own, ordered after the
// compute stream's work by an event, and wait() makes the compute stream wait for them, so the host
// never blocks and a bucket's reduction overlaps the rest of backward. Rank 0's unique id and the
// host collectives go over the host communicator (MPI). A watchdog thread polls the outstanding
// collectives; one late by more than the timeout, or an asynchronous NCCL error, aborts the NCCL
// communicator and ends the job, naming the collective. Not yet run on a GPU.
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "flowgrad/dist/communicator.h"
#include "flowgrad/dist/session.h"
#include "flowgrad/tensor/ops.h"
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"

#define FG_NCCL(call)                                                                                         \
  do {                                                                                                        \
    ncclResult_t fg_r_ = (call);                                                                              \
    if (fg_r_ != ncclSuccess) ::fg::fail(::fmt::format("nccl: {} failed: {}", #call, ncclGetErrorString(fg_r_))); \
  } while (0)

namespace fg::cuda {

namespace {

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::F32: return ncclFloat32;
    case DType::F64: return ncclFloat64;
    case DType::I32: return ncclInt32;
    case DType::U8: return ncclUint8;
  }
  return ncclUint8;
}

ncclRedOp_t nccl_op(dist::ReduceOp op) { return op == dist::ReduceOp::Sum ? ncclSum : ncclMax; }

// An event shared by the collective's Work and the watchdog; destroyed when both let go.
struct Event {
  cudaEvent_t e = nullptr;
  Event() { FG_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming)); }
  ~Event() { cudaEventDestroy(e); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};
using EventPtr = std::shared_ptr<Event>;

struct Pending {
  EventPtr done;
  std::string what;
  std::chrono::steady_clock::time_point start;
};

class NcclWork final : public dist::Work {
 public:
  NcclWork(EventPtr done, cudaStream_t compute, Tensor keep)
      : done_(std::move(done)), compute_(compute), keep_(std::move(keep)) {}
  void wait() override {
    if (!done_) return;
    FG_CUDA(cudaStreamWaitEvent(compute_, done_->e, 0));
    done_.reset();
    keep_ = Tensor();  // the compute stream now orders any reuse of its memory after the collective
  }

 private:
  EventPtr done_;
  cudaStream_t compute_;
  Tensor keep_;
};

class NcclCommunicator final : public dist::Communicator {
 public:
  NcclCommunicator(std::unique_ptr<dist::Communicator> host, int device, double timeout_s)
      : host_(std::move(host)), device_(device), timeout_s_(timeout_s) {
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    if (host_->rank() == 0) FG_NCCL(ncclGetUniqueId(&id));
    Tensor bytes = Tensor::empty({static_cast<int64_t>(sizeof id)}, DType::U8);
    std::memcpy(bytes.raw(), &id, sizeof id);
    host_->broadcast(bytes, 0, "nccl unique id");
    std::memcpy(&id, bytes.raw(), sizeof id);
    auto& b = dynamic_cast<CudaBackend&>(backend_of(Device::cuda(device_)));
    compute_ = b.stream();
    FG_CUDA(cudaSetDevice(device_));
    FG_CUDA(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking));
    FG_NCCL(ncclCommInitRank(&comm_, host_->size(), id, host_->rank()));
    watchdog_ = std::thread([this] { watch(); });
  }
  ~NcclCommunicator() override {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    watchdog_.join();
    cudaStreamSynchronize(comm_stream_);
    ncclCommDestroy(comm_);
    cudaStreamDestroy(comm_stream_);
  }
  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  const char* name() const override { return "nccl"; }
  void set_step(int64_t s) override { host_->set_step(s); }
  void set_solo(const std::string& w) override { host_->set_solo(w); }

  std::shared_ptr<dist::Work> allreduce_async(Tensor t, dist::ReduceOp op, const std::string& what) override {
    Tensor buf = dense_on_device(t, what);
    EventPtr done = launch(what, [&] {
      FG_NCCL(ncclAllReduce(buf.raw(), buf.raw(), static_cast<size_t>(buf.numel()), nccl_type(buf.dtype()), nccl_op(op),
                            comm_, comm_stream_));
    });
    if (buf.raw() != t.raw()) {  // a strided view: reduce a dense copy, then copy it back in stream order
      NcclWork(done, compute_, buf).wait();
      copy_into(buf, t);
      return std::make_shared<NcclWork>(EventPtr(), compute_, Tensor());
    }
    return std::make_shared<NcclWork>(done, compute_, buf);
  }

  void broadcast(Tensor& t, int root, const std::string& what) override {
    Tensor buf = dense_on_device(t, what);
    EventPtr done = launch(what, [&] {
      FG_NCCL(ncclBroadcast(buf.raw(), buf.raw(), static_cast<size_t>(buf.numel()), nccl_type(buf.dtype()), root, comm_,
                            comm_stream_));
    });
    NcclWork(done, compute_, buf).wait();
    if (buf.raw() != t.raw()) copy_into(buf, t);
  }

  Tensor allgather(const Tensor& t, const std::string& what) override {
    FG_CHECK(t.dim() >= 1, "{}: allgather needs a tensor with a first dimension", what);
    const std::vector<uint64_t> rows = host_->allgather(static_cast<uint64_t>(t.size(0)), what + " (rows)");
    uint64_t most = 0;
    for (uint64_t r : rows) most = std::max(most, r);
    Shape padded_shape = t.shape();
    padded_shape[0] = static_cast<int64_t>(most);
    Tensor mine = zeros(padded_shape, t.dtype(), t.device());  // equal counts for ncclAllGather
    if (t.size(0) > 0) {
      Tensor head = slice(mine, 0, 0, t.size(0));
      copy_into(t, head);
    }
    Shape all_shape = padded_shape;
    all_shape[0] = static_cast<int64_t>(most) * size();
    Tensor all = Tensor::empty(all_shape, t.dtype(), t.device());
    EventPtr done = launch(what, [&] {
      FG_NCCL(ncclAllGather(mine.raw(), all.raw(), static_cast<size_t>(mine.numel()), nccl_type(t.dtype()), comm_,
                            comm_stream_));
    });
    NcclWork(done, compute_, mine).wait();
    std::vector<Tensor> parts;
    for (int r = 0; r < size(); ++r)
      parts.push_back(slice(all, 0, r * static_cast<int64_t>(most), r * static_cast<int64_t>(most) + static_cast<int64_t>(rows[r])));
    return concat(parts, 0);
  }

  void barrier(const std::string& what) override { host_->barrier(what); }
  void allreduce(std::vector<double>& v, dist::ReduceOp op, const std::string& what) override { host_->allreduce(v, op, what); }
  std::vector<uint64_t> allgather(uint64_t v, const std::string& what) override { return host_->allgather(v, what); }

 private:
  Tensor dense_on_device(const Tensor& t, const std::string& what) const {
    FG_CHECK(t.device() == Device::cuda(device_), "{}: the NCCL communicator of cuda:{} got a tensor on {}", what,
             device_, t.device().str());
    return t.is_contiguous() ? t : t.contiguous();
  }

  // Runs `issue` on the communication stream after the compute stream's queued work; returns the
  // event that marks its end (watched until it completes).
  template <class F>
  EventPtr launch(const std::string& what, F&& issue) {
    FG_CUDA(cudaSetDevice(device_));
    Event ready;
    auto done = std::make_shared<Event>();
    FG_CUDA(cudaEventRecord(ready.e, compute_));
    FG_CUDA(cudaStreamWaitEvent(comm_stream_, ready.e, 0));
    issue();
    FG_CUDA(cudaEventRecord(done->e, comm_stream_));
    std::lock_guard<std::mutex> lk(m_);
    pending_.push_back({done, what, std::chrono::steady_clock::now()});
    return done;
  }

  // Retires completed collectives (and destroys their events); ends the job on a late one or an
  // asynchronous NCCL error.
  void watch() {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::lock_guard<std::mutex> lk(m_);
      if (stop_) return;
      while (!pending_.empty() && cudaEventQuery(pending_.front().done->e) == cudaSuccess) pending_.pop_front();
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      const double late = pending_.empty() ? 0
          : std::chrono::duration<double>(std::chrono::steady_clock::now() - pending_.front().start).count();
      if (async == ncclSuccess || async == ncclInProgress) {
        if (late <= timeout_s_) continue;
      }
      std::fprintf(stderr, "\nflowgrad: rank %d of %d: NCCL collective '%s' %s; aborting the NCCL communicator and "
                   "stopping every rank\n", rank(), size(), pending_.empty() ? "?" : pending_.front().what.c_str(),
                   async != ncclSuccess && async != ncclInProgress
                       ? fmt::format("failed: {}", ncclGetErrorString(async)).c_str()
                       : fmt::format("has not completed after {:.0f} s (--dist-timeout)", late).c_str());
      ncclCommAbort(comm_);
      dist::abort_job(dist::kExitRankFault);
    }
  }

  std::unique_ptr<dist::Communicator> host_;
  int device_;
  double timeout_s_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t compute_ = nullptr, comm_stream_ = nullptr;
  std::mutex m_;
  std::deque<Pending> pending_;
  bool stop_ = false;
  std::thread watchdog_;
};

}  // namespace

}  // namespace fg::cuda

// Entry point the core finds with dlsym (dist/session.cpp): takes ownership of host.
extern "C" fg::dist::Communicator* fg_nccl_create_communicator(fg::dist::Communicator* host, int device,
                                                              double timeout_s) {
  return new fg::cuda::NcclCommunicator(std::unique_ptr<fg::dist::Communicator>(host), device, timeout_s);
}
