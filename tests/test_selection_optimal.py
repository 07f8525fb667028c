"""The exact method: the brute-force optimum on small instances under every rule (overrides,
separation off, member-score floor, borough caps), a proof status, determinism, warm starts,
and a proven optimum on the real London problem."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from canrank.selection import (
    SelectionProblem,
    SelectionRules,
    WarmStart,
    select,
    validate_selection,
)
from canrank.selection.bounds import knapsack_bound
from canrank.selection.residual import residual

from synthetic import random_grid_problem


def connected_sets(p: SelectionProblem, allowed: np.ndarray) -> list[frozenset[int]]:
    """Every connected set of allowed areas within the population bounds."""
    g, rules, pop = p.graph, p.rules, p.population
    found: set[frozenset[int]] = set()
    frontier = {frozenset([i]) for i in range(g.n) if allowed[i]}
    seen = set(frontier)
    while frontier:
        nxt = set()
        for s in frontier:
            total = pop[list(s)].sum()
            if rules.min_population <= total <= rules.max_population:
                found.add(s)
            for i in s:
                for j in g.neighbors(i).tolist():
                    if allowed[j] and j not in s and total + pop[j] <= rules.max_population:
                        t = s | {j}
                        if t not in seen:
                            seen.add(t)
                            nxt.add(t)
        frontier = nxt
    return sorted(found, key=lambda s: sorted(s))


def brute_force(p: SelectionProblem) -> float:
    """The best objective over every valid selection, by exhaustive search.

    Independent of the method: candidate CANs are all connected sets of eligible areas not in
    or (with separation) next to a fixed CAN, holding each locked group whole or not at all;
    selections are all combinations of compatible candidates obeying the borough caps and
    holding every locked group once.
    """
    g, rules = p.graph, p.rules
    blocked = np.zeros(g.n, dtype=bool)
    load = np.zeros(int(p.borough.max()) + 1, dtype=int)
    for f in p.fixed:
        blocked[f] = True
        if rules.separation:
            for i in f:
                blocked[g.neighbors(int(i))] = True
        load[np.unique(p.borough[f])] += 1
    group_of = {int(i): k for k, grp in enumerate(p.locked) for i in grp}
    sets = []
    for s in connected_sets(p, p.eligible() & ~blocked):
        held = {group_of[i] for i in s if i in group_of}
        if len(held) > 1 or any(not set(p.locked[k].tolist()) <= s for k in held):
            continue
        sets.append((s, held, set(p.borough[list(s)].tolist()), float(p.weight[list(s)].sum())))
    closed = [set(s) | {int(j) for i in s for j in g.neighbors(i)} for s, *_ in sets]
    k_open = rules.n_cans - len(p.fixed)
    best = -np.inf

    def search(start: int, chosen: list[int], value: float, counts: np.ndarray) -> None:
        nonlocal best
        if len(chosen) == k_open:
            held = [k for c in chosen for k in sets[c][1]]
            if sorted(held) == list(range(len(p.locked))):
                best = max(best, value)
            return
        for c in range(start, len(sets)):
            s, _, boroughs, v = sets[c]
            if any((s & sets[d][0]) if not rules.separation else (s & closed[d])
                   for d in chosen):
                continue
            b = list(boroughs)
            if (counts[b] + 1 > rules.max_per_borough).any():
                continue
            counts[b] += 1
            search(c + 1, [*chosen, c], value + v, counts)
            counts[b] -= 1

    search(0, [], 0.0, load.copy())
    return best + sum(float(p.weight[f].sum()) for f in p.fixed)


def check_exact(p: SelectionProblem, **options: object) -> dict[str, object]:
    truth = brute_force(p)
    result = select(p, "optimal", **options)
    assert result.objective == pytest.approx(truth, rel=1e-9)
    assert result.status == "proven optimal"
    assert result.details["proven_optimal"] is True
    assert result.upper_bound >= truth - 1e-6 * abs(truth)
    assert validate_selection(p, list(result.cans)) == []
    return result.details


RULES = SelectionRules(n_cans=2, min_population=2500, max_population=4200, max_per_borough=2)


@pytest.mark.parametrize("seed", range(5))
def test_brute_force_optimum_default_rules(seed: int) -> None:
    check_exact(random_grid_problem(seed, RULES, 4, 5, diagonals=0.3))


@pytest.mark.parametrize("seed", range(3))
def test_brute_force_optimum_three_cans_one_per_borough(seed: int) -> None:
    rules = SelectionRules(n_cans=3, min_population=1800, max_population=3200,
                           max_per_borough=1)
    check_exact(random_grid_problem(seed, rules, 4, 5, boroughs=3))


@pytest.mark.parametrize("seed", range(3))
def test_brute_force_optimum_separation_off(seed: int) -> None:
    rules = replace(RULES, separation=False, max_per_borough=3)
    check_exact(random_grid_problem(seed, rules, 4, 5, diagonals=0.2))


@pytest.mark.parametrize("seed", range(3))
def test_brute_force_optimum_min_member_score(seed: int) -> None:
    rules = replace(RULES, min_member_score=0.3)
    check_exact(random_grid_problem(seed, rules, 4, 5))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("separation", [True, False])
def test_brute_force_optimum_with_overrides(seed: int, separation: bool) -> None:
    """Fixed CAN, locked group and excluded area together (as apply_overrides builds them)."""
    rules = SelectionRules(n_cans=3, min_population=2500, max_population=4200,
                           max_per_borough=2, separation=separation)
    p = random_grid_problem(seed, rules, 4, 5, diagonals=0.2)
    excluded = np.zeros(p.graph.n, dtype=bool)
    excluded[int(np.argmax(p.weight[5:])) + 5] = True  # the best area outside the fixed CAN
    locked = (np.array([18, 19]),) if seed % 2 == 0 else (np.array([14]),)
    p = replace(p, excluded=excluded, fixed=(np.array([0, 1]),), locked=locked)
    check_exact(p)


def test_brute_force_optimum_locked_only_and_separation_off() -> None:
    rules = SelectionRules(n_cans=2, min_population=2500, max_population=4200,
                           max_per_borough=2, separation=False)
    p = random_grid_problem(7, rules, 4, 5)
    check_exact(replace(p, locked=(np.array([0]), np.array([19]))))


PROOF_PATHS = {
    # every round after the first may prove (a generous slack): the proof inside a round
    "proving rounds": {"attempt_after": 10**6, "proof_slack": 0.05},
    # no proving rounds: column generation to convergence, then the separate enumeration
    "separate proof": {"proof_slack": 0.0},
}


@pytest.mark.parametrize("path", sorted(PROOF_PATHS))
def test_brute_force_optimum_by_either_proof(path: str) -> None:
    """Both ways of proving reach the brute-force optimum under several rule sets, and the
    proving round is the one that proves when it is allowed to."""
    rules3 = SelectionRules(n_cans=3, min_population=1800, max_population=3200,
                            max_per_borough=1)
    problems = [random_grid_problem(s, RULES, 4, 5, diagonals=0.3) for s in range(4)]
    problems += [random_grid_problem(s, rules3, 4, 5, boroughs=3) for s in range(3)]
    problems += [random_grid_problem(s, replace(RULES, separation=False, max_per_borough=3),
                                     4, 5) for s in range(2)]
    in_round = 0
    for p in problems:
        details = check_exact(p, **PROOF_PATHS[path])
        proof = details["proof"]
        assert isinstance(proof, dict)
        in_round += "in_round" in proof
        if path == "separate proof":
            assert "in_round" not in proof
    if path == "proving rounds":
        assert in_round >= 1


@pytest.mark.parametrize("seed", range(4))
def test_never_worse_than_greedy_and_bound_no_looser(seed: int) -> None:
    rules = SelectionRules(n_cans=3, min_population=2000, max_population=3500, max_per_borough=2)
    p = random_grid_problem(seed, rules, 6, 7, diagonals=0.2)
    greedy = select(p, "greedy")
    best = select(p, "optimal", greedy=greedy)
    assert greedy.status == "heuristic (greedy)"
    assert best.objective >= greedy.objective - 1e-9
    assert best.upper_bound <= knapsack_bound(p) + 1e-6
    assert best.upper_bound >= best.objective
    assert best.status == "proven optimal"


def test_deterministic_and_details_json() -> None:
    rules = SelectionRules(n_cans=3, min_population=2000, max_population=3500, max_per_borough=2)
    p = random_grid_problem(7, rules, 6, 6)
    a, b = select(p, "optimal"), select(p, "optimal")
    assert [c.tolist() for c in a.cans] == [c.tolist() for c in b.cans]
    assert (a.objective, a.upper_bound, a.gap, a.status) == (
        b.objective, b.upper_bound, b.gap, b.status)
    text = json.dumps(a.details, sort_keys=True)
    assert text == json.dumps(b.details, sort_keys=True)
    assert "second" not in text and "time_limit_s" not in text
    for key in ("rounds", "columns", "proof", "greedy_objective"):
        assert key in a.details
    assert "WarmStart(" not in repr(a)


def test_progress_is_reported_each_round() -> None:
    rules = SelectionRules(n_cans=3, min_population=2000, max_population=3500, max_per_borough=2)
    p = random_grid_problem(3, rules, 6, 7)
    seen: list[dict] = []
    result = select(p, "optimal", progress=seen.append)
    rounds = [s for s in seen if s["stage"] == "column generation"]
    assert len(rounds) == result.details["rounds"] >= 1
    for s in seen:
        assert {"stage", "round", "objective", "bound", "gap"} <= set(s)
        assert s["bound"] >= s["objective"] - 1e-6 or s["stage"] == "column generation"


def test_warm_start_finds_the_cold_optimum_on_new_scores() -> None:
    rules = SelectionRules(n_cans=3, min_population=2000, max_population=3500, max_per_borough=2)
    p = random_grid_problem(4, rules, 7, 7, diagonals=0.2)
    first = select(p, "optimal")
    ws = first.warm_start
    assert isinstance(ws, WarmStart) and len(ws.columns) >= 3 and ws.duals is not None
    rng = np.random.default_rng(0)
    for _ in range(3):
        p2 = replace(p, score=p.score * rng.uniform(0.8, 1.2, p.graph.n))
        cold = select(p2, "optimal")
        warm = select(p2, "optimal", warm_start=ws)
        assert warm.objective == pytest.approx(cold.objective, rel=1e-9)
        assert warm.status == cold.status == "proven optimal"
        assert warm.details["warm_start_columns"] > 0


def test_warm_start_drops_columns_that_became_invalid() -> None:
    rules = SelectionRules(n_cans=2, min_population=2500, max_population=4200, max_per_borough=2,
                           min_member_score=0.2)
    p = random_grid_problem(2, rules, 4, 5)
    ws = select(p, "optimal").warm_start
    p2 = replace(p, score=np.where(np.arange(p.graph.n) % 3 == 0, 0.1, p.score))
    warm = select(p2, "optimal", warm_start=ws)
    assert warm.objective == pytest.approx(brute_force(p2), rel=1e-9)
    assert warm.details["warm_start_columns"] < len(ws.columns)


def test_node_limits_keep_a_valid_bound_and_say_so() -> None:
    rules = SelectionRules(n_cans=3, min_population=2000, max_population=3500, max_per_borough=2)
    p = random_grid_problem(1, rules, 6, 7)
    exact = select(p, "optimal")
    capped = select(p, "optimal", node_limit=3, max_rounds=2, prove_below=0.0)
    assert capped.upper_bound >= exact.objective - 1e-6
    assert capped.objective <= exact.objective + 1e-9
    if capped.objective < capped.upper_bound - 1e-6:
        assert capped.status.startswith("within ")
        assert "bound" in capped.status


def test_time_limit_safety_net_says_so() -> None:
    rules = SelectionRules(n_cans=3, min_population=2000, max_population=3500, max_per_borough=2)
    p = random_grid_problem(2, rules, 6, 7)
    result = select(p, "optimal", time_limit_s=1e-9)
    assert result.status.startswith("time limit reached (bound ")
    assert result.details["time_limit_reached"] is True
    assert np.isfinite(result.upper_bound) and result.upper_bound >= result.objective
    assert validate_selection(p, list(result.cans)) == []


def test_all_cans_fixed() -> None:
    rules = SelectionRules(n_cans=1, min_population=2500, max_population=4200)
    p = random_grid_problem(0, rules, 4, 5)
    p = replace(p, fixed=(np.array([0, 1]),))
    result = select(p, "optimal")
    assert [c.tolist() for c in result.cans] == [[0, 1]]
    assert result.status == "proven optimal"
    assert residual(p).n_open == 0


# -- real London data -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def london_problem(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> SelectionProblem:
    """The London selection problem, built once for this module by canrank's own stages."""
    from canrank.config import load_config
    from canrank.contiguity import Contiguity
    from canrank.problem import build_problem
    from canrank.ranking import rank_study
    from canrank.study import prepare_study

    from conftest import CONFIG

    config = load_config(CONFIG)
    scenario = config.resolve("lcc-2017-proxies")
    study = prepare_study(config, scenario, raw_dir=tmp_path_factory.mktemp("raw-sel"),
                          mirror=mirror)
    ranked = rank_study(study)
    cc = scenario.contiguity
    graph = Contiguity.from_geometry(ranked.geometry.values, ranked["lsoa_code"].tolist(),
                                     tolerance_m=cc.tolerance_m, rule=cc.rule,
                                     min_shared_m=cc.min_shared_m)
    problem, _ = build_problem(ranked, graph, scenario)
    return problem


