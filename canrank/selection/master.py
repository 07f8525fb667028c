"""The master problem of the CAN column generation: set packing over candidate CANs (HiGHS).

Rows (in this order; ``u`` below are their duals):

* conflict rows, ``u_e`` / ``u_i``: with separation one per contiguity edge (at most one chosen
  CAN contains either end: disjoint *and* not touching), otherwise one per area (disjoint);
* borough rows, ``rho_b``: at most ``max_per_borough`` minus the fixed CANs' load;
* locked-group rows, ``gamma_g``: exactly one chosen CAN holds the group;
* a population row, ``tau``: at most ``K * max_population`` residents in all (implied by the
  bounds, it gives pricing a per-resident price);
* the count row, ``mu``: at most ``K`` CANs (exactly ``K`` in the integer master).

The LP is kept as one persistent HiGHS model of its *dual* (``min b'u`` subject to
``a_S'u >= v_S`` per candidate, ``u >= 0`` except on the group rows): a new candidate is a new
row, added to the solved model so the simplex restarts from the previous basis. Each round
solves it twice: first for the LP value, then, among duals within ``delta`` of optimal, for the
one with the least ``mu`` (value carried by the per-resident price instead: most areas get a
negative reduced weight, and exact pricing only searches near the best areas). Any such ``u``
gives a valid bound once pricing is exact (weak duality).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import highspy
import numpy as np
from numba import njit
from scipy import sparse

from canrank.selection.highs import new_highs
from canrank.selection.pricer import PricingGraph

__all__ = ["IntegerResult", "Master"]



@njit(cache=True)
def _column_rows(
    members: np.ndarray,
    ptr: np.ndarray,
    indptr: np.ndarray,
    edge_of_arc: np.ndarray,
    borough: np.ndarray,
    group_of: np.ndarray,
    separation: bool,
    n_conflict: int,
    n_boroughs: int,
    n_edges: int,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Conflict, borough and group rows of each column (CSR: rows, row_ptr), sorted per column."""
    stamp_e = np.full(max(n_edges, 1), -1, np.int64)
    stamp_b = np.full(max(n_boroughs, 1), -1, np.int64)
    out = []  # type: ignore[var-annotated]
    out_ptr = np.zeros(ptr.shape[0], np.int64)
    for c in range(ptr.shape[0] - 1):
        start = len(out)
        grp = -1
        for t in range(ptr[c], ptr[c + 1]):
            v = members[t]
            if separation:
                for a in range(indptr[v], indptr[v + 1]):
                    e = edge_of_arc[a]
                    if stamp_e[e] != c:
                        stamp_e[e] = c
                        out.append(e)
            else:
                out.append(v)
            b = borough[v]
            if stamp_b[b] != c:
                stamp_b[b] = c
                out.append(n_conflict + b)
            if group_of[v] >= 0:
                grp = group_of[v]
        if grp >= 0:
            out.append(n_conflict + n_boroughs + grp)
        seg = np.empty(len(out) - start, np.int64)
        for t in range(start, len(out)):
            seg[t - start] = out[t]
        seg.sort()
        for t in range(seg.shape[0]):
            out[start + t] = seg[t]
        out_ptr[c + 1] = len(out)
    rows = np.empty(len(out), np.int64)
    for t in range(len(out)):
        rows[t] = out[t]
    return rows, out_ptr


@dataclass(frozen=True)
class IntegerResult:
    """The integer master's outcome: chosen column indices, objective, status, proven bound."""

    chosen: np.ndarray
    objective: float
    status: str
    optimal: bool
    bound: float | None


