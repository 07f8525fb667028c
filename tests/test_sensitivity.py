"""Sensitivity analysis of a build: estimators, reproducibility at any scale, checkpoints,
precision stopping, exact draws against cold solves, the report names the build's CANs."""

from __future__ import annotations

import html
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import canrank
from canrank.analysis.sensitivity import (
    Design,
    decode_points,
    factors_for,
    indices_from_sums,
    inputs_from_build,
    match_cans,
    run_batch,
    run_sensitivity,
    saltelli_sums,
    sample_points,
    wilson,
    with_design,
)
from canrank.builds import open_build
from canrank.cli import app
from canrank.errors import ConfigError
from canrank.reports.sensitivity_report import FILES, write_sensitivity

from synthetic import write_study

FIELDS = (
    "frequency",
    "ci_low",
    "ci_high",
    "p_in_can",
    "p_low",
    "p_high",
    "rank_p05",
    "rank_p50",
    "rank_p95",
)


def _same(a, b) -> None:
    for name in FIELDS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for name in ("can_s", "can_st", "rank_s", "rank_st"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert np.array_equal(x, y, equal_nan=True), name
    for key, values in a.records.items():
        assert np.array_equal(values, b.records[key]), key


# --- estimators on known functions -----------------------------------------------------------


def _indices(f, k: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    a, b = sample_points(seed, k, 0, n)
    ab = np.repeat(a[:, None, :], k, axis=1)
    for i in range(k):
        ab[:, i, i] = b[:, i]
    y_ab = f(ab.reshape(n * k, k)).reshape(n, k, 1)
    sums = saltelli_sums(f(a)[:, None], f(b)[:, None], y_ab)
    first, total = indices_from_sums(sums)
    return first[:, 0], total[:, 0]


def test_ishigami_indices_match_the_analytic_values() -> None:
    def ishigami(u: np.ndarray) -> np.ndarray:
        x = np.pi * (2 * u - 1)
        return np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])

    first, total = _indices(ishigami, 3, 20_000)
    assert np.allclose(first, [0.3139, 0.4424, 0.0], atol=0.04)
    assert np.allclose(total, [0.5576, 0.4424, 0.2437], atol=0.04)


def test_linear_model_indices_are_squared_coefficient_shares() -> None:
    coef = np.array([4.0, 2.0, 1.0, 0.0])
    first, total = _indices(lambda u: u @ coef, 4, 8_000, seed=3)
    expected = coef**2 / (coef**2).sum()
    assert np.allclose(first, expected, atol=0.03)
    assert np.allclose(total, expected, atol=0.03)  # additive: S_T = S
    assert abs(total[3]) < 1e-12  # an inert factor has exactly zero total effect


def test_integer_outputs_give_exact_sums_in_any_order() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(1, 5000, size=(30, 2 + 3, 7))
    whole = saltelli_sums(y[:, 0], y[:, 1], y[:, 2:])
    parts = [saltelli_sums(y[s, 0], y[s, 1], y[s, 2:]) for s in (slice(0, 11), slice(11, 30))]
    for key, value in whole.items():
        assert value.dtype == np.int64
        assert np.array_equal(value, parts[1][key] + parts[0][key])
    flat = np.full((10, 3), 7)  # an output that never varies has no index
    first, total = indices_from_sums(saltelli_sums(flat, flat, np.repeat(flat[:, None], 2, 1)))
    assert np.isnan(first).all() and np.isnan(total).all()


def test_points_depend_only_on_seed_and_draw_index() -> None:
    a, b = sample_points(11, 5, 0, 20)
    a2, b2 = sample_points(11, 5, 7, 13)
    assert np.array_equal(a[7:13], a2) and np.array_equal(b[7:13], b2)
    a3, _ = sample_points(12, 5, 0, 20)
    assert not np.array_equal(a, a3)
    child = np.random.default_rng(np.random.SeedSequence(11).spawn(20)[9])
    assert np.array_equal(child.random(5), a[9])  # SeedSequence spawn keyed by draw index


