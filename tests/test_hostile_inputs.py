"""Hostile inputs: every bad file or config ends in one clear error, never a silent wrong result.

The corpus is written by the tests (small files in the published layouts, see synthetic.py):
duplicate and absurdly nested YAML, Python tags, unsafe names, absurd weights, decimal commas,
infinite and non-positive populations, codes that only look like LSOA codes, files in other
encodings, damaged workbook members, shapefiles without their sidecars, degrees declared as
metres, and boundaries covering only part of a study area.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from openpyxl import Workbook
from typer.testing import CliRunner

from canrank.config import AreaConfig, load_config
from canrank.errors import ConfigError, GeometryError, InputError
from canrank.loaders._validate import (
    check_area_coverage,
    check_lsoa_codes,
    check_population,
    to_numeric,
)
from canrank.loaders.boundaries import read_lsoa_boundaries
from canrank.loaders.iod import read_iod
from canrank.loaders.loneliness import read_loneliness
from canrank.loaders.statxplore import read_grids

from conftest import CONFIG
from synthetic import cli_build, file7_frame, grid_boundaries, write_study

LADS = [("E09000001", "Northtown")] * 3 + [("E09000002", "Midtown")] * 3
CODES = [f"E01{i:06d}" for i in (6, 2, 3, 4, 5, 1)]
SCORE = "Index of Multiple Deprivation (IMD) Score"
POPULATION = "Total population: mid 2012 (excluding prisoners)"


def _one_line(exc: BaseException) -> str:
    """The message must render (no markup is interpreted here, just str)."""
    text = str(exc)
    assert "Traceback" not in text
    return text


# -- the configuration ------------------------------------------------------------------------


def _mini_config_text(tmp_path: Path) -> tuple[Path, str]:
    study = write_study(tmp_path / "mini")
    return study.config, study.config.read_text(encoding="utf-8")


def test_duplicate_scenario_key_is_refused_naming_key_and_lines(tmp_path: Path) -> None:
    path, text = _mini_config_text(tmp_path)
    text = text.replace(
        "scenarios:\n",
        "scenarios:\n  mini:\n    description: first\n    area: mini\n    weights: {imd: 1}\n",
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="'mini' appears twice") as info:
        load_config(path)
    lines = text.splitlines()
    first = lines.index("  mini:", lines.index("scenarios:")) + 1
    assert info.value.row is not None and info.value.row > first
    assert f"first at line {first}" in str(info.value)


def test_duplicate_nested_key_is_refused(tmp_path: Path) -> None:
    path, text = _mini_config_text(tmp_path)
    text = text.replace("      imd: 2\n", "      imd: 2\n      imd: 5\n")
    assert "imd: 5" in text
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="'imd' appears twice"):
        load_config(path)


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path, text = _mini_config_text(tmp_path)
    data = yaml.safe_load(text)
    body = yaml.safe_dump({k: v for k, v in data.items() if k != "scenarios"}, sort_keys=False)
    body += (
        "base: &base\n  description: shared\n  area: mini\n"
        "scenarios:\n  mini:\n    <<: *base\n    description: own\n    weights: {imd: 1}\n"
    )
    path.write_text(body.replace("base: &base", "x-base: &base"), encoding="utf-8")
    with pytest.raises(ConfigError, match="x-base"):  # an unknown top-level key, not a duplicate
        load_config(path)


@pytest.mark.parametrize("depth", [60, 5000])
def test_absurd_nesting_is_refused(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("version: 1\nx: " + "[" * depth + "]" * depth + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nested more than 50 levels"):
        load_config(path)
    depth = min(depth, 300)  # block indentation grows quadratically
    block = "version: 1\n" + "".join(f"{'  ' * i}k{i}:\n" for i in range(depth)) + "  " * depth
    path.write_text(block + "v: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nested more than 50 levels"):
        load_config(path)


def test_python_tags_are_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(
        f"version: 1\nx: !!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="broken YAML"):
        load_config(path)
    assert not marker.exists()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_config_in_unicode_encodings_reads_the_same(tmp_path: Path, encoding: str) -> None:
    path, text = _mini_config_text(tmp_path)
    text = text.replace("description: test", "description: Café — test")
    path.write_text(text, encoding="utf-8")
    expected = load_config(path)
    raw = text.encode(encoding)
    if encoding == "utf-16-be":
        raw = b"\xfe\xff" + raw
    path.write_bytes(raw)
    assert load_config(path) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("version: 1\ndescription: Caf\xe9\n".encode("cp1252"), "not UTF-8"),
        (b"version: 1\n\x00\x00\x00binary", "binary data"),
        (b"x: 1\n" + b"# padding\n" * 600_000, "a canrank config is a few kilobytes"),
    ],
)
def test_config_that_is_not_text_is_one_clear_error(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "indicators.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(path)
    assert str(path) in _one_line(info.value)


UNSAFE_NAMES = [
    "../../x",
    "a/b",
    ".hidden",
    "-rf",
    "x" * 65,
    "[/red]",
    "<script>alert(1)</script>",
    "=HYPERLINK(1)",
    "tab\tname",
    "new\nline",
    "",
    "é",
]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
@pytest.mark.parametrize("section", ["scenarios", "areas", "indicators"])
def test_unsafe_names_are_refused(tmp_path: Path, name: str, section: str) -> None:
    path, text = _mini_config_text(tmp_path)
    data = yaml.safe_load(text)
    key = {"scenarios": "mini", "areas": "mini", "indicators": "income"}[section]
    data[section] = {(name if k == key else k): v for k, v in data[section].items()}
    if section == "scenarios":
        data["default_scenario"] = name
    elif section == "areas":
        data["scenarios"]["mini"]["area"] = name
    else:
        data["scenarios"]["mini"]["weights"] = {"imd": 2, name: 1}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError, match="is not allowed") as info:
        load_config(path)
    message = _one_line(info.value)
    assert section in message and "letters, digits" in message
    assert "\n" not in message.split("\n  What to do")[0].replace("\\n", "")


def test_plain_names_are_accepted() -> None:
    config = load_config(CONFIG)
    assert {"lcc-2017", "gla-2017-proxies"} <= set(config.scenarios)


@pytest.mark.parametrize("weight", ["1e308", "1.0e+7", ".inf", ".nan", "-1", "0", "-.inf"])
def test_absurd_weights_are_refused_with_a_word_on_weights(tmp_path: Path, weight: str) -> None:
    path, text = _mini_config_text(tmp_path)
    path.write_text(text.replace("      imd: 2\n", f"      imd: {weight}\n"), encoding="utf-8")
    with pytest.raises(ConfigError, match="weight") as info:
        load_config(path)
    assert "scenarios.mini.weights.imd" in str(info.value)


@pytest.mark.parametrize("weight", ["1e6", "1e-6", "0.5"])
def test_sane_weights_are_accepted(tmp_path: Path, weight: str) -> None:
    path, text = _mini_config_text(tmp_path)
    path.write_text(text.replace("      imd: 2\n", f"      imd: {weight}\n"), encoding="utf-8")
    resolved = load_config(path).resolve("mini")
    assert np.isfinite([i.weight for i in resolved.indicators]).all()


def test_infinite_contiguity_tolerance_is_refused(tmp_path: Path) -> None:
    path, text = _mini_config_text(tmp_path)
    data = yaml.safe_load(text)
    data["contiguity"] = {"tolerance_m": float("inf")}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"contiguity\.tolerance_m"):
        load_config(path)


def test_shipped_areas_declare_their_lsoa_counts() -> None:
    config = load_config(CONFIG)
    assert config.areas["london"].expected_lsoas == 4_835
    assert config.areas["england"].expected_lsoas == 32_844


# -- numbers: decimal commas, infinities, populations --------------------------------------------


def _file7(tmp_path: Path, column: str, row: int, value: str, name: str = "File_7.csv") -> Path:
    frame = file7_frame(CODES, LADS).astype(str)
    frame.loc[row, column] = value
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("value", ["36,451", "0,123", "12,5", "1.234,5", "0,1234"])
def test_decimal_commas_in_scores_are_errors_not_thousands(tmp_path: Path, value: str) -> None:
    path = _file7(tmp_path, SCORE, 2, value)
    with pytest.raises(InputError, match="comma") as info:
        read_iod(path)
    assert info.value.row == 4 and info.value.column == SCORE
    assert repr(value) in str(info.value)


def test_thousands_separators_are_read_in_counts(tmp_path: Path) -> None:
    path = _file7(tmp_path, POPULATION, 1, "1,234")
    frame = read_iod(path).set_index("lsoa_code")
    assert frame.loc[CODES[1], "population"] == 1234.0


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1,234", "2.5", "3"], "decimal point"),
        (["1,5", "2", "3"], "decimal comma"),
        (["1,234", "12,345,678", "3"], None),
        (["1,234.5", "2", "3"], None),
    ],
)
def test_commas_in_count_columns(values: list[str], expected: str | None) -> None:
    frame = pd.DataFrame({"claimants": values})
    if expected is None:
        out = to_numeric(frame, ["claimants"], file="x.csv")
        assert out["claimants"].iloc[0] in (1234.0, 1234.5)
    else:
        with pytest.raises(InputError, match=expected) as info:
            to_numeric(frame, ["claimants"], file="x.csv")
        assert info.value.row == 2


@pytest.mark.parametrize("value", ["inf", "Infinity", "-inf", "1e999", "-1e400"])
def test_infinite_numbers_are_errors(tmp_path: Path, value: str) -> None:
    path = _file7(tmp_path, SCORE, 0, value)
    with pytest.raises(InputError, match="not a finite number") as info:
        read_iod(path)
    assert info.value.row == 2


@pytest.mark.parametrize("value", ["nan", "NaN"])
def test_nan_text_is_not_a_number(tmp_path: Path, value: str) -> None:
    with pytest.raises(InputError, match="not a number"):
        read_iod(_file7(tmp_path, SCORE, 0, value))


@pytest.mark.parametrize("value", ["0", "-5", "inf", "-0"])
def test_populations_must_be_positive_and_finite(tmp_path: Path, value: str) -> None:
    path = _file7(tmp_path, POPULATION, 3, value)
    with pytest.raises(InputError) as info:
        read_iod(path)
    assert info.value.row == 5
    assert "population" in str(info.value).lower() or "finite" in str(info.value)


@pytest.mark.parametrize("value", [0.0, -1.0, np.inf, -np.inf, np.nan])
def test_check_population_names_the_lsoa(value: float) -> None:
    pop = np.array([1500.0, value, 1600.0])
    with pytest.raises(InputError, match="E01000002") as info:
        check_population(pop, ["E01000001", "E01000002", "E01000003"], file="p.csv", column="pop")
    assert info.value.column == "pop"
    check_population(np.array([1.0, 2.0]), ["E01000001", "E01000002"], file="p", column="c")


# -- codes ----------------------------------------------------------------------------------

BAD_CODES = [
    "E01\u0660\u0660\u0660\u0660\u0660\u0661",  # Arabic-Indic digits match \d
    "E01\uff10\uff10\uff10\uff10\uff10\uff11",  # full-width digits
    "E01000001x",
    "E010000001",
    "E0100001",
    "E02000001",
    "S01000001",
    "[/red]",
    "<script>alert(1)</script>",
    "=1+1",
    "E01000001\x00",
    "",
]


@pytest.mark.parametrize("code", BAD_CODES)
def test_things_that_are_not_lsoa_codes_are_refused(code: str) -> None:
    codes = pd.Series(["E01000005", code, "E01000007"])
    with pytest.raises(InputError) as info:
        check_lsoa_codes(codes, file="f.csv", column="code")
    assert info.value.row == 3
    _one_line(info.value)


@pytest.mark.parametrize("code", BAD_CODES[:3])
def test_unicode_digit_codes_in_a_file(tmp_path: Path, code: str) -> None:
    frame = file7_frame(CODES, LADS).astype(str)
    frame.iloc[0, 0] = code
    path = tmp_path / "File_7.csv"
    frame.to_csv(path, index=False, encoding="utf-8")
    with pytest.raises(InputError, match="not an LSOA code"):
        read_iod(path)


# -- encodings -------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252"])
def test_iod_csv_in_other_encodings_reads_the_same(tmp_path: Path, encoding: str) -> None:
    frame = file7_frame(CODES, LADS)
    frame["LSOA name (2011)"] = [f"Caf\xe9 {i:03d}A" for i in range(len(frame))]
    utf8 = tmp_path / "utf8.csv"
    frame.to_csv(utf8, index=False, encoding="utf-8")
    other = tmp_path / f"{encoding}.csv"
    other.write_bytes(utf8.read_text(encoding="utf-8").encode(encoding))
    pd.testing.assert_frame_equal(read_iod(other), read_iod(utf8))


@pytest.mark.parametrize(
    "content",
    [bytes(range(256)) * 50, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, b"PK\x03\x04garbage"],
)
def test_binary_garbage_is_one_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "File_7.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_iod(path)
    assert str(path) in _one_line(info.value)


def test_statxplore_csv_in_utf16_is_read(tmp_path: Path) -> None:
    text = "Stat-Xplore\n\nDataset\n\nArea,Feb-17\nE01000001,5\n"
    path = tmp_path / "sx.csv"
    path.write_bytes(text.encode("utf-16"))
    grids = read_grids(path, what="a table")
    assert grids[0].rows[-1] == ["E01000001", "5"]


# -- damaged workbooks --------------------------------------------------------------------------


def _workbook(path: Path) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "LSOA"
    sheet.append(["LSOA", "LSOA name", "Log odds"])
    for i, code in enumerate(sorted(CODES)):
        sheet.append([code, f"Place {i:03d}A", -1.5 + i / 10])
    book.save(path)
    return path


def _rewrite_member(path: Path, member: str, change) -> None:
    """Rewrite one member of a zip (``change(bytes) -> bytes | None``; None drops it)."""
    with zipfile.ZipFile(path) as zin:
        items = [(info, zin.read(info.filename)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in items:
            if info.filename == member:
                data = change(data)
                if data is None:
                    continue
            zout.writestr(info.filename, data)


def _flip_stored_byte(path: Path, member: str) -> None:
    """Store ``member`` uncompressed, then flip a byte of its data: a CRC error on reading."""
    with zipfile.ZipFile(path) as zin:
        items = [(info.filename, zin.read(info.filename)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w") as zout:
        for name, data in items:
            zout.writestr(name, data, compress_type=zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    data = dict(items)[member]
    at = raw.find(data) + len(data) // 2
    raw[at] ^= 0x20
    path.write_bytes(bytes(raw))


SHEET = "xl/worksheets/sheet1.xml"


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: _rewrite_member(p, SHEET, lambda d: d[: len(d) // 2]),  # truncated XML
        lambda p: _rewrite_member(p, SHEET, lambda d: None),  # member missing
        lambda p: _rewrite_member(p, SHEET, lambda d: b"\x00\xff" * 50),  # not XML
        lambda p: _rewrite_member(p, "xl/workbook.xml", lambda d: d[:40]),
        lambda p: _flip_stored_byte(p, SHEET),  # CRC error
        lambda p: p.write_bytes(p.read_bytes()[:-200]),  # truncated zip directory
    ],
    ids=["truncated-xml", "missing-member", "not-xml", "broken-workbook-xml", "crc", "cut"],
)
def test_damaged_xlsx_members_are_one_clear_error(tmp_path: Path, damage) -> None:
    path = _workbook(tmp_path / "loneliness.xlsx")
    assert len(read_loneliness(path)) == len(CODES)
    damage(path)
    with pytest.raises(InputError) as info:
        read_loneliness(path)
    assert str(path) in _one_line(info.value)
    assert "download it again" in str(info.value)
    with pytest.raises(InputError) as info2:
        read_grids(path, what="a table")
    assert str(path) in _one_line(info2.value)


# -- boundaries: sidecars, CRS, coverage --------------------------------------------------------


@pytest.mark.parametrize(
    "remove", [[".dbf"], [".shx"], [".prj"], [".dbf", ".prj"], [".shx", ".dbf", ".prj"]]
)
def test_missing_shapefile_sidecars_are_named(tmp_path: Path, remove: list[str]) -> None:
    path = tmp_path / "lsoa.shp"
    grid_boundaries(2, 2).to_file(path)
    for ext in remove:
        path.with_suffix(ext).unlink()
    with pytest.raises(InputError) as info:
        read_lsoa_boundaries(path)
    message = _one_line(info.value)
    for ext in remove:
        assert f"lsoa{ext}" in message
    assert info.value.file is not None and not info.value.file.endswith(".shp")


def _degrees_grid(rows: int, cols: int) -> gpd.GeoDataFrame:
    """Square LSOAs in longitude/latitude around central London, labelled as EPSG:27700."""
    frame = grid_boundaries(rows, cols)
    degrees = [
        shapely.affinity.scale(
            shapely.affinity.translate(g, -530_000, -180_000), 1e-5, 1e-5, origin=(0, 0)
        )
        for g in frame.geometry
    ]
    moved = [shapely.affinity.translate(g, -0.1, 51.5) for g in degrees]
    return frame.set_geometry(gpd.GeoSeries(moved)).set_crs("EPSG:27700", allow_override=True)


@pytest.mark.parametrize("driver", ["GPKG", "GeoJSON"])
def test_degrees_declared_as_british_national_grid_are_refused(tmp_path: Path, driver: str) -> None:
    path = tmp_path / ("lsoa.gpkg" if driver == "GPKG" else "lsoa.geojson")
    _degrees_grid(30, 30).to_file(path, driver=driver)
    with pytest.raises(GeometryError, match="longitude/latitude degrees") as info:
        read_lsoa_boundaries(path)
    assert "British National Grid" in str(info.value) or "27700" in str(info.value)


def test_metres_are_still_accepted(tmp_path: Path) -> None:
    path = tmp_path / "lsoa.gpkg"
    grid_boundaries(3, 3).to_file(path)
    assert len(read_lsoa_boundaries(path)) == 9


def test_area_coverage() -> None:
    london = AreaConfig(label="London", boundaries="b", expected_lsoas=4_835)
    codes = [f"E01{i:06d}" for i in range(1, 2_418)]
    with pytest.raises(InputError, match="only 2,417 LSOAs") as info:
        check_area_coverage(codes, london, file="half.gpkg", area_key="london")
    message = str(info.value)
    assert "4,835" in message and "areas.london.expected_lsoas" in message
    check_area_coverage([f"E01{i:06d}" for i in range(4_835)], london, file="f")
    with pytest.raises(InputError, match="4,836"):
        check_area_coverage([f"E01{i:06d}" for i in range(4_836)], london, file="f")
    free = AreaConfig(label="Test", boundaries="b")
    check_area_coverage(codes, free, file="f")


# -- end to end through the CLI: exit 2, one message, nothing written --------------------------

runner = CliRunner()


def _build(study, out: Path):
    return cli_build(study, out)


def test_build_with_degrees_labelled_as_metres_fails_fast(tmp_path: Path) -> None:
    study = write_study(tmp_path / "mini")
    bounds = gpd.read_file(study.boundaries)
    degrees = _degrees_grid(8, 9)
    bounds = bounds.set_geometry(degrees.geometry.to_numpy()).set_crs(
        "EPSG:27700", allow_override=True
    )
    bounds.to_file(study.boundaries, driver="GPKG")
    result = _build(study, tmp_path / "out")
    assert result.exit_code == 2
    assert "longitude/latitude" in result.output and "lsoa.gpkg" in result.output
    assert not (tmp_path / "out").exists()


def test_build_with_a_decimal_comma_fails_naming_row_and_column(tmp_path: Path) -> None:
    study = write_study(tmp_path / "mini")
    frame = pd.read_csv(study.file7, dtype=str)
    frame.loc[4, SCORE] = "36,451"
    frame.to_csv(study.file7, index=False)
    result = _build(study, tmp_path / "out")
    assert result.exit_code == 2
    assert "row 6" in result.output and SCORE in result.output and "comma" in result.output
    assert not (tmp_path / "out").exists()


def test_build_with_part_of_the_area_fails(tmp_path: Path) -> None:
    study = write_study(tmp_path / "mini")
    data = yaml.safe_load(study.config.read_text())
    data["areas"]["mini"]["expected_lsoas"] = 144
    study.config.write_text(yaml.safe_dump(data, sort_keys=False))
    result = _build(study, tmp_path / "out")
    assert result.exit_code == 2
    assert "only 72 LSOAs" in result.output and "144" in result.output
    assert not (tmp_path / "out").exists()


def test_build_with_a_missing_dbf_names_it(tmp_path: Path) -> None:
    study = write_study(tmp_path / "mini")
    shp = study.root / "lsoa.shp"
    gpd.read_file(study.boundaries).to_file(shp)
    shp.with_suffix(".dbf").unlink()
    data = yaml.safe_load(study.config.read_text())
    data["sources"]["test_lsoa"]["path"] = "lsoa.shp"
    study.config.write_text(yaml.safe_dump(data, sort_keys=False))
    result = _build(study, tmp_path / "out")
    assert result.exit_code == 2
    assert "lsoa.dbf" in result.output
    assert not (tmp_path / "out").exists()


# -- huge files --------------------------------------------------------------------------------


def test_huge_table_files_are_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import canrank.loaders._validate as validate

    path = tmp_path / "File_7.csv"
    file7_frame(CODES, LADS).to_csv(path, index=False)
    monkeypatch.setattr(validate, "MAX_TABLE_BYTES", 1_000)
    with pytest.raises(InputError, match="far larger than any LSOA-level table"):
        read_iod(path)
    with pytest.raises(InputError, match="far larger"):
        read_grids(path, what="a table")


def test_a_workbook_that_unpacks_to_far_more_than_it_holds_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A "zip bomb" (a small file unpacking to gigabytes), scaled down through the limit."""
    import canrank.loaders._validate as validate

    path = _workbook(tmp_path / "bomb.xlsx")
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/media/padding.bin", b"\0" * 5_000_000)
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(validate, "MAX_XLSX_UNCOMPRESSED", 4_000_000)
    with pytest.raises(InputError, match="unpacks to"):
        read_loneliness(path)
    with pytest.raises(InputError, match="unpacks to"):
        read_grids(path, what="a table")


