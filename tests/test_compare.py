"""Scenario comparison: CAN matching, overlaps, rank correlation, escaped summaries, the CLI."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import kendalltau, spearmanr
from typer.testing import CliRunner

from canrank.analysis.compare import compare_pair, compare_results, match_cans
from canrank.cli import app
from canrank.errors import InputError
from canrank.reports.compare_report import md_escape, write_comparison

from synthetic import write_study

REPO = Path(__file__).resolve().parents[1]


def _result(name: str, scores: list[float], cans: dict[int, list[str]], can_names=None):
    """A stand-in for BuildResult with the columns compare uses."""
    codes = [f"E0100000{i}" for i in range(len(scores))]
    lsoa = pd.DataFrame(
        {
            "lsoa_code": codes,
            "lsoa_name": [f"Town {i:03d}A" for i in range(len(scores))],
            "borough_name": "Town",
            "population": [1000.0 + 100 * i for i in range(len(scores))],
            "score": scores,
        }
    )
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores)))
    lsoa["rank"] = 0
    lsoa.loc[order, "rank"] = np.arange(1, len(scores) + 1)
    can_of = {code: k for k, members in cans.items() for code in members}
    lsoa["can_id"] = pd.array([can_of.get(c) for c in codes], dtype="Int64")
    names = can_names or {k: f"CAN {k}" for k in cans}
    table = pd.DataFrame(
        {
            "can_id": list(cans),
            "name": [names[k] for k in cans],
            "lsoa_codes": [";".join(sorted(m)) for m in cans.values()],
            "population": [
                float(lsoa.set_index("lsoa_code").loc[m, "population"].sum()) for m in cans.values()
            ],
        }
    )
    return SimpleNamespace(lsoa=lsoa, cans=table, manifest={"scenario": name})


def C(*idx: int) -> list[str]:
    return [f"E0100000{i}" for i in idx]


def test_matching_maximises_total_overlap_one_to_one() -> None:
    a = {1: C(0, 1, 2), 2: C(3, 4)}
    b = {7: C(2, 3, 4), 8: C(0, 1), 9: C(5)}
    # greedy-by-best-row would pair 1 with 7 (1 shared) or 8 (2 shared); the optimum is 1-8, 2-7
    assert match_cans(a, b) == [(1, 8), (2, 7)]


def test_matching_drops_pairs_without_overlap() -> None:
    assert match_cans({1: C(0)}, {2: C(1)}) == []
    assert match_cans({}, {2: C(1)}) == []


def test_pair_overlaps_correlations_and_shifts() -> None:
    a = _result("A", [9, 8, 7, 6, 5, 4, 3, 2], {1: C(0, 1), 2: C(4, 5)})
    b = _result("B", [8, 9, 1, 6, 5, 7, 3, 2], {1: C(0, 1, 2), 2: C(6, 7)})
    p = compare_pair(a, b, top=3)
    both = p.cans[p.cans["status"] == "both"].iloc[0]
    assert (both["can_a"], both["can_b"]) == (1, 1)
    assert both["jaccard_lsoa"] == pytest.approx(2 / 3)
    assert both["jaccard_population"] == pytest.approx((1000 + 1100) / (1000 + 1100 + 1200))
    assert list(p.cans["status"]) == ["both", "only_a", "only_b"]
    sa = a.lsoa["score"].to_numpy()
    sb = b.lsoa["score"].to_numpy()
    assert p.summary["spearman"] == pytest.approx(spearmanr(sa, sb).statistic)
    assert p.summary["kendall"] == pytest.approx(kendalltau(sa, sb).statistic)
    assert len(p.shifts) == 3
    assert p.shifts.iloc[0]["lsoa_code"] == "E01000002"  # rank 3 -> 8
    assert p.shifts.iloc[0]["shift"] == 5
    assert p.summary["cans_only_a"] == 1 and p.summary["cans_only_b"] == 1


def test_identical_scenarios_compare_as_identical() -> None:
    a = _result("A", [3, 2, 1, 0], {1: C(0, 1)})
    p = compare_pair(a, a, name_a="A", name_b="A2")
    assert p.summary["spearman"] == pytest.approx(1.0)
    assert p.summary["cans_identical"] == 1
    assert p.summary["mean_abs_rank_shift"] == 0


def test_needs_two_scenarios() -> None:
    with pytest.raises(InputError):
        compare_results({"A": _result("A", [1, 2], {})})


def test_summaries_escape_data_and_are_deterministic(tmp_path: Path, monkeypatch) -> None:
    evil = {1: "<script>alert(1)</script> | *bold*", 2: "Ok"}
    a = _result("A", [9, 8, 7, 6], {1: C(0, 1), 2: C(3)}, evil)
    b = _result("B", [9, 7, 8, 6], {1: C(0, 1)}, {1: "Fine & dandy"})
    pairs = compare_results({"A": a, "B": b})
    write_comparison(pairs, {"A": a, "B": b}, tmp_path / "one", maps=False)
    write_comparison(pairs, {"A": a, "B": b}, tmp_path / "two", maps=False)
    page = (tmp_path / "one" / "compare.html").read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "Fine &amp; dandy" in page
    md = (tmp_path / "one" / "compare.md").read_text()
    assert "\\<script\\>" in md and "\\| \\*bold\\*" in md
    assert "skipped" in md and "skipped" in page
    names = sorted(p.name for p in (tmp_path / "one").iterdir() if not p.name.startswith("."))
    assert names == [
        "compare.html",
        "compare.md",
        "compare_cans.csv",
        "compare_lsoa_shifts.csv",
        "compare_summary.csv",
    ]
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_md_escape_flattens_newlines() -> None:
    assert md_escape("a\nb_c") == "a b\\_c"


def _two_scenarios(root: Path):
    study = write_study(root, rows=8, cols=9, n_cans=2)
    data = yaml.safe_load(study.config.read_text())
    data["scenarios"]["income-heavy"] = {
        "description": "more weight on income",
        "area": "mini",
        "weights": {"imd": 1, "income": 3},
    }
    study.config.write_text(yaml.safe_dump(data, sort_keys=False))
    return study


def test_cli_compare_on_mini_study(tmp_path: Path) -> None:
    study = _two_scenarios(tmp_path / "mini")
    out = tmp_path / "cmp"
    args = ["compare", "mini", "income-heavy", "--config", str(study.config), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--raw-dir", str(study.root / "raw")])
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "compare_summary.csv")
    assert summary.loc[0, ["scenario_a", "scenario_b"]].tolist() == ["mini", "income-heavy"]
    assert -1 <= summary.loc[0, "spearman"] <= 1
    cans = pd.read_csv(out / "compare_cans.csv")
    assert set(cans["status"]) <= {"both", "only_a", "only_b"}
    shifts = pd.read_csv(out / "compare_lsoa_shifts.csv")
    assert len(shifts) == 20
    assert shifts["shift"].abs().is_monotonic_decreasing
    assert (out / "compare.md").exists() and (out / "compare.html").exists()


def test_cli_compare_needs_two_scenarios(tmp_path: Path) -> None:
    study = _two_scenarios(tmp_path / "mini")
    result = CliRunner().invoke(
        app,
        ["compare", "mini", "mini", "--config", str(study.config), "--out", str(tmp_path / "x")],
    )
    assert result.exit_code == 2
    assert "two" in result.output
    unknown = CliRunner().invoke(
        app,
        ["compare", "mini", "nope", "--config", str(study.config), "--out", str(tmp_path / "x")],
    )
    assert unknown.exit_code == 2
    assert "nope" in unknown.output
    assert not (tmp_path / "x").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_london_commission_swap(london_compare, london_build) -> None:
    """lcc-2017-proxies vs gla-2017-proxies: children in low-income families vs loneliness.

    The lcc build is the session's own (read, not rebuilt); gla is built once beside it."""
    result, out = london_compare
    assert result.exit_code == 0, result.output
    assert "building lcc-2017-proxies" not in result.output  # the session's build was reused
    lcc = pd.read_csv(out / "compare_cans.csv").dropna(subset=["can_a"])
    assert sorted(lcc["name_a"]) == sorted(london_build.cans["name"])  # the build's own CANs
    summary = pd.read_csv(out / "compare_summary.csv").iloc[0]
    assert summary["n_lsoas_common"] == 4835
    assert 0.5 < summary["spearman"] < 1  # related but not the same ranking
    assert summary["kendall"] < summary["spearman"]
    assert summary["n_cans_a"] == summary["n_cans_b"] == 15
    cans = pd.read_csv(out / "compare_cans.csv")
    both = cans[cans["status"] == "both"]
    assert len(both) == summary["cans_matched"]
    assert both["jaccard_lsoa"].between(0, 1).all()
    assert len(pd.read_csv(out / "compare_lsoa_shifts.csv")) == 20
    md = (out / "compare.md").read_text()
    assert "lcc-2017-proxies vs gla-2017-proxies" in md
    maps = list(out.glob("compare_map*.html"))
    assert maps or "skipped" in md
