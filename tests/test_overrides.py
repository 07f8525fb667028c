"""Local-knowledge overrides: parsing, errors, and how greedy and optimal selection honour them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from canrank.cli import app
from canrank.errors import ConfigError, SelectionError
from canrank.overrides import apply_overrides, load_overrides
from canrank.selection import SelectionProblem, SelectionRules, select, validate_selection

from conftest import CONFIG, london_build_args
from synthetic import grid_graph


def code(i: int) -> str:
    return f"E01{i:06d}"


@pytest.fixture
def problem() -> SelectionProblem:
    rng = np.random.default_rng(11)
    rows, cols = 6, 7
    n = rows * cols
    return SelectionProblem(
        graph=grid_graph(rows, cols),
        score=rng.uniform(0.05, 1.0, n),
        population=rng.integers(900, 1600, n).astype(float),
        borough=np.array([c * 3 // cols for _ in range(rows) for c in range(cols)]),
        rules=SelectionRules(n_cans=3, min_population=2000, max_population=3500, max_per_borough=2),
    )


def write(tmp_path: Path, text: str, name: str = "overrides.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("method", ["greedy", "optimal"])
def test_exclude_lock_and_fix_are_honoured(problem, tmp_path: Path, method: str) -> None:
    best = int(np.argmax(problem.weight))
    path = write(
        tmp_path,
        f"""
exclude:
  - {{lsoa: {code(best)}, reason: "a park"}}
lock:
  - {{lsoa: {code(40)}, can: Riverside, reason: "residents' forum"}}
  - {{lsoa: {code(41)}, can: Riverside}}
fix:
  - {{can: Old Town, lsoas: [{code(0)}, {code(1)}], reason: "estate"}}
""",
    )
    overrides = load_overrides(path)
    p, warnings = apply_overrides(problem, overrides)
    result = select(p, method, **({"time_limit_s": 20} if method == "optimal" else {}))
    assert validate_selection(p, list(result.cans)) == []
    cans = [set(c.tolist()) for c in result.cans]
    assert {0, 1} in cans  # the fixed CAN, exactly as given
    assert any({40, 41} <= c for c in cans)  # locked LSOAs share one CAN
    assert all(best not in c for c in cans)  # excluded
    assert len(cans) == 3
    # 0+1 may be below the minimum population: kept, with a warning
    if problem.population[[0, 1]].sum() < 2000:
        assert any("Old Town" in w for w in warnings)


def test_optimal_with_overrides_is_never_worse_than_greedy(problem, tmp_path: Path) -> None:
    path = write(tmp_path, f"lock:\n  - {{lsoa: {code(20)}, can: Middle}}\n")
    p, _ = apply_overrides(problem, load_overrides(path))
    greedy = select(p, "greedy")
    best = select(p, "optimal", time_limit_s=20)
    assert best.objective >= greedy.objective - 1e-9
    assert any(20 in c.tolist() for c in best.cans)


def test_csv_overrides(problem, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "action,lsoa_code,can,reason\nfix,E01000000,Old Town,estate\nfix,E01000001,Old Town,\n"
        "exclude,E01000010,,\n",
        name="overrides.csv",
    )
    ov = load_overrides(path)
    assert ov.fix == (("Old Town", ("E01000000", "E01000001"), "estate"),)
    assert ov.exclude == (("E01000010", ""),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("exclude: [E01999999]\n", "unknown LSOA code"),
        ("fix:\n  - {can: A, lsoas: [E01000000, E01000002]}\n", "not contiguous"),
        ("exclude: [E01000000]\nlock:\n  - {lsoa: E01000000, can: A}\n", "appears in exclude"),
        (
            "fix:\n  - {can: A, lsoas: [E01000000]}\nlock:\n  - {lsoa: E01000020, can: A}\n",
            "is a fixed CAN",
        ),
        ("lock: [E01000000]\n", "must be a mapping"),
        ("shuffle: []\n", "unknown key"),
        ("lock:\n  - {lsoa: E01000000\n", "YAML"),
    ],
)
def test_bad_overrides_are_config_errors(problem, tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        apply_overrides(problem, load_overrides(path))
    assert str(path) in str(info.value)


def test_unknown_csv_action(tmp_path: Path) -> None:
    path = write(tmp_path, "action,lsoa_code\nmove,E01000000\n", name="o.csv")
    with pytest.raises(ConfigError, match="unknown action") as info:
        load_overrides(path)
    assert info.value.row == 2


def test_impossible_lock_is_a_selection_error(problem, tmp_path: Path) -> None:
    # opposite corners of the grid cannot be joined within 3,500 residents
    text = f"lock:\n  - {{lsoa: {code(0)}, can: A}}\n  - {{lsoa: {code(41)}, can: A}}\n"
    path = write(tmp_path, text)
    p, _ = apply_overrides(problem, load_overrides(path))
    with pytest.raises(SelectionError, match="locked"):
        select(p, "greedy")


def test_fixed_cans_over_the_population_limit_warn(problem, tmp_path: Path) -> None:
    members = [0, 1, 2, 3, 4]
    listed = ", ".join(code(i) for i in members)
    path = write(tmp_path, f"fix:\n  - {{can: Big, lsoas: [{listed}]}}\n")
    p, warnings = apply_overrides(problem, load_overrides(path))
    assert any("Big" in w and "outside" in w for w in warnings)
    result = select(p, "greedy")
    assert validate_selection(p, list(result.cans)) == []


@pytest.mark.realdata
def test_build_with_overrides_records_them(mirror: Path, tmp_path: Path, london_build) -> None:
    first = london_build.cans.iloc[0]
    codes = first["lsoa_codes"].split(";")
    second = london_build.cans.iloc[1]["lsoa_codes"].split(";")
    path = write(
        tmp_path,
        f"fix:\n  - {{can: Kept, lsoas: [{', '.join(codes)}], reason: agreed}}\n"
        f"exclude:\n  - {{lsoa: {second[0]}, reason: test}}\n",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        london_build_args(
            mirror, out, tmp_path / "raw", "--method", "greedy", "--overrides", str(path), "-q"
        ),
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["overrides"]["fix"][0]["lsoas"] == codes
    assert manifest["overrides"]["exclude"][0]["lsoa"] == second[0]
    import pandas as pd

    cans = pd.read_csv(out / "cans.csv")
    kept = cans[cans["lsoa_codes"] == ";".join(sorted(codes))]
    assert len(kept) == 1 and "Kept" in kept["override"].iloc[0]
    assert not cans["lsoa_codes"].str.contains(second[0]).any()
    assert "Local knowledge" in (out / "map.html").read_text(encoding="utf-8")


@pytest.mark.realdata
def test_bad_overrides_file_exits_2(mirror: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "exclude: [E01999999]\n")
    result = CliRunner().invoke(
        app,
        [
            "build",
            "--config",
            str(CONFIG),
            "--mirror",
            str(mirror),
            "--out",
            str(tmp_path / "out"),
            "--raw-dir",
            str(tmp_path / "raw"),
            "--overrides",
            str(path),
            "-q",
        ],
    )
    assert result.exit_code == 2
    assert "unknown LSOA code" in result.output + (result.stderr if result.stderr_bytes else "")
    assert not (tmp_path / "out").exists()
