#!/usr/bin/env bash
# Runs a test program on N MPI ranks (1 thread each), as CI does on 2 cores, or, with np=0, runs
# it as it is (it launches mpirun itself); or reports the test skipped (exit 77, counted by
# tools/summarize_tests.py as needing MPI) when this flowgrad was built without MPI or mpirun is
# missing. Usage: run_mpi.sh <built-with-mpi: 0|1> np=<N> <program> [args]
set -u
with_mpi=$1
np=${2#np=}
shift 2
if [ "$with_mpi" != 1 ]; then
  echo "skipped: this flowgrad was built without MPI (install libopenmpi-dev: tools/bootstrap does)"
  exit 77
fi
if ! command -v mpirun >/dev/null 2>&1; then
  echo "skipped: mpirun not found (install openmpi-bin: tools/bootstrap does)"
  exit 77
fi
# Open MPI refuses root unless told (CI runs as root); 2 ranks on 2 cores need no binding to one
# core each, or a rank's progress thread would share its compute thread's core.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
[ "$np" = 0 ] && exec "$@"
exec mpirun --oversubscribe --bind-to none -np "$np" "$@"
