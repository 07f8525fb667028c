"""Age UK / ONS loneliness loader: layout checks and the log-odds to prevalence conversion."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from canrank.errors import InputError
from canrank.loaders.loneliness import read_loneliness

LSOA_HEADER = [
    "LSOA",
    "LSOA name",
    "Log odds",
    "Rank in London    1=highest 4835= lowest",
    "Rank England  1 = highest 32,843 = lowest",
    "London Decile, 1=most lonely",
]


def write_workbook(path: Path, rows: list[list[object]], header=LSOA_HEADER, sheet="LSOA") -> Path:
    """A workbook laid out like london-loneliness-MSOA-LSOA.xlsx (notes sheet, LA, MSOA, LSOA)."""
    book = Workbook()
    notes = book.active
    notes.title = "CT0467"
    notes.append(["Office for National Statistics"])
    notes.append([])
    notes.append(["CT0467 - Probability of loneliness for those aged 65 and over"])
    book.create_sheet("LA").append(["LA code", "LA name", "Log odds", "Prevalence"])
    book.create_sheet("MSOA").append(["MSOA code", "MSOA name", "Log odds", "Prevalence"])
    data = book.create_sheet(sheet)
    data.append(header)
    for row in rows:
        data.append(row)
    book.save(path)
    return path


ROWS = [
    ["E01000003", "Camden 001C", -3.5, 2, 100, 1],
    ["E01000001", "Camden 001A", -4.0, 3, 200, 4],
    ["E01000002", "Camden 001B", -3.0, 1, 50, 1],
]


def test_reads_lsoa_sheet_and_derives_prevalence(tmp_path: Path) -> None:
    frame = read_loneliness(write_workbook(tmp_path / "l.xlsx", ROWS))
    assert list(frame["lsoa_code"]) == ["E01000001", "E01000002", "E01000003"]
    assert frame["loneliness_log_odds"].tolist() == [-4.0, -3.0, -3.5]
    expected = 100 / (1 + math.exp(3.0))
    assert frame.loc[1, "loneliness_prevalence"] == pytest.approx(expected)
    assert frame.attrs["reference_date"] == "2011-03-27"


@pytest.mark.parametrize(
    ("rows", "header", "sheet", "expected"),
    [
        (ROWS, LSOA_HEADER, "Data", "no sheet 'LSOA'"),
        (ROWS, ["Code", "Name", "Log odds"], "LSOA", "does not start with the headers"),
        ([*ROWS, ROWS[0]], LSOA_HEADER, "LSOA", "more than once"),
        ([["S01000001", "x", -3.0]], LSOA_HEADER, "LSOA", "not an LSOA code"),
        ([["E01000001", "x", ".."]], LSOA_HEADER, "LSOA", "suppressed"),
        ([["E01000001", "x", "high"]], LSOA_HEADER, "LSOA", "not a number"),
    ],
)
def test_bad_workbooks(tmp_path: Path, rows, header, sheet, expected: str) -> None:
    path = write_workbook(tmp_path / "bad.xlsx", rows, header=header, sheet=sheet)
    with pytest.raises(InputError) as info:
        read_loneliness(path)
    assert expected in str(info.value)
    assert "bad.xlsx" in str(info.value)


def test_truncated_and_non_xlsx_files(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "cut.xlsx", ROWS)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot be opened"):
        read_loneliness(path)
    text = tmp_path / "notes.xlsx"
    text.write_text("LSOA,Log odds\n")
    with pytest.raises(InputError, match="cannot be opened"):
        read_loneliness(text)


@pytest.mark.realdata
def test_real_london_table(mirror: Path) -> None:
    path = next(mirror.rglob("london-loneliness-MSOA-LSOA.xlsx"))
    frame = read_loneliness(path)
    assert len(frame) == 4_835 and frame["lsoa_code"].is_unique
    assert frame["loneliness_prevalence"].between(0, 100).all()
    # the logistic conversion reproduces the prevalence the workbook publishes for boroughs
    boroughs = pd.read_excel(path, sheet_name="LA")
    derived = 100 / (1 + (-boroughs["Log odds"]).map(math.exp))
    assert (derived - boroughs["Prevalence"]).abs().max() < 1e-6