@pytest.mark.realdata
def test_london_is_proven_optimal_and_beats_greedy(london_problem: SelectionProblem) -> None:
    greedy = select(london_problem, "greedy")
    best = select(london_problem, "optimal", greedy=greedy)
    assert best.status == "proven optimal"
    assert best.objective >= greedy.objective
    assert best.upper_bound == pytest.approx(best.objective, rel=1e-9)
    assert validate_selection(london_problem, list(best.cans)) == []
    assert len(best.cans) == london_problem.rules.n_cans
    assert best.details["proof"]["attempted"] in (True, False)
    json.dumps(best.details)


@pytest.mark.realdata
def test_can_profiles_compare_with_the_london_median(london_build) -> None:
    cans = london_build.cans
    for ind in london_build.scenario.indicators:
        ratio = cans[f"{ind.key}_median_ratio"]
        assert (ratio > 1).all(), ind.key  # CANs are more deprived than the median LSOA
        assert np.allclose(ratio, cans[f"{ind.key}_value"] / cans[f"{ind.key}_area_median"])
    for col in ("average_score", "average_rank", "extent", "local_concentration"):
        assert cans[col].notna().all(), col
    assert np.allclose(cans["average_score"], cans["mean_score"])
    assert (cans["local_concentration"] >= cans["average_rank"] - 1e-9).all()
