"""The exact pricer against brute force: every connected, population-bounded set of small random
graphs, with edge, borough, locked-group and count duals, with and without separation."""

from __future__ import annotations

import numpy as np
import pytest

from canrank.selection.pricer import PricingGraph, price, valid_columns
from canrank.selection.problem import SelectionRules

from synthetic import random_grid_problem


def connected_sets(problem, allowed, lower, upper) -> list[tuple[int, ...]]:
    """Every connected set of allowed areas with population in [lower, upper] (by growth)."""
    g = problem.graph
    pop = problem.population
    found: set[frozenset[int]] = set()
    frontier = {frozenset([i]) for i in range(g.n) if allowed[i]}
    seen = set(frontier)
    while frontier:
        nxt = set()
        for s in frontier:
            p = pop[list(s)].sum()
            if lower <= p <= upper:
                found.add(s)
            for i in s:
                for j in g.neighbors(i).tolist():
                    if allowed[j] and j not in s and p + pop[j] <= upper:
                        t = s | {j}
                        if t not in seen:
                            seen.add(t)
                            nxt.add(t)
        frontier = nxt
    return sorted(tuple(sorted(s)) for s in found)


def reduced_cost(s, pg, net, u_edge, rho, gamma, mu, borough) -> float:
    members = np.asarray(s)
    arcs = np.concatenate([np.arange(pg.indptr[i], pg.indptr[i + 1]) for i in members])
    touched = np.unique(pg.edge_of_arc[arcs]) if len(arcs) else np.zeros(0, np.int64)
    groups = np.unique(pg.group_of[members])
    groups = groups[groups >= 0]
    return float(
        net[members].sum() - u_edge[touched].sum() - rho[np.unique(borough[members])].sum()
        - gamma[groups].sum() - mu
    )


def group_ok(s, pg) -> bool:
    groups = pg.group_of[list(s)]
    held = set(groups[groups >= 0].tolist())
    if len(held) > 1:
        return False
    for g in held:
        members = set(pg.group_members[pg.group_ptr[g] : pg.group_ptr[g + 1]].tolist())
        if not members <= set(s):
            return False
    return True


def random_case(seed: int):
    rng = np.random.default_rng(1000 + seed)
    rows, cols = int(rng.integers(3, 5)), int(rng.integers(3, 5))
    rules = SelectionRules(n_cans=2, min_population=float(rng.integers(1500, 3500)),
                           max_population=float(rng.integers(4000, 7000)))
    p = random_grid_problem(seed, rules, rows, cols, diagonals=0.3, boroughs=3)
    n = p.graph.n
    allowed = rng.random(n) < 0.9
    groups: list[np.ndarray] = []
    if seed % 3 == 1:  # one or two locked groups of 1-2 areas (separation is irrelevant here)
        pool = rng.permutation(np.flatnonzero(allowed))
        k = 0
        for _ in range(int(rng.integers(1, 3))):
            size = int(rng.integers(1, 3))
            if k + size <= len(pool):
                groups.append(np.sort(pool[k : k + size]))
                k += size
    pg = PricingGraph.build(p.graph.indptr, p.graph.indices, p.population, p.borough, allowed,
                            tuple(groups), rules.min_population, rules.max_population)
    separation = seed % 2 == 0
    scale = 1000.0
    net = rng.normal(0.3, 1.0, n) * scale
    if separation:
        u_edge = np.where(rng.random(pg.n_edges) < 0.4, rng.random(pg.n_edges) * 2 * scale, 0.0)
    else:  # conflict duals per area are folded into net; no edge duals
        u_edge = np.zeros(pg.n_edges)
        net -= np.where(rng.random(n) < 0.4, rng.random(n) * scale, 0.0)
    rho = np.where(rng.random(3) < 0.5, rng.random(3) * 2 * scale, 0.0)
    gamma = rng.normal(0.0, 2.0, len(groups)) * scale
    mu = float(rng.random() * 2 * scale)
    return p, pg, net, u_edge, rho, gamma, mu


