"""National context: IoD national ranks and deciles beside the study-area ranks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from canrank.analysis.national import (
    IMD_DECILE,
    IMD_RANK,
    national_columns,
    national_context,
    national_summary,
    rank_text,
)
from canrank.config import Config, ResolvedScenario
from canrank.loaders.iod import read_iod
from canrank.sources import ENGLAND_LSOAS, NATIONAL_RANK_SOURCES

from synthetic import file7_frame

F7 = "iod2015_file7"


def proxies_like(source: str = F7) -> ResolvedScenario:
    """IMD plus two IoD measures and one non-IoD indicator, on catalogue sources."""
    data = {
        "version": 1,
        "default_scenario": "s",
        "population": {"source": source, "column": "population"},
        "areas": {"a": {"label": "Testland", "boundaries": "london_lsoa_2011"}},
        "indicators": {
            "imd": {"label": "IMD score", "source": source, "column": "imd_score"},
            "kids": {"label": "IDACI score", "source": source, "column": "idaci_score"},
            "hb": {"label": "Income score", "source": source, "column": "income_score"},
            "lonely": {
                "label": "Loneliness",
                "source": "ageuk_loneliness_london",
                "column": "loneliness_prevalence",
            },
        },
        "scenarios": {
            "s": {
                "description": "t",
                "area": "a",
                "weights": {"imd": 1, "kids": 1, "hb": 1, "lonely": 1},
            }
        },
    }
    return Config.model_validate(data).resolve("s")


@pytest.fixture(scope="module")
def file7(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """A small File 7 in the published layout, read by the real loader."""
    codes = [f"E01{i:06d}" for i in range(1, 61)]
    lads = [("E09000001", "Northtown")] * 30 + [("E08000001", "Elsewhere")] * 30
    path = tmp_path_factory.mktemp("iod") / "File_7_test.csv"
    file7_frame(codes, lads, seed=3).to_csv(path, index=False)
    return read_iod(path)


def test_columns_are_labelled_with_the_national_count() -> None:
    cols = national_columns(proxies_like())
    assert list(cols) == [IMD_RANK, IMD_DECILE, "kids_rank_england", "hb_rank_england"]
    assert "of 32,844 in England" in cols[IMD_RANK]
    assert "IDACI" in cols["kids_rank_england"] and "32,844" in cols["kids_rank_england"]
    assert "lonely_rank_england" not in cols


def test_national_ranks_are_the_published_ones(file7: pd.DataFrame) -> None:
    sc = proxies_like()
    study_codes = [f"E01{i:06d}" for i in (5, 1, 30, 2)]  # any order: rows follow it
    ctx = national_context(study_codes, {F7: file7}, sc)
    assert list(ctx["lsoa_code"]) == study_codes
    by_code = file7.set_index("lsoa_code")
    assert list(ctx[IMD_RANK]) == [int(by_code.loc[c, "imd_rank"]) for c in study_codes]
    assert list(ctx[IMD_DECILE]) == [int(by_code.loc[c, "imd_decile"]) for c in study_codes]
    assert list(ctx["kids_rank_england"]) == [
        int(by_code.loc[c, "idaci_rank"]) for c in study_codes
    ]
    assert list(ctx["hb_rank_england"]) == [int(by_code.loc[c, "income_rank"]) for c in study_codes]
    assert str(ctx[IMD_RANK].dtype) == "Int64"
    assert ctx.attrs["n_england"] == 32_844 and ctx.attrs["n_area"] == 4
    assert ctx.attrs["source"] == F7 and ctx.attrs["edition"] == "2015"
    assert set(ctx.attrs["labels"]) == {
        IMD_RANK,
        IMD_DECILE,
        "kids_rank_england",
        "hb_rank_england",
    }


def test_a_single_frame_is_accepted(file7: pd.DataFrame) -> None:
    ctx = national_context(["E01000001"], file7, proxies_like())
    assert int(ctx.loc[0, IMD_RANK]) == int(file7.loc[0, "imd_rank"])


def test_unranked_codes_are_missing_and_noted(file7: pd.DataFrame) -> None:
    ctx = national_context(["E01000001", "E01999999"], {F7: file7}, proxies_like())
    assert pd.isna(ctx.loc[1, IMD_RANK]) and not pd.isna(ctx.loc[0, IMD_RANK])
    assert any("E01999999" in note for note in ctx.attrs["notes"])


def test_decile_is_derived_when_the_file_has_none(file7: pd.DataFrame) -> None:
    frame = file7.drop(columns=["imd_decile"])
    frame.attrs = dict(file7.attrs)
    ctx = national_context(list(frame["lsoa_code"]), {F7: frame}, proxies_like())
    expected = np.minimum(10, np.ceil(frame["imd_rank"].to_numpy() * 10 / 32_844)).astype(int)
    assert list(ctx[IMD_DECILE]) == list(expected)


def test_a_scenario_without_national_ranks_gets_no_columns() -> None:
    data = {
        "version": 1,
        "default_scenario": "s",
        "population": {"source": "ageuk_loneliness_london", "column": "population"},
        "areas": {"a": {"label": "A", "boundaries": "london_lsoa_2011"}},
        "indicators": {
            "lonely": {
                "label": "L",
                "source": "ageuk_loneliness_london",
                "column": "loneliness_prevalence",
            }
        },
        "scenarios": {"s": {"description": "t", "area": "a", "weights": {"lonely": 1}}},
    }
    sc = Config.model_validate(data).resolve("s")
    assert national_columns(sc) == {}
    ctx = national_context(["E01000001"], {}, sc)
    assert list(ctx.columns) == ["lsoa_code"]


def test_rank_text_and_summary(file7: pd.DataFrame) -> None:
    assert rank_text(1234, 32_844, "England") == "1,234 of 32,844 in England"
    assert rank_text(None, 4_835, "London") == "-"
    assert rank_text(pd.NA, 4_835, "London") == "-"
    ctx = national_context(list(file7["lsoa_code"]), {F7: file7}, proxies_like())
    summary = national_summary(ctx, "Testland")
    json.dumps(summary, allow_nan=False)
    assert summary["n_england"] == 32_844 and summary["n_area"] == 60
    assert "32,844 LSOAs in England" in summary["text"] and "60 in Testland" in summary["text"]
    assert sum(summary["imd_decile_england_counts"].values()) == 60


def test_catalogue_records_national_rank_sources() -> None:
    assert ENGLAND_LSOAS == {"2011": 32_844, "2021": 33_755}
    assert NATIONAL_RANK_SOURCES[F7] == "2011"
    assert NATIONAL_RANK_SOURCES["iod2025_file7"] == "2021"


# ---------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def london_study(mirror: Path, tmp_path_factory: pytest.TempPathFactory):
    from canrank.config import load_config
    from canrank.study import prepare_study

    from conftest import CONFIG

    config = load_config(CONFIG)
    sc = config.resolve("lcc-2017-proxies")
    return prepare_study(config, sc, raw_dir=tmp_path_factory.mktemp("raw"), mirror=mirror)


@pytest.mark.realdata
def test_london_national_context_from_file_7(london_study) -> None:
    from canrank.analysis.national import national_context_for_study

    ctx = national_context_for_study(london_study)
    assert ctx is not None
    assert ctx.attrs["n_england"] == 32_844 and ctx.attrs["n_area"] == 4_835
    assert ctx.attrs["notes"] == []
    expected = [
        IMD_RANK,
        IMD_DECILE,
        "housing_benefit_rank_england",
        "children_low_income_rank_england",
        "pension_credit_rank_england",
    ]
    assert [c for c in ctx.columns if c != "lsoa_code"] == expected
    for col in expected:
        values = ctx[col]
        assert values.notna().all()
        low, high = (1, 10) if col == IMD_DECILE else (1, 32_844)
        assert values.min() >= low and values.max() <= high
    # London spans nearly the whole national range, and the deciles follow the published rule
    assert ctx[IMD_RANK].max() - ctx[IMD_RANK].min() > 30_000
    derived = np.minimum(10, np.ceil(ctx[IMD_RANK].to_numpy(dtype=float) * 10 / 32_844))
    assert (ctx[IMD_DECILE].to_numpy(dtype=float) == derived).all()
    # the national IMD order is the London IMD order (same scores, ranked over more LSOAs)
    london_imd = pd.Series(london_study.values["imd"].to_numpy())
    rho = london_imd.rank().corr(-ctx[IMD_RANK].astype(float).rank())
    assert rho > 0.9999
    summary = national_summary(ctx, london_study.scenario.area.label)
    assert summary["text"] == (
        "national ranks are of 32,844 LSOAs in England; study-area ranks of 4,835 in London"
    )
    counts = summary["imd_decile_england_counts"]
    assert sum(counts.values()) == 4_835
    assert 0 < counts["1"] < 4_835 // 10  # few London LSOAs are in England's most deprived 10 %


@pytest.mark.realdata
def test_gla_london_workbook_keeps_national_ranks(mirror: Path) -> None:
    path = mirror / "imd2019_london" / "ID 2019 for London.xlsx"
    frame = read_iod(path)
    assert len(frame) == 4_835
    assert NATIONAL_RANK_SOURCES["iod2019_london"] == "2011"
    assert frame["imd_rank"].max() > 4_835 and frame["imd_rank"].max() <= 32_844
    assert frame["imd_rank"].min() >= 1
