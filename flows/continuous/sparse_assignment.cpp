#include "flowgrad/flows/continuous/sparse_assignment.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <queue>

namespace fg::flows {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Edge {
  int j;
  double c;
};

class Solver {
 public:
  Solver(std::vector<double> a, std::vector<double> b, int n, int d)
      : a_(std::move(a)), b_(std::move(b)), n_(n), d_(d), adj_(n), rowsol_(n, -1), colsol_(n, -1), v_(n, 0.0),
        dist_(n, kInf), pred_(n, -1), done_(n, 0) {
    // coordinate-major copies for the scans over a whole row or column (they vectorize)
    a_t_.resize(a_.size());
    b_t_.resize(b_.size());
    for (int i = 0; i < n_; ++i)
      for (int k = 0; k < d_; ++k) {
        a_t_[static_cast<size_t>(k) * n_ + i] = a_[static_cast<size_t>(i) * d_ + k];
        b_t_[static_cast<size_t>(k) * n_ + i] = b_[static_cast<size_t>(i) * d_ + k];
      }
  }

  double cost(int i, int j) const {
    const double* p = a_.data() + static_cast<size_t>(i) * d_;
    const double* q = b_.data() + static_cast<size_t>(j) * d_;
    double s = 0;
    for (int k = 0; k < d_; ++k) s += (p[k] - q[k]) * (p[k] - q[k]);
    return s;
  }

  // out[j] = c(i, j) for all j (of_row), or out[j] = c(j, i) for all j
  void scan(int i, bool of_row, double* out) const {
    const std::vector<double>& own = of_row ? a_ : b_;
    const std::vector<double>& other = of_row ? b_t_ : a_t_;
    std::fill(out, out + n_, 0.0);
    for (int k = 0; k < d_; ++k) {
      const double x = own[static_cast<size_t>(i) * d_ + k];
      const double* y = other.data() + static_cast<size_t>(k) * n_;
      for (int j = 0; j < n_; ++j) out[j] += (x - y[j]) * (x - y[j]);
    }
  }

  // The k columns of row i with the smallest c_ij - v_j (of_row), or the k rows of column i with
  // the smallest c_ji - u_j: the candidates under the current potentials, by a full scan
  std::vector<int> cheapest(int i, int k, bool of_row, const std::vector<double>& pot, std::vector<double>& buf,
                            std::vector<int>& idx) const {
    buf.resize(n_);
    idx.resize(n_);
    scan(i, of_row, buf.data());
    for (int j = 0; j < n_; ++j) buf[j] -= pot[j];
    std::iota(idx.begin(), idx.end(), 0);
    k = std::min(k, n_);
    std::nth_element(idx.begin(), idx.begin() + (k - 1), idx.end(), [&](int x, int y) { return buf[x] < buf[y]; });
    return std::vector<int>(idx.begin(), idx.begin() + k);
  }

  void add_edge(int i, int j) {
    for (const Edge& e : adj_[i])
      if (e.j == j) return;
    adj_[i].push_back({j, cost(i, j)});
    ++edges_;
  }

  // Starting prices: the exact assignment of a subsample of m rows and m columns (dense LAPJV),
  // extended to every column by the c-transform of its row potentials, v_j = min_{i in S} c_ij - u_i.
  // Under these prices the optimal pairs have small reduced costs, near or far.
  void starting_prices(int m) {
    m = std::min(m, n_);
    std::vector<int> rows(m), cols(m);
    for (int t = 0; t < m; ++t) rows[t] = cols[t] = static_cast<int>(static_cast<int64_t>(t) * n_ / m);
    std::vector<double> c(static_cast<size_t>(m) * m);
    for (int t = 0; t < m; ++t)
      for (int q = 0; q < m; ++q) c[static_cast<size_t>(t) * m + q] = cost(rows[t], cols[q]);
    Assignment sub = solve_assignment(c, m);
    std::fill(v_.begin(), v_.end(), kInf);
#pragma omp parallel
    {
      std::vector<double> col(n_);
#pragma omp for schedule(static)
      for (int j = 0; j < n_; ++j) {
        scan(j, false, col.data());  // c(i, j) for all i
        double best = kInf;
        for (int t = 0; t < m; ++t) best = std::min(best, col[rows[t]] - sub.u[t]);
        v_[j] = best;
      }
    }
  }

