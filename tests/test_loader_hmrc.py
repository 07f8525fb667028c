"""Tests for the HMRC Children in Low-Income Families Local Measure (LSOA) loader.

Files are generated in the assumed published layout (title and snapshot lines above one
header row, an England total, notes below); all codes and numbers are fake.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from canrank.errors import InputError
from canrank.loaders.hmrc import read_hmrc_cilif

Cell = str | int | float | None
HEADER = [
    "LSOA Code",
    "LSOA Name",
    "Local Authority",
    "Number of children in low-income families",
    "% of children in low-income families",
]
HEADER_ROW = 4  # file row of the header in files built by ``hmrc_lines``
FIRST = HEADER_ROW + 1

DATA: list[list[Cell]] = [
    ["E01000003", "City of London 001C", "City of London", 40, 20.5],
    ["E01000001", "City of London 001A", "City of London", 25, 8.2],
    ["E01000002", "City of London 001B", "City of London", 0, 0.0],
]


def hmrc_lines(
    data: Sequence[Sequence[Cell]] = DATA,
    header: Sequence[str] | None = HEADER,
    *,
    total: bool = True,
    notes: bool = True,
) -> list[list[Cell]]:
    lines: list[list[Cell]] = [
        ["Personal tax credits: Children in low-income families local measure"],
        ["Snapshot as at 31 August 2014"],
        [],
    ]
    if header is not None:
        lines.append(list(header))
    lines += [list(r) for r in data]
    if total:
        lines.append(["England", None, None, 1_900_000, 18.6])
    if notes:
        lines += [
            [],
            ["Source: HMRC Personal Tax Credits and DWP National Benefits Database"],
            ["Notes: figures are rounded; see the publication for the definition."],
        ]
    return lines


def write_csv(path: Path, lines: Sequence[Sequence[Cell]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        for line in lines:
            w.writerow(["" if c is None else c for c in line])
    return path


def write_xlsx(
    path: Path,
    lines: Sequence[Sequence[Cell]],
    *,
    sheet: str = "LSOA",
    pct_as_fraction: bool = False,
) -> Path:
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Notes"
    notes.append(["Children in Low-Income Families Local Measure, 2014 snapshot"])
    notes.append(["Tables: LA, LSOA"])
    la = book.create_sheet("LA")
    la.append(["Local authority tables"])
    la.append(
        ["Local Authority Code", "Local Authority", "Number of children in low-income families"]
    )
    la.append(["E09000001", "City of London", 65])
    ws = book.create_sheet(sheet)
    pct_col = None
    for r, line in enumerate(lines, start=1):
        for c, value in enumerate(line, start=1):
            if value is None:
                continue
            if isinstance(value, str) and value.startswith("%"):
                pct_col = c
            cell = ws.cell(row=r, column=c, value=value)
            if (
                pct_as_fraction
                and c == pct_col
                and isinstance(value, int | float)
                and r > HEADER_ROW
            ):
                cell.value = value / 100
                cell.number_format = "0.0%"
    book.save(path)
    return path


@pytest.fixture(params=["csv", "xlsx"])
def fmt(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def write(tmp_path: Path, fmt: str, lines: Sequence[Sequence[Cell]], name: str = "cilif") -> Path:
    if fmt == "csv":
        return write_csv(tmp_path / f"{name}.csv", lines)
    return write_xlsx(tmp_path / f"{name}.xlsx", lines)


def load_error(path: Path, **kwargs: object) -> InputError:
    with pytest.raises(InputError) as info:
        read_hmrc_cilif(path, **kwargs)  # type: ignore[arg-type]
    return info.value


# ---------------------------------------------------------------------------- happy paths


def test_reads_published_layout(tmp_path: Path, fmt: str) -> None:
    df = read_hmrc_cilif(write(tmp_path, fmt, hmrc_lines()))
    assert list(df.columns) == [
        "lsoa_code",
        "lsoa_name",
        "children_low_income",
        "children_low_income_pct",
    ]
    assert df["lsoa_code"].tolist() == ["E01000001", "E01000002", "E01000003"]
    assert df["lsoa_name"].tolist()[0] == "City of London 001A"
    assert df["children_low_income"].tolist() == [25.0, 0.0, 40.0]
    assert df["children_low_income_pct"].tolist() == [8.2, 0.0, 20.5]
    assert df["children_low_income"].dtype == np.float64
    assert df.attrs["period"] == "2014-08-31"
    assert df.attrs["rows_dropped"] == 1
    assert df.attrs["header_row"] == HEADER_ROW
    assert df.attrs["source_format"] == f"hmrc-cilif-{fmt}"
    if fmt == "xlsx":
        assert df.attrs["sheet"] == "LSOA"  # found among Notes / LA / LSOA


def test_csv_and_xlsx_agree(tmp_path: Path) -> None:
    a = read_hmrc_cilif(write_csv(tmp_path / "a.csv", hmrc_lines()))
    b = read_hmrc_cilif(write_xlsx(tmp_path / "b.xlsx", hmrc_lines()))
    pd.testing.assert_frame_equal(a, b)


def test_percent_formatted_cells_become_percent(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "pct.xlsx", hmrc_lines(), pct_as_fraction=True)
    df = read_hmrc_cilif(path)
    np.testing.assert_allclose(df["children_low_income_pct"], [8.2, 0.0, 20.5])


def test_2014_snapshot_headings(tmp_path: Path, fmt: str) -> None:
    header = [
        "LSOA code",
        "LSOA name",
        'Children in "Low-Income Families" Local Measure',
        '% of children in "Low-Income Families"',
    ]
    data = [[r[0], r[1], r[3], r[4]] for r in DATA]
    lines = hmrc_lines(data, header)
    for line in lines[HEADER_ROW:]:  # drop the LA column from the total row too
        if line and line[0] == "England":
            line[:] = ["England", None, 1_900_000, 18.6]
    df = read_hmrc_cilif(write(tmp_path, fmt, lines))
    assert df["children_low_income"].tolist() == [25.0, 0.0, 40.0]
    assert df.attrs["count_column"] == header[2]


def test_without_percentage_column(tmp_path: Path) -> None:
    lines = hmrc_lines([r[:4] for r in DATA], HEADER[:4], total=False)
    df = read_hmrc_cilif(write_csv(tmp_path / "n.csv", lines))
    assert "children_low_income_pct" not in df.columns


def test_explicit_sheet(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "w.xlsx", hmrc_lines(), sheet="LSOA 2014")
    assert len(read_hmrc_cilif(path, sheet="LSOA 2014")) == 3


# ---------------------------------------------------------------------------- sheet / header


def test_wrong_sheet(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "wb.xlsx", hmrc_lines())
    err = load_error(path, sheet="LA")
    assert "wb.xlsx, sheet 'LA'" in str(err)
    assert "no header row with an LSOA code column" in str(err)
    err = load_error(path, sheet="Ward")
    assert "wb.xlsx" in str(err) and "no sheet 'Ward'" in str(err)
    assert "'Notes', 'LA', 'LSOA'" in str(err)


def test_missing_header(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, fmt, hmrc_lines(header=None))
    err = load_error(path)
    assert path.name in str(err)
    assert "header row with an LSOA code column" in str(err)
    if fmt == "xlsx":  # every sheet was searched and is named
        assert "'LSOA', 'Notes', 'LA'" in str(err)


def test_renamed_count_column(tmp_path: Path, fmt: str) -> None:
    header = [*HEADER]
    header[3] = "Children count"
    path = write(tmp_path, fmt, hmrc_lines(header=header))
    err = load_error(path)
    assert path.name in str(err) and err.row == HEADER_ROW
    assert err.column == "Number of children in low-income families"
    assert "'Children count'" in str(err)


def test_other_publisher_rejected(tmp_path: Path) -> None:
    path = tmp_path / "File_1_IoD2019_Index_of_Multiple_Deprivation.csv"
    path.write_text(
        "LSOA code (2011),LSOA name (2011),Local Authority District code (2019),"
        "Income Deprivation Affecting Children Index (IDACI) Score (rate)\n"
        "E01000001,City of London 001A,E09000001,0.006\n",
        encoding="utf-8",
    )
    err = load_error(path)
    assert path.name in str(err) and err.row == 1
    assert "does not look like the HMRC Children in Low-Income Families" in str(err)


@pytest.mark.parametrize("content", [b"", b" \r\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "cilif.csv"
    path.write_bytes(content)
    err = load_error(path)
    assert "cilif.csv" in str(err) and "empty" in err.message


def test_truncated_xlsx(tmp_path: Path) -> None:
    raw = write_xlsx(tmp_path / "full.xlsx", hmrc_lines()).read_bytes()
    path = tmp_path / "half.xlsx"
    path.write_bytes(raw[: len(raw) // 2])
    err = load_error(path)
    assert "half.xlsx" in str(err) and "truncated" in str(err)


def test_truncated_csv(tmp_path: Path) -> None:
    text = write_csv(tmp_path / "x.csv", hmrc_lines(total=False, notes=False)).read_text()
    path = tmp_path / "cut.csv"
    path.write_text(text.rstrip("\r\n")[:-6], encoding="utf-8")  # cut inside the last row
    err = load_error(path)
    assert "cut.csv" in str(err) and "incomplete row" in str(err) and "cut off" in str(err)
    assert err.row == FIRST + len(DATA) - 1


# ---------------------------------------------------------------------------- codes


def test_duplicated_lsoa(tmp_path: Path, fmt: str) -> None:
    data = [*DATA, ["E01000001", "City of London 001A", "City of London", 25, 8.2]]
    err = load_error(write(tmp_path, fmt, hmrc_lines(data)))
    assert "cilif." in str(err) and err.row == FIRST + 3 and err.column == "LSOA Code"
    assert f"first at row {FIRST + 1}" in str(err)


@pytest.mark.parametrize(
    ("code", "expect"),
    [
        ("W01000001", "outside the study geography"),
        ("S01006506", "is not an LSOA code"),
        ("E01035000", "2021 LSOA code"),
    ],
)
def test_wrong_country_or_vintage(tmp_path: Path, fmt: str, code: str, expect: str) -> None:
    data = [*DATA[:2], [code, "Somewhere 001A", "Somewhere", 5, 1.0]]
    err = load_error(write(tmp_path, fmt, hmrc_lines(data)))
    assert expect in str(err) and code in str(err)
    assert "cilif." in str(err) and err.row == FIRST + 2 and err.column == "LSOA Code"


# ---------------------------------------------------------------------------- values


@pytest.mark.parametrize("marker", ["..", "*", "x"])
def test_suppressed_values(tmp_path: Path, fmt: str, marker: str) -> None:
    data = [list(r) for r in DATA]
    data[1][3] = marker
    path = write(tmp_path, fmt, hmrc_lines(data))
    err = load_error(path)
    assert "cilif." in str(err) and err.row == FIRST + 1
    assert err.column == "Number of children in low-income families" and "suppressed" in str(err)
    df = read_hmrc_cilif(path, allow_suppressed=True)
    assert df.set_index("lsoa_code")["children_low_income"].isna().to_dict() == {
        "E01000001": True,
        "E01000002": False,
        "E01000003": False,
    }
    assert df.attrs["suppressed"] == 1


def test_percentage_out_of_range(tmp_path: Path) -> None:
    data = [list(r) for r in DATA]
    data[2][4] = 140
    err = load_error(write_csv(tmp_path / "p.csv", hmrc_lines(data)))
    assert err.row == FIRST + 2 and err.column == "% of children in low-income families"


def test_totals_and_notes_dropped(tmp_path: Path) -> None:
    lines = hmrc_lines(notes=False)
    lines += [["Total", None, None, 2_000_000, 18.0], ["Source: HMRC"], ["1. Rounded"]]
    df = read_hmrc_cilif(write_csv(tmp_path / "t.csv", lines))
    assert df["lsoa_code"].tolist() == ["E01000001", "E01000002", "E01000003"]
    assert df.attrs["rows_dropped"] == 2
