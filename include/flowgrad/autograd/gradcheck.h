// gradcheck: compares autograd gradients with f64 central differences.
// The output is projected on a fixed random tensor R (loss = sum(f(x) * R)) so a backward that
// drops or mis-broadcasts part of the upstream gradient fails. Also checked: a zero upstream
// gives zero gradients; a second forward+backward gives identical gradients; an input that does
// not require grad gets none while the others are unchanged.
#pragma once
#include <functional>
#include <string>

#include "flowgrad/autograd/var.h"

namespace fg::ag {

// The device gradchecks evaluate on when their options do not say: the cpu, unless a test program
// sets another (the GPU tests run every op's check on cuda:0 this way).
Device default_gradcheck_device();
void set_default_gradcheck_device(Device d);

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  int64_t max_elements = 48;  // per input: check a seeded random subset when larger
  uint64_t seed = 1234;
  // where f runs: inputs (and the projection) are moved there for every evaluation, gradients and
  // values come back to the host to be compared
  Device device = default_gradcheck_device();
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // first failure, naming the input, the element and both values
  double max_abs_error = 0;
  int64_t checked = 0;  // number of elements compared
};

using VarFn = std::function<Var(const std::vector<Var>&)>;

// inputs must be f64 CPU tensors (they are moved to o.device); every input is differentiated.
GradcheckResult gradcheck(const VarFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& o = {});

}  // namespace fg::ag