def test_factor_encoding() -> None:
    keys = ("a", "b", "c")
    nominal = np.array([0.5, 0.25, 0.25])
    design = Design(spread=0.25)
    factors = factors_for(keys, 4, design)
    assert [f.name for f in factors] == [
        "weight:a",
        "weight:b",
        "weight:c",
        "normalisation",
        "leave_out",
    ]
    u = np.array(
        [
            [0.0, 0.5, 0.999, 0.0, 0.0],  # lowest weight a, option 0, nothing dropped
            [0.5, 0.5, 0.5, 0.999, 0.3],  # nominal weights, option 3, drops indicator a
            [1.0 - 1e-9, 0.5, 0.5, 0.5, 0.999],  # option 2, drops c
        ]
    )
    option, dropped, weights = decode_points(u, factors, nominal, 4, design)
    assert option.tolist() == [0, 3, 2]
    assert dropped.tolist() == [-1, 0, 2]
    assert np.allclose(weights.sum(axis=1), 1)
    raw0 = nominal * np.array([0.75, 1.0, 1.25 - 0.5e-3])
    assert np.allclose(weights[0], raw0 / raw0.sum(), atol=1e-6)
    assert weights[1, 0] == 0 and np.allclose(weights[1, 1:], 0.5)
    assert weights[2, 2] == 0
    dirichlet = Design(weights="dirichlet", concentration=50.0)
    a, _ = sample_points(0, 5, 0, 4000)
    a[:, 3:] = 0.0  # no normalisation or leave-out effect
    _o, _d, w = decode_points(a, factors_for(keys, 4, dirichlet), nominal, 4, dirichlet)
    assert np.allclose(w.mean(axis=0), nominal, atol=0.01)  # Dirichlet(c w0) has mean w0
    assert np.allclose(w.var(axis=0), nominal * (1 - nominal) / 51, rtol=0.15)


def test_wilson_interval_known_values() -> None:
    lo, hi = wilson(np.array([0, 5, 10]), 10)
    assert np.allclose(lo, [0.0, 0.2366, 0.7225], atol=1e-4)
    assert np.allclose(hi, [0.2775, 0.7634, 1.0], atol=1e-4)


def test_jaccard_match_rule() -> None:
    nominal = np.array([1, 1, 1, 1, 2, 2, 0, 0, 0, 0])
    draw = np.array([1, 1, 0, 0, 0, 0, 2, 2, 0, 0])  # CAN 1: 2 of 4 shared (J = 0.5)
    assert match_cans(nominal, draw, 2, 0.5).tolist() == [True, False]
    assert match_cans(nominal, draw, 2, 0.6).tolist() == [False, False]
    draw = np.array([0, 1, 1, 1, 1, 1, 0, 0, 0, 0])  # J(1) = 3/6, J(2) = 2/5
    assert match_cans(nominal, draw, 2, 0.5).tolist() == [True, False]
    assert match_cans(nominal, np.zeros(10, dtype=np.int64), 2, 0.5).tolist() == [False, False]


@pytest.mark.parametrize("shuffled", [False, True])
def test_vectorised_ranks_match_ranks_from_scores(shuffled: bool) -> None:
    from canrank.analysis.sensitivity import _ranks
    from canrank.composite import ranks_from_scores

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
    from canrank.analysis.sensitivity import _percentiles

    rng = np.random.default_rng(draws)
    n = 30
    ranks = np.array([rng.permutation(n) + 1 for _ in range(draws)])
    hist = np.zeros((n, n), dtype=np.uint32)
    for row in ranks:
        hist[np.arange(n), row - 1] += 1
    got = _percentiles(hist, draws, 1, (5, 50, 95))
    assert np.allclose(got, np.percentile(ranks, [5, 50, 95], axis=0), rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    "design",
    [
        Design(weights="bogus"),  # type: ignore[arg-type]
        Design(concentration=0),
        Design(spread=1.5),
        Design(match=0),
        Design(normalisations=("rank", "raw")),
    ],
)
def test_bad_designs_are_config_errors(design: Design) -> None:
    with pytest.raises(ConfigError):
        design.check()


# --- a small synthetic build (exact) ------------------------------------------------------------


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory):
    """An 8 x 10 grid study built with the exact method into a folder, read back."""
    root = tmp_path_factory.mktemp("mini")
    study = write_study(root / "study", rows=8, cols=10, n_cans=2)
    canrank.build(study.config, raw_dir=root / "raw", out=root / "build", method="optimal")
    return study, open_build(root / "build")


