// Named fault points, compiled into the library and switched on by the environment for tests:
//   FG_FAULT="name[=SUFFIX][@K|@K+][,name...]"   (@K: at step K only; @K+: at every step from K on;
//   =SUFFIX: a file fault only for paths ending in SUFFIX, e.g. =last.safetensors)
// Points (each test in tests/ that uses one says what it proves):
//   atomic_write.abort_before_rename  the atomic writer aborts (SIGABRT) after writing and syncing
//                                     the temporary, before renaming it over the target
//   atomic_write.fail_before_rename   the same moment, but an error is thrown
//   atomic_write.enospc               the writer's first write fails with ENOSPC (disk full)
//   train.nan_loss                    the training loop multiplies the step's loss by NaN
//   train.nan_grad                    the training loop sets a gradient element to NaN after backward
//   dist.hang                         this process stops taking part in a data-parallel job (sleeps)
//   dist.desync                       the training loop nudges one parameter after the update (the
//                                     ranks' replicas differ; under mpirun, armed on one rank only)
// Costs one branch per check when FG_FAULT is unset.
#pragma once
#include <cstdint>
#include <string>

namespace fg::nn {

// Is fault `name` armed (for `step`; steps < 0 match any step spec)?
bool fault_armed(const char* name, int64_t step = -1);
// Is file fault `name` armed for writing `path`?
bool fault_armed_for(const char* name, const std::string& path);
// Re-reads FG_FAULT (it is read once, at the first check): for tests that set it in-process.
void reload_faults();

}  // namespace fg::nn
