"""The optimal method: true optimum on small grids (brute force), valid certificate, never worse
than greedy, and valid CANs on the real London boundaries."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from canrank.selection import SelectionProblem, SelectionRules, select, validate_selection
from canrank.selection.bounds import knapsack_bound
from canrank.selection.greedy import select_greedy
from canrank.selection.optimal import select_optimal

from synthetic import grid_graph


def make(seed: int, rules: SelectionRules, rows: int = 4, cols: int = 5) -> SelectionProblem:
    rng = np.random.default_rng(seed)
    n = rows * cols
    return SelectionProblem(
        graph=grid_graph(rows, cols),
        score=rng.uniform(0.05, 1.0, n),
        population=rng.integers(900, 1600, n).astype(float),
        borough=np.array([c * 2 // cols for _ in range(rows) for c in range(cols)]),
        rules=rules,
    )


def brute_force(p: SelectionProblem) -> float:
    """Best objective over every valid selection (enumerating connected sets)."""
    g, rules = p.graph, p.rules
    found: set[frozenset[int]] = set()
    frontier = {frozenset([i]) for i in range(g.n)}
    while frontier:
        nxt = set()
        for s in frontier:
            pop = p.population[list(s)].sum()
            if rules.min_population <= pop <= rules.max_population:
                found.add(s)
            for i in s:
                for j in g.neighbors(i).tolist():
                    if j not in s and pop + p.population[j] <= rules.max_population:
                        nxt.add(s | {j})
        frontier = nxt
    sets = [np.array(sorted(s)) for s in found]
    best = -np.inf
    for combo in itertools.combinations(range(len(sets)), rules.n_cans):
        cans = [sets[k] for k in combo]
        if not validate_selection(p, cans):
            best = max(best, p.objective(cans))
    return best


RULES = SelectionRules(n_cans=2, min_population=2500, max_population=4200, max_per_borough=2)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_optimal_finds_the_brute_force_optimum_with_a_valid_bound(seed: int) -> None:
    p = make(seed, RULES)
    truth = brute_force(p)
    result = select(p, "optimal", time_limit_s=30)
    assert result.objective == pytest.approx(truth, rel=1e-9)
    assert result.upper_bound is not None and result.upper_bound >= truth - 1e-6
    assert 0.0 <= result.gap <= 1e-6 + (result.upper_bound - truth) / result.upper_bound
    assert result.details["upper_bound_source"].startswith("column generation")


def test_certificate_is_tighter_than_the_knapsack_bound_when_pricing_is_exact() -> None:
    rules = SelectionRules(n_cans=3, min_population=2000, max_population=3500, max_per_borough=2)
    p = make(5, rules, rows=6, cols=6)
    result = select(p, "optimal", time_limit_s=30)
    assert result.upper_bound <= knapsack_bound(p) + 1e-6
    assert result.upper_bound >= result.objective
    assert validate_selection(p, list(result.cans)) == []


@pytest.mark.parametrize("seed", range(6))
def test_optimal_is_never_worse_than_greedy(seed: int) -> None:
    rules = SelectionRules(n_cans=3, min_population=2000, max_population=3500, max_per_borough=2)
    p = make(seed, rules, rows=6, cols=7)
    greedy = select_greedy(p)
    best = select_optimal(p, time_limit_s=20, warm_start=greedy)
    assert best.objective >= greedy.objective - 1e-9
    assert validate_selection(p, list(best.cans)) == []
    assert best.upper_bound >= best.objective
    assert greedy.upper_bound >= best.objective - 1e-6  # greedy's bound is global too


def test_optimal_is_deterministic() -> None:
    rules = SelectionRules(n_cans=3, min_population=2000, max_population=3500, max_per_borough=2)
    p = make(7, rules, rows=6, cols=6)
    a, b = select_optimal(p, time_limit_s=30), select_optimal(p, time_limit_s=30)
    assert [c.tolist() for c in a.cans] == [c.tolist() for c in b.cans]
    assert a.upper_bound == b.upper_bound


def test_separation_off_lets_cans_touch_but_not_overlap() -> None:
    rules = SelectionRules(
        n_cans=3, min_population=2000, max_population=3500, max_per_borough=3, separation=False
    )
    p = make(2, rules, rows=4, cols=5)
    result = select(p, "optimal", time_limit_s=30)
    members = np.concatenate(result.cans)
    assert len(members) == len(set(members.tolist()))
    assert result.objective >= select_greedy(p).objective - 1e-9


# -- real London boundaries -----------------------------------------------------------------


@pytest.mark.realdata
def test_london_selection_is_valid_with_its_certificate(london_build) -> None:
    sel = london_build.selection
    manifest = london_build.manifest["selection"]
    for key in (
        "method",
        "objective",
        "upper_bound",
        "gap",
        "solve_seconds",
        "min_population",
        "max_population",
        "max_per_borough",
    ):
        assert key in manifest, key
    assert len(sel.cans) == 15
    assert 0 <= manifest["gap"] < 0.05
    assert manifest["upper_bound"] >= manifest["objective_value"]
    cans = london_build.cans
    assert cans["name"].is_unique
    assert set(cans["selection_method"]) == {sel.method}
    assert (cans["population"] >= manifest["min_population"]).all()
    assert (cans["population"] <= manifest["max_population"]).all()
    # contiguity, caps and separation on the real boundary graph
    graph = london_build.graph
    for members in sel.cans:
        assert graph.is_connected(members)
    for a in range(15):
        for b in range(a + 1, 15):
            assert not graph.touches(sel.cans[a], sel.cans[b])
    per_borough: dict[str, int] = {}
    for boroughs in cans["boroughs"]:
        for name in boroughs.split("; "):
            per_borough[name] = per_borough.get(name, 0) + 1
    assert max(per_borough.values()) <= manifest["max_per_borough"]


@pytest.mark.realdata
@pytest.mark.slow
def test_london_optimal_beats_or_matches_greedy(london_build) -> None:
    from canrank.pipeline import build_problem
    from canrank.selection import select as run

    ranked = london_build.lsoa.set_index("lsoa_code").loc[list(london_build.graph.ids)]
    ranked = ranked.reset_index()
    scenario = london_build.study.scenario
    problem = build_problem(ranked, london_build.graph, scenario)
    greedy = run(problem, "greedy")
    best = run(problem, "optimal", warm_start=greedy, time_limit_s=120)
    assert best.objective >= greedy.objective
    assert best.upper_bound <= greedy.upper_bound + 1e-6  # never a looser certificate
    assert validate_selection(problem, list(best.cans)) == []


@pytest.mark.realdata
def test_can_profiles_compare_with_the_london_median(london_build) -> None:
    cans = london_build.cans
    for ind in london_build.study.scenario.indicators:
        ratio = cans[f"{ind.key}_median_ratio"]
        assert (ratio > 1).all(), ind.key  # CANs are more deprived than the median LSOA
        assert np.allclose(ratio, cans[f"{ind.key}_value"] / cans[f"{ind.key}_area_median"])
    for col in ("average_score", "average_rank", "extent", "local_concentration"):
        assert cans[col].notna().all(), col
    assert np.allclose(cans["average_score"], cans["mean_score"])
    assert (cans["local_concentration"] >= cans["average_rank"] - 1e-9).all()