@pytest.mark.parametrize("seed", range(60))
def test_pricer_matches_brute_force(seed: int) -> None:
    p, pg, net, u_edge, rho, gamma, mu = random_case(seed)
    sets = [s for s in connected_sets(p, pg.allowed, pg.min_population, pg.max_population)
            if group_ok(s, pg)]
    rcs = {s: reduced_cost(s, pg, net, u_edge, rho, gamma, mu, p.borough) for s in sets}
    best = max(rcs.values(), default=-np.inf)
    # maximum mode: exact bound, and the best column is found
    res = price(pg, net, u_edge, rho, gamma, mu, threshold=0.0, node_limit=10**9)
    assert res.complete
    assert res.bound == pytest.approx(max(best, 0.0), abs=1e-6)
    if best > 1e-6:
        assert res.reduced_costs[0] == pytest.approx(best, abs=1e-6)
        assert tuple(res.columns[0].tolist()) in rcs
    for col, rc in zip(res.columns, res.reduced_costs, strict=True):
        assert rcs[tuple(col.tolist())] == pytest.approx(rc, abs=1e-6)  # valid and priced right
        assert rc > 0
    assert valid_columns(pg, res.columns).all()
    # enumeration mode: exactly the sets with rc >= threshold
    if sets:
        thr = best - 1.5 * 1000.0
        enum = price(pg, net, u_edge, rho, gamma, mu, threshold=thr, node_limit=10**9,
                     enumerate_all=True)
        got = {tuple(c.tolist()) for c in enum.columns}
        want = {s for s, rc in rcs.items() if rc >= thr - 1e-7}
        assert got == want
        assert enum.complete
        assert enum.bound == pytest.approx(max(best, thr), abs=1e-6)


def test_node_limit_keeps_a_valid_bound() -> None:
    _p, pg, net, u_edge, rho, gamma, mu = random_case(4)
    exact = price(pg, net, u_edge, rho, gamma, mu, node_limit=10**9)
    capped = price(pg, net, u_edge, rho, gamma, mu, node_limit=2)
    assert capped.roots_at_limit > 0
    assert capped.bound >= exact.bound - 1e-9


def test_enumeration_cap_is_reported() -> None:
    _p, pg, net, u_edge, rho, gamma, mu = random_case(0)
    res = price(pg, net, u_edge, rho, gamma, mu, threshold=-1e12, enumerate_all=True,
                max_records=3)
    assert res.overflow and not res.complete
    assert len(res.columns) == 3


@pytest.mark.parametrize("seed", [0, 1, 4, 7])
def test_result_is_identical_for_any_thread_count(seed: int) -> None:
    """Roots are searched on several threads and merged in root order: same output."""
    _p, pg, net, u_edge, rho, gamma, mu = random_case(seed)
    cases = [
        {"threshold": 0.0},
        {"threshold": -2000.0, "enumerate_all": True},
        {"threshold": -1e12, "enumerate_all": True, "max_records": 5},  # overflow
        {"threshold": 0.0, "node_limit": 3},  # node limit
    ]
    for kw in cases:
        ref = price(pg, net, u_edge, rho, gamma, mu, threads=1, **kw)  # type: ignore[arg-type]
        for threads in (2, 3, 5):
            got = price(pg, net, u_edge, rho, gamma, mu, threads=threads, **kw)  # type: ignore[arg-type]
            assert got.bound == ref.bound
            assert (got.nodes, got.roots_searched, got.roots_at_limit, got.overflow) == (
                ref.nodes, ref.roots_searched, ref.roots_at_limit, ref.overflow)
            assert np.array_equal(got.reduced_costs, ref.reduced_costs)
            assert [c.tolist() for c in got.columns] == [c.tolist() for c in ref.columns]


def test_valid_columns_checks_every_rule() -> None:
    rules = SelectionRules(n_cans=1, min_population=2000, max_population=4000)
    p = random_grid_problem(0, rules, 3, 3)
    pop = p.population
    allowed = np.ones(9, dtype=bool)
    allowed[8] = False
    pg = PricingGraph.build(p.graph.indptr, p.graph.indices, pop, p.borough, allowed,
                            (np.array([3, 4]),), 2000, 4000)
    cols = [np.array([0, 1]), np.array([0, 2]), np.array([7, 8]), np.array([3, 4]),
            np.array([4, 5]), np.array([0])]
    ok = valid_columns(pg, cols)
    expect = [
        2000 <= pop[[0, 1]].sum() <= 4000,  # connected
        False,  # 0 and 2 do not touch
        False,  # 8 is not allowed
        2000 <= pop[[3, 4]].sum() <= 4000,  # the whole locked group
        False,  # part of the locked group
        False,  # too small
    ]
    assert ok.tolist() == expect