@pytest.fixture(scope="module")
def mini_exact(mini):
    _study, build = mini
    return inputs_from_build(build, Design())


@pytest.fixture(scope="module")
def mini_greedy(mini):
    _study, build = mini
    return inputs_from_build(build, Design(), method="greedy")


def test_nominal_exact_solve_reproduces_the_published_cans(mini, mini_exact) -> None:
    _study, build = mini
    assert build.selection.method == "optimal"
    assert mini_exact.nominal["reproduces_published_cans"] is True
    assert mini_exact.nominal["status"] == "proven optimal"
    assert mini_exact.warm_start is not None
    assert mini_exact.evaluations_per_draw == mini_exact.k + 2 == 6


def test_exact_draws_equal_cold_exact_solves(mini_exact) -> None:
    from canrank.composite import aggregate
    from canrank.selection import select

    inp = mini_exact
    batch = run_batch(inp, 7, 0, 3)
    option, _dropped, weights = decode_points(
        batch.records["point"], inp.factors, inp.weights, len(inp.norm_names), inp.design
    )
    for row in range(3):
        score = aggregate(inp.norm[option[row]], weights[row], inp.aggregation)
        cold = select(replace(inp.problem, score=score), "optimal", **inp.options)
        assert cold.status == "proven optimal"
        assert batch.records["status"][row] == "proven optimal"
        assert batch.records["objective"][row] == pytest.approx(cold.objective, rel=1e-9)
        selected = cold.labels(inp.n) > 0
        assert np.array_equal(batch.in_can[row], selected)


def test_unperturbed_draws_select_every_published_can(mini, mini_exact) -> None:
    still = with_design(
        mini_exact, mini[1], Design(spread=0.0, normalisations=(), leave_one_out=False)
    )
    res = run_sensitivity(still, draws=2, seed=0, workers=1)
    assert (res.frequency == 1).all()
    assert np.array_equal(res.p_in_can, (still.nominal_label > 0).astype(float))
    assert np.array_equal(res.rank_p50, still.nominal_rank.astype(float))
    assert np.isnan(res.can_st).all()  # nothing varies: indices undefined, not 0 or 1


def test_overrides_of_the_build_are_honoured(mini, tmp_path: Path) -> None:
    study, build = mini
    kept = build.cans.iloc[0]["lsoa_codes"].split(";")
    gone = build.cans.iloc[1]["lsoa_codes"].split(";")[0]
    path = tmp_path / "overrides.yaml"
    path.write_text(
        f"fix:\n  - {{can: Kept, lsoas: [{', '.join(kept)}], reason: agreed}}\n"
        f"exclude:\n  - {{lsoa: {gone}, reason: a park}}\n",
        encoding="utf-8",
    )
    out = tmp_path / "build"
    canrank.build(study.config, raw_dir=tmp_path / "raw", out=out, method="optimal", overrides=path)
    ov_build = open_build(out)
    inputs = inputs_from_build(ov_build, Design(indices=False))
    assert len(inputs.problem.fixed) == 1 and inputs.problem.excluded is not None
    assert inputs.nominal["reproduces_published_cans"] is True
    res = run_sensitivity(inputs, draws=4, seed=1, workers=1)
    row = ov_build.cans["lsoa_codes"].map(lambda t: sorted(t.split(";")) == sorted(kept))
    assert res.frequency[row.to_numpy()].tolist() == [1.0]  # the fixed CAN is in every draw
    assert res.p_in_can[list(inputs.codes).index(gone)] == 0  # the excluded LSOA in none


def test_results_do_not_depend_on_chunking(mini_greedy) -> None:
    whole = run_sensitivity(mini_greedy, draws=24, seed=5, workers=1)
    split = run_sensitivity(mini_greedy, draws=24, seed=5, workers=1, batch_size=5)
    _same(whole, split)
    assert whole.can_st is not None and np.nanmax(whole.can_st) > 0
    assert (whole.rank_p05 <= whole.rank_p50).all() and (whole.rank_p50 <= whole.rank_p95).all()
    assert ((whole.ci_low <= whole.frequency) & (whole.frequency <= whole.ci_high)).all()


