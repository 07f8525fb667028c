"""End-to-end builds: the five outputs on real London data, reproducibility, and bad input.

Bad-input cases run the CLI on a miniature study area the tests write (tests/synthetic.py):
each must exit with code 2, name the file and the row or column, and leave no output behind.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import yaml
from typer.testing import CliRunner

from canrank.cli import app
from canrank.selection import validate_selection
from canrank.sources import CATALOGUE

from conftest import london_build_args
from synthetic import cli_build, write_study

runner = CliRunner()
OUTPUTS = ("lsoa.csv", "cans.csv", "canrank.gpkg", "map.html", "manifest.json")


def _cli(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


# -- real London data -----------------------------------------------------------------------


@pytest.mark.realdata
def test_london_build_writes_five_outputs(london_build) -> None:
    out = london_build.out_dir
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    lsoa = pd.read_csv(out / "lsoa.csv")
    assert len(lsoa) == 4_835
    assert lsoa["rank"].tolist() == list(range(1, 4_836))
    assert lsoa["score"].is_monotonic_decreasing
    for col in (
        "lsoa_code",
        "lsoa_name",
        "borough_code",
        "borough_name",
        "population",
        "imd_value",
        "imd_norm",
        "housing_benefit_value",
        "children_low_income_norm",
        "pension_credit_value",
        "decile",
        "can_id",
    ):
        assert col in lsoa.columns, col
    assert lsoa["borough_code"].nunique() == 33
    assert set(lsoa["decile"]) == set(range(1, 11))


@pytest.mark.realdata
def test_london_cans_obey_the_rules(london_build) -> None:
    cans = pd.read_csv(london_build.out_dir / "cans.csv")
    assert len(cans) == 15
    assert cans["can_id"].tolist() == list(range(1, 16))
    assert cans["population"].between(8_000, 15_000).all()
    assert cans["name"].is_unique
    assert all("(" in n and n.endswith(")") for n in cans["name"])
    codes = [c.split(";") for c in cans["lsoa_codes"]]
    assert sum(len(c) for c in codes) == len({x for c in codes for x in c})
    assert (cans["n_lsoas"] == [len(c) for c in codes]).all()
    # check validity again from the graph built by the run
    graph = london_build.graph
    index = {code: i for i, code in enumerate(graph.ids)}
    members = [np.array([index[c] for c in cs]) for cs in codes]
    problem = london_build.problem()
    assert validate_selection(problem, members) == []
    lsoa = pd.read_csv(london_build.out_dir / "lsoa.csv")
    assert int(lsoa["can_id"].notna().sum()) == sum(len(c) for c in codes)
    per_borough = lsoa.dropna(subset=["can_id"]).groupby("borough_code")["can_id"].nunique()
    assert per_borough.max() <= 2


@pytest.mark.realdata
def test_london_geopackage(london_build) -> None:
    path = london_build.out_dir / "canrank.gpkg"
    layers = dict(pyogrio.list_layers(path))
    assert set(layers) >= {"lsoa", "cans", "boroughs", "wards"}
    lsoa = pyogrio.read_dataframe(path, layer="lsoa")
    cans = pyogrio.read_dataframe(path, layer="cans")
    assert lsoa.crs.to_epsg() == 27700 and cans.crs.to_epsg() == 27700
    assert len(lsoa) == 4_835 and len(cans) == 15
    assert cans.geometry.is_valid.all()
    with sqlite3.connect(path) as db:
        stamps = {r[0] for r in db.execute("select last_change from gpkg_contents")}
    assert stamps == {"2000-01-01T00:00:00.000Z"}


@pytest.mark.realdata
def test_london_manifest(london_build) -> None:
    manifest = json.loads((london_build.out_dir / "manifest.json").read_text())
    sel = manifest["selection"]
    for key in ("method", "objective", "min_population", "max_population", "max_per_borough"):
        assert key in sel
    assert sel["min_population"] == 8000 and sel["max_population"] == 15000
    assert sel["max_per_borough"] == 2
    inputs = {i["source"]: i for i in manifest["inputs"]}
    assert inputs["iod2015_file7"]["files"][0]["sha256"] == CATALOGUE["iod2015_file7"].sha256
    assert inputs["london_lsoa_2011"]["rows"] == 4_835
    assert len(manifest["proxies"]) == 3
    assert any(w.startswith("proxy used") for w in manifest["warnings"])
    assert manifest["contiguity"]["islands"] == []
    assert manifest["rows"]["cans"] == 15
    assert manifest["config"]["resolved"]["name"] == "lcc-2017-proxies"
    assert "timings_s" not in manifest and "solve_seconds" not in sel
    run = json.loads((london_build.out_dir / "run.json").read_text())
    assert set(run["timings_s"]) >= {"load", "rank", "contiguity", "select", "write", "map"}
    assert sorted(manifest["outputs"]) == sorted(p.name for p in london_build.out_dir.iterdir())
    assert manifest["versions"]["canrank"]


@pytest.mark.realdata
def test_london_map_declares_proxies(london_build) -> None:
    html = (london_build.out_dir / "map.html").read_text()
    assert "lcc-2017-proxies" in html
    assert "uses proxies" in html
    assert "IDACI" in html and "IDAOPI" in html
    names = pd.read_csv(london_build.out_dir / "cans.csv")["name"]
    text = html.replace("\\u0026", "&")  # the map's JSON writes & as \u0026
    assert all(n in text for n in names)  # names are data shown via textContent, not HTML
    # tooltips carry the national context ("of 32,844 in England") beside London's ranks
    assert '"national":{"n":32844,"imd_rank":[' in html
    lsoa = pd.read_csv(london_build.out_dir / "lsoa.csv")
    assert lsoa["imd_rank_england"].between(1, 32_844).all()


@pytest.mark.realdata
def test_same_inputs_give_identical_bytes(london_build, mirror: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    _cli(*london_build_args(mirror, out, tmp_path / "raw", "--quiet"))
    written = json.loads((out / "manifest.json").read_text())["outputs"]
    assert "manifest.json" in written and "map.html" in written
    for name in written:
        if name == "run.json":  # timings and paths of one run, by design
            continue
        assert (out / name).read_bytes() == (london_build.out_dir / name).read_bytes(), name


@pytest.mark.realdata
def test_build_folder_reads_back_as_the_same_build(london_build) -> None:
    """open_build gives what the build returned: one truth for every analysis command."""
    from canrank.builds import open_build

    again = open_build(london_build.out_dir)
    assert again.graph.ids == london_build.graph.ids
    assert np.array_equal(again.graph.indices, london_build.graph.indices)
    assert [c.tolist() for c in again.selection.cans] == [
        c.tolist() for c in london_build.selection.cans
    ]
    assert again.scenario == london_build.scenario
    cols = [c for c in london_build.lsoa.columns if c != "geometry"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(again.lsoa[cols]), pd.DataFrame(london_build.lsoa[cols]), check_dtype=False
    )
    assert again.cans["name"].tolist() == london_build.cans["name"].tolist()
    assert validate_selection(again.problem(), list(again.selection.cans)) == []


@pytest.mark.realdata
def test_missing_sources_are_listed_before_any_work(mirror: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _cli(
        "build", "--scenario", "lcc-2017", "--mirror", str(mirror), "--out", str(out), "-q"
    )
    assert result.exit_code == 2
    text = result.stderr
    assert "3 source(s)" in text
    for sid in ("dwp_hb_lsoa_2017_02", "dwp_pc_lsoa_2016_11", "hmrc_cilif_2014"):
        assert sid in text
    assert "Stat-Xplore" in text
    assert not out.exists()


# -- miniature study area: success and bad input --------------------------------------------


def _build_mini(study, out: Path, *extra: str):
    return cli_build(study, out, *extra)


def test_mini_build_succeeds(tmp_path: Path) -> None:
    study = write_study(tmp_path / "mini")
    result = _build_mini(study, tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    cans = pd.read_csv(tmp_path / "out" / "cans.csv")
    assert len(cans) == 2
    assert cans["population"].between(3000, 9000).all()
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert {i["origin"] for i in run["input_files"]} == {"local"}


def test_progress_is_shown_unless_quiet(tmp_path: Path) -> None:
    study = write_study(tmp_path / "mini")
    loud = _cli("build", "--config", str(study.config), "--out", str(tmp_path / "o"))
    assert loud.exit_code == 0
    assert "2 CANs" in loud.stdout
    quiet = _build_mini(study, tmp_path / "o2")
    assert quiet.stdout == ""


def _csv_edit(study, change) -> None:
    """Edit the study's File 7 in place (``change`` edits the frame, or returns a new one)."""
    frame = pd.read_csv(study.file7, dtype=str, keep_default_na=False)
    changed = change(frame)
    (frame if changed is None else changed).to_csv(study.file7, index=False)


