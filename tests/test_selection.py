"""Selection rules: the greedy method obeys them and the validator catches every breach."""

from __future__ import annotations

import numpy as np
import pytest

from canrank.errors import SelectionError
from canrank.selection import (
    SelectionProblem,
    SelectionRules,
    select,
    validate_selection,
)
from canrank.selection.greedy import select_greedy

from synthetic import grid_graph


def problem(rules: SelectionRules, *, rows: int = 6, cols: int = 6, seed: int = 3):
    rng = np.random.default_rng(seed)
    n = rows * cols
    borough = np.array([min(c * 3 // cols, 2) for _ in range(rows) for c in range(cols)])
    return SelectionProblem(
        graph=grid_graph(rows, cols),
        score=rng.uniform(0.1, 1.0, n),
        population=rng.integers(900, 1600, n).astype(float),
        borough=borough,
        rules=rules,
    )


RULES = SelectionRules(n_cans=3, min_population=3000, max_population=5000, max_per_borough=1)


def test_greedy_respects_every_rule() -> None:
    p = problem(RULES)
    result = select(p, "greedy")
    assert len(result.cans) == 3
    assert result.status == "heuristic (greedy)"
    assert validate_selection(p, list(result.cans)) == []
    values = [p.weight[c].sum() for c in result.cans]
    assert values == sorted(values, reverse=True)  # CAN 1 is the best
    assert result.objective == pytest.approx(sum(values))


def test_greedy_is_deterministic() -> None:
    p = problem(RULES)
    a, b = select_greedy(p), select_greedy(p)
    assert [c.tolist() for c in a.cans] == [c.tolist() for c in b.cans]


def test_separation_keeps_cans_apart() -> None:
    rules = SelectionRules(n_cans=4, min_population=2000, max_population=3500, max_per_borough=3)
    p = problem(rules)
    result = select(p, "greedy")
    for i in range(4):
        for j in range(i + 1, 4):
            assert not p.graph.touches(result.cans[i], result.cans[j])


def test_min_member_score_and_exclusions() -> None:
    rules = SelectionRules(n_cans=1, min_population=2000, max_population=5000, min_member_score=0.5)
    p = problem(rules)
    excluded = np.zeros(p.graph.n, dtype=bool)
    excluded[int(np.argmax(p.score))] = True
    p2 = SelectionProblem(p.graph, p.score, p.population, p.borough, rules, excluded)
    result = select(p2, "greedy")
    members = result.cans[0]
    assert (p.score[members] >= 0.5).all()
    assert not excluded[members].any()


@pytest.mark.parametrize("method", ["greedy", "optimal"])
def test_infeasible_rules_raise_a_clear_error(method: str) -> None:
    rules = SelectionRules(n_cans=5, min_population=3000, max_population=5000, max_per_borough=1)
    with pytest.raises(SelectionError, match="only 3 of 5 CANs") as info:
        select(problem(rules), method)
    assert "relax" in str(info.value)


def test_unknown_method() -> None:
    with pytest.raises(SelectionError, match="unknown selection method"):
        select(problem(RULES), "magic")


def test_validator_reports_each_breach() -> None:
    p = problem(SelectionRules(n_cans=2, min_population=3500, max_population=4000))
    # not contiguous (0 and 2), overlapping, too small, adjacent to each other
    broken = validate_selection(p, [np.array([0, 2]), np.array([2, 3])])
    text = " | ".join(broken)
    assert "not contiguous" in text
    assert "is in CAN 1 and CAN 2" in text
    assert "outside 3,500-4,000" in text
    assert "touches" in text
    capped = SelectionProblem(
        p.graph, p.score, p.population, np.zeros(p.graph.n, dtype=int), p.rules
    )
    assert any("limit 2" in b for b in validate_selection(capped, [[0], [12], [24]]))


def test_problem_checks_array_lengths() -> None:
    g = grid_graph(2, 2)
    with pytest.raises(ValueError, match="score has 3 values"):
        SelectionProblem(g, np.ones(3), np.ones(4), np.zeros(4, dtype=int), RULES)


@pytest.mark.parametrize("tight", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_compiled_region_grower_equals_the_reference(seed: int, tight: bool) -> None:
    """``grow_regions`` (the exact method's seed pool) grows what ``grow_region`` grows."""
    from canrank.selection.fast_greedy import grow_regions
    from canrank.selection.greedy import grow_region
    from canrank.selection.residual import residual

    from synthetic import random_grid_problem

    low = 3300 if tight else 2000  # tight: many regions stay below the minimum
    rules = SelectionRules(n_cans=3, min_population=low, max_population=3500, max_per_borough=1)
    p = random_grid_problem(seed, rules, 6, 7, diagonals=0.2, boroughs=3)
    res = residual(p)
    free = res.free.copy()
    free[seed::5] = False  # some areas already taken
    load = res.load.copy()
    load[0] = 1  # a borough at its cap
    adjacency = [p.graph.neighbors(i).tolist() for i in range(p.graph.n)]
    seeds = np.flatnonzero(free)
    expected = [grow_region(p, int(s), free, load, adjacency) for s in seeds]
    got = grow_regions(p, seeds, free, load)
    if tight:
        assert any(e is None for e in expected)
    for e, g in zip(expected, got, strict=True):
        assert (e is None and g is None) or (g is not None and list(g) == list(e))
