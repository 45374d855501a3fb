// Checks for flow layers, for the tests of layers you write yourself: that reverse inverts forward,
// and that the log-determinant a layer reports is the log|det| of its Jacobian, computed by brute
// force. Both are meant for small f64 inputs (move the layer to f64 with layer.to(DType::F64)).
#pragma once
#include <functional>

#include "flowgrad/flows/flow.h"

namespace fg::flows {

struct RoundTrip {
  double max_err = 0;                   // max |reverse(forward(z)) - z|
  double ldj_forward = 0, ldj_reverse = 0;  // example 0's log-det each way (reverse's should be -forward's)
  double max_abs_out = 0;               // max |forward(z)|
};
// forward then reverse under NoGradGuard, with the same args both ways. z [N, ...]; throws when
// forward changes the shape (a reshaping layer: compare shapes yourself).
RoundTrip round_trip(Flow& f, const Tensor& z, const FlowArgs& args = {});

// log|det d f(x)/dx| at a single example x [1, ...] (f64): one backward pass per output element
// builds the Jacobian row by row, then LU gives log|det|. f must map x to as many elements.
double brute_force_logdet(const std::function<Var(const Var&)>& f, const Tensor& x);
// The same for a flow layer's forward (only z; its ldj output is ignored).
double brute_force_logdet(Flow& f, const Tensor& x, const FlowArgs& args = {});

}  // namespace fg::flows
