"""A quick global upper bound on the selection objective, so every method can report a gap.

Relaxing contiguity, separation and the split into CANs leaves a fractional knapsack: at most
``n_cans * max_population`` residents in all and ``max_per_borough * max_population`` per
borough (a borough can be touched by at most ``max_per_borough`` CANs), maximising population x
score. Every valid selection fits these constraints, so the LP optimum bounds them all.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from canrank.selection.highs import solve_highs
from canrank.selection.problem import SelectionProblem
from canrank.selection.residual import residual

__all__ = ["knapsack_bound"]


def knapsack_bound(problem: SelectionProblem) -> float:
    """A quick global upper bound ignoring contiguity: the best fractional choice of areas
    holding at most ``n_cans * max_population`` residents (each borough at most
    ``max_per_borough * max_population``), solved as an LP."""
    res = residual(problem)
    free = res.free
    rules = problem.rules
    idx = np.flatnonzero(free)
    pop, w, b = problem.population[idx], problem.weight[idx], problem.borough[idx]
    n_b = len(res.load)
    cap_b = np.clip(rules.max_per_borough - res.load, 0, None) * rules.max_population
    rows = sparse.vstack(
        [sparse.csr_matrix(pop[None, :]), sparse.csr_matrix((pop, (b, np.arange(len(idx)))),
                                                            shape=(n_b, len(idx)))]
    ).tocsr()
    hi = np.r_[res.n_open * rules.max_population, cap_b]
    out = solve_highs(
        w, rows, np.full(len(hi), -np.inf), hi, np.zeros(len(idx)), np.ones(len(idx))
    )
    return float(out.objective or 0.0) + res.fixed_objective
