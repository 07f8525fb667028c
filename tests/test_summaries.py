"""Tests for canrank.summaries: MHCLG district summary measures for any grouping of LSOAs.

Hand-computed cases pin every definition; real-data tests recompute the 2019 borough summaries
from the GLA "ID 2019 for London" LSOA sheets and compare them with the published borough
sheets and with IoD 2019 File 10.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from canrank.errors import InputError
from canrank.summaries import (
    DOMAINS,
    MEASURES,
    N_NATIONAL,
    extent_weight,
    iod_summaries,
    national_percentile,
    read_published_summaries,
    summary_measures,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("CANRANK_MIRROR", REPO_ROOT.parent / "shared" / "data"))
LONDON = MIRROR / "imd2019_london" / "ID 2019 for London.xlsx"
FILE10 = (
    MIRROR / "imd2019" / "File_10_-_IoD2019_Local_Authority_District_Summaries__lower-tier__.xlsx"
)
FILE7_2015 = (
    MIRROR
    / "imd2015"
    / "File_7_ID_2015_All_ranks__deciles_and_scores_for_the_Indices_of_Deprivation__and_population_denominators.csv"  # noqa: E501
)

SLIDE_20 = 0.95 - 0.9 * 9 / 19  # extent weight at the 20th percentile


# --- hand-computed cases -----------------------------------------------------------------------


def _toy() -> pd.DataFrame:
    """Two groups; n_national = 100 so a national rank *is* its percentile."""
    return pd.DataFrame(
        {
            "lsoa": ["a1", "a2", "a3", "a4", "a5", "b1", "b2"],
            "grp": ["A", "A", "A", "A", "A", "B", "B"],
            "name": ["Alpha"] * 5 + ["Beta"] * 2,
            "score": [50.0, 40.0, 30.0, 20.0, 10.0, 80.0, 5.0],
            "rank": [10, 11, 20, 30, 31, 1, 60],
            "pop": [100, 200, 300, 400, 500, 10, 990],
            "rate": [0.5, 0.25, 0.1, 0.05, 0.0, 0.6, 0.02],
        }
    )


def _toy_summary(**kwargs: object) -> pd.DataFrame:
    return summary_measures(
        _toy(),
        group="grp",
        score="rate" if kwargs.pop("rate", False) else "score",
        rank="rank",
        population="pop",
        n_national=100,
        names="name",
        **kwargs,  # type: ignore[arg-type]
    ).set_index("area_code")


def test_columns_and_order() -> None:
    out = summary_measures(
        _toy(), group="grp", score="score", rank="rank", population="pop", n_national=100
    )
    assert list(out.columns) == [
        "area_code",
        "average_score",
        "average_score_rank",
        "average_rank",
        "average_rank_rank",
        "proportion_most_deprived_10",
        "proportion_most_deprived_10_rank",
        "extent",
        "extent_rank",
        "local_concentration",
        "local_concentration_rank",
    ]
    assert out["area_code"].tolist() == ["A", "B"]
    named = _toy_summary(scale_count="pop")
    assert list(named.columns[:1]) == ["area_name"]
    assert named["area_name"].tolist() == ["Alpha", "Beta"]
    assert {"scale", "scale_rank"} <= set(named.columns)


def test_average_score_and_average_rank_are_population_weighted() -> None:
    out = _toy_summary()
    assert out.loc["A", "average_score"] == pytest.approx(35000 / 1500)
    assert out.loc["B", "average_score"] == pytest.approx((80 * 10 + 5 * 990) / 1000)
    # reversed ranks n+1-rank: A -> 91, 90, 81, 71, 70; B -> 100, 41
    assert out.loc["A", "average_rank"] == pytest.approx(
        (91 * 100 + 90 * 200 + 81 * 300 + 71 * 400 + 70 * 500) / 1500
    )
    assert out.loc["B", "average_rank"] == pytest.approx((100 * 10 + 41 * 990) / 1000)


def test_proportion_is_an_unweighted_share_of_lsoas() -> None:
    out = _toy_summary()
    assert out.loc["A", "proportion_most_deprived_10"] == pytest.approx(1 / 5)  # rank 10 only
    assert out.loc["B", "proportion_most_deprived_10"] == pytest.approx(1 / 2)


def test_extent_sliding_weights_at_10_11_20_30_31() -> None:
    assert extent_weight(np.array([1, 10, 11, 20, 30, 31, 100])) == pytest.approx(
        [1.0, 1.0, 0.95, SLIDE_20, 0.05, 0.0, 0.0]
    )
    # each step from the 11th to the 30th percentile is (0.95 - 0.05) / 19
    steps = np.diff(extent_weight(np.arange(11, 31)))
    assert steps == pytest.approx(np.full(19, -0.9 / 19))
    out = _toy_summary()
    expected_a = (1.0 * 100 + 0.95 * 200 + SLIDE_20 * 300 + 0.05 * 400 + 0.0 * 500) / 1500
    assert out.loc["A", "extent"] == pytest.approx(expected_a)
    assert out.loc["B", "extent"] == pytest.approx(10 / 1000)


def test_national_percentile_is_ceil_of_100_rank_over_n() -> None:
    n = N_NATIONAL["2011"]
    ranks = np.array([1, 328, 329, 3284, 3285, 9853, 9854, 32844])
    assert national_percentile(ranks, n).tolist() == [1, 1, 2, 10, 11, 30, 31, 100]
    # exact boundary in integer arithmetic: 100 * 8211 / 32844 == 25 exactly
    assert national_percentile(np.array([8211, 8212]), n).tolist() == [25, 26]


def test_local_concentration_takes_a_partial_lsoa() -> None:
    out = _toy_summary()
    # A: 10% of 1,500 = 150 people: all 100 of rank 10 (reversed 91) + 50 of rank 11 (90)
    assert out.loc["A", "local_concentration"] == pytest.approx((91 * 100 + 90 * 50) / 150)
    # B: 10% of 1,000 = 100: all 10 of rank 1 (reversed 100) + 90 of rank 60 (41)
    assert out.loc["B", "local_concentration"] == pytest.approx((100 * 10 + 41 * 90) / 100)


def test_local_concentration_single_lsoa_over_10_percent() -> None:
    frame = pd.DataFrame({"g": ["X", "X"], "s": [1.0, 2.0], "r": [5, 50], "p": [500, 500]})
    out = summary_measures(frame, group="g", score="s", rank="r", population="p", n_national=100)
    assert out.loc[0, "local_concentration"] == pytest.approx(96.0)  # only part of rank 5


def test_scale_counts_people_deprived() -> None:
    out = _toy_summary(rate=True, scale_count="pop")
    assert out.loc["A", "scale"] == pytest.approx(50 + 50 + 30 + 20 + 0)
    assert out.loc["B", "scale"] == pytest.approx(6 + 19.8)
    assert out["scale_rank"].tolist() == [1, 2]


def test_ranks_one_is_most_deprived_ties_share_lowest() -> None:
    out = _toy_summary()
    assert out.loc["A", "average_score_rank"] == 1
    assert out.loc["A", "average_rank_rank"] == 1
    assert out.loc["B", "proportion_most_deprived_10_rank"] == 1
    assert out.loc["A", "extent_rank"] == 1
    assert out.loc["A", "local_concentration_rank"] == 1
    frame = pd.DataFrame(
        {"g": ["X", "Y", "Z"], "s": [1.0, 1.0, 2.0], "r": [50, 50, 5], "p": [10, 10, 10]}
    )
    tied = summary_measures(frame, group="g", score="s", rank="r", population="p", n_national=100)
    assert tied["average_score_rank"].tolist() == [2, 2, 1]
    assert tied["proportion_most_deprived_10_rank"].tolist() == [2, 2, 1]
    assert str(tied["average_rank_rank"].dtype) == "Int64"


def test_zero_population_group_gives_nan_not_error() -> None:
    frame = pd.DataFrame({"g": ["X", "Y"], "s": [1.0, 2.0], "r": [5, 6], "p": [0, 10]})
    out = summary_measures(frame, group="g", score="s", rank="r", population="p", n_national=100)
    assert math.isnan(out.loc[0, "average_score"])
    assert pd.isna(out.loc[0, "average_score_rank"])
    assert out.loc[1, "average_score_rank"] == 1


def test_bad_input_is_reported() -> None:
    frame = _toy()
    with pytest.raises(InputError, match="'nope'"):
        summary_measures(frame, group="grp", score="nope", rank="rank", population="pop",
                         n_national=100)
    with pytest.raises(InputError, match="whole national ranks from 1 to 50"):
        summary_measures(frame, group="grp", score="score", rank="rank", population="pop",
                         n_national=50)
    frame.loc[2, "pop"] = np.nan
    with pytest.raises(InputError, match="no value in 'pop'"):
        summary_measures(frame, group="grp", score="score", rank="rank", population="pop",
                         n_national=100)


def _tidy_iod() -> pd.DataFrame:
    toy = _toy()
    frame = pd.DataFrame(
        {
            "lsoa_code": toy["lsoa"],
            "lad_code": toy["grp"],
            "lad_name": toy["name"],
            "imd_score": toy["score"],
            "imd_rank": toy["rank"] * 300,  # within 1..32,844
            "income_score": toy["rate"],
            "income_rank": toy["rank"] * 300,
            "population": toy["pop"],
        }
    )
    frame.attrs["lsoa_vintage"] = "2011"
    return frame


def test_iod_summaries_long_format_and_defaults() -> None:
    out = iod_summaries(_tidy_iod())
    expected = ["area_code", "area_name", "domain"]
    for m in MEASURES:
        expected += [m, f"{m}_rank"]
    assert list(out.columns) == expected
    assert out["domain"].tolist() == ["imd", "imd", "income", "income"]  # only present domains
    imd = out[out["domain"] == "imd"].set_index("area_code")
    assert imd["scale"].isna().all() and imd["scale_rank"].isna().all()
    income = out[out["domain"] == "income"].set_index("area_code")
    assert income.loc["A", "scale"] == pytest.approx(150.0)
    # n_national defaults to 32,844 from attrs['lsoa_vintage'] == '2011'
    assert imd.loc["A", "average_rank"] == pytest.approx(
        ((32845 - 3000) * 100 + (32845 - 3300) * 200 + (32845 - 6000) * 300
         + (32845 - 9000) * 400 + (32845 - 9300) * 500) / 1500
    )
    # ranks 3000..9000 of 32,844 are percentiles 10, 11, 19, 28, 29
    pct = national_percentile(np.array([3000, 3300, 6000, 9000, 9300]), 32844)
    assert pct.tolist() == [10, 11, 19, 28, 29]
    assert income.loc["A", "area_name"] == "Alpha"


def test_iod_summaries_other_levels_and_errors() -> None:
    frame = _tidy_iod().assign(can_id=["c1", "c1", "c2", "c2", "c2", "c1", "c2"])
    out = iod_summaries(frame, level="can_id", domains=["imd"])
    assert out["area_code"].tolist() == ["c1", "c2"]
    assert out["area_name"].isna().all()
    with pytest.raises(InputError, match="unknown level"):
        iod_summaries(frame, level="ward")
    with pytest.raises(InputError, match="unknown domain"):
        iod_summaries(frame, domains=["imd", "wealth"])
    with pytest.raises(InputError, match="working_age"):
        iod_summaries(frame, domains=["employment"])
    frame.attrs.clear()
    with pytest.raises(InputError, match="n_national"):
        iod_summaries(frame)
    assert len(iod_summaries(frame, n_national=32844)) == 4


def test_domain_denominators() -> None:
    assert {d: s.population for d, s in DOMAINS.items()} == {
        "imd": "population",
        "income": "population",
        "employment": "working_age",
        "education": "population",
        "health": "population",
        "crime": "population",
        "barriers": "population",
        "living_environment": "population",
        "idaci": "children_0_15",
        "idaopi": "older_60_plus",
    }
    assert [d for d, s in DOMAINS.items() if s.scale] == ["income", "employment"]


def test_read_published_summaries_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_published_summaries(tmp_path / "missing.xlsx")
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot be opened"):
        read_published_summaries(bad)
    other = tmp_path / "other.xlsx"
    pd.DataFrame({"a": [1]}).to_excel(other, index=False)
    with pytest.raises(InputError, match="no sheet has district summary measures"):
        read_published_summaries(other)


# --- real published data -----------------------------------------------------------------------

needs_mirror = pytest.mark.skipif(
    not (LONDON.exists() and FILE10.exists()), reason=f"data mirror not found at {MIRROR}"
)

#: Half a unit in the last decimal place the published figures are given to (File 10 and the
#: GLA borough sheets agree): average score 3 dp, average rank 2, proportion 4, extent 4, local
#: concentration 2, scale 0 (Income) / quarters (Employment).
HALF_UNIT = {
    "average_score": 0.0005,
    "average_rank": 0.005,
    "proportion_most_deprived_10": 0.00005,
    "extent": 0.00005,
    "local_concentration": 0.005,
}

#: Extra slack that the *inputs* explain. LSOA scores are themselves published to 3 dp, so a
#: population-weighted mean of them can be off by another 0.0005.
INPUT_ROUNDING = {"average_score": 0.0005}

#: Measures that cannot match to the published precision, with the largest difference allowed
#: (each limit is the observed maximum, rounded up). All look like denominator effects: MHCLG
#: weighted by population figures that differ slightly from the whole numbers published in the
#: workbook. Solving for the difference in Hammersmith & Fulham gives 1-2 people in one LSOA,
#: the same for every domain. Total-population weights are off by up to 0.013 rank points in
#: any borough, and by more in the five boroughs with adult prisons (Greenwich E09000011,
#: Hammersmith & Fulham E09000013, Islington E09000019, Lambeth E09000022, Wandsworth
#: E09000032), whose "excluding prisoners" denominators are estimates; Hillingdon E09000017
#: (immigration removal centres) shows it for IDAOPI (0.017). Employment's working-age
#: (18-59/64) weights are off everywhere, by up to 1.08 rank points (City of London, 6 LSOAs):
#: probably fractional at source (women's pension age was moving), rounded for publication.
#: Local concentration depends on where 10% of the population falls, which moves with the
#: total (Camden E09000007: 0.031 rank points).
KNOWN_DEVIATIONS: dict[tuple[str, str], dict[str, float]] = {
    ("*", "average_rank"): {"*": 0.015},
    ("employment", "average_rank"): {"*": 1.1},
    ("imd", "average_rank"): {"E09000011": 0.02, "E09000013": 0.055},
    ("income", "average_rank"): {"E09000011": 0.015, "E09000013": 0.043},
    ("education", "average_rank"): {"E09000011": 0.015, "E09000013": 0.037},
    ("health", "average_rank"): {"E09000011": 0.033, "E09000013": 0.063},
    ("barriers", "average_rank"): {"E09000011": 0.036, "E09000013": 0.045},
    ("living_environment", "average_rank"): {"E09000011": 0.039},
    ("idaci", "average_rank"): {"E09000019": 0.076, "E09000022": 0.036, "E09000032": 0.168},
    ("idaopi", "average_rank"): {
        "E09000011": 0.377,
        "E09000013": 0.174,
        "E09000017": 0.017,
        "E09000019": 0.093,
        "E09000022": 0.181,
        "E09000032": 0.152,
    },
    ("imd", "extent"): {"E09000013": 0.000053},
    ("imd", "local_concentration"): {"E09000007": 0.031, "E09000011": 0.006, "E09000013": 0.011},
}


def _allowed(domain: str, measure: str, area: str) -> float:
    """Allowed |computed - published| for one borough, domain and measure."""
    tol = HALF_UNIT[measure] + INPUT_ROUNDING.get(measure, 0.0)
    for key in (("*", measure), (domain, measure)):
        extra = KNOWN_DEVIATIONS.get(key, {})
        tol = max(tol, extra.get("*", 0.0), extra.get(area, 0.0))
    return tol + 1e-9


@pytest.fixture(scope="module")
def london() -> pd.DataFrame:
    from canrank.loaders.iod import read_iod

    return read_iod(LONDON)


@pytest.fixture(scope="module")
def computed(london: pd.DataFrame) -> pd.DataFrame:
    return iod_summaries(london)


@pytest.fixture(scope="module")
def published_london() -> pd.DataFrame:
    return read_published_summaries(LONDON)


@pytest.fixture(scope="module")
def file10() -> pd.DataFrame:
    return read_published_summaries(FILE10)


def _merge(computed: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    merged = computed.merge(published, on=["area_code", "domain"], suffixes=("", "_pub"))
    return merged


@pytest.mark.realdata
@needs_mirror
def test_published_readers(published_london: pd.DataFrame, file10: pd.DataFrame) -> None:
    assert published_london.attrs["sheets"] == [
        "Borough summary measures",
        "Borough domain summaries",
        "Borough IDACI IDAOPI",
    ]
    assert len(published_london) == 33 * 10
    assert published_london["area_code"].nunique() == 33
    assert len(file10) == 317 * 10
    imd = file10[file10["domain"] == "imd"]
    assert imd[["extent", "local_concentration"]].notna().all().all()
    assert file10.loc[file10["domain"].isin(["income", "employment"]), "scale"].notna().all()
    assert file10.loc[~file10["domain"].isin(["income", "employment"]), "scale"].isna().all()
    # the GLA borough sheets are File 10's London rows, value for value
    london_rows = file10[file10["area_code"].str.startswith("E09")]
    m = published_london.merge(london_rows, on=["area_code", "domain"], suffixes=("", "_f10"))
    assert len(m) == 330
    for col in [c for c in published_london.columns if c not in ("area_code", "area_name",
                                                                   "domain")]:
        a, b = m[col].astype(float), m[f"{col}_f10"].astype(float)
        assert ((a - b).abs().fillna(0) == 0).all() and (a.isna() == b.isna()).all(), col


@pytest.mark.realdata
@needs_mirror
@pytest.mark.parametrize("source", ["london", "file10"])
@pytest.mark.parametrize("domain", list(DOMAINS))
def test_measures_match_published(
    computed: pd.DataFrame,
    published_london: pd.DataFrame,
    file10: pd.DataFrame,
    source: str,
    domain: str,
) -> None:
    published = published_london if source == "london" else file10
    m = _merge(computed[computed["domain"] == domain], published)
    assert len(m) == 33
    checked = 0
    for measure in HALF_UNIT:
        if m[f"{measure}_pub"].isna().all():
            assert measure in ("extent", "local_concentration") and domain != "imd"
            continue  # File 10 publishes extent and local concentration for the IMD only
        diff = (m[measure] - m[f"{measure}_pub"]).abs()
        allowed = [_allowed(domain, measure, a) for a in m["area_code"]]
        bad = m.loc[diff.to_numpy() > np.array(allowed), "area_code"].tolist()
        assert not bad, f"{domain} {measure}: {bad} max diff {diff.max():.6g}"
        checked += 1
    assert checked == (5 if domain == "imd" else 3)


@pytest.mark.realdata
@needs_mirror
def test_proportion_and_imd_average_score_exact(
    computed: pd.DataFrame, file10: pd.DataFrame
) -> None:
    m = _merge(computed, file10)
    prop = m["proportion_most_deprived_10"].round(4) - m["proportion_most_deprived_10_pub"]
    assert (prop.abs() < 1e-12).all()
    imd = m[m["domain"] == "imd"]
    assert (imd["average_score"].round(3) - imd["average_score_pub"]).abs().max() < 1e-9


@pytest.mark.realdata
@needs_mirror
@pytest.mark.parametrize("domain", ["income", "employment"])
def test_scale_matches_within_score_rounding(
    london: pd.DataFrame, computed: pd.DataFrame, file10: pd.DataFrame, domain: str
) -> None:
    """Scale = sum(score * denominator) reproduces the published scale up to the 3-dp rounding
    of the LSOA rates, i.e. |diff| <= 0.0005 * sum(denominator); see the note on Income."""
    m = _merge(computed[computed["domain"] == domain], file10).set_index("area_code")
    denominator = london.groupby("lad_code")[DOMAINS[domain].population].sum()
    bound = 0.0005 * denominator.reindex(m.index)
    ratio = (m["scale"] - m["scale_pub"]) / bound
    # The published LSOA rates are rounded to 3 dp, so sum(rate * denominator) can only be
    # compared with the published count to within that rounding. Employment stays inside it
    # (|ratio| <= 0.53). Income does not quite: the computed count is *always* larger, by 0.14%
    # to 1.0% (mean 0.35%), 1.29 times the rounding bound in the worst borough (City of London,
    # E09000001; largest absolute gap 165.8 people in Croydon, E09000008).
    # The LSOA rate's denominator must be slightly smaller than the published total population
    # (e.g. different prisoner or communal-establishment treatment); the data at hand cannot
    # resolve this, so Income is held to 1.3 times the bound and the bias is pinned.
    limit = 0.53 if domain == "employment" else 1.3
    assert ratio.abs().max() <= limit, ratio.abs().max()
    assert (ratio > 0).all()  # the systematic sign, for both domains


@pytest.mark.realdata
@needs_mirror
def test_ranks_order_boroughs_like_published(
    london: pd.DataFrame, computed: pd.DataFrame, file10: pd.DataFrame
) -> None:
    """Ranks among the 33 boroughs follow the published national ranks' order.

    The published ranks are among all 317 districts, so they cannot equal ranks among London's 33;
    re-ranking the published national ranks within London must give our ranks, except where
    two boroughs' measures are equal to the published precision or closer than the tolerance
    of the comparison above (e.g. Employment scale: Wandsworth 14,180.0 and Westminster
    14,187.5 published, 14,218.5 and 14,204.9 computed from 3-dp rates).
    """
    m = _merge(computed, file10)
    scale_bound = {
        d: 1.3 * 0.0005 * london.groupby("lad_code")[DOMAINS[d].population].sum()
        for d in ("income", "employment")
    }
    mismatches: list[str] = []
    for domain, measure in [(d, ms) for d in DOMAINS for ms in MEASURES]:
        part = m[m["domain"] == domain]
        if part[f"{measure}_rank_pub"].isna().all():
            continue
        ours = part[f"{measure}_rank"].astype(float)
        theirs = part[f"{measure}_rank_pub"].astype(float).rank(method="min")
        differ = part.loc[(ours != theirs).to_numpy()]
        for _, row in differ.iterrows():
            same_value = (part[f"{measure}_pub"] == row[f"{measure}_pub"]).sum() > 1
            tol = (
                _allowed(domain, measure, row["area_code"])
                if measure in HALF_UNIT
                else scale_bound[domain][row["area_code"]]
            )
            close = (part[measure] - row[measure]).abs().drop(row.name).min() < 2 * tol
            if not (same_value or close):
                mismatches.append(f"{domain}/{measure}/{row['area_code']}")
    assert not mismatches, mismatches


@pytest.mark.realdata
@pytest.mark.skipif(not FILE7_2015.exists(), reason=f"IoD 2015 File 7 not found in {MIRROR}")
def test_full_england_2015_self_consistency() -> None:
    """On all 32,844 LSOAs, ranks run over all 326 districts and England-wide totals hold."""
    from canrank.loaders.iod import read_iod

    iod = read_iod(FILE7_2015)
    out = iod_summaries(iod, domains=["imd", "income", "employment"])
    imd = out[out["domain"] == "imd"]
    assert len(imd) == iod["lad_code"].nunique() == 326
    assert sorted(imd["average_rank_rank"].tolist()) == list(range(1, 327))
    assert sorted(imd["average_score_rank"].tolist()) == list(range(1, 327))
    assert imd["proportion_most_deprived_10_rank"].min() == 1
    # every LSOA counted once: 3,284 LSOAs (ranks <= 32,844 / 10) are in the most deprived 10%
    n_lsoas = iod.groupby("lad_code").size().reindex(imd["area_code"]).to_numpy()
    assert (imd["proportion_most_deprived_10"].to_numpy() * n_lsoas).round().sum() == 3284
    # England as one group: population-weighted extent of a uniform distribution of ranks
    england = summary_measures(
        iod.assign(all="E92000001"),
        group="all",
        score="imd_score",
        rank="imd_rank",
        population="population",
        n_national=32844,
    )
    assert england.loc[0, "average_score"] == pytest.approx(
        np.average(iod["imd_score"], weights=iod["population"])
    )
    assert 0.18 < england.loc[0, "extent"] < 0.22  # ~ 0.1 + mean sliding weight * 0.2
    income = out[out["domain"] == "income"]
    assert income["scale"].sum() == pytest.approx(
        (iod["income_score"] * iod["population"]).sum()
    )
