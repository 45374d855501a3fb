#include "flowgrad/flows/continuous/matching.h"

#include "flowgrad/dist/shard.h"
#include "flowgrad/flows/continuous/assignment.h"

namespace fg::flows {

Matcher parse_matcher(const std::string& s) {
  if (s == "fm") return Matcher::FM;
  if (s == "i-cfm" || s == "icfm") return Matcher::ICFM;
  if (s == "ot-cfm" || s == "otcfm") return Matcher::OTCFM;
  fail(fmt::format("unknown flow-matching objective '{}' (expected fm, i-cfm or ot-cfm)", s));
}

const char* matcher_name(Matcher m) {
  switch (m) {
    case Matcher::FM: return "fm";
    case Matcher::ICFM: return "i-cfm";
    case Matcher::OTCFM: return "ot-cfm";
  }
  return "?";
}

namespace {
// t [N] as [N, 1, ...] to broadcast over an example
Tensor per_example(const Tensor& t, const Tensor& like) {
  Shape s(like.dim(), 1);
  s[0] = t.size(0);
  return t.reshape(s);
}
}  // namespace

PathSample sample_path(Matcher m, const Tensor& x0_in, const Tensor& x1_in, const Tensor& t, const Tensor& eps,
                       double sigma, OtPairing* pairing) {
  FG_CHECK(x0_in.shape() == x1_in.shape(), "flow matching: source {} and data {} batches differ",
           shape_str(x0_in.shape()), shape_str(x1_in.shape()));
  FG_CHECK(t.dim() == 1 && t.size(0) == x1_in.size(0), "flow matching: t must be [{}], got {}", x1_in.size(0),
           shape_str(t.shape()));
  FG_CHECK(sigma >= 0 && sigma < 1, "flow matching: sigma must be in [0, 1), got {}", sigma);
  Tensor x0 = x0_in, x1 = x1_in;
  if (m == Matcher::OTCFM) {
    // data parallel: the pairing of the global batch (every rank solves the same assignment on the
    // gathered batch), of which this rank keeps its rows' partners
    const bool global = dist::ShardedStep::distributed();
    const int64_t first = global ? dist::ShardedStep::current()->split().first : 0;
    Tensor all0 = global ? dist::allgather_rows(x0, "OT-CFM source batch") : x0;
    Tensor all1 = global ? dist::allgather_rows(x1, "OT-CFM data batch") : x1;
    std::vector<int> perm = pairing ? (*pairing)(all0, all1) : ot_pairing(all0, all1);
    std::vector<int32_t> idx(perm.begin() + first, perm.begin() + first + x0.size(0));
    x1 = gather_rows(all1, from_vector(idx, {static_cast<int64_t>(idx.size())}).to(x1.device()));
  }
  Tensor tb = per_example(t.to(x1.dtype()), x1);
  PathSample s;
  s.t = t;
  if (m == Matcher::FM) {
    Tensor sig_t = 1.0 - tb * (1.0 - sigma);
    s.xt = tb * x1 + sig_t * x0;
    s.ut = (x1 - s.xt * (1.0 - sigma)) / sig_t;
  } else {
    s.xt = tb * x1 + (1.0 - tb) * x0;
    if (sigma > 0) s.xt = s.xt + eps * sigma;
    s.ut = x1 - x0;
  }
  return s;
}

PathSample sample_path(Matcher m, const Tensor& x0, const Tensor& x1, double sigma, Generator* g, OtPairing* pairing) {
  Tensor t = rand({x1.size(0)}, x1.dtype(), x1.device(), g);
  Tensor src = x0.defined() ? x0 : randn(x1.shape(), x1.dtype(), x1.device(), g);
  Tensor eps = (m != Matcher::FM && sigma > 0) ? randn(x1.shape(), x1.dtype(), x1.device(), g) : zeros_like(x1);
  return sample_path(m, src, x1, t, eps, sigma, pairing);
}

Var matching_loss(VelocityField& v, const PathSample& s) {
  Var pred = v(Var(s.xt), Var(s.t));
  return ag::mean(ag::square(pred - Var(s.ut)));
}

}  // namespace fg::flows
