"""A thin wrapper that solves one LP or MILP with HiGHS (``highspy``) and returns what we need.

HiGHS (Huangfu & Hall 2018) is the open solver SciPy also ships; ``highspy`` is used directly
because ``scipy.optimize.milp`` cannot take a warm-start solution (``setSolution``) and does not
report row duals of an LP solved through it. Every solve is single-threaded and deterministic
(fixed ``random_seed``) so that a build is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import highspy
import numpy as np
from scipy import sparse

__all__ = ["SolveResult", "new_highs", "solve_highs"]


def new_highs() -> highspy.Highs:
    """A silent, single-threaded, seeded HiGHS instance.

    ``highspy.Highs()`` (the Python wrapper) prints a banner on stdout when the first instance
    is made, before any option can turn output off; its compiled base class ``_Highs`` does
    not, and offers every method used here.
    """
    h = getattr(highspy, "_Highs", highspy.Highs)()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    return h


@dataclass(frozen=True)
class SolveResult:
    """Outcome of one solve: status, primal values, objective, proven bound and row duals."""

    status: str
    x: np.ndarray | None
    objective: float | None
    bound: float | None  # for a maximisation: a proven upper bound on the optimum
    duals: np.ndarray | None
    seconds: float

    @property
    def optimal(self) -> bool:
        """True when HiGHS proved optimality (within its gap tolerance for a MILP)."""
        return self.status == "Optimal"


def solve_highs(
    cost: np.ndarray,
    matrix: sparse.csr_matrix,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    *,
    integer: np.ndarray | None = None,
    time_limit_s: float = math.inf,
    mip_gap: float = 1e-4,
    start: np.ndarray | None = None,
    cutoff: float | None = None,
    node_limit: int | None = None,
) -> SolveResult:
    """Maximise ``cost @ x`` subject to row and column bounds; MILP when ``integer`` is given.

    ``start`` is a feasible solution handed to HiGHS as the incumbent (warm start); ``cutoff``
    tells a MILP to ignore solutions not better than it. ``node_limit`` caps branch-and-bound
    nodes: unlike a time limit it stops at the same point on every run (reproducible). For a
    MILP ``bound`` is HiGHS's dual bound (valid even when stopped early); for an LP it is the
    optimal objective.
    """
    n = len(cost)
    csc = sparse.csc_matrix(matrix, dtype=float)
    csc.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = csc.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.asarray(col_lower, dtype=float)
    lp.col_upper_ = np.asarray(col_upper, dtype=float)
    lp.row_lower_ = np.asarray(row_lower, dtype=float)
    lp.row_upper_ = np.asarray(row_upper, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data
    lp.sense_ = highspy.ObjSense.kMaximize
    is_mip = integer is not None and bool(np.any(integer))
    if is_mip:
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
            for flag in np.asarray(integer, dtype=bool)
        ]
    h = new_highs()
    if math.isfinite(time_limit_s):
        h.setOptionValue("time_limit", float(max(time_limit_s, 0.1)))
    if is_mip:
        h.setOptionValue("mip_rel_gap", float(mip_gap))
        if node_limit is not None:
            h.setOptionValue("mip_max_nodes", int(node_limit))
        if cutoff is not None:
            h.setOptionValue("objective_bound", float(cutoff))
    h.passModel(lp)
    if start is not None and is_mip:
        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(start, dtype=float).tolist()
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    seconds = float(h.getRunTime())
    has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
    solution = h.getSolution()
    x = np.asarray(solution.col_value) if has_x else None
    objective = float(info.objective_function_value) if has_x else None
    bound: float | None
    if is_mip:
        bound = float(info.mip_dual_bound)
        if not math.isfinite(bound):
            bound = None
        duals = None
    else:
        bound = objective if status == "Optimal" else None
        duals = np.asarray(solution.row_dual) if solution.dual_valid else None
    return SolveResult(status, x, objective, bound, duals, seconds)