  // Candidate edges: each row's k cheapest columns under v, each column's k cheapest rows under
  // u_i = min_j c_ij - v_j, and a greedy perfect matching.
  void build_candidates(int k) {
    std::vector<double> u_all(n_);
    std::vector<std::vector<int>> by_row(n_), by_col(n_);
#pragma omp parallel
    {
      std::vector<double> buf;
      std::vector<int> idx;
#pragma omp for schedule(dynamic, 64)
      for (int i = 0; i < n_; ++i) {
        by_row[i] = cheapest(i, k, true, v_, buf, idx);
        u_all[i] = buf[by_row[i][0]];
        for (int j : by_row[i]) u_all[i] = std::min(u_all[i], buf[j]);
      }
#pragma omp for schedule(dynamic, 64)
      for (int j = 0; j < n_; ++j) by_col[j] = cheapest(j, k, false, u_all, buf, idx);
    }
    for (int i = 0; i < n_; ++i)
      for (int j : by_row[i]) add_edge(i, j);
    for (int j = 0; j < n_; ++j)
      for (int i : by_col[j]) add_edge(i, j);
    // and a perfect matching, so that every search finds a free column: each row in turn takes
    // its cheapest column not yet taken (rows in a strided order, so no region goes last)
    std::vector<char> taken(n_, 0);
    std::vector<double> buf(n_);
    const int stride = n_ > 7 && n_ % 7 != 0 ? 7 : 1;
    for (int t = 0, i = 0; t < n_; ++t, i = (i + stride) % n_) {
      scan(i, true, buf.data());
      double best = kInf;
      int jbest = -1;
      for (int j = 0; j < n_; ++j) {
        const double r = taken[j] ? kInf : buf[j] - v_[j];
        if (r < best) best = r, jbest = j;
      }
      taken[jbest] = 1;
      add_edge(i, jbest);
    }
  }

  // Jonker-Volgenant's augmenting row reduction on the candidate edges from the starting prices,
  // every row free at first; returns the rows still free.
  std::vector<int> initial_phases() {
    std::vector<int> free_rows(n_);
    std::iota(free_rows.begin(), free_rows.end(), 0);
    // augmenting row reduction, twice, with a budget of 4n row visits (see solve_assignment)
    int64_t budget = 4 * static_cast<int64_t>(n_);
    for (int loop = 0; loop < 2; ++loop) {
      std::vector<int> todo = std::move(free_rows), next;
      size_t k = 0;
      while (k < todo.size()) {
        if (--budget < 0) {
          while (k < todo.size()) next.push_back(todo[k++]);
          break;
        }
        const int i = todo[k++];
        double umin = kInf, usub = kInf;
        int j1 = -1, j2 = -1;
        for (const Edge& e : adj_[i]) {
          const double h = e.c - v_[e.j];
          if (h < usub) {
            if (h >= umin) {
              usub = h;
              j2 = e.j;
            } else {
              usub = umin;
              umin = h;
              j2 = j1;
              j1 = e.j;
            }
          }
        }
        int i0 = colsol_[j1];
        if (umin < usub) {
          v_[j1] -= usub - umin;
        } else if (i0 >= 0 && j2 >= 0) {
          j1 = j2;
          i0 = colsol_[j2];
        }
        if (rowsol_[i] >= 0 && colsol_[rowsol_[i]] == i) colsol_[rowsol_[i]] = -1;
        rowsol_[i] = j1;
        colsol_[j1] = i;
        if (i0 >= 0) {
          rowsol_[i0] = -1;
          if (umin < usub) todo[--k] = i0;
          else next.push_back(i0);
        }
      }
      free_rows = std::move(next);
    }
    return free_rows;
  }

  // u_i of an assigned row: its reduced cost at the assigned column is 0
  double u(int i) const { return cost(i, rowsol_[i]) - v_[rowsol_[i]]; }

