"""IoD loader: edition detection from the header, tidy columns, and clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from canrank.errors import InputError
from canrank.loaders.iod import read_iod

from synthetic import file7_frame, file7_header

LADS = [("E09000001", "Northtown")] * 3 + [("E09000002", "Midtown")] * 3
CODES = [f"E01{i:06d}" for i in (6, 2, 3, 4, 5, 1)]


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "File_7.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_reads_2015_file7_into_tidy_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, file7_frame(CODES, LADS))
    frame = read_iod(path)
    assert list(frame["lsoa_code"]) == sorted(CODES)
    assert frame.attrs["edition"] == "2015"
    assert frame.attrs["population_year"] == "2012"
    for col in ("imd_score", "imd_rank", "income_score", "idaci_score", "idaopi_score"):
        assert frame[col].dtype == float
    for col in ("population", "children_0_15", "older_60_plus", "working_age"):
        assert col in frame.columns
    # the trailing space of the published working-age column is handled
    assert frame["working_age"].notna().all()


def test_edition_comes_from_header_not_file_name(tmp_path: Path) -> None:
    frame = file7_frame(CODES, LADS)
    frame.columns = file7_header("2019")
    path = _write(tmp_path, frame, name="File_7_ID_2015_misleading_name.csv")
    tidy = read_iod(path)
    assert tidy.attrs["edition"] == "2019"
    assert tidy.attrs["population_year"] == "2015"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda f: f.rename(columns={f.columns[4]: "IMD score"}), "Index of Multiple Deprivation"),
        (lambda f: pd.concat([f, f.iloc[[1]]]), "appears more than once"),
        (lambda f: f.assign(**{f.columns[0]: ["W01000001", *f.iloc[1:, 0]]}), "outside"),
        (lambda f: f.assign(**{f.columns[0]: ["E01035000", *f.iloc[1:, 0]]}), "2021 LSOA code"),
        (lambda f: f.assign(**{f.columns[0]: ["S01000001", *f.iloc[1:, 0]]}), "not an LSOA code"),
        (lambda f: f.assign(**{f.columns[4]: ["..", *f.iloc[1:, 4]]}), "suppressed"),
        (lambda f: f.assign(**{f.columns[4]: ["abc", *f.iloc[1:, 4]]}), "not a number"),
        (lambda f: f.assign(**{f.columns[4]: ["", *f.iloc[1:, 4]]}), "empty"),
    ],
)
def test_bad_rows_and_columns_are_named(tmp_path: Path, mutate, expected: str) -> None:
    path = _write(tmp_path, mutate(file7_frame(CODES, LADS)))
    with pytest.raises(InputError) as info:
        read_iod(path)
    message = str(info.value)
    assert expected in message
    assert path.name in message
    assert "What to do" in message


def test_error_row_is_the_file_row(tmp_path: Path) -> None:
    frame = file7_frame(CODES, LADS).astype({file7_header()[4]: object})
    frame.iloc[3, 4] = "n/a"
    path = _write(tmp_path, frame)
    with pytest.raises(InputError) as info:
        read_iod(path)
    assert info.value.row == 5  # header is row 1, the 4th data row is row 5
    assert info.value.column == frame.columns[4]


def test_another_publishers_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "statxplore.csv"
    path.write_text('"Housing Benefit claimants"\n\n"Lower Layer Super Output Areas","Feb-17"\n')
    with pytest.raises(InputError, match="not an Indices of Deprivation"):
        read_iod(path)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_iod(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(f'"{c}"' for c in file7_header()) + "\n")
    with pytest.raises(InputError, match="no data rows"):
        read_iod(header_only)
    with pytest.raises(InputError, match="not found"):
        read_iod(tmp_path / "nope.csv")


def test_truncated_download_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, file7_frame(CODES, LADS))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.7)])
    with pytest.raises(InputError) as info:
        read_iod(path)
    assert path.name in str(info.value)


@pytest.mark.realdata
def test_real_2015_file7(mirror: Path) -> None:
    path = next(mirror.rglob("File_7_ID_2015_*.csv"))
    frame = read_iod(path)
    assert len(frame) == 32_844
    assert frame["lsoa_code"].is_unique
    assert frame["population"].sum() == 53_434_130
    assert (frame["lad_code"].str.startswith("E09")).sum() == 4_835
    assert frame["imd_rank"].min() == 1 and frame["imd_rank"].max() == 32_844


@pytest.mark.realdata
def test_real_2019_london_workbook(mirror: Path) -> None:
    frame = read_iod(next(mirror.rglob("ID 2019 for London.xlsx")))
    assert len(frame) == 4_835
    assert frame.attrs["edition"] == "2019"
    assert {"idaci_score", "idaopi_score", "population", "cyp_score"} <= set(frame.columns)
    # ranks are national (out of 32,844), so London's least deprived rank is high
    assert frame["imd_rank"].max() > 30_000
