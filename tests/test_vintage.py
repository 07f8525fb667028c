"""LSOA 2011 <-> 2021 conversion with the ONS lookup: unchanged, split, merged and complex changes,
and the pipeline's detection of an indicator on another LSOA vintage than the boundaries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from canrank.errors import ConfigError, InputError
from canrank.pipeline import build
from canrank.vintage import convert_lsoa_vintage, frame_vintage, read_lsoa_lookup

from synthetic import file7_header_2025, iod_frame, write_study

#: The published header of the ONS "LSOA (2011) to LSOA (2021) to LAD (2022)" exact-fit lookup.
LOOKUP_HEADER = [
    "LSOA11CD",
    "LSOA11NM",
    "LSOA21CD",
    "LSOA21NM",
    "CHGIND",
    "LAD22CD",
    "LAD22NM",
    "LAD22NMW",
    "ObjectId",
]
PAIRS = [
    ("E01000001", "E01000001", "U"),
    ("E01000002", "E01033769", "S"),  # one 2011 LSOA split in two
    ("E01000002", "E01033770", "S"),
    ("E01000003", "E01033771", "M"),  # two 2011 LSOAs merged
    ("E01000004", "E01033771", "M"),
    ("E01000005", "E01033772", "X"),  # complex: 5 splits, one part merges with 6
    ("E01000005", "E01033773", "X"),
    ("E01000006", "E01033773", "X"),
]
CODES_11 = [f"E01{i:06d}" for i in range(1, 7)]
CODES_21 = ["E01000001", "E01033769", "E01033770", "E01033771", "E01033772", "E01033773"]


def write_lookup(path: Path, pairs: list[tuple[str, str, str]] = PAIRS) -> Path:
    rows = [
        [a, f"Town {a[-3:]}A", b, f"Town {b[-3:]}B", flag, "E09000001", "Town", "", i + 1]
        for i, (a, b, flag) in enumerate(pairs)
    ]
    pd.DataFrame(rows, columns=LOOKUP_HEADER).to_csv(path, index=False)
    return path


@pytest.fixture
def lookup(tmp_path: Path) -> pd.DataFrame:
    return read_lsoa_lookup(write_lookup(tmp_path / "lookup.csv"))


def test_lookup_is_read_with_tidy_columns(lookup: pd.DataFrame) -> None:
    assert list(lookup.columns[:5]) == [
        "lsoa11_code",
        "lsoa11_name",
        "lsoa21_code",
        "lsoa21_name",
        "change",
    ]
    assert len(lookup) == len(PAIRS)
    assert lookup.attrs["lookup_file"] == "lookup.csv"


def test_2011_to_2021_counts_and_rates(lookup: pd.DataFrame) -> None:
    frame = pd.DataFrame(
        {
            "lsoa_code": CODES_11,
            "claimants": [100, 200, 30, 70, 90, 60],
            "rate": [0.1, 0.2, 0.3, 0.5, 0.4, 0.8],
        }
    )
    src_pop = pd.Series([1000, 2000, 1000, 3000, 1500, 1500], index=CODES_11)
    tgt_pop = pd.Series([1000, 1500, 500, 4000, 1000, 2000], index=CODES_21)
    out, report = convert_lsoa_vintage(
        frame,
        lookup,
        to="2021",
        counts=["claimants"],
        target_population=tgt_pop,
        source_population=src_pop,
    )
    got = out.set_index("lsoa_code")
    assert list(got.index) == sorted(CODES_21)
    # unchanged: copied
    assert got.loc["E01000001", "claimants"] == 100
    assert got.loc["E01000001", "rate"] == pytest.approx(0.1)
    # split: count apportioned 1500:500 by target population, rate copied
    assert got.loc["E01033769", "claimants"] == pytest.approx(150)
    assert got.loc["E01033770", "claimants"] == pytest.approx(50)
    assert got.loc[["E01033769", "E01033770"], "rate"].tolist() == pytest.approx([0.2, 0.2])
    # merge: counts summed, rate population-weighted
    assert got.loc["E01033771", "claimants"] == pytest.approx(100)
    assert got.loc["E01033771", "rate"] == pytest.approx((0.3 * 1000 + 0.5 * 3000) / 4000)
    # complex: E01000005 shares 1:2 by target population; E01033773 also gets all of E01000006
    assert got.loc["E01033772", "claimants"] == pytest.approx(30)
    assert got.loc["E01033773", "claimants"] == pytest.approx(60 + 60)
    assert got.loc["E01033772", "rate"] == pytest.approx(0.4)
    assert got.loc["E01033773", "rate"] == pytest.approx((0.4 * 1000 + 0.8 * 1500) / 2500)
    # counts are conserved
    assert got["claimants"].sum() == pytest.approx(frame["claimants"].sum())
    assert report.changes == {"unchanged": 1, "split": 1, "merged": 2, "complex": 2}
    assert report.n_source == 6 and report.n_target == 6
    assert "target population" in report.counts_method
    assert report.notes == []
    assert out.attrs["lsoa_vintage"] == "2021"
    assert got.loc["E01033771", "lsoa_name"] == "Town 771B"
    json.dumps(report.to_dict())  # manifest-ready


def test_without_populations_splits_equally_and_says_so(lookup: pd.DataFrame) -> None:
    frame = pd.DataFrame(
        {"lsoa_code": CODES_11, "claimants": [100.0] * 6, "rate": [0.1, 0.2, 0.3, 0.5, 0.4, 0.8]}
    )
    out, report = convert_lsoa_vintage(frame, lookup, to="2021", counts=["claimants"])
    got = out.set_index("lsoa_code")
    assert got.loc["E01033769", "claimants"] == 50
    assert got.loc["E01033771", "rate"] == pytest.approx(0.4)  # unweighted mean
    assert "equally" in report.counts_method
    assert any("divided equally" in n for n in report.notes)
    assert any("unweighted" in n for n in report.notes)
    assert "divided equally" in report.summary()


def test_2021_to_2011_reverses_the_roles(lookup: pd.DataFrame) -> None:
    frame = pd.DataFrame(
        {
            "lsoa_code": CODES_21,
            "claimants": [10, 40, 20, 80, 9, 30],
            "score": [1.0, 2.0, 4.0, 3.0, 5.0, 6.0],
        }
    )
    src_pop = pd.Series([1000, 1500, 500, 4000, 1000, 2000], index=CODES_21)
    tgt_pop = pd.Series([1000, 2000, 1000, 3000, 1500, 1500], index=CODES_11)
    out, report = convert_lsoa_vintage(
        frame,
        lookup,
        to="2011",
        counts=["claimants"],
        target_population=tgt_pop,
        source_population=src_pop,
    )
    got = out.set_index("lsoa_code")
    assert list(got.index) == CODES_11
    # the 2011 LSOA that ONS split: its two 2021 parts are summed / weighted
    assert got.loc["E01000002", "claimants"] == 60
    assert got.loc["E01000002", "score"] == pytest.approx((2 * 1500 + 4 * 500) / 2000)
    # the 2011 LSOAs that ONS merged: the 2021 count is apportioned 1000:3000, score copied
    assert got.loc["E01000003", "claimants"] == pytest.approx(20)
    assert got.loc["E01000004", "claimants"] == pytest.approx(60)
    assert got.loc[["E01000003", "E01000004"], "score"].tolist() == [3.0, 3.0]
    assert got["claimants"].sum() == pytest.approx(frame["claimants"].sum())
    assert report.source_vintage == "2021" and report.target_vintage == "2011"


def test_incomplete_targets_are_empty_and_reported(lookup: pd.DataFrame) -> None:
    frame = pd.DataFrame({"lsoa_code": ["E01000003", "E01000001"], "rate": [0.3, 0.1]})
    out, report = convert_lsoa_vintage(frame, lookup, to="2021")
    got = out.set_index("lsoa_code")
    assert np.isnan(got.loc["E01033771", "rate"])  # E01000004 is missing
    assert got.loc["E01000001", "rate"] == pytest.approx(0.1)
    assert report.incomplete == 1


def test_codes_not_in_the_lookup_are_an_error(lookup: pd.DataFrame) -> None:
    frame = pd.DataFrame({"lsoa_code": ["E01000001", "E01009999"], "rate": [0.1, 0.2]})
    with pytest.raises(InputError, match="not LSOA 2011 codes"):
        convert_lsoa_vintage(frame, lookup, to="2021")


def test_bad_lookup_files(tmp_path: Path) -> None:
    bad_flag = write_lookup(tmp_path / "a.csv", [("E01000001", "E01000001", "Q")])
    with pytest.raises(InputError, match="not U, S, M or X") as info:
        read_lsoa_lookup(bad_flag)
    assert info.value.row == 2
    other = tmp_path / "b.csv"
    other.write_text("LSOA11CD,LAD22CD\nE01000001,E09000001\n")
    with pytest.raises(InputError, match="no LSOA21CD"):
        read_lsoa_lookup(other)


def test_frame_vintage_from_attrs_or_codes() -> None:
    assert frame_vintage(pd.DataFrame({"lsoa_code": ["E01000001", "E01034000"]})) == "2021"
    assert frame_vintage(pd.DataFrame({"lsoa_code": ["E01000001"]})) is None
    declared = pd.DataFrame({"lsoa_code": ["E01000001"]})
    declared.attrs["lsoa_vintage"] = "2011"
    assert frame_vintage(declared) == "2011"


# --- the pipeline -------------------------------------------------------------------------------


def _study_with_2025_indicator(root: Path, *, lookup: bool, declare: bool) -> Path:
    """The mini study (2011 LSOAs) plus an IoD 2025 file on 2021 codes for some of them."""
    study = write_study(root, rows=4, cols=6, n_cans=1)
    codes11 = study.codes
    # 2021 geography: LSOA 1 split in two, LSOAs 2 and 3 merged, the rest unchanged
    pairs = [(codes11[0], "E01033769", "S"), (codes11[0], "E01033770", "S")]
    pairs += [(codes11[1], "E01033771", "M"), (codes11[2], "E01033771", "M")]
    pairs += [(c, c, "U") for c in codes11[3:]]
    write_lookup(root / "lookup.csv", pairs)
    codes21 = sorted({b for _, b, _ in pairs})
    lads = [("E09000001", "Northtown")] * len(codes21)
    iod_frame(file7_header_2025(), codes21, lads, seed=3).to_csv(root / "iod25.csv", index=False)
    config = yaml.safe_load(study.config.read_text())
    config["sources"]["iod25"] = {"path": "iod25.csv", "loader": "iod"}
    config["sources"]["lookup"] = {"path": "lookup.csv", "loader": "lsoa_lookup"}
    config["indicators"]["imd25"] = {
        "label": "IMD 2025",
        "source": "iod25",
        "column": "imd_score",
        **({"lsoa_vintage": "2021"} if declare else {}),
    }
    if lookup:
        config["lookups"] = {"2011-2021": "lookup"}
    config["scenarios"]["mini"]["weights"]["imd25"] = 1
    study.config.write_text(yaml.safe_dump(config, sort_keys=False))
    return study.config


def test_pipeline_needs_a_lookup_for_a_2021_indicator(tmp_path: Path) -> None:
    config = _study_with_2025_indicator(tmp_path, lookup=False, declare=False)
    with pytest.raises(ConfigError) as info:
        build(config, write=False, raw_dir=tmp_path / "raw")
    message = str(info.value)
    assert "imd25" in message and "LSOA 2021" in message and "LSOA 2011" in message
    assert "lookups" in message and "iod25.csv" in message


def test_pipeline_converts_and_reports_in_the_manifest(tmp_path: Path) -> None:
    config = _study_with_2025_indicator(tmp_path, lookup=True, declare=True)
    result = build(config, out=tmp_path / "out", raw_dir=tmp_path / "raw")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    (conv,) = manifest["vintage_conversions"]
    assert conv["from"] == "LSOA 2021" and conv["to"] == "LSOA 2011"
    assert conv["changes_2011_lsoas"] == {"unchanged": 21, "split": 1, "merged": 2, "complex": 0}
    assert conv["rates"] == ["imd_score"] and conv["counts"] == []
    assert "population-weighted" in conv["rates_method"]
    assert any("converted from LSOA 2021" in w for w in manifest["warnings"])
    # the split 2011 LSOA gets the population-weighted mean of its two 2021 parts
    iod25 = pd.read_csv(tmp_path / "iod25.csv").set_index("LSOA code (2021)")
    part = iod25.loc[["E01033769", "E01033770"]]
    pop = part["Total population: mid 2022"]
    expected = float((part["Index of Multiple Deprivation (IMD) Score"] * pop).sum() / pop.sum())
    lsoa = result.lsoa.set_index("lsoa_code")
    assert lsoa.loc["E01000001", "imd25_value"] == pytest.approx(expected)
    # merged 2011 LSOAs both take the 2021 value
    merged = iod25.loc["E01033771", "Index of Multiple Deprivation (IMD) Score"]
    assert lsoa.loc[["E01000002", "E01000003"], "imd25_value"].tolist() == pytest.approx(
        [merged, merged]
    )


def test_pipeline_asks_to_declare_the_vintage_when_a_lookup_exists(tmp_path: Path) -> None:
    config = _study_with_2025_indicator(tmp_path, lookup=True, declare=False)
    with pytest.raises(ConfigError, match="lsoa_vintage: '2021'"):
        build(config, write=False, raw_dir=tmp_path / "raw")


def test_config_rejects_an_unknown_lookup_source(tmp_path: Path) -> None:
    from canrank.config import load_config

    study = write_study(tmp_path)
    config = yaml.safe_load(study.config.read_text())
    config["lookups"] = {"2011-2021": "no_such_source"}
    study.config.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="unknown source 'no_such_source'"):
        load_config(study.config)
