"""``canrank.xlsx``: sheets, frozen headers, number formats, formula neutralisation, bytes."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from test_report import HOSTILE_WARDS, build_mini

from canrank.builds import Build, open_build
from canrank.outputs import FORMULA_TRIGGERS, unneutralise
from canrank.reports.workbook import _cell, number_format, write_workbook

SHEETS = ["CANs", "LSOAs", "Borough summaries", "CAN summaries", "Sources", "Method"]


@pytest.fixture(scope="module")
def mini_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    _config, out = build_mini(tmp_path_factory.mktemp("workbook"))
    return open_build(out, geometry=False)


@pytest.fixture(scope="module")
def book(mini_build: Build, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_workbook(mini_build, tmp_path_factory.mktemp("xlsx") / "canrank.xlsx")


def _header(ws) -> list[str]:
    return [c.value for c in ws[1]]


def test_sheets_rows_and_frozen_headers(mini_build: Build, book: Path) -> None:
    wb = openpyxl.load_workbook(book)
    assert wb.sheetnames == SHEETS
    assert wb["CANs"].max_row == len(mini_build.cans) + 1
    assert wb["LSOAs"].max_row == len(mini_build.lsoa) + 1
    assert wb["Borough summaries"].max_row == mini_build.lsoa["borough_code"].nunique() + 1
    assert wb["CAN summaries"].max_row == len(mini_build.cans) + 1
    for name in SHEETS:
        assert wb[name].freeze_panes in ("A2", "B2"), name
    assert wb["LSOAs"].freeze_panes == "B2"  # the code column stays in view too
    assert _header(wb["LSOAs"])[:5] == [
        "lsoa_code",
        "lsoa_name",
        "borough_code",
        "borough_name",
        "population",
    ]
    assert "geometry" not in _header(wb["CANs"])
    assert wb["CANs"].auto_filter.ref.startswith("A1:")
    assert wb["LSOAs"].column_dimensions["B"].width > 10


def test_numbers_stay_numbers_with_formats(mini_build: Build, book: Path) -> None:
    wb = openpyxl.load_workbook(book)
    ws = wb["LSOAs"]
    cols = {name: i for i, name in enumerate(_header(ws))}
    row = next(ws.iter_rows(min_row=2, max_row=2))
    assert isinstance(row[cols["population"]].value, (int, float))
    assert row[cols["population"]].number_format == "#,##0"
    assert row[cols["score"]].number_format == "0.000"
    assert row[cols["rank"]].value == 1 and row[cols["rank"]].number_format == "0"
    assert row[cols["score"]].value == pytest.approx(float(mini_build.lsoa["score"].iloc[0]))
    cans = wb["CANs"]
    ccols = {name: i for i, name in enumerate(_header(cans))}
    first = next(cans.iter_rows(min_row=2, max_row=2))
    assert first[ccols["population"]].number_format == "#,##0"
    assert first[ccols["imd_median_ratio"]].number_format == "0.00"


def test_hostile_names_stay_text(mini_build: Build, book: Path) -> None:
    wb = openpyxl.load_workbook(book)
    seen = set()
    for ws in wb:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert cell.value[:1] not in FORMULA_TRIGGERS, (ws.title, cell.value)
                    seen.add(unneutralise(cell.value))
    wards = set(mini_build.lsoa["ward_name"])
    assert '=HYPERLINK("http://example.invalid","click")' in wards
    for ward in HOSTILE_WARDS:
        if ward in wards:
            assert ward in seen, ward
    ws = wb["LSOAs"]
    col = _header(ws).index("ward_name")
    values = [r[col] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert '\'=HYPERLINK("http://example.invalid","click")' in values


def test_cell_conversion() -> None:
    assert _cell(float("nan")) is None
    assert _cell(pd.NA) is None
    assert _cell(None) is None
    assert _cell(np.int64(3)) == 3 and isinstance(_cell(np.int64(3)), int)
    assert _cell(np.float64(0.5)) == 0.5
    assert _cell(math.inf) == "inf"
    assert _cell("bad\x01name\x1f") == "bad\ufffdname\ufffd"
    for trigger in FORMULA_TRIGGERS:
        assert _cell(f"{trigger}1+1").startswith("'")
    assert _cell("-5") == "'-5"  # a text that looks like a number stays text
    assert _cell(-5) == -5  # a number stays a number


def test_number_formats_by_column() -> None:
    assert number_format("population") == "#,##0"
    assert number_format("score") == "0.000"
    assert number_format("imd_norm") == "0.000"
    assert number_format("imd_median_ratio") == "0.00"
    assert number_format("best_rank") == "0"
    assert number_format("average_rank") == "#,##0.0"
    assert number_format("proportion_most_deprived_10") == "0.0%"
    assert number_format("name") is None


def test_sources_and_method_in_words(mini_build: Build, book: Path) -> None:
    wb = openpyxl.load_workbook(book)
    sources = list(wb["Sources"].iter_rows(values_only=True))
    header = sources[0]
    assert header[:4] == ("source", "publisher", "title", "reference_date")
    by_source = {r[0]: r for r in sources[1:]}
    assert "test_iod" in by_source and by_source["test_iod"][3] == "not stated"
    assert by_source["indicator imd"][3] == "2015 (test)"
    method = " ".join(str(v) for r in wb["Method"].iter_rows(values_only=True) for v in r if v)
    assert "rank 1 is the most stressed" in method.lower()
    assert mini_build.manifest["selection"]["status"] in method
    assert "Open Government Licence v3.0" in method


def test_identical_builds_give_identical_bytes(mini_build: Build, tmp_path: Path) -> None:
    a = write_workbook(mini_build, tmp_path / "a.xlsx")
    b = write_workbook(mini_build, tmp_path / "b.xlsx")
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    props = openpyxl.load_workbook(a).properties
    assert props.created.year == 2000 and props.modified.year == 2000


@pytest.mark.realdata
def test_london_workbook(london_build: Build, tmp_path: Path) -> None:
    path = write_workbook(london_build, tmp_path / "canrank.xlsx")
    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames == SHEETS
    assert wb["CANs"].max_row == 16
    assert wb["LSOAs"].max_row == 4_836
    assert wb["Borough summaries"].max_row == 34
