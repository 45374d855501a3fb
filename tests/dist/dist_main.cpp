// The doctest main of test_dist: a dist::Session around the cases, so that the same executable
// tests the single-process communicator when run alone and the MPI one under mpirun (the 'mpi'
// suite runs it with 2 ranks through tests/dist/run_mpi.sh). A short watchdog timeout: a case that
// leaves the ranks out of step fails in seconds, naming the collective.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "flowgrad/dist/session.h"

int main(int argc, char** argv) {
  fg::dist::Session session({30.0}, &argc, &argv);
  doctest::Context ctx(argc, argv);
  const int failed = ctx.run();
  if (failed && fg::dist::world().size() > 1) fg::dist::abort_job(failed);  // the others may wait for us
  return failed;
}
