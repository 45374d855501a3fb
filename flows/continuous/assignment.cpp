#include "flowgrad/flows/continuous/assignment.h"

#include "flowgrad/flows/continuous/sparse_assignment.h"

#include <cmath>
#include <limits>

namespace fg::flows {

namespace {
void check_costs(const std::vector<double>& cost, size_t want) {
  FG_CHECK(cost.size() == want, "assignment: {} costs for a matrix of {}", cost.size(), want);
  for (double c : cost) FG_CHECK(std::isfinite(c), "assignment: the cost matrix has a non-finite entry ({})", c);
}
}  // namespace

Assignment solve_assignment_hungarian(const std::vector<double>& cost, int n, int m) {
  FG_CHECK(n >= 0 && m >= n, "assignment: needs rows <= columns, got {} x {}", n, m);
  check_costs(cost, static_cast<size_t>(n) * m);
  const double inf = std::numeric_limits<double>::infinity();
  // 1-based potentials; column 0 is a virtual start column; p[j] = the row matched to column j
  std::vector<double> u(n + 1, 0.0), v(m + 1, 0.0), minv(m + 1);
  std::vector<int> p(m + 1, 0), way(m + 1, 0);
  std::vector<char> used(m + 1);
  for (int i = 1; i <= n; ++i) {
    p[0] = i;
    int j0 = 0;
    std::fill(minv.begin(), minv.end(), inf);
    std::fill(used.begin(), used.end(), 0);
    // Dijkstra over reduced costs from row i until a free column is reached
    do {
      used[j0] = 1;
      const int i0 = p[j0];
      const double* row = cost.data() + static_cast<size_t>(i0 - 1) * m;
      const double ui0 = u[i0];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= m; ++j) {
        if (used[j]) continue;
        double cur = row[j - 1] - ui0 - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int j = 0; j <= m; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    // augment along the path
    do {
      int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  Assignment a;
  a.col_of_row.assign(n, -1);
  for (int j = 1; j <= m; ++j)
    if (p[j] != 0) a.col_of_row[p[j] - 1] = j - 1;
  for (int i = 0; i < n; ++i) a.cost += cost[static_cast<size_t>(i) * m + a.col_of_row[i]];
  a.u.assign(u.begin() + 1, u.end());
  a.v.assign(v.begin() + 1, v.end());
  return a;
}


namespace {
// The first j with x[j] == target (n if none): a vectorized pass instead of an early-exit search,
// which the argmin of a dense Dijkstra step spent most of its time in
int first_equal(const double* __restrict x, int n, double target) {
  int idx = n;
#pragma omp simd reduction(min : idx)
  for (int j = 0; j < n; ++j) idx = (x[j] == target && j < idx) ? j : idx;
  return idx;
}

// The smallest reduced cost row[j] - v[j] over j != skip and the first j reaching it (-1: none)
void row_min(const double* __restrict row, const double* __restrict v, int n, int skip, double& hmin, int& jmin) {
  double m = std::numeric_limits<double>::infinity();
#pragma omp simd reduction(min : m)
  for (int j = 0; j < n; ++j) {
    const double h = row[j] - v[j];
    m = (j != skip && h < m) ? h : m;
  }
  int idx = n;
#pragma omp simd reduction(min : idx)
  for (int j = 0; j < n; ++j) idx = (j != skip && row[j] - v[j] == m && j < idx) ? j : idx;
  hmin = m;
  jmin = idx < n ? idx : -1;
}
}  // namespace

// LAPJV after Jonker & Volgenant (1987), "A shortest augmenting path algorithm for dense and
// sparse linear assignment problems": cheap initial phases assign most rows, then each remaining
// free row gets a Dijkstra shortest augmenting path over reduced costs c_ij - v_j (ours scans
// every column per step, branch-free, instead of JV's list of unscanned columns: 2x faster).
Assignment solve_assignment(const std::vector<double>& cost, int n, const std::vector<double>* v0) {
  FG_CHECK(n >= 0, "assignment: negative size {}", n);
  check_costs(cost, static_cast<size_t>(n) * n);
  FG_CHECK(!v0 || v0->size() == static_cast<size_t>(n), "assignment: {} starting prices for {} columns",
           v0 ? v0->size() : 0, n);
  Assignment a;
  if (n == 0) return a;
  const double inf = std::numeric_limits<double>::infinity();
  auto c = [&](int i, int j) { return cost[static_cast<size_t>(i) * n + j]; };
  std::vector<int> rowsol(n, -1), colsol(n, -1), matches(n, 0), free_rows(n), pred(n);
  std::vector<double> v(n), d(n);
  int numfree = 0;
  if (v0) {  // warm start: every row free, the given prices; the row reduction assigns most rows
    v = *v0;
    for (int i = 0; i < n; ++i) free_rows[numfree++] = i;
  }
  // column reduction: each column to its cheapest row, last columns first
  for (int j = n - 1; j >= 0 && !v0; --j) {
    int imin = 0;
    double m = c(0, j);
    for (int i = 1; i < n; ++i)
      if (c(i, j) < m) m = c(i, j), imin = i;
    v[j] = m;
    if (++matches[imin] == 1) {
      rowsol[imin] = j;
      colsol[j] = imin;
    } else if (v[j] < v[rowsol[imin]]) {
      int j1 = rowsol[imin];
      rowsol[imin] = j;
      colsol[j] = imin;
      colsol[j1] = -1;
    } else {
      colsol[j] = -1;
    }
  }
  // reduction transfer from rows assigned once; collect the free rows
  for (int i = 0; i < n && !v0; ++i) {
    if (matches[i] == 0) {
      free_rows[numfree++] = i;
    } else if (matches[i] == 1) {
      int j1 = rowsol[i];
      double m = inf;
      for (int j = 0; j < n; ++j)
        if (j != j1 && c(i, j) - v[j] < m) m = c(i, j) - v[j];
      if (m < inf) v[j1] -= m;
    }
  }
  // augmenting row reduction, twice. With real-valued costs two rows can trade a column back and
  // forth, each lowering its price by a tiny amount: the passes stop after 4n row visits and
  // leave the rest to the augmentation phase, which is exact on its own.
  int64_t budget = 4 * static_cast<int64_t>(n);
  for (int loop = 0; loop < 2; ++loop) {
    int k = 0, prev = numfree;
    numfree = 0;
    while (k < prev) {
      if (--budget < 0) {
        while (k < prev) free_rows[numfree++] = free_rows[k++];
        break;
      }
      int i = free_rows[k++];
      // the row's smallest and second-smallest reduced costs (first indices on ties)
      double umin, usub;
      int j1, j2;
      row_min(cost.data() + static_cast<size_t>(i) * n, v.data(), n, -1, umin, j1);
      row_min(cost.data() + static_cast<size_t>(i) * n, v.data(), n, j1, usub, j2);
      int i0 = colsol[j1];
      if (umin < usub) {
        v[j1] -= usub - umin;
      } else if (i0 >= 0 && j2 >= 0) {
        j1 = j2;
        i0 = colsol[j2];
      }
      if (rowsol[i] >= 0 && colsol[rowsol[i]] == i) colsol[rowsol[i]] = -1;
      rowsol[i] = j1;
      colsol[j1] = i;
      if (i0 >= 0) {
        rowsol[i0] = -1;
        if (umin < usub) free_rows[--k] = i0;
        else free_rows[numfree++] = i0;
      }
    }
  }
  // shortest augmenting path for each free row: Dijkstra over the reduced costs c_ij - v_j with
  // dense arrays as its queue, one branch-free (vectorized) pass over the columns per scanned row;
  // a scanned column leaves the queue (key +inf; price -inf in the relaxation, so it never returns)
  std::vector<double> key(n), w(n);
  std::vector<int> scanned;
  scanned.reserve(n);
  for (int f = 0; f < numfree; ++f) {
    const int freerow = free_rows[f];
    const double* cf = cost.data() + static_cast<size_t>(freerow) * n;
    for (int j = 0; j < n; ++j) {
      key[j] = cf[j] - v[j];
      w[j] = v[j];
      pred[j] = freerow;
    }
    scanned.clear();
    int endofpath = -1;
    double m = 0;
    double* __restrict kp = key.data();
    double* __restrict wp = w.data();
    int* __restrict pp = pred.data();
    for (;;) {
      double mn = inf;
#pragma omp simd reduction(min : mn)
      for (int j = 0; j < n; ++j) mn = kp[j] < mn ? kp[j] : mn;
      const int j1 = first_equal(kp, n, mn);
      d[j1] = mn;
      kp[j1] = inf;
      wp[j1] = -inf;
      scanned.push_back(j1);
      if (colsol[j1] < 0) {
        endofpath = j1;
        m = mn;
        break;
      }
      const int i = colsol[j1];
      const double* __restrict ci = cost.data() + static_cast<size_t>(i) * n;
      const double h = ci[j1] - v[j1] - mn;
      for (int j = 0; j < n; ++j) {
        const double nd = ci[j] - wp[j] - h;
        const bool better = nd < kp[j];
        kp[j] = better ? nd : kp[j];
        pp[j] = better ? i : pp[j];
      }
    }
    for (int j : scanned) v[j] += d[j] - m;  // the prices of the scanned columns
    int i;
    do {  // flip the alternating path
      i = pred[endofpath];
      colsol[endofpath] = i;
      int j1 = endofpath;
      endofpath = rowsol[i];
      rowsol[i] = j1;
    } while (i != freerow);
  }
  a.col_of_row = rowsol;
  a.v = v;
  a.u.resize(n);
  for (int i = 0; i < n; ++i) {
    a.u[i] = c(i, rowsol[i]) - v[rowsol[i]];
    a.cost += c(i, rowsol[i]);
  }
  return a;
}

namespace {
// points [m, d] row-major -> [d, m] (coordinate k of every point contiguous: the inner loops over
// points vectorize)
std::vector<double> columns_first(const std::vector<double>& y, int64_t m, int64_t d) {
  std::vector<double> t(y.size());
  for (int64_t j = 0; j < m; ++j)
    for (int64_t k = 0; k < d; ++k) t[k * m + j] = y[j * d + k];
  return t;
}
}  // namespace

std::vector<double> squared_distances(const Tensor& a, const Tensor& b) {
  const int64_t n = a.dim() >= 1 ? a.size(0) : 0, m = b.dim() >= 1 ? b.size(0) : 0;
  const int64_t d = n > 0 ? a.numel() / n : 0;
  FG_CHECK(a.dim() >= 1 && b.dim() >= 1 && (m == 0 || b.numel() / m == d),
           "squared_distances: point sets {} and {} differ in dimension", shape_str(a.shape()), shape_str(b.shape()));
  // on the host, in double (the assignment needs the matrix there anyway)
  std::vector<double> x = a.to_vector<double>(), out(static_cast<size_t>(n * m), 0.0);
  const std::vector<double> yt = columns_first(b.to_vector<double>(), m, d);
  for (int64_t i = 0; i < n; ++i) {
    double* __restrict o = out.data() + i * m;
    for (int64_t k = 0; k < d; ++k) {  // the same sum, k by k, over a row of columns at once
      const double p = x[i * d + k];
      const double* __restrict q = yt.data() + k * m;
#pragma omp simd
      for (int64_t j = 0; j < m; ++j) o[j] += (p - q[j]) * (p - q[j]);
    }
  }
  return out;
}

std::vector<int> ot_pairing(const Tensor& x0, const Tensor& x1) {
  FG_CHECK(x0.size(0) == x1.size(0), "ot_pairing: batches of {} and {} points", x0.size(0), x1.size(0));
  const int n = static_cast<int>(x0.size(0));
  return solve_assignment(squared_distances(x0, x1), n).col_of_row;
}

std::vector<int> OtPairing::operator()(const Tensor& x0, const Tensor& x1) {
  FG_CHECK(x0.size(0) == x1.size(0), "ot_pairing: batches of {} and {} points", x0.size(0), x1.size(0));
  const int n = static_cast<int>(x0.size(0));
  const int64_t d = n > 0 ? x0.numel() / n : 0;
  std::vector<double> cost = squared_distances(x0, x1), a = x0.to_vector<double>();
  std::vector<double> v0;
  if (!prev_u_.empty() && d == dim_ && n > 0) {
    // the c-transform of the previous rows' potentials at the new columns:
    // v0_j = min_i |x0_prev_i - x1_j|^2 - u_i
    const std::vector<double> bt = columns_first(x1.to_vector<double>(), n, d);
    const int64_t m = static_cast<int64_t>(prev_u_.size());
    v0.assign(n, std::numeric_limits<double>::infinity());
    std::vector<double> s(n);
    for (int64_t i = 0; i < m; ++i) {
      std::fill(s.begin(), s.end(), 0.0);
      for (int64_t k = 0; k < d; ++k) {
        const double p = prev_x0_[i * d + k];
        const double* __restrict q = bt.data() + k * n;
#pragma omp simd
        for (int j = 0; j < n; ++j) s[j] += (p - q[j]) * (p - q[j]);
      }
      const double u = prev_u_[i];
      double* __restrict vp = v0.data();
#pragma omp simd
      for (int j = 0; j < n; ++j) vp[j] = std::min(vp[j], s[j] - u);
    }
  }
  Assignment r = solve_assignment(cost, n, v0.empty() ? nullptr : &v0);
  prev_x0_ = std::move(a);
  prev_u_ = std::move(r.u);
  dim_ = d;
  return r.col_of_row;
}

double w2sq_exact(const Tensor& a, const Tensor& b) {
  FG_CHECK(a.size(0) == b.size(0) && a.size(0) > 0, "w2_exact: needs two non-empty sets of equal size, got {} and {}",
           a.size(0), b.size(0));
  const int n = static_cast<int>(a.size(0));
  if (n <= 2048) return solve_assignment(squared_distances(a, b), n).cost / n;
  return solve_assignment_sparse(a.reshape({n, -1}), b.reshape({n, -1})).cost / n;
}

double w2_exact(const Tensor& a, const Tensor& b) { return std::sqrt(w2sq_exact(a, b)); }

}  // namespace fg::flows
