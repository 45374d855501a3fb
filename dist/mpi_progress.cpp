// The MPI progress thread: the job queue, the polling loop and the status answers (the watchdog's
// report is in dist/mpi_watchdog.cpp).
#ifdef FG_HAVE_MPI
#include "dist/mpi_progress.h"

#include <cstring>

#include "flowgrad/tensor/error.h"

namespace fg::dist {

namespace {

constexpr int kTagQuery = 1;
constexpr int kTagAnswer = 2;
constexpr auto kIdlePoll = std::chrono::milliseconds(10);  // status answers while no job runs

class JobWork final : public Work {
 public:
  explicit JobWork(std::shared_ptr<Job> j) : j_(std::move(j)) {}
  void wait() override {
    {
      std::unique_lock<std::mutex> lk(j_->m);
      j_->cv.wait(lk, [&] { return j_->done; });
    }
    if (j_->after) {
      std::function<void()> f = std::move(j_->after);
      j_->after = nullptr;
      f();
    }
  }
  double seconds() const override {
    std::lock_guard<std::mutex> lk(j_->m);
    return j_->done ? j_->seconds : 0;
  }

 private:
  std::shared_ptr<Job> j_;
};

void copy_name(char (&dst)[64], const std::string& s) {
  std::strncpy(dst, s.c_str(), sizeof dst - 1);
  dst[sizeof dst - 1] = 0;
}

}  // namespace

ProgressThread::ProgressThread(const MpiOptions& o) : o_(o) {
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm_dup(MPI_COMM_WORLD, &data_);
  MPI_Comm_dup(MPI_COMM_WORLD, &ctl_);
  last_done_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { loop(); });
}

ProgressThread::~ProgressThread() { stop(); }

void ProgressThread::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  MPI_Comm_free(&data_);
  MPI_Comm_free(&ctl_);
}

void ProgressThread::set_solo(const std::string& what) {
  std::lock_guard<std::mutex> lk(m_);
  solo_ = what;
}

std::shared_ptr<Work> ProgressThread::submit(const std::string& what, std::function<void(MPI_Request*)> start,
                                             std::function<void()> after) {
  auto j = std::make_shared<Job>();
  j->seq = static_cast<int64_t>(next_seq_++);
  j->step = step_;
  j->what = what;
  j->start = std::move(start);
  j->after = std::move(after);
  {
    std::lock_guard<std::mutex> lk(m_);
    FG_CHECK(!stop_, "{}: the MPI communicator was shut down", what);
    q_.push_back(j);
  }
  cv_.notify_one();
  return std::make_shared<JobWork>(j);
}

void ProgressThread::loop() {
  for (;;) {
    std::shared_ptr<Job> j;
    {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait_for(lk, kIdlePoll, [&] { return stop_ || !q_.empty(); });
      if (!q_.empty()) {
        j = std::move(q_.front());
        q_.pop_front();
      } else if (stop_) {
        return;
      }
    }
    answer_queries();
    if (j) run(*j);
  }
}

void ProgressThread::run(Job& j) {
  using clock = std::chrono::steady_clock;
  current_ = &j;
  const auto t0 = clock::now();
  double deadline = o_.timeout_s;
  MPI_Request req = MPI_REQUEST_NULL;
  j.start(&req);
  for (int flag = 0;;) {
    MPI_Test(&req, &flag, MPI_STATUS_IGNORE);
    if (flag) break;
    answer_queries();
    const double waited = std::chrono::duration<double>(clock::now() - t0).count();
    if (waited > deadline && late(j, waited)) deadline = waited + o_.timeout_s;
    std::this_thread::sleep_for(std::chrono::microseconds(o_.poll_us));
  }
  const auto t1 = clock::now();
  current_ = nullptr;
  last_ = j.seq;
  last_what_ = j.what;
  last_done_ = t1;
  {
    std::lock_guard<std::mutex> lk(j.m);
    j.done = true;
    j.seconds = std::chrono::duration<double>(t1 - t0).count();
  }
  j.cv.notify_all();
}

ProgressThread::Status ProgressThread::status() const {
  Status s;
  s.current = current_ ? current_->seq : -1;
  s.last = last_;
  s.step = step_;
  s.since_last_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_done_).count();
  if (current_) copy_name(s.current_what, current_->what);
  copy_name(s.last_what, last_what_);
  std::lock_guard<std::mutex> lk(m_);
  copy_name(s.solo, solo_);
  return s;
}

void ProgressThread::answer_queries() {
  for (;;) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, kTagQuery, ctl_, &flag, &st);
    if (!flag) return;
    int64_t asked = 0;
    MPI_Recv(&asked, 1, MPI_INT64_T, st.MPI_SOURCE, kTagQuery, ctl_, MPI_STATUS_IGNORE);
    Status s = status();
    MPI_Send(&s, sizeof s, MPI_BYTE, st.MPI_SOURCE, kTagAnswer, ctl_);
  }
}

}  // namespace fg::dist
#endif  // FG_HAVE_MPI