  // One shortest augmenting path from free row f over the candidate edges. False when no free
  // column is reachable (the candidate graph has no perfect matching through f's component).
  bool augment(int f, std::vector<int>& reached_rows) {
    using Item = std::pair<double, int>;
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
    std::vector<int> touched, scanned;
    for (const Edge& e : adj_[f]) {
      const double dj = e.c - v_[e.j];
      if (dj < dist_[e.j]) {
        if (dist_[e.j] == kInf) touched.push_back(e.j);
        dist_[e.j] = dj;
        pred_[e.j] = f;
        heap.push({dj, e.j});
      }
    }
    int end = -1;
    double m = 0;
    reached_rows.assign(1, f);
    while (!heap.empty()) {
      auto [dj, j] = heap.top();
      heap.pop();
      if (done_[j] || dj > dist_[j]) continue;
      done_[j] = 1;
      scanned.push_back(j);
      if (colsol_[j] < 0) {
        end = j;
        m = dj;
        break;
      }
      const int i = colsol_[j];
      reached_rows.push_back(i);
      const double h = u(i);  // c(i, j) - v_j
      for (const Edge& e : adj_[i]) {
        if (done_[e.j]) continue;
        const double nd = dj + (e.c - v_[e.j] - h);
        if (nd < dist_[e.j]) {
          if (dist_[e.j] == kInf) touched.push_back(e.j);
          dist_[e.j] = nd;
          pred_[e.j] = i;
          heap.push({nd, e.j});
        }
      }
    }
    if (end >= 0) {
      for (int j : scanned) v_[j] += dist_[j] - m;  // the prices of the columns scanned first
      int i, j = end;
      do {  // flip the alternating path
        i = pred_[j];
        colsol_[j] = i;
        const int next = rowsol_[i];
        rowsol_[i] = j;
        j = next;
      } while (i != f);
    }
    for (int j : touched) {
      dist_[j] = kInf;
      done_[j] = 0;
    }
    return end >= 0;
  }

  // Frees row i (its column too) when some candidate edge is violated by more than tol.
  void free_row(int i, std::vector<int>& free_rows) {
    if (rowsol_[i] < 0) return;
    colsol_[rowsol_[i]] = -1;
    rowsol_[i] = -1;
    free_rows.push_back(i);
  }

  void augment_all(std::vector<int> free_rows) {
    std::vector<double> buf;
    std::vector<int> idx, reached;
    while (!free_rows.empty()) {
      const int f = free_rows.back();
      free_rows.pop_back();
      if (rowsol_[f] >= 0) continue;
      if (augment(f, reached)) continue;
      // Hall's condition fails on the candidate graph: double the candidates of every reached row
      // (an assigned row whose new edge undercuts its assignment is freed)
      bool grew = false;
      for (int i : reached) {
        if (krow_[i] >= n_) continue;
        krow_[i] = std::min(n_, 2 * krow_[i]);
        grew = true;
        ++widened_;
        for (int j : cheapest(i, krow_[i], true, v_, buf, idx)) {
          add_edge(i, j);
          if (rowsol_[i] >= 0 && cost(i, j) - v_[j] < u(i)) free_row(i, free_rows);
        }
      }
      FG_CHECK(grew, "sparse assignment: no perfect matching on the complete graph (internal error)");
      free_rows.push_back(f);
    }
  }