# -- messages: control characters and markup in names -----------------------------------------


def test_messages_carry_no_terminal_escapes() -> None:
    exc = InputError("bad \x1b[2J value\u202e", file="a\x1b]0;title\x07.csv", hint="fix \x1b[31m")
    text = str(exc)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert text.count("\n") == 1  # the hint line is kept


def test_markup_in_a_file_name_is_printed_literally(tmp_path: Path) -> None:
    folder = tmp_path / "[bold red]x[/red] [/]"
    study = write_study(folder)
    frame = pd.read_csv(study.file7, dtype=str)
    frame.loc[2, SCORE] = "[/red]"
    frame.to_csv(study.file7, index=False)
    result = _build(study, tmp_path / "out")
    assert result.exit_code == 2
    assert "[bold red]x[/red] [/]" in result.output and "'[/red]'" in result.output
    assert "Traceback" not in result.output


# -- files that cannot be read ---------------------------------------------------------------


def test_unreadable_source_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root ignores permissions, so the operating system's refusal is simulated."""
    from canrank.loaders import read_source
    from canrank.sources import get_source

    path = tmp_path / "File_7.csv"
    file7_frame(CODES, LADS).to_csv(path, index=False)

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(InputError, match="permission denied") as info:
        read_source(get_source("iod2015_file7"), path)
    assert info.value.file == str(path)
    config = tmp_path / "indicators.yaml"
    config.write_text("version: 1\n")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(config)


