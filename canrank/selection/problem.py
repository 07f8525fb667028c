"""The CAN selection problem, its result, and a validator every method's output must pass.

Problem (documented in docs/selection.md): choose ``k`` disjoint sets of areas, each
inducing a connected subgraph of the contiguity graph, each with population in
``[min_population, max_population]``, at most ``max_per_borough`` sets touching any borough
(a set counts against every borough it has an area in), optionally pairwise non-adjacent
(``separation``) and with every member scoring at least ``min_member_score``, maximising

    objective = sum over selected areas i of population_i * score_i

i.e. the population-weighted composite score the CANs cover. Methods live in their own modules
and are registered by name in :mod:`canrank.selection`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from canrank.contiguity import Contiguity

__all__ = ["Selection", "SelectionProblem", "SelectionRules", "WarmStart", "validate_selection"]


@dataclass(frozen=True)
class SelectionRules:
    """The constraints on a set of CANs."""

    n_cans: int = 15
    min_population: float = 8000
    max_population: float = 15000
    max_per_borough: int = 2
    separation: bool = True
    min_member_score: float | None = None


@dataclass(frozen=True, eq=False)
class SelectionProblem:
    """Scores, populations and boroughs per area, the contiguity graph and the rules."""

    graph: Contiguity
    score: np.ndarray
    population: np.ndarray
    borough: np.ndarray  # integer borough index per area
    rules: SelectionRules
    excluded: np.ndarray | None = None  # boolean mask of areas that may not be selected
    fixed: tuple[np.ndarray, ...] = ()  # whole CANs given by local knowledge, kept as they are
    locked: tuple[np.ndarray, ...] = ()  # groups of areas that must each lie in one (own) CAN

    def __post_init__(self) -> None:
        n = self.graph.n
        for name in ("score", "population", "borough"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} values for {n} areas")

    @property
    def weight(self) -> np.ndarray:
        """Each area's contribution to the objective: population x score."""
        return self.population * self.score

    def eligible(self) -> np.ndarray:
        """Areas that may join a CAN (not excluded, above the minimum member score).

        Locked areas are always eligible (local knowledge overrides the member-score floor).
        """
        ok = np.ones(self.graph.n, dtype=bool)
        if self.rules.min_member_score is not None:
            ok &= self.score >= self.rules.min_member_score
        for group in self.locked:
            ok[group] = True
        if self.excluded is not None:
            ok &= ~self.excluded
        return ok

    def objective(self, cans: list[np.ndarray]) -> float:
        """Objective value of a list of CANs (member index arrays)."""
        w = self.weight
        return float(sum(w[c].sum() for c in cans))


@dataclass(frozen=True, eq=False)
class WarmStart:
    """What a solved selection hands to the next solve of the same problem with new scores.

    ``columns``: the candidate CANs of the previous solve (member index arrays; the next solve
    keeps those still valid). ``duals``: the previous master duals (the next solve prices with
    them first, for a bound and columns before its first LP), or ``None``.
    """

    columns: tuple[np.ndarray, ...]
    duals: np.ndarray | None = None


@dataclass(frozen=True)
class Selection:
    """A selection: CANs ordered best first (by objective contribution), with its provenance.

    ``status`` says what is known about it: "proven optimal", "within X % (bound B)",
    "time limit reached (bound B)" or "heuristic (greedy)". ``details`` is JSON-serialisable
    and deterministic (no timings); ``solve_seconds`` is the only timing. ``warm_start`` lets a
    re-solve with new scores start from this one (not compared, not printed, not JSON).
    """

    cans: tuple[np.ndarray, ...]
    objective: float
    method: str
    upper_bound: float | None = None
    gap: float | None = None
    solve_seconds: float = 0.0
    details: dict[str, object] = field(default_factory=dict)
    status: str = "heuristic (greedy)"
    warm_start: WarmStart | None = field(default=None, compare=False, repr=False)

    def labels(self, n: int) -> np.ndarray:
        """CAN number per area (1 = best), 0 where an area is in no CAN."""
        out = np.zeros(n, dtype=np.int64)
        for k, members in enumerate(self.cans, start=1):
            out[members] = k
        return out


def validate_selection(problem: SelectionProblem, cans: list[np.ndarray] | tuple) -> list[str]:
    """Every rule a selection breaks, as readable sentences (empty when valid).

    Fixed CANs (local knowledge) are exempt from the population, eligibility, borough-cap and
    separation rules among themselves: those breaks are reported as override warnings instead
    (:func:`canrank.overrides.override_warnings`). Every other rule applies to them.
    """
    rules = problem.rules
    g = problem.graph
    problems: list[str] = []
    if len(cans) != rules.n_cans:
        problems.append(f"{len(cans)} CANs selected, {rules.n_cans} required")
    fixed_keys = {tuple(sorted(np.asarray(f).tolist())) for f in problem.fixed}
    is_fixed = [tuple(sorted(np.asarray(c).tolist())) in fixed_keys for c in cans]
    if sum(is_fixed) != len(fixed_keys):
        problems.append(f"{len(fixed_keys) - sum(is_fixed)} fixed CAN(s) missing or changed")
    seen: dict[int, int] = {}
    per_borough: dict[int, int] = {}
    fixed_per_borough: dict[int, int] = {}
    eligible = problem.eligible()
    for k, members in enumerate(cans, start=1):
        m = np.asarray(members)
        for i in m.tolist():
            if i in seen:
                problems.append(f"area {g.ids[i]} is in CAN {seen[i]} and CAN {k}")
            seen[i] = k
        if not g.is_connected(m):
            problems.append(f"CAN {k} is not contiguous")
        for b in np.unique(problem.borough[m]).tolist():
            per_borough[b] = per_borough.get(b, 0) + 1
            if is_fixed[k - 1]:
                fixed_per_borough[b] = fixed_per_borough.get(b, 0) + 1
        if is_fixed[k - 1]:
            continue
        if not eligible[m].all():
            bad = [g.ids[i] for i in m[~eligible[m]]]
            problems.append(f"CAN {k} contains ineligible areas {bad[:3]}")
        pop = float(problem.population[m].sum())
        if not rules.min_population <= pop <= rules.max_population:
            problems.append(
                f"CAN {k} has population {pop:,.0f}, outside "
                f"{rules.min_population:,.0f}-{rules.max_population:,.0f}"
            )
    for b, count in per_borough.items():
        if count > max(rules.max_per_borough, fixed_per_borough.get(b, 0)):
            problems.append(f"borough #{b} has {count} CANs (limit {rules.max_per_borough})")
    for group in problem.locked:
        holders = {seen.get(int(i)) for i in np.asarray(group).tolist()}
        if None in holders or len(holders) != 1:
            problems.append(f"locked areas {[g.ids[i] for i in group][:3]} are not in one CAN")
    holders_all = [seen.get(int(np.asarray(grp)[0])) for grp in problem.locked]
    if len({h for h in holders_all if h is not None}) < len([h for h in holders_all if h]):
        problems.append("two locked groups share one CAN")
    if rules.separation:
        for a in range(len(cans)):
            for b in range(a + 1, len(cans)):
                if is_fixed[a] and is_fixed[b]:
                    continue
                if g.touches(cans[a], cans[b]):
                    problems.append(f"CAN {a + 1} touches CAN {b + 1}")
    return problems
