"""Tests for the Stat-Xplore table-download loader on generated files in the real layout.

The layout follows a real Stat-Xplore CSV download (title block, "Month" header with
"- Annotations" columns and trailing commas, a row holding only the geography label, a
"Total" row, then INFO/Symbol/Source footer). All codes and values here are fake.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from canrank.errors import InputError
from canrank.loaders.statxplore import period_key, read_statxplore

GEO = "National - Regional - LA - OAs"
#: File row (1-based) of the first area row in files built by ``sx_lines``.
FIRST = 12
HEADER = 10

Cell = str | int | float | None


def area(code: str, name: str | None = None) -> str:
    return f"{code} : {name}" if name else code


def sx_lines(
    areas: Sequence[tuple[str, Sequence[Cell]]],
    periods: Sequence[str] = ("February 2017", "May 2017"),
    *,
    dataset: str = "Housing Benefit (I z)",
    measure: str = "Housing Benefit Claimants",
    total: bool = True,
    footer: bool = True,
    header: bool = True,
) -> list[list[Cell] | str]:
    """Rows of a Stat-Xplore download; a ``str`` item is a raw (unquoted) CSV line."""
    lines: list[list[Cell] | str] = [
        "Stat-Xplore",
        "",
        [dataset],
        [f"{GEO} by Month"],
        [f"Counting: {measure}"],
        "",
        "Filters:",
        ["Default Summation", measure],
        "",
    ]
    if header:
        head: list[Cell] = ["Month"]
        for p in periods:
            head += [p, f"{p} - Annotations"]
        lines.append([*head, None])
    lines.append([GEO, None])
    for label, values in areas:
        row: list[Cell] = [label]
        for v in values:
            row += [v, None]
        lines.append([*row, None])
    if total:
        sums = [sum(v for _, vs in areas if isinstance(vs[k], int)) for k in range(len(periods))]
        row = ["Total"]
        for s in sums:
            row += [s, None]
        lines.append([*row, None])
    if footer:
        lines += [
            "",
            "",
            ["INFO", "Statistical disclosure control has been applied to this table."],
            "",
            "",
            "Symbol,Description",
            ["z", '".." denotes a nil or negligible number of claimants.'],
            "",
            "",
            "Source: Department for Work and Pensions",
        ]
    return lines


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return '"' + value.replace('"', '""') + '"'


def write_csv(path: Path, lines: Sequence[list[Cell] | str], *, final_newline: bool = True) -> Path:
    text = "\n".join(
        line if isinstance(line, str) else ",".join(_csv_cell(c) for c in line) for line in lines
    )
    path.write_text(text + ("\n" if final_newline else ""), encoding="utf-8")
    return path


def write_xlsx(path: Path, lines: Sequence[list[Cell] | str], *, sheet: str = "Table") -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for r, line in enumerate(lines, start=1):
        cells: list[Cell] = [line] if isinstance(line, str) and line else []
        if not isinstance(line, str):
            cells = list(line)
        for c, value in enumerate(cells, start=1):
            if value is not None:
                ws.cell(row=r, column=c, value=value)
    book.save(path)
    return path


AREAS = [
    (area("E01000003", "City of London 001C"), [7, 8]),
    (area("E01000001", "City of London 001A"), [12, 13]),
    (area("E01000002", "City of London 001B"), [1234, 1250]),
    ("Unknown", [3, 4]),
]


@pytest.fixture(params=["csv", "xlsx"])
def fmt(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def write(tmp_path: Path, fmt: str, lines: Sequence[list[Cell] | str], name: str = "hb") -> Path:
    if fmt == "csv":
        return write_csv(tmp_path / f"{name}.csv", lines)
    return write_xlsx(tmp_path / f"{name}.xlsx", lines)


def load_error(path: Path, **kwargs: object) -> InputError:
    with pytest.raises(InputError) as info:
        read_statxplore(path, **kwargs)  # type: ignore[arg-type]
    return info.value


# ---------------------------------------------------------------------------- happy paths


def test_reads_real_layout(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, fmt, sx_lines(AREAS))
    df = read_statxplore(path, period="Feb-17")
    assert list(df.columns) == ["lsoa_code", "lsoa_name", "claimants"]
    assert list(df["lsoa_code"]) == ["E01000001", "E01000002", "E01000003"]
    assert list(df["lsoa_name"]) == [
        "City of London 001A",
        "City of London 001B",
        "City of London 001C",
    ]
    assert df["claimants"].dtype == np.float64
    assert list(df["claimants"]) == [12.0, 1234.0, 7.0]
    assert df.attrs["dataset"] == "Housing Benefit"
    assert df.attrs["measure"] == "Housing Benefit Claimants"
    assert df.attrs["period"] == "February 2017"
    assert df.attrs["periods_available"] == ["February 2017", "May 2017"]
    assert df.attrs["source_format"] == f"statxplore-{fmt}"
    assert df.attrs["rows_dropped"] == 2  # "Unknown" and "Total"
    assert df.attrs["geography_field"] == GEO


def test_csv_and_xlsx_agree(tmp_path: Path) -> None:
    lines = sx_lines(AREAS)
    a = read_statxplore(write_csv(tmp_path / "a.csv", lines), period="May 2017")
    b = read_statxplore(write_xlsx(tmp_path / "b.xlsx", lines), period="May 2017")
    pd.testing.assert_frame_equal(a, b)


def test_pension_credit_header_with_geography_first(tmp_path: Path, fmt: str) -> None:
    """Older layout: 'Dataset:'/'Measure:' titles, geography label heading the period column."""
    lines: list[list[Cell] | str] = [
        ["Dataset: Pension Credit"],
        "",
        ["Measure: Pension Credit Claimants"],
        ["Query: Lower Layer Super Output Areas by Quarter"],
        "",
        ["Lower Layer Super Output Areas", "Nov-16"],
        ["E01000002", 40],
        ["E01000001", 31],
        ["Total", 71],
        "",
        ["Data source: DWP Work and Pensions Longitudinal Study"],
    ]
    df = read_statxplore(write(tmp_path, fmt, lines, "pc"))
    assert list(df.columns) == ["lsoa_code", "claimants"]
    assert df.to_dict("list") == {
        "lsoa_code": ["E01000001", "E01000002"],
        "claimants": [31.0, 40.0],
    }
    assert df.attrs["dataset"] == "Pension Credit"
    assert df.attrs["measure"] == "Pension Credit Claimants"
    assert df.attrs["period"] == "Nov-16"
    assert df.attrs["geography_field"] == "Lower Layer Super Output Areas"


def test_names_only_labels_use_lookup(tmp_path: Path) -> None:
    lines = sx_lines(
        [("City of London 001A", [5, 6]), ("City of London 001B", [9, 9])], total=False
    )
    path = write_csv(tmp_path / "names.csv", lines)
    lookup = {"City of London 001A": "E01000001", "city of london 001b": "E01000002"}
    df = read_statxplore(path, period="201702", name_lookup=lookup)
    assert list(df["lsoa_code"]) == ["E01000001", "E01000002"]
    assert list(df["lsoa_name"]) == ["City of London 001A", "City of London 001B"]

    err = load_error(path, period="Feb-17")
    assert "hb" not in str(err) and "names.csv" in str(err)
    assert err.row == FIRST and err.column == GEO
    assert "name_lookup" in str(err)

    err = load_error(path, period="Feb-17", name_lookup={"City of London 001A": "E01000001"})
    assert err.row == FIRST + 1 and "not in the name lookup" in str(err)


def test_revised_and_provisional_marks_match(tmp_path: Path) -> None:
    lines = sx_lines([(area("E01000001"), [3, 4])], periods=("Nov-16 (r)", "Feb-17 (p)"))
    df = read_statxplore(write_csv(tmp_path / "x.csv", lines), period="February 2017")
    assert df["claimants"].tolist() == [4.0]
    assert df.attrs["period"] == "Feb-17"


def test_period_key_equivalences() -> None:
    assert period_key("Feb-17") == period_key("February 2017") == "2017-02"
    assert period_key("201702") == period_key("February 2017 (r)") == "2017-02"
    assert period_key("2014/15") == "2014/15"


# ---------------------------------------------------------------------------- period choice


def test_several_periods_need_a_choice(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, fmt, sx_lines(AREAS))
    err = load_error(path)
    assert path.name in str(err) and err.row == HEADER
    assert "'February 2017', 'May 2017'" in str(err)

    err = load_error(path, period="March 2030")
    assert "'March 2030' is not in the table" in str(err)
    assert "'February 2017', 'May 2017'" in str(err)


def test_renamed_period_column(tmp_path: Path) -> None:
    lines = sx_lines(AREAS, periods=("Claimants Feb", "May 2017"))
    err = load_error(write_csv(tmp_path / "renamed.csv", lines), period="February 2017")
    assert "renamed.csv" in str(err) and err.row == HEADER
    assert "'Claimants Feb', 'May 2017'" in str(err)


# ---------------------------------------------------------------------------- layout problems


def test_missing_header_row(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, fmt, sx_lines(AREAS, header=False))
    err = load_error(path, period="Feb-17")
    assert path.name in str(err)
    assert "header row with the period labels" in str(err)
    assert err.row == FIRST - 1  # first area row is one row higher without the header


def test_wrong_sheet(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "hb.xlsx", sx_lines(AREAS), sheet="Table 1")
    err = load_error(path, period="Feb-17", sheet="Notes")
    assert "hb.xlsx" in str(err) and "no sheet 'Notes'" in str(err) and "'Table 1'" in str(err)
    df = read_statxplore(path, period="Feb-17", sheet="table 1")
    assert len(df) == 3


def test_not_a_statxplore_file_iod_csv(tmp_path: Path) -> None:
    path = tmp_path / "File_7_IoD2019.csv"
    path.write_text(
        "LSOA code (2011),LSOA name (2011),Local Authority District code (2019),"
        "Index of Multiple Deprivation (IMD) Score\n"
        "E01000001,City of London 001A,E09000001,6.208\n"
        "E01000002,City of London 001B,E09000001,5.143\n",
        encoding="utf-8",
    )
    err = load_error(path)
    assert "File_7_IoD2019.csv" in str(err)
    assert "does not look like a Stat-Xplore table download" in str(err)


def test_table_not_at_lsoa_level(tmp_path: Path) -> None:
    lines = sx_lines([("Hartlepool", [1, 2]), ("Middlesbrough", [3, 4])])
    err = load_error(write_csv(tmp_path / "la.csv", lines), period="Feb-17")
    assert "la.csv" in str(err) and "no LSOA rows" in str(err)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    err = load_error(path)
    assert "empty.csv" in str(err) and "empty" in err.message


def test_truncated_xlsx(tmp_path: Path) -> None:
    full = write_xlsx(tmp_path / "full.xlsx", sx_lines(AREAS)).read_bytes()
    path = tmp_path / "cut.xlsx"
    path.write_bytes(full[: len(full) // 2])
    err = load_error(path, period="Feb-17")
    assert "cut.xlsx" in str(err) and "truncated" in str(err)
    assert "zipfile" not in str(err)


def test_xlsx_extension_but_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "page.xlsx"
    path.write_text("<html>Service unavailable</html>", encoding="utf-8")
    err = load_error(path)
    assert "page.xlsx" in str(err) and "not a valid Excel workbook" in str(err)


def test_truncated_csv_last_row_incomplete(tmp_path: Path) -> None:
    lines = sx_lines(AREAS, total=False, footer=False)
    text = write_csv(tmp_path / "tmp.csv", lines).read_text(encoding="utf-8")
    cut = text[: text.rindex("\n", 0, len(text) - 1)] + "\n" + '"E01000009 : City of London 002A",5'
    path = tmp_path / "cut.csv"
    path.write_text(cut, encoding="utf-8")
    err = load_error(path, period="Feb-17")
    assert "cut.csv" in str(err) and "incomplete row" in str(err) and "cut off" in str(err)
    assert err.row == FIRST + len(AREAS) - 1


def test_truncated_csv_inside_quotes(tmp_path: Path) -> None:
    text = write_csv(tmp_path / "tmp.csv", sx_lines(AREAS)).read_text(encoding="utf-8")
    cut = text[: text.index('"E01000002') + 8]
    path = tmp_path / "cut.csv"
    path.write_text(cut, encoding="utf-8")
    err = load_error(path, period="Feb-17")
    assert "cut.csv" in str(err) and "unterminated quote" in str(err)
    assert err.row == FIRST + 2


# ---------------------------------------------------------------------------- codes


def test_duplicated_lsoa(tmp_path: Path, fmt: str) -> None:
    rows = [(area("E01000001", "A 001A"), [1, 2]), (area("E01000001", "A 001A"), [1, 2])]
    err = load_error(write(tmp_path, fmt, sx_lines(rows)), period="Feb-17")
    assert "hb." in str(err) and err.row == FIRST + 1 and err.column == GEO
    assert f"first at row {FIRST}" in str(err)


@pytest.mark.parametrize(
    ("code", "expect"),
    [
        ("W01000001", "outside the study geography"),
        ("S01006506", "is not an LSOA code"),
        ("E01035000", "2021 LSOA code"),
    ],
)
def test_wrong_country_or_vintage(tmp_path: Path, fmt: str, code: str, expect: str) -> None:
    rows = [(area("E01000001", "A 001A"), [1, 2]), (area(code, "X 001A"), [3, 4])]
    err = load_error(write(tmp_path, fmt, sx_lines(rows)), period="Feb-17")
    assert expect in str(err) and code in str(err)
    assert "hb." in str(err) and err.row == FIRST + 1 and err.column == GEO


def test_welsh_codes_allowed_when_asked(tmp_path: Path) -> None:
    rows = [(area("E01000001"), [1, 2]), (area("W01000001"), [3, 4])]
    df = read_statxplore(
        write_csv(tmp_path / "ew.csv", sx_lines(rows)), period="Feb-17", countries="EW"
    )
    assert list(df["lsoa_code"]) == ["E01000001", "W01000001"]


# ---------------------------------------------------------------------------- values


def test_suppressed_cells(tmp_path: Path, fmt: str) -> None:
    rows = [(area("E01000001"), [5, 6]), (area("E01000002"), ["..", 6])]
    path = write(tmp_path, fmt, sx_lines(rows))
    err = load_error(path, period="Feb-17")
    assert "hb." in str(err) and err.row == FIRST + 1 and err.column == "February 2017"
    assert "suppressed" in str(err)
    df = read_statxplore(path, period="Feb-17", allow_suppressed=True)
    assert df["claimants"].isna().tolist() == [False, True]
    assert df.attrs["suppressed"] == 1


def test_dash_is_suppressed_unless_declared_zero(tmp_path: Path) -> None:
    rows = [(area("E01000001"), ["-", 6]), (area("E01000002"), [4, 6])]
    path = write_csv(tmp_path / "dash.csv", sx_lines(rows))
    err = load_error(path, period="Feb-17")
    assert err.row == FIRST and "'-'" in str(err)
    df = read_statxplore(path, period="Feb-17", dash_means="zero")
    assert df["claimants"].tolist() == [0.0, 4.0]


def test_non_numeric_value(tmp_path: Path) -> None:
    rows = [(area("E01000001"), [5, 6]), (area("E01000002"), ["12a", 6])]
    err = load_error(write_csv(tmp_path / "bad.csv", sx_lines(rows)), period="Feb-17")
    assert "bad.csv" in str(err) and err.row == FIRST + 1 and "not a number" in str(err)


def test_totals_and_footnotes_dropped(tmp_path: Path) -> None:
    lines = sx_lines([(area("E01000001"), [5, 6]), (area("E01000002"), [1, 1])], footer=False)
    lines += [["Source: DWP Housing Benefit caseload"], ["* figures are rounded"]]
    df = read_statxplore(write_csv(tmp_path / "f.csv", lines), period="May 2017")
    assert df["lsoa_code"].tolist() == ["E01000001", "E01000002"]
    assert df["claimants"].tolist() == [6.0, 1.0]
    assert df.attrs["rows_dropped"] == 1