class Master:
    """Candidate CANs, their rows, and the persistent dual LP of the master."""

    def __init__(
        self,
        pg: PricingGraph,
        weight: np.ndarray,
        *,
        n_open: int,
        borough_cap: np.ndarray,
        n_groups: int,
        separation: bool,
        delta: float = 1e-4,
    ) -> None:
        self.pg = pg
        self.weight = np.asarray(weight, dtype=np.float64)
        self.k = int(n_open)
        self.separation = bool(separation)
        self.n_conflict = pg.n_edges if separation else pg.n
        self.n_boroughs = len(borough_cap)
        self.n_groups = int(n_groups)
        self.delta = float(delta)
        nc, nb, ng = self.n_conflict, self.n_boroughs, self.n_groups
        self.row_pop = nc + nb + ng
        self.row_count = self.row_pop + 1
        self.n_rows = self.row_count + 1
        self.rhs = np.concatenate(
            [np.ones(nc), np.asarray(borough_cap, dtype=float), np.ones(ng), [self.k, self.k]]
        )
        self.columns: list[np.ndarray] = []
        self.values: list[float] = []
        self._keys: set[bytes] = set()
        self._col_rows: list[np.ndarray] = []
        self._col_pop: list[float] = []
        # (pool size, ptr, rows, coefficients, values) of the pool, rebuilt when it grows
        self._flat: tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        #: the master LP's primal solution (one value per candidate) after :meth:`solve_lp`
        self.lp_x = np.zeros(0)
        lower = np.zeros(self.n_rows)
        lower[nc + nb : nc + nb + ng] = -np.inf
        idx = np.arange(self.n_rows, dtype=np.int32)
        # two persistent models, each keeping its own basis between rounds: ``_h`` minimises
        # b'u; ``_h_mu`` minimises mu subject to the "near-optimal" row b'u <= cap (row 0)
        models = []
        for cost in (self.rhs.astype(float), np.eye(1, self.n_rows, self.row_count)[0]):
            h = new_highs()
            h.setOptionValue("presolve", "off")
            h.addVars(self.n_rows, lower, np.full(self.n_rows, np.inf))
            h.changeObjectiveSense(highspy.ObjSense.kMinimize)
            h.addRow(-np.inf, np.inf, self.n_rows, idx, self.rhs.astype(float))
            h.changeColsCost(self.n_rows, idx, cost)
            models.append(h)
        self._cap_row = 0
        self._h, self._h_mu = models
        self._lower = lower

    # -- candidates ---------------------------------------------------------------------------

    def add(self, columns: list[np.ndarray]) -> int:
        """Add new candidates (duplicates ignored) to the pool and the LP; the number added."""
        new: list[np.ndarray] = []
        for c in columns:
            col = np.sort(np.asarray(c, dtype=np.int64))
            key = col.tobytes()
            if key in self._keys:
                continue
            self._keys.add(key)
            new.append(col)
        if not new:
            return 0
        lens = np.array([len(c) for c in new], dtype=np.int64)
        ptr = np.zeros(len(new) + 1, dtype=np.int64)
        np.cumsum(lens, out=ptr[1:])
        flat = np.concatenate(new)
        pg = self.pg
        rows, rptr = _column_rows(
            flat, ptr, pg.indptr, pg.edge_of_arc, pg.borough, pg.group_of, self.separation,
            self.n_conflict, self.n_boroughs, pg.n_edges,
        )
        pops = np.add.reduceat(pg.population[flat], ptr[:-1])
        vals = np.array([float(self.weight[c].sum()) for c in new])
        starts, index, coef = [], [], []
        nnz = 0
        for j, col in enumerate(new):
            r = rows[rptr[j] : rptr[j + 1]]
            full = np.concatenate([r, [self.row_pop, self.row_count]])
            a = np.ones(len(full))
            a[-2] = pops[j] / pg.max_population
            self.columns.append(col)
            self.values.append(float(vals[j]))
            self._col_rows.append(full)
            self._col_pop.append(float(a[-2]))
            starts.append(nnz)
            index.append(full)
            coef.append(a)
            nnz += len(full)
        starts_a = np.asarray(starts, dtype=np.int32)
        index_a = np.concatenate(index).astype(np.int32)
        coef_a = np.concatenate(coef)
        for h in (self._h, self._h_mu):
            h.addRows(len(new), vals, np.full(len(new), np.inf), nnz, starts_a, index_a, coef_a)
        return len(new)

    # -- LP -----------------------------------------------------------------------------------

    def solve_lp(self) -> tuple[float, np.ndarray]:
        """The master LP value over the candidates and a dual ``u`` with the least ``mu``."""
        h = self._h
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"master LP not solved: {h.modelStatusToString(status)}")
        best = float(h.getInfo().objective_function_value)
        solution = h.getSolution()
        u_first = np.asarray(solution.col_value, dtype=float)
        # the master's primal solution: the duals of the candidate rows (row 0 is the cap row)
        self.lp_x = np.asarray(solution.row_dual, dtype=float)[1:]
        h2 = self._h_mu
        h2.changeRowBounds(self._cap_row, -np.inf, best + self.delta * max(abs(best), 1.0))
        h2.run()
        if h2.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            u = np.asarray(h2.getSolution().col_value, dtype=float)
        else:  # pragma: no cover - numerical trouble: the first duals are valid too
            u = u_first
        return best, self.clip(u)

    def clip(self, u: np.ndarray) -> np.ndarray:
        """Duals with the sign of their rows (tiny negative values from tolerances set to 0)."""
        out = np.asarray(u, dtype=float).copy()
        sign = np.isfinite(self._lower)
        out[sign] = np.maximum(out[sign], 0.0)
        return out

    def dual_objective(self, u: np.ndarray) -> float:
        """``b'u``: with ``K * max(0, max rc)`` added, an upper bound on every selection."""
        return float(self.rhs @ u)

    def split(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        """Pricing inputs from ``u``: (net per area, edge duals, borough duals, group duals, mu)."""
        nc, nb, ng = self.n_conflict, self.n_boroughs, self.n_groups
        pg = self.pg
        tau = float(u[self.row_pop]) / pg.max_population
        net = self.weight - tau * pg.population
        if self.separation:
            u_edge = np.ascontiguousarray(u[:nc])
        else:
            net = net - u[:nc]
            u_edge = np.zeros(pg.n_edges)
        return (
            net,
            u_edge,
            np.ascontiguousarray(u[nc : nc + nb]),
            np.ascontiguousarray(u[nc + nb : nc + nb + ng]),
            float(u[self.row_count]),
        )

    def reduced_costs(self, u: np.ndarray, start: int = 0) -> np.ndarray:
        """Reduced cost under ``u`` of the candidates from index ``start`` on."""
        m = len(self.columns)
        if self._flat is None or self._flat[0] != m:
            lens = np.fromiter((len(r) for r in self._col_rows), dtype=np.int64, count=m)
            ptr = np.zeros(m + 1, dtype=np.int64)
            np.cumsum(lens, out=ptr[1:])
            rows = np.concatenate(self._col_rows) if m else np.zeros(0, np.int64)
            coef = np.ones(len(rows))
            if m:
                coef[ptr[1:] - 2] = self._col_pop  # the population row (second last)
            self._flat = (m, ptr, rows, coef, np.asarray(self.values, dtype=np.float64))
        _, ptr, rows, coef, values = self._flat
        if start >= m:
            return np.zeros(0)
        lo = int(ptr[start])
        used = np.add.reduceat(coef[lo:] * u[rows[lo:]], ptr[start:-1] - lo)
        return values[start:] - used

    # -- integer master ---------------------------------------------------------------------

    def solve_integer(
        self,
        start: np.ndarray | None,
        *,
        node_limit: int,
        time_limit_s: float = math.inf,
        columns: np.ndarray | None = None,
    ) -> IntegerResult:
        """Choose exactly ``K`` candidates (HiGHS MILP to a zero gap), from ``start`` if given.

        ``columns`` restricts the model to those candidate indices (all by default); ``start``
        is a 0/1 vector over the full pool. Stops at ``node_limit`` branch-and-bound nodes
        (deterministic) or, as a safety net only, ``time_limit_s``.
        """
        idx = np.arange(len(self.columns)) if columns is None else np.asarray(columns)
        n = len(idx)
        ri = np.concatenate([self._col_rows[j][:-2] for j in idx] + [np.zeros(0, np.int64)])
        ci = np.concatenate(
            [np.full(len(self._col_rows[j]) - 2, k) for k, j in enumerate(idx)]
            + [np.zeros(0, np.int64)]
        )
        n_core = self.row_pop
        count_rows = np.full(n, n_core)
        mat = sparse.csc_matrix(
            (np.ones(len(ri) + n), (np.r_[ri, count_rows], np.r_[ci, np.arange(n)])),
            shape=(n_core + 1, n),
        )
        mat.sort_indices()
        nc, nb = self.n_conflict, self.n_boroughs
        lo = np.full(n_core + 1, -np.inf)
        lo[nc + nb : n_core] = 1.0
        lo[n_core] = self.k
        hi = np.r_[self.rhs[:n_core], self.k]
        lp = highspy.HighsLp()
        lp.num_col_ = n
        lp.num_row_ = n_core + 1
        lp.col_cost_ = np.asarray(self.values, dtype=float)[idx]
        lp.col_lower_ = np.zeros(n)
        lp.col_upper_ = np.ones(n)
        lp.row_lower_ = lo
        lp.row_upper_ = hi
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = mat.indptr.astype(np.int32)
        lp.a_matrix_.index_ = mat.indices.astype(np.int32)
        lp.a_matrix_.value_ = mat.data
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n
        h = new_highs()
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("mip_abs_gap", 1e-6)
        h.setOptionValue("mip_max_nodes", int(node_limit))
        if math.isfinite(time_limit_s):
            h.setOptionValue("time_limit", float(max(time_limit_s, 0.1)))
        h.passModel(lp)
        if start is not None:
            sol = highspy.HighsSolution()
            sol.col_value = np.asarray(start, dtype=float)[idx].tolist()
            sol.value_valid = True
            h.setSolution(sol)
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        info = h.getInfo()
        if info.primal_solution_status != 2:
            return IntegerResult(np.zeros(0, np.int64), -math.inf, status, False, None)
        x = np.asarray(h.getSolution().col_value)
        chosen = idx[np.flatnonzero(x > 0.5)]
        bound = float(info.mip_dual_bound)
        return IntegerResult(
            chosen=np.sort(chosen),
            objective=float(sum(self.values[j] for j in chosen)),
            status=status,
            optimal=status == "Optimal",
            bound=bound if math.isfinite(bound) else None,
        )
