"""What is left to choose once local-knowledge overrides are applied: the residual problem.

Fixed CANs are taken as given: their areas (and, with separation, their neighbours) leave the
pool, they use up their boroughs' CAN allowance and they count towards ``n_cans``. Locked groups
must each end up in one CAN of their own; every method builds those CANs around them. Both the
greedy and the optimal method start from this view, so they honour overrides identically.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from canrank.errors import SelectionError
from canrank.selection.problem import SelectionProblem

__all__ = ["Residual", "residual"]


@dataclass(frozen=True)
class Residual:
    """Free areas, remaining CAN allowance per borough, CANs still to choose, locked groups."""

    free: np.ndarray  # bool per area: may join a CAN that is still to be chosen
    load: np.ndarray  # CANs already charged to each borough (by fixed CANs)
    n_open: int  # CANs still to choose (n_cans minus fixed CANs)
    groups: tuple[np.ndarray, ...]  # locked groups, each must lie in one chosen CAN
    group_of: np.ndarray  # locked-group index per area, -1 when not locked
    fixed_objective: float


def residual(problem: SelectionProblem) -> Residual:
    """The residual problem; a ``SelectionError`` when overrides contradict each other."""
    g = problem.graph
    rules = problem.rules
    ids = g.ids
    free = problem.eligible().copy()
    n_boroughs = int(problem.borough.max()) + 1 if g.n else 0
    load = np.zeros(n_boroughs, dtype=np.int64)
    blocked = np.zeros(g.n, dtype=bool)
    for members in problem.fixed:
        m = np.asarray(members, dtype=np.int64)
        blocked[m] = True
        if rules.separation:
            for i in m.tolist():
                blocked[g.neighbors(i)] = True
        load[np.unique(problem.borough[m])] += 1
    free &= ~blocked
    group_of = np.full(g.n, -1, dtype=np.int64)
    for k, group in enumerate(problem.locked):
        grp = np.asarray(group, dtype=np.int64)
        hit = grp[blocked[grp]]
        if len(hit):
            raise SelectionError(
                f"locked LSOA {ids[int(hit[0])]} is in or next to a fixed CAN",
                hint="remove the lock or add the LSOA to the fixed CAN's list",
            )
        if (group_of[grp] >= 0).any():
            raise SelectionError(f"LSOA {ids[int(grp[group_of[grp] >= 0][0])]} is locked twice")
        group_of[grp] = k
        if problem.population[grp].sum() > rules.max_population:
            raise SelectionError(
                f"the LSOAs locked into CAN #{k + 1} hold {problem.population[grp].sum():,.0f} "
                f"people, more than the maximum CAN population {rules.max_population:,.0f}",
                hint="lock fewer LSOAs into it or raise max_population",
            )
    n_open = rules.n_cans - len(problem.fixed)
    if n_open < len(problem.locked):
        raise SelectionError(
            f"{len(problem.fixed)} fixed CAN(s) and {len(problem.locked)} locked group(s) "
            f"need more than the {rules.n_cans} CANs asked for",
            hint="ask for more CANs (--n-cans) or remove overrides",
        )
    fixed_objective = float(sum(problem.weight[np.asarray(f)].sum() for f in problem.fixed))
    return Residual(free, load, n_open, tuple(problem.locked), group_of, fixed_objective)
