"""Greedy "best remaining neighbourhood" selection by seeded region growing.

Each round tries the ``seeds`` highest-scoring free areas as seeds; from each seed it grows a
region by repeatedly adding the highest-scoring free neighbour that keeps the population within
the maximum and the borough caps (a knapsack-style rule: score is value per resident), stopping
when nothing fits. The region with the largest objective (population x score) that reaches the
minimum population becomes the next CAN; its areas (and, with ``separation``, their neighbours)
leave the pool. This is the region-growing construction of max-p heuristics (Duque, Anselin &
Rey 2012; Wei, Rey & Knaap 2021) turned to *selection*: areas outside the CANs stay unassigned.
Deterministic: ties go to the lower area index (LSOA code order). No optimality guarantee; the
gap reported is against the knapsack bound of :mod:`canrank.selection.bounds`.
"""

from __future__ import annotations

import heapq
import time

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from canrank.errors import SelectionError
from canrank.selection.bounds import knapsack_bound
from canrank.selection.problem import Selection, SelectionProblem
from canrank.selection.residual import residual

__all__ = ["connect_group", "grow_region", "select_greedy"]


def grow_region(
    problem: SelectionProblem,
    seed: int | list[int],
    free: np.ndarray,
    borough_load: np.ndarray,
    adjacency: list[list[int]],
) -> list[int] | None:
    """Grow a region from ``seed`` (an area or a connected list of areas) over ``free`` areas.

    Returns the sorted members, or ``None`` if the region stays below the minimum population.
    """
    rules = problem.rules
    score, pop, borough = problem.score, problem.population, problem.borough
    members = [seed] if isinstance(seed, int | np.integer) else [int(i) for i in seed]
    inside = set(members)
    total = float(pop[members].sum())
    boroughs = {int(b) for b in borough[members]}
    heap: list[tuple[float, int]] = [
        (-score[j], j) for i in members for j in adjacency[i] if free[j] and j not in inside
    ]
    heapq.heapify(heap)
    while heap:
        neg, j = heapq.heappop(heap)
        if j in inside:
            continue
        if total + pop[j] > rules.max_population:
            continue
        if -neg <= 0 and total >= rules.min_population:
            break  # only non-positive contributions left
        bj = int(borough[j])
        if bj not in boroughs and borough_load[bj] >= rules.max_per_borough:
            continue
        inside.add(j)
        members.append(j)
        total += float(pop[j])
        boroughs.add(bj)
        for nb in adjacency[j]:
            if free[nb] and nb not in inside:
                heapq.heappush(heap, (-score[nb], nb))
    if total < rules.min_population:
        return None
    return sorted(members)


def connect_group(
    problem: SelectionProblem, group: np.ndarray, allowed: np.ndarray
) -> list[int] | None:
    """The group plus the fewest-residents paths over ``allowed`` areas joining it up.

    Paths are added one at a time from the part already joined to the nearest remaining member
    (Dijkstra on entry cost = the entered area's population), a Steiner-tree heuristic.
    """
    g = problem.graph
    members = {int(group[0])}
    rest = [int(i) for i in group[1:]]
    ok = allowed.copy()
    ok[group] = True
    rows = np.repeat(np.arange(g.n), np.diff(g.indptr))
    cols = g.indices
    keep = ok[rows] & ok[cols]
    cost = sparse.csr_matrix(
        (problem.population[cols[keep]] + 1e-9, (rows[keep], cols[keep])), shape=(g.n, g.n)
    )
    while rest:
        dist, pred, _src = dijkstra(
            cost, indices=sorted(members), min_only=True, return_predecessors=True
        )
        target = min(rest, key=lambda t: (dist[t], t))
        if not np.isfinite(dist[target]):
            return None
        node = target
        while node not in members:
            members.add(node)
            node = int(pred[node])
        rest = [t for t in rest if t not in members]
    return sorted(members)


def select_greedy(problem: SelectionProblem, *, seeds: int = 200) -> Selection:
    """Select ``n_cans`` CANs one after another, each the best region grown from the top seeds.

    Overrides come first: fixed CANs are kept, then a CAN is grown around each locked group
    (joined up by :func:`connect_group`), then the remaining CANs are chosen greedily.
    """
    start = time.perf_counter()
    g = problem.graph
    rules = problem.rules
    res = residual(problem)
    adjacency = [g.neighbors(i).tolist() for i in range(g.n)]
    free = res.free & (res.group_of < 0)
    load = res.load.copy()
    weight = problem.weight
    order = np.lexsort((np.arange(g.n), -problem.score))
    cans: list[np.ndarray] = []
    tried = 0

    def take(members: np.ndarray) -> None:
        cans.append(members)
        free[members] = False
        if rules.separation:
            for i in members.tolist():
                free[adjacency[i]] = False
        load[np.unique(problem.borough[members])] += 1

    for k, group in enumerate(res.groups):
        core = connect_group(problem, group, free)
        if core is not None and np.isin(problem.borough[core], np.flatnonzero(
            load >= rules.max_per_borough
        )).any():
            core = None
        region = None
        if core is not None and problem.population[core].sum() <= rules.max_population:
            region = grow_region(problem, core, free, load, adjacency)
        if region is None:
            raise SelectionError(
                f"no CAN within the rules can hold the LSOAs locked into CAN #{k + 1} "
                f"({', '.join(g.ids[i] for i in group[:3])})",
                hint="check they are near each other, not next to another CAN's LSOAs, and "
                "that their boroughs still have room under max_per_borough",
            )
        take(np.asarray(region, dtype=np.int64))
    for _ in range(res.n_open - len(res.groups)):
        best: list[int] | None = None
        best_value = -np.inf
        candidates = [
            int(i) for i in order if free[i] and load[problem.borough[i]] < rules.max_per_borough
        ][:seeds]
        for seed in candidates:
            tried += 1
            region = grow_region(problem, seed, free, load, adjacency)
            if region is None:
                continue
            value = float(weight[region].sum())
            if value > best_value:
                best, best_value = region, value
        if best is None:
            break
        take(np.asarray(best, dtype=np.int64))
    cans.extend(np.sort(np.asarray(f, dtype=np.int64)) for f in problem.fixed)
    cans.sort(key=lambda c: (-float(weight[c].sum()), int(c.min())))
    objective = problem.objective(cans)
    upper = max(knapsack_bound(problem), objective)
    return Selection(
        cans=tuple(cans),
        objective=objective,
        method="greedy",
        upper_bound=round(upper, 6),
        gap=round((upper - objective) / upper, 6) if upper > 0 else 0.0,
        solve_seconds=time.perf_counter() - start,
        status="heuristic (greedy)",
        details={
            "seeds_per_round": seeds,
            "regions_grown": tried,
            "upper_bound_source": "knapsack (fractional, ignores contiguity)",
        },
    )
