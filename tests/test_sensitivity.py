"""Sensitivity analysis: the compiled greedy twin, reproducible draws, Dask equals in-process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from canrank.cli import app
from canrank.composite import aggregate, ranks_from_scores
from canrank.contiguity import Contiguity
from canrank.errors import ConfigError
from canrank.pipeline import build
from canrank.selection.fast_greedy import _pairwise_sum, select_greedy_fast
from canrank.selection.greedy import select_greedy
from canrank.selection.problem import SelectionProblem, SelectionRules
from canrank.sensitivity import (
    Design,
    _percentiles,
    _ranks,
    draw_design,
    inputs_from_build,
    run_sensitivity,
)

from synthetic import write_study

RESULT_FIELDS = ("p_in_can", "rank_p05", "rank_p50", "rank_p95", "selection_frequency")


def _grid_problem(rows: int, cols: int, seed: int, **rules: object) -> SelectionProblem:
    rng = np.random.default_rng(seed)
    n = rows * cols
    edges = [(r * cols + c, r * cols + c + 1) for r in range(rows) for c in range(cols - 1)]
    edges += [(r * cols + c, (r + 1) * cols + c) for r in range(rows - 1) for c in range(cols)]
    graph = Contiguity.from_edges([f"A{i:04d}" for i in range(n)], edges)
    score = np.round(rng.normal(size=n), 2)  # rounded: many ties, some negative scores
    return SelectionProblem(
        graph=graph,
        score=score,
        population=rng.integers(800, 2000, n).astype(float),
        borough=(np.arange(n) % cols * 4 // cols).astype(np.int64),
        rules=SelectionRules(
            **{"n_cans": 4, "min_population": 4000, "max_population": 7000, **rules}
        ),
    )


def _same_cans(a, b) -> bool:
    return len(a.cans) == len(b.cans) and all(
        np.array_equal(x, y) for x, y in zip(a.cans, b.cans, strict=True)
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("separation", [True, False])
def test_compiled_greedy_equals_reference(seed: int, separation: bool) -> None:
    problem = _grid_problem(12, 14, seed, separation=separation, max_per_borough=2)
    for seeds in (1, 7, 200):
        ref = select_greedy(problem, seeds=seeds)
        fast = select_greedy_fast(problem, seeds=seeds)
        assert _same_cans(ref, fast)
        assert fast.objective == ref.objective


def test_compiled_greedy_respects_member_score_floor() -> None:
    problem = _grid_problem(10, 10, 3, min_member_score=-0.5)
    assert _same_cans(select_greedy(problem), select_greedy_fast(problem))


def test_pairwise_sum_is_bit_identical_to_numpy() -> None:
    rng = np.random.default_rng(0)
    for n in [1, 2, 7, 8, 9, 15, 16, 17, 127, 128, 129, 300, 1000, 2051]:
        a = rng.normal(size=n) * rng.uniform(1, 1e5, n)
        assert _pairwise_sum(a, 0, n) == float(a.sum())


def test_draws_depend_only_on_seed_and_index() -> None:
    nominal = np.array([0.4, 0.3, 0.3])
    design = Design()
    full = draw_design(design, nominal, 4, 11, 0, 20)
    part = draw_design(design, nominal, 4, 11, 7, 13)
    for whole, piece in zip(full, part, strict=True):
        assert np.array_equal(whole[7:13], piece)
    other = draw_design(design, nominal, 4, 12, 0, 20)
    assert not np.array_equal(full[2], other[2])
    option, dropped, weights = full
    assert np.allclose(weights.sum(axis=1), 1)
    assert (weights[dropped >= 0, dropped[dropped >= 0]] == 0).all()
    assert set(option.tolist()) <= {0, 1, 2, 3}


def test_uniform_weights_stay_within_spread() -> None:
    nominal = np.array([0.25, 0.25, 0.25, 0.25])
    design = Design(weights="uniform", spread=0.25, normalisations=(), leave_one_out=False)
    option, dropped, weights = draw_design(design, nominal, 1, 3, 0, 200)
    assert (option == 0).all() and (dropped == -1).all()
    ratio = weights.max(axis=1) / weights.min(axis=1)
    assert (ratio <= 1.25 / 0.75 + 1e-12).all()
    assert ratio.max() > 1.2  # really perturbed


@pytest.mark.parametrize("shuffled", [False, True])
def test_vectorised_ranks_match_ranks_from_scores(shuffled: bool) -> None:
    rng = np.random.default_rng(4)
    n = 200
    codes = np.array([f"E01{i:06d}" for i in (rng.permutation(n) if shuffled else range(n))])
    tiebreak = np.empty(n, dtype=np.int64)
    tiebreak[np.argsort(codes, kind="stable")] = np.arange(n)
    scores = np.round(rng.normal(size=(30, n)), 1)  # many ties
    expected = np.array([ranks_from_scores(row, codes) for row in scores])
    assert np.array_equal(_ranks(scores, tiebreak), expected)


@pytest.mark.parametrize("draws", [1, 2, 19, 200])
def test_percentiles_from_histogram_match_numpy(draws: int) -> None:
    rng = np.random.default_rng(draws)
    n = 30
    ranks = np.array([rng.permutation(n) + 1 for _ in range(draws)])
    hist = np.zeros((n, n), dtype=np.uint32)
    for row in ranks:
        hist[np.arange(n), row - 1] += 1
    got = _percentiles(hist, draws, 1, (5, 50, 95))
    assert np.allclose(got, np.percentile(ranks, [5, 50, 95], axis=0), rtol=0, atol=1e-9)


def test_binned_percentiles_are_within_half_a_bin() -> None:
    rng = np.random.default_rng(8)
    n, draws, width = 100, 41, 8
    ranks = np.array([rng.permutation(n) + 1 for _ in range(draws)])
    hist = np.zeros((n, -(-n // width)), dtype=np.uint32)
    for row in ranks:
        hist[np.arange(n), (row - 1) // width] += 1
    got = _percentiles(hist, draws, width, (5, 50, 95))
    exact = np.percentile(ranks, [5, 50, 95], axis=0)
    assert np.abs(got - exact).max() <= width / 2 + width  # bin centre vs interpolated value


@pytest.mark.parametrize(
    "design",
    [
        Design(weights="bogus"),  # type: ignore[arg-type]
        Design(concentration=0),
        Design(spread=1.5),
        Design(normalisations=("rank", "raw")),
    ],
)
def test_bad_designs_are_config_errors(design: Design) -> None:
    with pytest.raises(ConfigError):
        design.check()


def test_geometric_aggregation_refuses_zscore() -> None:
    with pytest.raises(ConfigError, match="geometric"):
        Design().check("geometric")


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory):
    study = write_study(tmp_path_factory.mktemp("mini"), rows=10, cols=12, n_cans=3)
    result = build(study.config, raw_dir=study.root / "raw", write=False)
    return study, result


def test_mini_nominal_draw_reproduces_the_build(mini) -> None:
    _study, result = mini
    design = Design(weights="fixed", normalisations=(), leave_one_out=False)
    inputs = inputs_from_build(result, design)
    res = run_sensitivity(inputs, design=design, draws=3, seed=0, workers=1)
    in_nominal = inputs.nominal_can > 0
    assert np.array_equal(res.p_in_can, in_nominal.astype(float))
    assert np.array_equal(res.rank_p50, inputs.nominal_rank.astype(float))
    assert (res.selection_frequency == 1).all()


def test_mini_results_do_not_depend_on_batching(mini) -> None:
    _study, result = mini
    design = Design()
    inputs = inputs_from_build(result, design)
    whole = run_sensitivity(inputs, design=design, draws=60, seed=5, workers=1)
    split = run_sensitivity(inputs, design=design, draws=60, seed=5, workers=1, batch_size=7)
    for name in RESULT_FIELDS:
        assert np.array_equal(getattr(whole, name), getattr(split, name)), name
    assert np.array_equal(whole.mean_share, split.mean_share)
    assert 0 < whole.p_in_can.max() <= 1
    assert (whole.rank_p05 <= whole.rank_p50).all() and (whole.rank_p50 <= whole.rank_p95).all()


def test_mini_draw_selection_equals_reference_greedy(mini) -> None:
    _study, result = mini
    design = Design()
    inputs = inputs_from_build(result, design)
    option, _dropped, weights = draw_design(design, inputs.weights, 4, 9, 0, 6)
    arrays = inputs.arrays
    for t, w in zip(option, weights, strict=True):
        score = aggregate(inputs.norm[t], w)
        labels, _ = arrays.labels(score)
        problem = SelectionProblem(
            graph=result.graph,
            score=score,
            population=arrays.population,
            borough=arrays.borough,
            rules=arrays.rules,
        )
        ref = select_greedy(problem, seeds=arrays.seeds)
        got = [np.flatnonzero(labels == k) for k in range(1, labels.max() + 1)]
        assert sorted(map(tuple, got)) == sorted(map(tuple, ref.cans))


def test_cli_writes_reproducible_outputs(mini, tmp_path: Path) -> None:
    study, _result = mini
    runner = CliRunner()
    args = ["sensitivity", "--config", str(study.config), "--raw-dir", str(study.root / "raw")]
    args += ["--draws", "40", "--seed", "3", "--workers", "1"]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, [*args, "--out", str(tmp_path / "b"), "--quiet"])
    assert again.exit_code == 0, again.output
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [
        "sensitivity_cans.csv",
        "sensitivity_draws.csv",
        "sensitivity_lsoa.csv",
        "sensitivity_manifest.json",
        "sensitivity_ranks.png",
    ]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    lsoa = pd.read_csv(tmp_path / "a" / "sensitivity_lsoa.csv")
    assert list(lsoa.columns[:5]) == ["lsoa_code", "p_in_can", "rank_p05", "rank_p50", "rank_p95"]
    assert sorted(lsoa["lsoa_code"]) == sorted(study.codes)
    cans = pd.read_csv(tmp_path / "a" / "sensitivity_cans.csv")
    assert list(cans.columns[:3]) == ["can_id", "name", "selection_frequency"]
    assert cans["selection_frequency"].between(0, 1).all()
    manifest = json.loads((tmp_path / "a" / "sensitivity_manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["draws"] == 40
    assert manifest["design"]["normalisations"] == ["rank", "zscore", "minmax", "exp_rank"]
    assert "numpy" in manifest["versions"]


def test_cli_rejects_bad_options(mini, tmp_path: Path) -> None:
    study, _result = mini
    runner = CliRunner()
    base = ["sensitivity", "--config", str(study.config), "--raw-dir", str(study.root / "raw")]
    bad = runner.invoke(app, [*base, "--weights", "gaussian", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2
    assert "dirichlet" in bad.output
    bad = runner.invoke(app, [*base, "--normalisations", "rank,log", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2
    assert "log" in bad.output
    assert not (tmp_path / "x").exists()


# --- London (offline data) ---------------------------------------------------------------------


@pytest.mark.realdata
def test_london_twin_equals_reference_greedy_on_draws(london_build_greedy) -> None:
    design = Design()
    inputs = inputs_from_build(london_build_greedy, design)
    option, _dropped, weights = draw_design(design, inputs.weights, 4, 2017, 0, 5)
    arrays = inputs.arrays
    for t, w in zip(option, weights, strict=True):
        score = aggregate(inputs.norm[t], w)
        problem = SelectionProblem(
            graph=london_build_greedy.graph,
            score=score,
            population=arrays.population,
            borough=arrays.borough,
            rules=arrays.rules,
        )
        ref = select_greedy(problem, seeds=arrays.seeds)
        fast = select_greedy_fast(problem, seeds=arrays.seeds)
        assert len(ref.cans) == 15
        assert _same_cans(ref, fast)
        assert fast.objective == ref.objective


@pytest.mark.realdata
def test_london_unperturbed_draws_reproduce_the_build(london_build_greedy) -> None:
    design = Design(weights="fixed", normalisations=(), leave_one_out=False)
    inputs = inputs_from_build(london_build_greedy, design)
    res = run_sensitivity(inputs, design=design, draws=2, seed=0, workers=1)
    assert np.array_equal(res.p_in_can, (inputs.nominal_can > 0).astype(float))
    assert (res.selection_frequency == 1).all()
    assert np.array_equal(res.rank_p50, inputs.nominal_rank.astype(float))


@pytest.mark.realdata
@pytest.mark.slow
def test_london_dask_cluster_equals_single_process(london_build_greedy) -> None:
    from distributed import LocalCluster

    design = Design()
    inputs = inputs_from_build(london_build_greedy, design)
    single = run_sensitivity(inputs, design=design, draws=120, seed=42, workers=1)
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        spread = run_sensitivity(
            inputs,
            design=design,
            draws=120,
            seed=42,
            scheduler=cluster.scheduler_address,
            batch_size=17,
        )
    assert spread.execution["mode"] == "scheduler"
    for name in RESULT_FIELDS:
        assert np.array_equal(getattr(single, name), getattr(spread, name)), name
    assert np.array_equal(single.mean_share, spread.mean_share)
    for key, values in single.records.items():
        assert np.array_equal(values, spread.records[key]), key
    # the perturbations matter: some nominal CAN is not always re-selected
    assert single.selection_frequency.min() < 1
