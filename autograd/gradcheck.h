// gradcheck: compares autograd gradients with f64 central differences.
// The output is projected on a fixed random tensor R (loss = sum(f(x) * R)) so a backward that
// drops or mis-broadcasts part of the upstream gradient fails. Also checked: a zero upstream
// gives zero gradients; a second forward+backward gives identical gradients; an input that does
// not require grad gets none while the others are unchanged.
#pragma once
#include <functional>
#include <string>

#include "autograd/var.h"

namespace fg::ag {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  int64_t max_elements = 48;  // per input: check a seeded random subset when larger
  uint64_t seed = 1234;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // first failure, naming the input, the element and both values
  double max_abs_error = 0;
  int64_t checked = 0;  // number of elements compared
};

using VarFn = std::function<Var(const std::vector<Var>&)>;

// inputs must be f64 CPU tensors; every input is differentiated.
GradcheckResult gradcheck(const VarFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& o = {});

}  // namespace fg::ag
