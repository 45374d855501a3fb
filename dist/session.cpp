// dist::Session: picks the communicator from how the process was launched.
#include "flowgrad/dist/session.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "dist/mpi_comm.h"
#include "flowgrad/tensor/error.h"
#include "tensor/backend.h"

namespace fg::dist {

namespace {

bool env_set(const char* name) {
  const char* e = std::getenv(name);
  return e && *e;
}

int env_int(const char* name, int fallback) {
  const char* e = std::getenv(name);
  return e && *e ? std::atoi(e) : fallback;
}

bool g_mpi_active = false;

}  // namespace

bool launched_by_mpirun() {
  return env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMI_SIZE") || env_set("PMIX_RANK") || env_set("MPI_LOCALNRANKS");
}

Session::Session(const SessionOptions& o, int* argc, char*** argv) : o_(o) {
  FG_CHECK(o.timeout_s > 0, "--dist-timeout must be positive, got {}", o.timeout_s);
  if (!launched_by_mpirun()) return;
  MpiOptions mo;
  mo.timeout_s = o.timeout_s;
  mo.poll_us = env_int("FG_DIST_POLL_US", mo.poll_us);
  set_world(make_mpi_communicator(argc, argv, mo));
  mpi_ = g_mpi_active = true;
}

Session::~Session() {
  if (!mpi_) return;
  mpi_finalize(set_world(nullptr));
  g_mpi_active = false;
}

Device Session::use_device(Device d) {
  if (!mpi_ || !d.is_cuda()) return d;
  const int local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", env_int("MPI_LOCALNRANKS", 1));
  const int local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("MPI_LOCALRANKID", 0));
  if (d.index == 0 && local_size > 1) d = Device::cuda(local_rank);
#ifdef FG_HAVE_NCCL
  using Create = Communicator* (*)(Communicator*, int, double);
  std::string why;
  auto create = reinterpret_cast<Create>(cuda_module_symbol("fg_nccl_create_communicator", &why));
  FG_CHECK(create, "NCCL: {}", why);
  std::unique_ptr<Communicator> host = set_world(nullptr);
  set_world(std::unique_ptr<Communicator>(create(host.release(), d.index, o_.timeout_s)));
#else
  if (world().rank() == 0)
    std::fprintf(stderr, "warning: this flowgrad was built without NCCL: CUDA gradients are reduced over MPI through "
                 "host copies (slow)\n");
#endif
  return d;
}

void abort_job(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (g_mpi_active) mpi_abort(code);
  std::_Exit(code);
}

}  // namespace fg::dist