@pytest.mark.slow
def test_local_cluster_equals_single_process(mini_exact) -> None:
    from distributed import LocalCluster

    single = run_sensitivity(mini_exact, draws=4, seed=3, workers=1)
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        spread = run_sensitivity(
            mini_exact, draws=4, seed=3, scheduler=cluster.scheduler_address, batch_size=1
        )
    assert spread.execution["mode"] == "scheduler"
    _same(single, spread)


def test_checkpoint_resume_gives_the_same_result(mini_greedy, tmp_path: Path) -> None:
    store = tmp_path / "draws"
    first = run_sensitivity(
        mini_greedy, draws=12, seed=2, workers=1, batch_size=4, checkpoint=store
    )
    parts = sorted(store.glob("part-*.parquet"))
    assert len(parts) == 3
    parts[-1].unlink()  # as if the run had been killed before its last batch
    again = run_sensitivity(
        mini_greedy, draws=12, seed=2, workers=1, batch_size=4, checkpoint=store
    )
    assert again.execution["resumed_draws"] == 8 and again.execution["computed_draws"] == 4
    _same(first, again)

    class Killed(Exception):
        pass

    def kill(_info: dict) -> None:
        raise Killed

    fresh = tmp_path / "fresh"
    with pytest.raises(Killed):  # interrupted after its first batch was written
        run_sensitivity(
            mini_greedy,
            draws=12,
            seed=2,
            workers=1,
            batch_size=5,
            checkpoint=fresh,
            on_progress=kill,
        )
    resumed = run_sensitivity(
        mini_greedy, draws=12, seed=2, workers=1, batch_size=3, checkpoint=fresh
    )
    assert resumed.execution["resumed_draws"] == 5
    _same(first, resumed)
    other = run_sensitivity(mini_greedy, draws=12, seed=9, workers=1, checkpoint=fresh)
    assert other.execution["resumed_draws"] == 0  # another seed: parts discarded
    assert other.execution["discarded_parts"] > 0


def test_precision_stops_at_a_deterministic_boundary(mini_greedy) -> None:
    res = run_sensitivity(mini_greedy, draws=400, seed=4, workers=1, precision=0.45, check_every=10)
    assert res.draws < 400 and res.draws % 10 == 0
    assert res.widest < 0.45
    assert "narrower than 0.45" in res.stopped
    plain = run_sensitivity(mini_greedy, draws=res.draws, seed=4, workers=1, batch_size=7)
    _same(res, plain)
    before = run_sensitivity(mini_greedy, draws=res.draws - 10, seed=4, workers=1)
    assert before.widest >= 0.45


def test_precision_run_resumes_from_parts_of_another_batching(mini_greedy, tmp_path) -> None:
    store = tmp_path / "draws"
    run_sensitivity(mini_greedy, draws=16, seed=4, workers=1, batch_size=16, checkpoint=store)
    res = run_sensitivity(
        mini_greedy,
        draws=40,
        seed=4,
        workers=1,
        precision=0.45,
        check_every=10,
        checkpoint=store,
        batch_size=4,
    )
    plain = run_sensitivity(mini_greedy, draws=res.draws, seed=4, workers=1)
    _same(res, plain)


