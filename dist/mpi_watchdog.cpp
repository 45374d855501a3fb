// The watchdog's report on a late collective: ask every other rank what it is doing, name the
// ranks that did not join and say what each is doing, then stop the whole job (MPI_Abort). A rank
// that answers while working alone (rank 0 writing files: set_solo) is waited for instead.
#ifdef FG_HAVE_MPI
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "dist/mpi_progress.h"

namespace fg::dist {

namespace {
constexpr int kTagQuery = 1;
constexpr int kTagAnswer = 2;
}  // namespace

std::string ProgressThread::describe(int r, const Status& s, const Job& j, bool* missing, bool* solo) const {
  *missing = false;
  *solo = false;
  if (s.current == j.seq) {
    if (std::strncmp(s.current_what, j.what.c_str(), sizeof s.current_what - 1) == 0)
      return fmt::format("rank {}: waiting in it too", r);
    *missing = true;
    return fmt::format("rank {}: in collective #{} '{}' instead: the ranks issued different collectives (a bug: "
                       "every rank must run the same steps)", r, s.current, s.current_what);
  }
  if (s.current > j.seq || s.last >= j.seq)
    return fmt::format("rank {}: already past it (step {})", r, s.step);
  *missing = true;
  if (s.solo[0]) {
    *solo = true;
    return fmt::format("rank {}: working alone on '{}' (step {})", r, s.solo, s.step);
  }
  if (s.current >= 0)
    return fmt::format("rank {}: has not reached it: waiting in an earlier collective #{} '{}'", r, s.current,
                       s.current_what);
  return fmt::format("rank {}: has not reached it: in step {}, and its last collective (#{} '{}') finished {:.1f} s "
                     "ago: it is stuck in its own work (a hang, a deadlock, or far more work than the others)",
                     r, s.step, s.last, s.last_what, s.since_last_s);
}

bool ProgressThread::late(const Job& j, double waited) {
  using clock = std::chrono::steady_clock;
  std::vector<Status> st(static_cast<size_t>(size_));
  std::vector<MPI_Request> sends, recvs(static_cast<size_t>(size_), MPI_REQUEST_NULL);
  std::vector<int> answered(static_cast<size_t>(size_), 0);
  int64_t seq = j.seq;
  for (int r = 0; r < size_; ++r) {
    if (r == rank_) continue;
    sends.emplace_back();
    MPI_Isend(&seq, 1, MPI_INT64_T, r, kTagQuery, ctl_, &sends.back());
    MPI_Irecv(&st[r], sizeof(Status), MPI_BYTE, r, kTagAnswer, ctl_, &recvs[r]);
  }
  const double grace = std::min(5.0, std::max(1.0, o_.timeout_s / 4));
  const auto t0 = clock::now();
  int pending = size_ - 1;
  while (pending > 0 && std::chrono::duration<double>(clock::now() - t0).count() < grace) {
    for (int r = 0; r < size_; ++r) {
      if (r == rank_ || answered[r]) continue;
      MPI_Test(&recvs[r], &answered[r], MPI_STATUS_IGNORE);
      if (answered[r]) --pending;
    }
    answer_queries();  // others may be asking us at the same time
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::string lines, names;
  bool all_solo = true;
  int missing_count = 0;
  for (int r = 0; r < size_; ++r) {
    if (r == rank_) continue;
    bool missing = true, solo = false;
    std::string line = answered[r]
        ? describe(r, st[r], j, &missing, &solo)
        : fmt::format("rank {}: no answer in {:.0f} s: the process died, is stopped, or cannot be reached", r, grace);
    lines += "  " + line + "\n";
    if (!missing) continue;
    ++missing_count;
    all_solo = all_solo && solo;
    names += (names.empty() ? "" : ", ") + std::to_string(r);
  }
  if (missing_count > 0 && all_solo) {
    for (auto& q : sends) MPI_Wait(&q, MPI_STATUS_IGNORE);
    return true;  // rank 0 (say) is writing files: wait on
  }
  const std::string who = missing_count == 0
      ? std::string("every rank is waiting in it: MPI itself is stuck (the network?)")
      : fmt::format("rank{} {} did not join it", missing_count > 1 ? "s" : "", names);
  std::fprintf(stderr,
               "\nflowgrad: rank %d of %d: collective #%ld '%s' (step %ld) has not completed after %.0f s "
               "(--dist-timeout %.0f s): %s\n%sstopping every rank (MPI_Abort, exit status %d)\n",
               rank_, size_, static_cast<long>(j.seq), j.what.c_str(), static_cast<long>(j.step), waited, o_.timeout_s,
               who.c_str(), lines.c_str(), kExitRankFault);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, kExitRankFault);
  return false;
}

}  // namespace fg::dist
#endif  // FG_HAVE_MPI
