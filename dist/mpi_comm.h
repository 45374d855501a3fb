// The MPI communicator (built with -Dmpi, when MPI is found): internal to dist/, created by
// dist::Session under mpirun.
#pragma once
#include <memory>

#include "flowgrad/dist/communicator.h"

namespace fg::dist {

struct MpiOptions {
  double timeout_s = 600;  // a collective that has not completed by then stops the job (watchdog)
  int poll_us = 50;        // the progress thread's sleep between MPI_Test calls
};

bool mpi_built();
// MPI_Init_thread(MPI_THREAD_MULTIPLE) and a communicator over MPI_COMM_WORLD with its progress
// thread. Throws when MPI was not built in, or the library gives a lower thread level.
std::unique_ptr<Communicator> make_mpi_communicator(int* argc, char*** argv, const MpiOptions& o);
// Stops the progress thread of an MPI communicator and calls MPI_Finalize (a no-op without MPI).
void mpi_finalize(std::unique_ptr<Communicator> c);
// MPI_Abort(MPI_COMM_WORLD, code): every rank of the job ends (never returns; exits without MPI).
[[noreturn]] void mpi_abort(int code);

}  // namespace fg::dist