def _yaml_edit(study, change) -> None:
    data = yaml.safe_load(study.config.read_text())
    change(data)
    study.config.write_text(yaml.safe_dump(data, sort_keys=False))


IMD = "Index of Multiple Deprivation (IMD) Score"


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (lambda s: s.file7.unlink(), "File_7_test.csv"),
        (lambda s: s.file7.write_bytes(b""), "empty"),
        (
            lambda s: _csv_edit(s, lambda f: f.rename(columns={IMD: "IMD"})),
            IMD,
        ),
        (
            lambda s: _csv_edit(
                s, lambda f: f.loc.__setitem__((5, "LSOA code (2011)"), f.iloc[4, 0])
            ),
            "more than once",
        ),
        (lambda s: _csv_edit(s, lambda f: f.loc.__setitem__((3, IMD), "..")), "suppressed"),
        (lambda s: _csv_edit(s, lambda f: f.loc.__setitem__((3, IMD), "12,5x")), "not a number"),
        (lambda s: _csv_edit(s, lambda f: f.drop(index=7)), "no row in"),
        (lambda s: s.config.write_text("version: 1\nscenarios: [\n"), "broken YAML"),
        (
            lambda s: _yaml_edit(s, lambda d: d["scenarios"]["mini"]["weights"].update(imd=0)),
            "positive number",
        ),
        (
            lambda s: _yaml_edit(s, lambda d: d["scenarios"]["mini"]["weights"].update(imd=-2)),
            "positive number",
        ),
        (
            lambda s: _yaml_edit(s, lambda d: d["selection"].update(n_cans=4)),
            "CANs can be formed",
        ),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, break_it, expected: str) -> None:
    study = write_study(tmp_path / "mini")
    out = tmp_path / "out"
    assert _build_mini(study, out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    break_it(study)
    result = _build_mini(study, out)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    # previous outputs untouched, no temporary folders left behind
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_error_names_row_and_column(tmp_path: Path) -> None:
    study = write_study(tmp_path / "mini")
    _csv_edit(study, lambda f: f.loc.__setitem__((3, IMD), "<script>alert(1)</script>"))
    result = _build_mini(study, tmp_path / "new")
    assert result.exit_code == 2
    assert "row 5" in result.stderr and IMD in result.stderr
    assert "File_7_test.csv" in result.stderr
    assert not (tmp_path / "new").exists()


def test_unknown_codes_in_a_study_area_file(tmp_path: Path) -> None:
    study = write_study(tmp_path / "mini")
    bad = tmp_path / "mini" / "extra.csv"
    frame = pd.read_csv(study.file7, dtype=str)
    extra = frame.iloc[[0]].copy()
    extra.iloc[0, 0] = "E01033000"
    pd.concat([frame, extra]).to_csv(bad, index=False)

    def point_income_at_extra(d: dict) -> None:
        d["sources"]["extra_iod"] = {"path": "extra.csv", "loader": "iod"}
        d["indicators"]["income"]["source"] = "extra_iod"

    _yaml_edit(study, point_income_at_extra)
    result = _build_mini(study, tmp_path / "out")
    assert result.exit_code == 2
    assert "E01033000" in result.stderr and "extra.csv" in result.stderr


def test_unknown_scenario(tmp_path: Path) -> None:
    study = write_study(tmp_path / "mini")
    result = _build_mini(study, tmp_path / "out", "--scenario", "nope")
    assert result.exit_code == 2
    assert "unknown scenario" in result.stderr