def test_a_folder_where_a_file_should_be(tmp_path: Path) -> None:
    from canrank.loaders import read_source
    from canrank.sources import get_source

    folder = tmp_path / "File_7.csv"
    folder.mkdir()
    with pytest.raises(InputError) as info:
        read_source(get_source("iod2015_file7"), folder)
    assert "File_7.csv" in _one_line(info.value)


@pytest.mark.parametrize("where", ["raw", "mirror"])
def test_a_cached_or_mirrored_shapefile_without_its_dbf_names_the_dbf(
    tmp_path: Path, where: str
) -> None:
    from canrank.acquire import locate
    from canrank.errors import MissingSourceError
    from canrank.sources import Source

    source = Source(
        id="test_shp",
        publisher="test",
        title="test",
        reference_date="",
        licence="",
        filename="lsoa.shp",
        loader="lsoa_boundaries",
        sidecars=("lsoa.shx", "lsoa.dbf", "lsoa.prj"),
    )
    raw = tmp_path / "raw"
    mirror = tmp_path / "mirror"
    folder = raw if where == "raw" else mirror / "boundaries" / "london"
    folder.mkdir(parents=True)
    raw.mkdir(exist_ok=True)
    grid_boundaries(2, 2).to_file(folder / "lsoa.shp")
    (folder / "lsoa.dbf").unlink()
    with pytest.raises(MissingSourceError) as info:
        locate(source, raw_dir=raw, mirror=mirror)
    message = str(info.value)
    assert "lsoa.dbf" in message and str(folder) in message
