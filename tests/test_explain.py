"""`canrank explain` and `canrank summaries`: reasons in or out of a CAN, summary tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from canrank.analysis.explain import explain_lsoa
from canrank.cli import app
from canrank.errors import InputError

from conftest import CONFIG

runner = CliRunner()


def _codes(result, status: str) -> list[str]:
    return [
        code
        for code in result.lsoa["lsoa_code"].head(400)
        if explain_lsoa(result, code).status == status
    ]


@pytest.mark.realdata
def test_every_kind_of_reason_on_london(london_build) -> None:
    result = london_build
    member = result.cans["lsoa_codes"].iloc[0].split(";")[0]
    ex = explain_lsoa(result, member)
    assert ex.status == "in a CAN" and ex.can_id == 1
    assert sum(i["contribution"] for i in ex.indicators) == pytest.approx(ex.score)
    assert all(i["proxy"] for i in ex.indicators[1:])  # three proxies in this scenario
    statuses = {explain_lsoa(result, c).status for c in result.lsoa["lsoa_code"].head(400)}
    assert {"in a CAN", "next to a CAN", "borough cap", "below the threshold"} <= statuses
    # the top-ranked LSOA is outside every CAN here: the reason names the CAN it borders
    top = explain_lsoa(result, result.lsoa["lsoa_code"].iloc[0])
    assert top.rank == 1
    if top.status == "next to a CAN":
        assert "CAN " in top.reason and "may not touch" in top.reason


@pytest.mark.realdata
def test_borough_cap_reason_names_the_borough(london_build) -> None:
    capped = _codes(london_build, "borough cap")
    assert capped
    ex = explain_lsoa(london_build, capped[0])
    assert ex.borough_name in ex.reason and "already has 2 CANs" in ex.reason


@pytest.mark.realdata
def test_explain_cli_reads_the_build(london_build, monkeypatch) -> None:
    import canrank.pipeline

    monkeypatch.setattr(canrank.pipeline, "build", None)  # a rebuild would fail loudly
    args = ["--config", str(CONFIG), "--build", str(london_build.folder)]
    ok = runner.invoke(app, ["explain", "E01002734", *args])
    assert ok.exit_code == 0, ok.stderr
    assert "Islington 005B" in ok.stdout and "rank 1 of 4,835" in ok.stdout
    # the CAN it names is the build's own, by number and name
    row = london_build.lsoa.set_index("lsoa_code").loc["E01002734"]
    if not pd.isna(row["can_id"]):
        assert f"CAN {int(row['can_id'])}" in ok.stdout
    member = london_build.cans["lsoa_codes"].iloc[13].split(";")[0]
    inside = runner.invoke(app, ["explain", member, *args])
    assert inside.exit_code == 0, inside.stderr
    assert f"CAN 14, {london_build.cans['name'].iloc[13]}" in " ".join(inside.stdout.split())
    bad = runner.invoke(app, ["explain", "E01999999", *args])
    assert bad.exit_code == 2 and "not in the study area" in bad.stderr


@pytest.mark.realdata
def test_summaries_from_published_iod_file(mirror: Path, tmp_path: Path) -> None:
    out = tmp_path / "boroughs.csv"
    workbook = next(mirror.rglob("ID 2019 for London.xlsx"))
    result = runner.invoke(app, ["summaries", "--iod", str(workbook), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.stderr
    table = pd.read_csv(out)
    for col in (
        "area_code",
        "area_name",
        "domain",
        "average_score",
        "average_rank",
        "proportion_most_deprived_10",
        "extent",
        "local_concentration",
        "scale",
    ):
        assert col in table.columns
    imd = table[table["domain"] == "imd"].set_index("area_code")
    assert len(imd) == 33
    # published: Barking and Dagenham IMD average score 32.768, extent 0.4724
    assert imd.loc["E09000002", "average_score"] == pytest.approx(32.768, abs=5e-4)
    assert imd.loc["E09000002", "extent"] == pytest.approx(0.4724, abs=5e-5)


@pytest.mark.realdata
def test_summaries_for_cans(london_build, tmp_path: Path) -> None:
    out = tmp_path / "cans.csv"
    args = ["--config", str(CONFIG), "--build", str(london_build.folder)]
    result = runner.invoke(app, ["summaries", "--level", "can", "--out", str(out), *args])
    assert result.exit_code == 0, result.stderr
    assert "higher value means more stressed" in " ".join(result.stderr.lower().split())
    table = pd.read_csv(out)
    assert len(table) == 15
    assert sorted(table["area_name"]) == sorted(london_build.cans["name"])
    assert table["average_score"].between(0.8, 1.0).all()
    assert np.all(table["proportion_most_deprived_10"] > 0.5)


def test_unknown_lsoa_is_an_input_error(tmp_path: Path) -> None:
    from canrank.pipeline import build

    from synthetic import write_study

    study = write_study(tmp_path / "mini")
    result = build(study.config, raw_dir=tmp_path / "raw", write=False)
    with pytest.raises(InputError, match="not in the study area"):
        explain_lsoa(result, "E01099999")
    inside = explain_lsoa(result, result.cans["lsoa_codes"].iloc[0].split(";")[0])
    assert inside.status == "in a CAN"
    outside = [c for c in result.lsoa["lsoa_code"] if explain_lsoa(result, c).status != "in a CAN"]
    assert len(outside) == len(result.lsoa) - sum(result.cans["n_lsoas"])
