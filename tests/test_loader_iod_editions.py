"""IoD 2019 and 2025 File 7 and the 2019 England-and-Wales income extract, in published layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from canrank.errors import InputError
from canrank.loaders.iod import read_iod

from synthetic import file7_header, file7_header_2025, file7a_header, iod_frame

LADS = [("E09000001", "Northtown")] * 3 + [("E09000002", "Midtown")] * 3
CODES_2011 = [f"E01{i:06d}" for i in (6, 2, 3, 4, 5, 1)]
# 2021 codes: some kept from 2011, some new (above E01033768)
FILE7_2019 = "File_7_-_All_IoD2019_Scores__Ranks__Deciles_and_Population_Denominators_3.csv"
CODES_2021 = ["E01000001", "E01000002", "E01033769", "E01033770", "E01035000", "E01035722"]


def test_iod2019_file7(tmp_path: Path) -> None:
    path = tmp_path / FILE7_2019
    iod_frame(file7_header("2019"), CODES_2011, LADS).to_csv(path, index=False)
    frame = read_iod(path)
    assert frame.attrs["edition"] == "2019"
    assert frame.attrs["lsoa_vintage"] == "2011"
    assert frame.attrs["lad_vintage"] == "2019"
    assert frame.attrs["population_year"] == "2015"
    assert {"imd_score", "idaopi_score", "population", "pop_16_59", "working_age"} <= set(
        frame.columns
    )
    assert list(frame["lsoa_code"]) == sorted(CODES_2011)


@pytest.mark.parametrize(
    "idaopi",
    [
        "Income Deprivation Affecting Older People (IDAOPI)",
        "Income Deprivation Affecting Older People Index (IDAOPI)",
    ],
)
def test_iod2025_file7_on_2021_lsoas(tmp_path: Path, idaopi: str) -> None:
    header = file7_header_2025(idaopi)
    assert len(header) == 56
    path = tmp_path / "anything.csv"  # the edition comes from the header, not the name
    source = iod_frame(header, CODES_2021, LADS)
    source.to_csv(path, index=False)
    frame = read_iod(path)
    assert frame.attrs["edition"] == "2025"
    assert frame.attrs["lsoa_vintage"] == "2021"
    assert frame.attrs["lad_vintage"] == "2024"
    assert frame.attrs["population_year"] == "2022"
    # 2021 codes beyond the 2011 range are accepted in a 2021-based file
    assert "E01035722" in set(frame["lsoa_code"])
    for col in ("imd_score", "idaopi_score", "cyp_decile", "population", "working_age"):
        assert col in frame.columns, col
    assert "pop_16_59" not in frame.columns  # IoD 2025 publishes no 16-59 denominator
    by_code = source.set_index(header[0])
    assert frame.set_index("lsoa_code")["population"].to_dict() == {
        k: float(v) for k, v in by_code["Total population: mid 2022"].items()
    }


def test_2011_header_with_2021_codes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    iod_frame(file7_header("2019"), CODES_2021, LADS).to_csv(path, index=False)
    with pytest.raises(InputError, match="2021 LSOA code"):
        read_iod(path)


def test_england_and_wales_income_extract_loads_what_it_has(tmp_path: Path) -> None:
    codes = [*CODES_2011, "W01000001", "W01001958"]
    lads = [*LADS, ("W06000001", "Isle of Anglesey"), ("W06000024", "Merthyr Tydfil")]
    path = tmp_path / FILE7_2019.replace("File_7_", "File_7a_")
    iod_frame(file7a_header(), codes, lads).to_csv(path, index=False)
    frame = read_iod(path)
    assert frame.attrs["source_format"] == "income-extract-ew"
    assert frame.attrs["edition"] == "2019"
    assert list(frame["lsoa_code"]) == sorted(CODES_2011)  # Welsh rows dropped
    assert {"income_score", "idaci_score", "idaopi_score", "income_rank_ew"} <= set(frame.columns)
    assert "imd_score" not in frame.columns and "income_rank" not in frame.columns
    assert "no IMD score" in frame.attrs["notes"][0]
    assert "2 Welsh" in frame.attrs["notes"][0]
