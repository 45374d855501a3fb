// Small helpers shared by the programs: durations and the top-level error handler. (The progress
// bar is the library's: flowgrad/train/progress.h.)
#pragma once
#include <functional>
#include <string>

#include "flowgrad/train/progress.h"

namespace fg::app {

// The programs are built on the library's training harness (Progress, TrainLoop, plots).
using namespace fg::train;

// "90", "90s", "5m", "1.5h" -> seconds; throws fg::Error naming the bad text.
double parse_duration(const std::string& s);

// Runs body; fg::Error and other exceptions become one line on stderr and exit code 1. In a
// data-parallel job the line names the rank, and the whole job ends (dist::abort_job), since the
// other ranks may be waiting for this one. Create the dist::Session before calling it.
int run_main(const char* prog, const std::function<int()>& body);

}  // namespace fg::app
