// Class conditioning of the coupling flows: labels as one-hot rows, a class-conditional diagonal
// Gaussian (a learned mean and log-scale per class and per latent element, as normflows'
// ClassCondDiagGaussian; zero-initialized, so it starts as N(0, I)), and the class embedding a
// conditioned coupling network adds as a bias after its first conv.
//   log N(z; mu_y, sigma_y^2) = sum(-0.5 ((z - mu_y) / sigma_y)^2 - log sigma_y - 0.5 log 2 pi)
// with mu_y = onehot(y) M and log sigma_y = onehot(y) S (M, S [K, D]): plain matmuls, so the
// gradient reaches the class parameters through ops that are already gradient-checked.
#pragma once
#include <string>

#include "flowgrad/flows/flow.h"

namespace fg::flows {

// How a coupling flow is conditioned on the class: not at all, through its base distribution (at
// the top and at every split), through its coupling networks, or both.
enum class Conditioning { None, Prior, Coupling, Both };
Conditioning parse_conditioning(const std::string& s);  // none|prior|coupling|both; throws naming them
const char* conditioning_name(Conditioning c);
inline bool conditions_prior(Conditioning c) { return c == Conditioning::Prior || c == Conditioning::Both; }
inline bool conditions_coupling(Conditioning c) { return c == Conditioning::Coupling || c == Conditioning::Both; }

// labels: CPU U8 or I32 [N] with values in [0, k) -> one-hot [N, k] of `dtype` on `device`.
// Throws naming `what` and the first bad value.
Tensor one_hot(const Tensor& labels, int64_t k, DType dtype, Device device, const char* what = "one_hot");
// [N] labels all equal to `label` (I32, CPU)
Tensor full_labels(int64_t n, int64_t label);

class ClassPrior : public nn::Module {
 public:
  // A Gaussian per class over latents of shape `shape` ([C, H, W]); parameters mean, log_scale [k, D].
  ClassPrior(int64_t num_classes, Shape shape);
  std::string type_name() const override { return "ClassPrior"; }
  std::string extra_repr() const override;
  // z [N, ...shape], onehot [N, k] -> log density [N]
  Var log_prob(const Var& z, const Var& onehot) const;
  // draws mu_y + T sigma_y eps for each row of onehot (no grad)
  Tensor sample(const Tensor& onehot, double temperature, Generator* g) const;
  int64_t num_classes() const { return k_; }
  // Data-dependent initialization (as ActNorm's): each class's mean of z [N, ...shape] over the rows
  // of that class (a class without rows keeps its mean), and every class's log-scale the log of the
  // spread around the class means pooled over all classes (floored at log 0.05): per-class spreads
  // fitted to a few images per class are far too narrow wherever those images happened to be blank.
  // The constructor's start is N(0, I) for every class (Glow's, normflows'). labels: CPU u8/i32 [N].
  void init_from(const Tensor& z, const Tensor& labels);
  Var mean, log_scale;

 private:
  Var rows(const Var& p, const Var& onehot, int64_t n) const;  // onehot p reshaped to [N, ...shape]
  int64_t k_;
  Shape shape_;
};

// ClassPrior's log density, or N(0, I)'s when prior is null: what SplitFlow and ImageFlow use.
Var base_log_prob(const ClassPrior* prior, const Var& z, const Var* onehot, const char* what);

}  // namespace fg::flows
