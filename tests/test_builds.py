"""The build folder is the contract: analysis commands read it (never rebuild a fresh build),
honour its overrides, notice when it is stale, and all name the same CANs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import canrank.pipeline
from canrank.builds import build_status, open_build
from canrank.cli import app

from synthetic import MiniStudy, cli_build, write_study

runner = CliRunner()


def _cli(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _build(study: MiniStudy, out: Path, *extra: str):
    result = cli_build(study, out, *extra)
    assert result.exit_code == 0, result.output
    return open_build(out)


@pytest.fixture
def study(tmp_path: Path) -> MiniStudy:
    return write_study(tmp_path / "mini")


@pytest.fixture
def overrides_build(study: MiniStudy, tmp_path: Path):
    """A build with local knowledge: one LSOA excluded, two locked into a named CAN."""
    ov = tmp_path / "local.yaml"
    codes = study.codes
    ov.write_text(
        yaml.safe_dump(
            {
                "exclude": [{"lsoa": codes[0], "reason": "a park"}],
                "lock": [
                    {"lsoa": codes[40], "can": "Riverside", "reason": "residents' forum"},
                    {"lsoa": codes[41], "can": "Riverside"},
                ],
            }
        ),
        encoding="utf-8",
    )
    return study, _build(study, tmp_path / "out", "--overrides", str(ov))


def _no_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("an analysis command rebuilt a fresh build")

    monkeypatch.setattr(canrank.pipeline, "build", refuse)


def test_overrides_travel_with_the_build(overrides_build, monkeypatch) -> None:
    study, build = overrides_build
    assert (build.folder / "overrides.yaml").is_file()
    assert build.overrides is not None and build.overrides.locked_names() == ["Riverside"]
    problem = build.problem()
    assert len(problem.locked) == 1 and problem.excluded is not None
    assert problem.excluded.sum() == 1
    lsoa = build.lsoa.set_index("lsoa_code")
    locked = lsoa.loc[[study.codes[40], study.codes[41]], "can_id"]
    assert locked.notna().all() and locked.nunique() == 1
    assert pd.isna(lsoa.loc[study.codes[0], "can_id"])
    # explain reads the folder and honours the overrides (no rebuild)
    _no_rebuild(monkeypatch)
    out = _cli(
        "explain", study.codes[40], "--config", str(study.config), "--build", str(build.folder)
    )
    assert out.exit_code == 0, out.output
    assert f"CAN {int(locked.iloc[0])}" in out.output
    out = _cli(
        "explain", study.codes[0], "--config", str(study.config), "--build", str(build.folder)
    )
    assert out.exit_code == 0, out.output
    assert "not in" in out.output.lower() or "excluded" in out.output.lower()


def test_summaries_and_explain_name_the_build_cans(overrides_build, monkeypatch) -> None:
    study, build = overrides_build
    _no_rebuild(monkeypatch)
    out = _cli(
        "summaries",
        "--level",
        "can",
        "--config",
        str(study.config),
        "--build",
        str(build.folder),
        "--quiet",
    )
    assert out.exit_code == 0, out.output
    table = pd.read_csv(build.folder / "summaries" / "can.csv")
    assert sorted(table["area_name"]) == sorted(build.cans["name"])


def test_fresh_build_is_reused_and_stale_build_is_rebuilt(study: MiniStudy, tmp_path: Path):
    out = tmp_path / "out"
    _build(study, out)
    assert build_status(out, study.config)[0] == "fresh"
    # a change of weight in the config makes the build stale
    config = yaml.safe_load(study.config.read_text())
    config["scenarios"]["mini"]["weights"]["imd"] = 3
    study.config.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    status, reasons = build_status(out, study.config)
    assert status == "stale" and any("configuration" in r for r in reasons)
    result = _cli("explain", study.codes[5], "--config", str(study.config), "--build", str(out))
    assert result.exit_code == 0, result.output
    assert "building" in result.output
    assert build_status(out, study.config)[0] == "fresh"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["resolved"]["indicators"][0]["weight"] == pytest.approx(3 / 4)


def test_changed_input_makes_the_build_stale(study: MiniStudy, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _build(study, out)
    data = study.file7.read_text(encoding="utf-8")
    study.file7.write_text(data.replace(",", ", ", 1), encoding="utf-8")
    status, reasons = build_status(out, study.config)
    assert status == "stale" and any("changed" in r for r in reasons)


def test_build_options_are_remembered(study: MiniStudy, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _build(study, out, "--method", "greedy", "--n-cans", "1")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"] == {"method": "greedy", "n_cans": 1}
    assert build_status(out, study.config)[0] == "fresh"
    assert len(open_build(out).cans) == 1


def test_explain_checks_the_code_before_any_work(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no build, no config here
    result = _cli("explain", "E9999[/red]")
    assert result.exit_code == 2
    assert "is not an LSOA code" in result.output
    assert "Traceback" not in result.output


def test_open_build_refuses_a_folder_that_is_not_a_build(tmp_path: Path) -> None:
    from canrank.errors import InputError

    with pytest.raises(InputError, match="no canrank build"):
        open_build(tmp_path)
