// Dequantization: integer images 0..255 -> continuous logit space and back.
// forward: z = (x + u) / 256 with u ~ U[0,1) (ldj -= D log 256), then the logit of
//   z (1-alpha) + alpha/2 (ldj += D log(1-alpha) + sum(-log z - log(1-z))).
// reverse: sigmoid (ldj += sum(-z - 2 softplus(-z))), in the revised tutorial (unscale_alpha)
//   followed by undoing the alpha squeeze, then * 256 (ldj += D log 256) and floor to integers.
// VariationalDequantization draws u from a conditional flow q(u|x) of coupling layers instead.
#pragma once
#include "flowgrad/flows/flow.h"

namespace fg::flows {

class Dequantization : public Flow {
 public:
  explicit Dequantization(double alpha = 1e-5, bool unscale_alpha = true, int quants = 256);
  std::string type_name() const override { return "Dequantization"; }
  virtual bool variational() const { return false; }  // the noise comes from a learned flow
  // z holds integers (any dtype); the result takes ldj's float dtype (the model's)
  void forward(Var& z, Var& ldj, const FlowArgs& a = {}) override;
  // z in logit space -> I32 integers in [0, quants-1]
  void reverse(Var& z, Var& ldj, const FlowArgs& a = {}) override;

  // (0,1) -> logit space and back, with their log-dets (the tutorial's sigmoid(reverse=True/False)).
  void logit(Var& z, Var& ldj) const;
  void sigmoid(Var& z, Var& ldj) const;
  Generator* generator = nullptr;  // noise source (the default generator when null)

 protected:
  // x integers -> (x + u)/quants in (0,1); the base class draws u uniformly.
  virtual void dequant(Var& z, Var& ldj);
  double alpha_;
  bool unscale_alpha_;
  int quants_;
};

class VariationalDequantization : public Dequantization {
 public:
  VariationalDequantization(std::vector<FlowPtr> flows, double alpha = 1e-5, bool unscale_alpha = true);
  std::string type_name() const override { return "VariationalDequantization"; }
  bool variational() const override { return true; }
  // The noise flow alone: u in (0,1) -> q-distributed noise in (0,1) given img in [-1,1]; ldj gets
  // log|det du'/du|.
  void noise_flow(Var& u, Var& ldj, const Var& img) const;

 protected:
  void dequant(Var& z, Var& ldj) override;

 private:
  std::vector<FlowPtr> flows_;
};

}  // namespace fg::flows
