// The MPI progress thread (internal to dist/): the only thread that calls MPI between MPI_Init and
// MPI_Finalize. It runs queued jobs (each starts one nonblocking MPI call) one at a time, polling
// MPI_Test with short sleeps, and answers other ranks' status queries whenever it polls.
// The watchdog: a job still running after timeout_s makes the thread ask every other rank for its
// status (point-to-point on a communicator of its own) and, unless each rank that has not joined
// is alive and working alone (set_solo), print which rank did not join and why it looks that way,
// then end the job with MPI_Abort(kExitRankFault).
#pragma once
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dist/mpi_comm.h"

namespace fg::dist {

// One queued collective. The waiting thread blocks on cv until done.
struct Job {
  int64_t seq = 0;
  int64_t step = -1;
  std::string what;
  std::function<void(MPI_Request*)> start;
  std::function<void()> after;
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  double seconds = 0;  // on the progress thread, from the start call to completion
};

class ProgressThread {
 public:
  explicit ProgressThread(const MpiOptions& o);  // after MPI_Init: duplicates MPI_COMM_WORLD twice
  ~ProgressThread();
  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm data_comm() const { return data_; }
  void set_step(int64_t s) { step_ = s; }
  void set_solo(const std::string& what);
  // Queues a job: start(&request) begins its nonblocking call (on the progress thread); after()
  // runs on the thread that waits for it (copies a staged result back).
  std::shared_ptr<Work> submit(const std::string& what, std::function<void(MPI_Request*)> start,
                               std::function<void()> after = {});
  void stop();  // finishes the queued jobs, then joins the thread and frees the communicators

  // What this rank tells another that asks (fixed size: sent as bytes).
  struct Status {
    int64_t current = -1;  // the job in progress, -1 when idle
    int64_t last = -1;     // the last job completed
    int64_t step = -1;     // the main thread's training step
    double since_last_s = 0;  // since the last job completed (or the thread started)
    char current_what[64] = {}, last_what[64] = {}, solo[64] = {};
  };

 private:
  void loop();
  void run(Job& j);
  void answer_queries();
  Status status() const;
  // The watchdog's report on a late job: true to wait on (every missing rank works alone).
  bool late(const Job& j, double waited);
  std::string describe(int r, const Status& s, const Job& j, bool* missing, bool* solo) const;

  MpiOptions o_;
  int rank_ = 0, size_ = 1;
  MPI_Comm data_ = MPI_COMM_NULL, ctl_ = MPI_COMM_NULL;
  std::atomic<int64_t> step_{-1};
  uint64_t next_seq_ = 0;  // submit() side

  mutable std::mutex m_;  // guards q_, stop_, solo_
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> q_;
  bool stop_ = false;
  std::string solo_;

  // progress thread only
  const Job* current_ = nullptr;
  int64_t last_ = -1;
  std::string last_what_;
  std::chrono::steady_clock::time_point last_done_;
  std::thread thread_;
};

}  // namespace fg::dist