def test_report_names_the_builds_cans_and_escapes_text(mini, mini_exact, tmp_path: Path) -> None:
    _study, build = mini
    cans = build.cans.copy()
    cans.loc[0, "name"] = "<script>alert(1)</script> & Co"
    odd = replace(build, cans=cans)
    res = run_sensitivity(mini_exact, draws=2, seed=1, workers=1)
    write_sensitivity(res, odd, tmp_path / "out", build_sha="0" * 64)
    page = (tmp_path / "out" / "sensitivity.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page
    for name in build.cans["name"].iloc[1:]:
        assert html.escape(str(name)) in page
    table = pd.read_csv(tmp_path / "out" / "sensitivity_cans.csv")
    assert list(table.columns[:5]) == ["can_id", "name", "frequency", "ci_low", "ci_high"]
    assert table["can_id"].tolist() == build.cans["can_id"].tolist()


def test_cli_writes_reproducible_outputs_in_the_build_folder(mini) -> None:
    study, build = mini
    folder = build.folder
    runner = CliRunner()
    args = ["sensitivity", "--config", str(study.config), "--build", str(folder)]
    args += ["--draws", "6", "--seed", "3", "--workers", "1", "--method", "greedy"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    out = folder / "sensitivity"
    kept = {name: (out / name).read_bytes() for name in FILES}
    assert sorted(p.name for p in (out / "draws").glob("part-*.parquet"))
    again = runner.invoke(app, [*args, "--quiet", "--fresh"])
    assert again.exit_code == 0, again.output
    for name in FILES:
        assert (out / name).read_bytes() == kept[name], name
    record = json.loads(kept["sensitivity.json"])
    assert record["seed"] == 3 and record["draws"] == 6 and record["method"] == "greedy"
    assert "Jaccard" in record["match_rule"] and len(record["build_manifest_sha256"]) == 64
    assert "greedy rule" in record["method_note"]
    assert "greedy rule" in kept["sensitivity.html"].decode()
    cans = pd.read_csv(out / "sensitivity_cans.csv")
    assert cans["name"].tolist() == build.cans["name"].astype(str).tolist()
    assert {"ST_normalisation", "S_leave_out"} <= set(cans.columns)
    lsoa = pd.read_csv(out / "sensitivity_lsoa.csv")
    assert lsoa["lsoa_code"].tolist() == build.lsoa["lsoa_code"].tolist()
    indices = pd.read_csv(out / "sensitivity_indices.csv")
    assert set(indices["output"]) == {"can_selected", "lsoa_rank"}
    for name in build.cans["name"]:
        assert str(name) in first.output


def test_cli_rejects_bad_options(mini) -> None:
    study, build = mini
    runner = CliRunner()
    base = ["sensitivity", "--config", str(study.config), "--build", str(build.folder)]
    bad = runner.invoke(app, [*base, "--weights", "gaussian"])
    assert bad.exit_code == 2 and "uniform" in bad.output
    bad = runner.invoke(app, [*base, "--normalisations", "rank,log"])
    assert bad.exit_code == 2 and "log" in bad.output
    bad = runner.invoke(app, [*base, "--method", "annealing"])
    assert bad.exit_code == 2 and "greedy" in bad.output


# --- London (offline data) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def london_inputs(london_build):
    return inputs_from_build(london_build, Design(indices=False))


@pytest.mark.realdata
def test_london_exact_nominal_reproduces_and_draws_are_proven(london_build, london_inputs):
    inp = london_inputs
    assert london_build.selection.method == "optimal"
    if london_build.selection.status == "proven optimal":  # a build that hit its time limit
        assert inp.nominal["reproduces_published_cans"] is True  # may differ, and says so
    res = run_sensitivity(inp, draws=2, seed=2017, workers=1)
    assert (res.records["n_cans"] == 15).all()
    proven = res.records["status"] == "proven optimal"
    assert np.array_equal(res.records["not_proven"], (~proven).astype(np.int64))
    assert ((res.frequency >= 0) & (res.frequency <= 1)).all()
    assert res.frequency.max() > 0  # some published CAN survives the perturbations


@pytest.mark.realdata
def test_london_unperturbed_exact_draw_selects_the_published_cans(
    london_build, london_inputs
) -> None:
    design = Design(spread=0.0, normalisations=(), leave_one_out=False, indices=False)
    still = with_design(london_inputs, london_build, design)
    res = run_sensitivity(still, draws=1, seed=0, workers=1)
    assert (res.frequency == 1).all()
    assert np.array_equal(res.p_in_can, (still.nominal_label > 0).astype(float))


def test_checkpoint_folder_is_removed_by_fresh(tmp_path: Path) -> None:
    from canrank.analysis.sensitivity import clear_checkpoint

    store = tmp_path / "draws"
    store.mkdir()
    (store / "part-000000-000004.parquet").write_bytes(b"x")
    (store / "key.json").write_text("{}")
    (store / "notes.txt").write_text("mine")
    clear_checkpoint(store)
    assert sorted(p.name for p in store.iterdir()) == ["notes.txt"]
    shutil.rmtree(store)
