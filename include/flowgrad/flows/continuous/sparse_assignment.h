// Exact optimal assignment between two equal-size point sets without the dense cost matrix, for
// the W2 of large sets (C2OT's protocol: 10,000 vs 10,000 points, where a dense LAPJV needs 800 MB
// of doubles). The cost is the squared Euclidean distance, computed from the points when needed.
//   1. Starting prices: the exact (dense) assignment of a subsample of m rows and m columns, its
//      row potentials extended to every column by their c-transform. Under these prices the
//      optimal pairs have small reduced costs c_ij - u_i - v_j, however far apart the points are.
//   2. Candidate edges: each row's k columns of least reduced cost, each column's k rows, and a
//      greedy perfect matching (each row in turn its cheapest free column), so the graph holds one.
//   3. Jonker-Volgenant on that sparse graph from those prices: augmenting row reduction, then
//      shortest augmenting paths (Dijkstra with a binary heap over the reduced costs), which leave
//      potentials u, v with u_i + v_j = c_ij on the assignment and u_i + v_j <= c_ij on every
//      candidate edge. Where the candidates hold no perfect matching, the rows a search reached
//      get twice as many.
//   4. The certificate: a scan of all n^2 pairs checks u_i + v_j <= c_ij + tol. Rows with a
//      violated pair get those pairs as new edges and are re-assigned (step 3's last phase); the
//      loop ends when no pair is violated. By LP duality the assignment's cost is then within
//      n * tol of the optimum over all permutations (tol ~ 1e-12 of the cost scale).
// Memory O(n k); the scans are O(n^2 d) arithmetic, on the OpenMP threads.
#pragma once
#include "flowgrad/flows/continuous/assignment.h"

namespace fg::flows {

struct SparseAssignmentOptions {
  int neighbours = 16;      // k: candidate columns per row and rows per column at the start
  int sample = 1024;        // m: the subsample whose exact assignment gives the starting prices
  double tolerance = 1e-12; // relative to the cost scale: the certificate's allowed violation
};

struct SparseAssignment : Assignment {
  int64_t edges = 0;          // candidate edges at the end
  int rounds = 0;             // certificate scans (1 when the first sparse solve was optimal)
  int64_t widened = 0;        // rows whose candidates were doubled for want of a perfect matching
  double max_violation = 0;   // max over all pairs of u_i + v_j - c_ij at the end (<= tol)
  double tolerance = 0;       // the absolute tolerance the certificate used
  double seconds_prices = 0, seconds_candidates = 0, seconds_augment = 0, seconds_certify = 0;
};

// Rows are a's points, columns b's; a, b [n, d] (any float dtype, read in double on the host).
SparseAssignment solve_assignment_sparse(const Tensor& a, const Tensor& b, const SparseAssignmentOptions& o = {});

}  // namespace fg::flows
