"""Greedy "best remaining neighbourhood" selection by seeded region growing.

Each round tries the ``seeds`` highest-scoring free areas as seeds; from each seed it grows a
region by repeatedly adding the highest-scoring free neighbour that keeps the population within
the maximum and the borough caps (a knapsack-style rule: score is value per resident), stopping
when nothing fits. The region with the largest objective (population x score) that reaches the
minimum population becomes the next CAN; its areas (and, with ``separation``, their neighbours)
leave the pool. This is the region-growing construction of max-p heuristics (Duque, Anselin &
Rey 2012; Wei, Rey & Knaap 2021) turned to *selection*: areas outside the CANs stay unassigned.
Deterministic: ties go to the lower area index (LSOA code order). No optimality guarantee; the
optimal method reports the gap.
"""

from __future__ import annotations

import heapq
import time

import numpy as np

from canrank.selection.problem import Selection, SelectionProblem

__all__ = ["grow_region", "select_greedy"]


def grow_region(
    problem: SelectionProblem,
    seed: int,
    free: np.ndarray,
    borough_load: np.ndarray,
    adjacency: list[list[int]],
) -> list[int] | None:
    """Grow a region from ``seed`` over ``free`` areas; ``None`` if it stays below the minimum."""
    rules = problem.rules
    score, pop, borough = problem.score, problem.population, problem.borough
    members = [seed]
    inside = {seed}
    total = float(pop[seed])
    boroughs = {int(borough[seed])}
    heap: list[tuple[float, int]] = [(-score[j], j) for j in adjacency[seed] if free[j]]
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


def select_greedy(problem: SelectionProblem, *, seeds: int = 200) -> Selection:
    """Select ``n_cans`` CANs one after another, each the best region grown from the top seeds."""
    start = time.perf_counter()
    g = problem.graph
    rules = problem.rules
    adjacency = [g.neighbors(i).tolist() for i in range(g.n)]
    free = problem.eligible().copy()
    n_boroughs = int(problem.borough.max()) + 1 if g.n else 0
    load = np.zeros(n_boroughs, dtype=np.int64)
    weight = problem.weight
    order = np.lexsort((np.arange(g.n), -problem.score))
    cans: list[np.ndarray] = []
    tried = 0
    for _ in range(rules.n_cans):
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
        members = np.asarray(best, dtype=np.int64)
        cans.append(members)
        free[members] = False
        if rules.separation:
            for i in best:
                free[adjacency[i]] = False
        for b in np.unique(problem.borough[members]):
            load[b] += 1
    cans.sort(key=lambda c: (-float(weight[c].sum()), int(c.min())))
    return Selection(
        cans=tuple(cans),
        objective=problem.objective(cans),
        method="greedy",
        solve_seconds=time.perf_counter() - start,
        details={"seeds_per_round": seeds, "regions_grown": tried},
    )
