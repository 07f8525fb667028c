"""Composite diagnostics: correlations, effective importance, redundancy and containment
warnings, the overlap correction, the leave-one-out hook, and the real London proxies scenario."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from canrank.analysis.diagnostics import (
    CORRECTION_TOLERANCE,
    correct_weights,
    diagnostics,
    diagnostics_lines,
    diagnostics_table_html,
    effective_shares,
    leave_one_out_scores,
    main_effects,
    selection_changes,
    spearman_matrix,
    with_selection_changes,
)
from canrank.composite import aggregate, normalise
from canrank.config import Config, ResolvedScenario
from canrank.ranking import rank_study
from canrank.study import Study

N = 400


def scenario(
    indicators: dict[str, tuple[str, str]],
    weights: dict[str, float] | None = None,
    *,
    labels: dict[str, str] | None = None,
    **options: Any,
) -> ResolvedScenario:
    """A resolved scenario over catalogue sources (no files are read to resolve it)."""
    labels = labels or {}
    data = {
        "version": 1,
        "default_scenario": "s",
        "population": {"source": "iod2015_file7", "column": "population"},
        "areas": {"a": {"label": "Area", "boundaries": "london_lsoa_2011"}},
        "indicators": {
            k: {"label": labels.get(k, f"indicator {k}"), "source": s, "column": c}
            for k, (s, c) in indicators.items()
        },
        "scenarios": {
            "s": {
                "description": "test",
                "area": "a",
                "weights": weights or {k: 1 for k in indicators},
                **options,
            }
        },
    }
    return Config.model_validate(data).resolve("s")


LONELY = ("ageuk_loneliness_london", "loneliness_prevalence")  # not an IoD measure


def generic(keys: list[str], **kw: Any) -> ResolvedScenario:
    return scenario({k: LONELY for k in keys}, **kw)


def ranked_frame(columns: dict[str, np.ndarray], sc: ResolvedScenario) -> pd.DataFrame:
    """What rank_study produces, from raw columns (rank transform, nominal weights)."""
    n = len(next(iter(columns.values())))
    out = pd.DataFrame({"lsoa_code": [f"E01{i:06d}" for i in range(n)]})
    for ind in sc.indicators:
        out[f"{ind.key}_norm"] = normalise(columns[ind.key], "rank")
    norm = out[[f"{i.key}_norm" for i in sc.indicators]].to_numpy()
    out["score"] = aggregate(norm, [i.weight for i in sc.indicators], sc.aggregation)
    return out


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=N)
    return {
        "a": x,
        "b": x.copy(),  # identical to a
        "c": rng.normal(size=N),  # independent
        "d": rng.normal(size=N),  # independent
        "e": rng.normal(size=N),  # independent
        "mixed": 0.6 * x + 0.8 * rng.normal(size=N),  # moderately related to a
    }


def kinds(d: dict[str, Any], kind: str) -> list[list[str]]:
    return [w["indicators"] for w in d["warnings"] if w["kind"] == kind]


# ---------------------------------------------------------------- known answers


def test_identical_pair_warns_and_gets_equal_effective_weights(data) -> None:
    sc = generic(["a", "b", "c"])
    d = diagnostics(ranked_frame(data, sc), sc)
    rows = {r["key"]: r for r in d["indicators"]}
    assert kinds(d, "correlation") == [["a", "b"]]
    warn = next(w for w in d["warnings"] if w["kind"] == "correlation")
    assert warn["value"] == 1.0 and "a and b" in warn["text"] and "1.000" in warn["text"]
    assert rows["a"]["effective_share"] == rows["b"]["effective_share"]
    # theory: y = (2x + z)/3 -> R^2 = 4/5 and 1/5 -> shares 4/9, 4/9, 1/9
    assert rows["a"]["effective_share"] == pytest.approx(4 / 9, abs=0.02)
    assert rows["c"]["effective_share"] == pytest.approx(1 / 9, abs=0.02)
    assert rows["c"]["nominal_weight"] == pytest.approx(1 / 3, abs=1e-4)
    assert ["c"] in kinds(d, "imbalance")
    assert d["spearman"]["matrix"][0][1] == 1.0


def test_independent_indicators_raise_no_warning() -> None:
    rng = np.random.default_rng(11)
    big = {k: rng.normal(size=20_000) for k in ("c", "d", "e")}  # sampling error of r ~ 0.007
    sc = generic(["c", "d", "e"])
    d = diagnostics(ranked_frame(big, sc), sc)
    assert d["warnings"] == []
    for row in d["indicators"]:
        assert row["effective_share"] == pytest.approx(1 / 3, abs=0.01)
    off = [abs(v) for i, r in enumerate(d["spearman"]["matrix"]) for j, v in enumerate(r) if i != j]
    assert max(off) < 0.03
    assert d["pc1_share"] < 0.45


def test_an_independent_indicator_beside_a_redundant_pair_is_not_named(data) -> None:
    sc = generic(["a", "b", "c"])
    d = diagnostics(ranked_frame(data, sc), sc)
    for pair in kinds(d, "correlation"):
        assert "c" not in pair


def test_threshold_is_stated_and_respected(data) -> None:
    sc = generic(["a", "mixed"])
    frame = ranked_frame(data, sc)
    rho = spearman_matrix(frame[["a_norm", "mixed_norm"]].to_numpy())[0, 1]
    assert 0.4 < rho < 0.8
    assert kinds(diagnostics(frame, sc), "correlation") == []
    low = diagnostics(frame, sc, threshold=round(rho - 0.01, 2))
    assert kinds(low, "correlation") == [["a", "mixed"]]
    assert low["method"]["redundancy_threshold"] == round(rho - 0.01, 2)


def test_main_effect_is_the_squared_correlation(data) -> None:
    x = np.column_stack([data["a"], data["c"]])
    y = x @ np.array([0.7, 0.3])
    r = [np.corrcoef(x[:, j], y)[0, 1] ** 2 for j in range(2)]
    assert main_effects(x, y) == pytest.approx(r)
    assert effective_shares(x, [0.7, 0.3]).sum() == pytest.approx(1.0)


def test_negative_correlation_is_noted(data) -> None:
    sc = generic(["a", "c"])
    frame = ranked_frame({"a": data["a"], "c": -data["a"] + 0.5 * data["c"]}, sc)
    assert kinds(diagnostics(frame, sc), "negative_correlation") == [["a", "c"]]


def test_a_constant_indicator_does_not_break_anything(data) -> None:
    sc = generic(["a", "c"])
    frame = ranked_frame({"a": data["a"], "c": np.ones(N)}, sc)
    d = diagnostics(frame, sc)
    json.dumps(d, allow_nan=False)
    rows = {r["key"]: r for r in d["indicators"]}
    assert rows["c"]["main_effect"] == 0.0
    assert d["spearman"]["matrix"][0][1] is None


# ---------------------------------------------------------------- overlap correction


def test_correction_equalises_effective_and_nominal_shares(data) -> None:
    x = np.column_stack([normalise(data[k], "rank") for k in ("a", "b", "c")])
    res = correct_weights(x, [1, 1, 1])
    assert res.converged
    assert np.abs(res.effective_shares - 1 / 3).max() <= CORRECTION_TOLERANCE
    # the identical pair shares what the independent indicator gets on its own
    assert res.weights == pytest.approx([0.25, 0.25, 0.5], abs=0.01)
    assert res.weights[0] == pytest.approx(res.weights[1])
    assert res.weights.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("aggregation", ["arithmetic", "geometric"])
def test_correction_reaches_unequal_targets(data, aggregation: str) -> None:
    x = np.column_stack([normalise(data[k], "rank") for k in ("a", "mixed", "c")])
    target = np.array([0.5, 0.3, 0.2])
    res = correct_weights(x, target * 10, aggregation)
    assert res.converged, res.max_gap
    assert np.abs(effective_shares(x, res.weights, aggregation) - target).max() <= (
        CORRECTION_TOLERANCE + 1e-9
    )


def test_correction_leaves_a_constant_indicator_at_its_weight(data) -> None:
    x = np.column_stack([normalise(data[k], "rank") for k in ("a", "b", "c")] + [np.ones(N)])
    res = correct_weights(x, [1, 1, 1, 1])
    assert res.converged and res.fixed == (3,)
    assert res.weights[3] == pytest.approx(0.25)
    # the others share the rest as they would on their own: 1 : 1 : 2
    assert res.weights[:3] / res.weights[:3].sum() == pytest.approx([0.25, 0.25, 0.5], abs=0.01)


def test_correction_is_deterministic(data) -> None:
    x = np.column_stack([normalise(data[k], "rank") for k in ("a", "mixed", "c")])
    one, two = correct_weights(x, [1, 2, 1]), correct_weights(x, [1, 2, 1])
    assert one.weights.tobytes() == two.weights.tobytes()
    assert one.iterations == two.iterations


def study_of(sc: ResolvedScenario, columns: dict[str, np.ndarray]) -> Study:
    codes = [f"E01{i:06d}" for i in range(N)]
    lsoa = gpd.GeoDataFrame(
        {"lsoa_code": codes}, geometry=gpd.points_from_xy(range(N), range(N)), crs="EPSG:27700"
    )
    values = pd.DataFrame({i.key: columns[i.key] for i in sc.indicators})
    return Study(scenario=sc, lsoa=lsoa, values=values, located={})


def test_scenario_option_applies_the_correction_in_the_ranking(data) -> None:
    plain = generic(["a", "b", "c"])
    fixed = generic(["a", "b", "c"], overlap_correction="effective_weights")
    assert plain.overlap_correction == "none"
    assert fixed.overlap_correction == "effective_weights"
    ranked_plain = rank_study(study_of(plain, data))
    ranked = rank_study(study_of(fixed, data))
    assert ranked_plain.attrs["weights_used"] == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    used = ranked.attrs["weights_used"]
    assert used["c"] == pytest.approx(0.5, abs=0.01)
    contributions = ranked[[f"{k}_contribution" for k in "abc"]].sum(axis=1)
    assert contributions.to_numpy() == pytest.approx(ranked["score"].to_numpy())
    d = diagnostics(ranked, fixed)
    assert d["correction"]["applied"] is True and d["correction"]["mode"] == "effective_weights"
    for row in d["indicators"]:
        assert row["weight_used"] == pytest.approx(used[row["key"]], abs=1e-4)
        assert row["effective_share"] == pytest.approx(1 / 3, abs=CORRECTION_TOLERANCE + 1e-4)
    assert "Overlap correction applied" in "\n".join(diagnostics_lines(d))
    # without the option the nominal weights are kept, and the corrected ones only suggested
    d0 = diagnostics(ranked_plain, plain)
    assert d0["correction"]["applied"] is False
    assert [r["weight_used"] for r in d0["indicators"]] == [0.3333] * 3
    assert d0["correction"]["weights"]["c"] == pytest.approx(0.5, abs=0.01)


def test_unknown_correction_mode_is_refused() -> None:
    with pytest.raises(ValidationError, match="overlap_correction"):
        generic(["a"], overlap_correction="pca")


# ---------------------------------------------------------------- catalogue containment

F7 = "iod2015_file7"


def test_containment_from_the_catalogue_names_the_pair_and_share() -> None:
    sc = scenario(
        {
            "imd": (F7, "imd_score"),
            "income": (F7, "income_score"),
            "kids": (F7, "idaci_score"),
            "lonely": LONELY,
        }
    )
    rng = np.random.default_rng(1)
    frame = ranked_frame({k: rng.normal(size=N) for k in ("imd", "income", "kids", "lonely")}, sc)
    d = diagnostics(frame, sc)
    pairs = kinds(d, "containment")
    assert ["imd", "income"] in pairs and ["imd", "kids"] in pairs and ["income", "kids"] in pairs
    assert all("lonely" not in p for p in pairs)
    texts = {tuple(w["indicators"]): w for w in d["warnings"] if w["kind"] == "containment"}
    assert "22.5 % of the IMD" in texts[("imd", "income")]["text"]
    assert texts[("imd", "income")]["value"] == 0.225
    assert "IDACI is part of the Income domain" in texts[("imd", "kids")]["text"]
    # nominal weight by IoD domain: income 1/4 + 1/4 + 1/4 x 22.5 %, the rest shared out
    assert d["iod_domain_weight"]["income"] == pytest.approx(0.25 + 0.25 + 0.25 * 0.225, abs=1e-4)
    assert d["iod_domain_weight"]["other"] == 0.25
    rows = {r["key"]: r["iod_measure"] for r in d["indicators"]}
    assert rows == {"imd": "imd", "income": "income", "kids": "idaci", "lonely": None}


def test_a_counted_source_overlaps_the_imd() -> None:
    sc = scenario(
        {"imd": (F7, "imd_score"), "pc": ("dwp_pc_lsoa_2016_11", "claimants")},
    )
    rng = np.random.default_rng(2)
    d = diagnostics(ranked_frame({"imd": rng.normal(size=N), "pc": rng.normal(size=N)}, sc), sc)
    assert kinds(d, "overlap") == [["imd", "pc"]]
    text = next(w["text"] for w in d["warnings"] if w["kind"] == "overlap")
    assert "Pension Credit" in text and "IDAOPI" in text
    # Pension Credit counts as income deprivation when the weight is followed into the domains
    assert d["iod_domain_weight"]["income"] == pytest.approx(0.5 + 0.5 * 0.225, abs=1e-4)


def test_local_iod_sources_are_recognised_when_their_loader_is_given() -> None:
    sc = scenario({"imd": (F7, "imd_score"), "income": (F7, "income_score")})
    # the same columns from a user's own IoD file (loader given by the caller)
    sc2 = sc.model_copy(
        update={"indicators": tuple(i.model_copy(update={"source": "mine"}) for i in sc.indicators)}
    )
    rng = np.random.default_rng(3)
    frame = ranked_frame({"imd": rng.normal(size=N), "income": rng.normal(size=N)}, sc2)
    assert kinds(diagnostics(frame, sc2), "containment") == []
    assert kinds(diagnostics(frame, sc2, source_loaders={"mine": "iod"}), "containment") == [
        ["imd", "income"]
    ]


# ---------------------------------------------------------------- leave-one-out hook


def top_rows(k: int):
    def selector(scores: np.ndarray) -> np.ndarray:
        return np.argsort(-np.round(scores, 12), kind="stable")[:k]

    return selector


def test_leaving_out_one_of_two_identical_indicators_changes_nothing(data) -> None:
    sc = generic(["a", "b"])
    frame = ranked_frame(data, sc)
    assert selection_changes(frame, sc, top_rows(40)) == {"a": 0.0, "b": 0.0}


def test_leaving_out_an_independent_indicator_changes_most_of_the_selection(data) -> None:
    sc = generic(["a", "c"])
    frame = ranked_frame(data, sc)
    loo = leave_one_out_scores(frame, sc)
    assert loo["a"] == pytest.approx(frame["c_norm"].to_numpy())
    changes = selection_changes(frame, sc, top_rows(40))
    assert changes["a"] > 0.4 and changes["c"] > 0.4
    d = with_selection_changes(diagnostics(frame, sc), changes)
    assert [r["selection_change"] for r in d["indicators"]] == [changes["a"], changes["c"]]
    assert "CAN LSOAs changed if left out" in "\n".join(diagnostics_lines(d))
    assert "CAN LSOAs changed if left out" in diagnostics_table_html(d)


# ---------------------------------------------------------------- output forms


def test_record_is_json_deterministic_and_rounded(data) -> None:
    sc = generic(["a", "mixed", "c"])
    frame = ranked_frame(data, sc)
    one = json.dumps(diagnostics(frame, sc), sort_keys=True, allow_nan=False)
    two = json.dumps(diagnostics(frame.copy(), sc), sort_keys=True, allow_nan=False)
    assert one == two
    d = json.loads(one)
    for row in d["indicators"]:
        for value in (row["main_effect"], row["effective_share"]):
            assert value == round(value, 4)


def test_text_and_html_forms(data) -> None:
    sc = generic(["a", "b", "c"], labels={"a": "<script>alert(1)</script> & co"})
    d = diagnostics(ranked_frame(data, sc), sc)
    lines = diagnostics_lines(d)
    assert any(line.startswith("  warning: a and b are strongly correlated") for line in lines)
    assert any("Spearman correlations between indicators" in line for line in lines)
    page = diagnostics_table_html(d)
    assert "<script>" not in page and "&lt;script&gt;" in page and "&amp; co" in page
    assert page.count("<tr>") == (1 + 3) + (1 + 3)  # header + 3 rows; header + 3 matrix rows
    assert "a and b are strongly correlated" in page


# ---------------------------------------------------------------- real London data


@pytest.fixture(scope="module")
def london_ranked(mirror: Path, tmp_path_factory: pytest.TempPathFactory):
    """The proxies scenario loaded and ranked (no contiguity, no selection: cheap)."""
    from canrank.config import load_config
    from canrank.study import prepare_study

    from conftest import CONFIG

    config = load_config(CONFIG)
    sc = config.resolve("lcc-2017-proxies")
    study = prepare_study(config, sc, raw_dir=tmp_path_factory.mktemp("raw"), mirror=mirror)
    return sc, rank_study(study)


@pytest.mark.realdata
def test_london_proxies_raise_the_overlap_warning(london_ranked) -> None:
    sc, ranked = london_ranked
    d = diagnostics(ranked, sc)
    assert d["n_lsoas"] == 4835
    containment = kinds(d, "containment")
    # the three proxies are the Income domain and two of its parts, all inside the IMD
    for pair in (
        ["imd", "housing_benefit"],
        ["imd", "children_low_income"],
        ["imd", "pension_credit"],
        ["housing_benefit", "children_low_income"],
        ["housing_benefit", "pension_credit"],
    ):
        assert pair in containment
    assert ["imd", "housing_benefit"] in kinds(d, "correlation")
    corr = next(w for w in d["warnings"] if w["indicators"] == ["imd", "housing_benefit"])
    assert corr["value"] >= 0.9
    assert d["iod_domain_weight"]["income"] == pytest.approx(0.806, abs=1e-3)
    assert any(w["kind"] == "domain_weight" for w in d["warnings"])
    assert d["pc1_share"] > 0.8
    shares = [r["effective_share"] for r in d["indicators"]]
    assert sum(shares) == pytest.approx(1.0, abs=1e-3)
    assert d["correction"]["applied"] is False
    json.dumps(d, allow_nan=False)
