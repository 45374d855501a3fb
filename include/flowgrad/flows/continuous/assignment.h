// Exact optimal assignment (the linear sum assignment problem) and what is built on it: the
// minibatch optimal-transport pairing of OT-CFM and the exact 2-Wasserstein distance between two
// equal-size point sets (for uniform weights and equal sizes the optimal transport plan is a
// permutation, so exact EMD is an assignment). Two exact solvers, in double on the host:
// Jonker-Volgenant (LAPJV: column reduction, reduction transfer, augmenting row reduction, then
// shortest augmenting paths; the fast one, used for pairing and W2) and the plain Hungarian method
// with potentials (O(n^2 m); the second method the tests hold LAPJV to). Both return their dual
// potentials, which certify optimality: u_i + v_j <= c_ij, with equality on the assignment.
#pragma once
#include <vector>

#include "flowgrad/tensor/ops.h"

namespace fg::flows {

struct Assignment {
  std::vector<int> col_of_row;  // row i is assigned column col_of_row[i]
  double cost = 0;              // sum of the assigned costs
  std::vector<double> u, v;     // dual potentials of rows and columns
};

// Minimum-cost assignment of the rows of a row-major n x n cost matrix to distinct columns (LAPJV).
// v0: starting column prices (e.g. a previous, similar problem's v); any prices give the exact
// optimum, good ones make the augmenting row reduction assign most rows at once.
Assignment solve_assignment(const std::vector<double>& cost, int n, const std::vector<double>* v0 = nullptr);
// The same problem for n x m, n <= m, by the Hungarian method.
Assignment solve_assignment_hungarian(const std::vector<double>& cost, int n, int m);

// Squared Euclidean distances between the rows of a [n, ...] and b [m, ...] (flattened), n x m,
// computed on the host in double (both sets are read once).
std::vector<double> squared_distances(const Tensor& a, const Tensor& b);

// perm with sum_i |x0_i - x1_perm[i]|^2 minimal: the exact OT pairing of two equal-size batches.
std::vector<int> ot_pairing(const Tensor& x0, const Tensor& x1);

// OT-CFM's pairing, warm-started: the column prices of each batch's LAPJV come from the previous
// batch's row potentials (their c-transform at the new columns, v_j = min_i c(x0'_i, x1_j) - u'_i),
// which for batches of the same two distributions approximate the new optimum's prices. Exact
// whatever the previous batch was; the first call starts cold.
class OtPairing {
 public:
  std::vector<int> operator()(const Tensor& x0, const Tensor& x1);

 private:
  std::vector<double> prev_x0_, prev_u_;
  int64_t dim_ = 0;
};

// Exact W2^2 between equal-size point sets a, b [n, d]: min over permutations of the mean squared
// distance, what POT's emd2 returns for ot.dist's squared Euclidean cost with uniform weights (the
// number C2OT reports as "2-Wasserstein"). Dense LAPJV up to n = 2048, above it the sparse solver
// with its certificate (sparse_assignment.h).
double w2sq_exact(const Tensor& a, const Tensor& b);
// Its square root, the true W2 (torchcfm's `wasserstein`, power 2).
double w2_exact(const Tensor& a, const Tensor& b);

}  // namespace fg::flows