  // The certificate scan: max over all pairs of u_i + v_j - c_ij; rows with a pair violated by
  // more than tol get their violated pairs (up to 64, the worst first) as edges and are freed.
  double certify(double tol, std::vector<int>& free_rows) {
    std::vector<double> u_all(n_);
    for (int i = 0; i < n_; ++i) u_all[i] = u(i);
    std::vector<std::vector<int>> add(n_);
    double worst = -kInf;
#pragma omp parallel
    {
      std::vector<std::pair<double, int>> bad;
      std::vector<double> c(n_);
      double w = -kInf;
#pragma omp for schedule(static)
      for (int i = 0; i < n_; ++i) {
        bad.clear();
        scan(i, true, c.data());
        double wi = -kInf;
        for (int j = 0; j < n_; ++j) wi = std::max(wi, u_all[i] + v_[j] - c[j]);
        w = std::max(w, wi);
        if (wi <= tol) continue;
        for (int j = 0; j < n_; ++j)
          if (u_all[i] + v_[j] - c[j] > tol) bad.push_back({c[j] - u_all[i] - v_[j], j});
        if (bad.empty()) continue;
        const size_t keep = std::min<size_t>(bad.size(), 64);
        std::partial_sort(bad.begin(), bad.begin() + keep, bad.end());
        for (size_t t = 0; t < keep; ++t) add[i].push_back(bad[t].second);
      }
#pragma omp critical
      worst = std::max(worst, w);
    }
    for (int i = 0; i < n_; ++i) {
      if (add[i].empty()) continue;
      for (int j : add[i]) add_edge(i, j);
      free_row(i, free_rows);
    }
    return worst;
  }

  SparseAssignment run(const SparseAssignmentOptions& o) {
    SparseAssignment out;
    const int k = std::max(2, std::min(o.neighbours, n_));
    krow_.assign(n_, k);
    auto clock = std::chrono::steady_clock::now();
    auto lap = [&](double& into) {
      const auto now = std::chrono::steady_clock::now();
      into += std::chrono::duration<double>(now - clock).count();
      clock = now;
    };
    starting_prices(o.sample);
    lap(out.seconds_prices);
    build_candidates(k);
    lap(out.seconds_candidates);
    augment_all(initial_phases());
    lap(out.seconds_augment);
    double scale = 0;
    for (int i = 0; i < n_; ++i) scale = std::max({scale, std::abs(v_[i]), cost(i, rowsol_[i])});
    out.tolerance = o.tolerance * (scale > 0 ? scale : 1.0);
    for (;;) {
      ++out.rounds;
      std::vector<int> free_rows;
      out.max_violation = certify(out.tolerance, free_rows);
      lap(out.seconds_certify);
      if (free_rows.empty()) break;
      augment_all(std::move(free_rows));
      lap(out.seconds_augment);
    }
    out.col_of_row = rowsol_;
    out.v = v_;
    out.u.resize(n_);
    for (int i = 0; i < n_; ++i) {
      out.u[i] = u(i);
      out.cost += cost(i, rowsol_[i]);
    }
    out.edges = edges_;
    out.widened = widened_;
    return out;
  }

 private:
  std::vector<double> a_, b_, a_t_, b_t_;
  int n_, d_;
  std::vector<std::vector<Edge>> adj_;
  std::vector<int> rowsol_, colsol_, krow_;
  std::vector<double> v_, dist_;
  std::vector<int> pred_;
  std::vector<char> done_;
  int64_t edges_ = 0, widened_ = 0;
};

}  // namespace

SparseAssignment solve_assignment_sparse(const Tensor& a, const Tensor& b, const SparseAssignmentOptions& o) {
  FG_CHECK(a.dim() == 2 && b.dim() == 2 && a.shape() == b.shape(),
           "sparse assignment: needs two point sets [n, d] of the same shape, got {} and {}", shape_str(a.shape()),
           shape_str(b.shape()));
  FG_CHECK(a.size(0) <= std::numeric_limits<int>::max() / 2, "sparse assignment: {} points is too many", a.size(0));
  FG_CHECK(o.neighbours >= 1 && o.tolerance >= 0, "sparse assignment: needs neighbours >= 1 and tolerance >= 0");
  const int n = static_cast<int>(a.size(0)), d = static_cast<int>(a.size(1));
  if (n == 0) return {};
  std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  for (double x : av) FG_CHECK(std::isfinite(x), "sparse assignment: a point has a non-finite coordinate ({})", x);
  for (double x : bv) FG_CHECK(std::isfinite(x), "sparse assignment: a point has a non-finite coordinate ({})", x);
  return Solver(std::move(av), std::move(bv), n, d).run(o);
}

}  // namespace fg::flows
