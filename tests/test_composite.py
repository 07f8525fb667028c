"""Composite ranker: each transform pinned to hand-computed values, aggregation and tie-breaking."""

from __future__ import annotations

import math

import numpy as np
import pytest

from canrank.composite import (
    aggregate,
    average_ranks,
    deciles,
    exp_transform,
    normalise,
    rank_order,
    ranks_from_scores,
)

VALUES = np.array([3.0, 1.0, 4.0, 1.0, 5.0])


def test_rank_is_percentile_with_average_ties() -> None:
    # sorted: 1,1,3,4,5 -> ranks 1.5,1.5,3,4,5 over n=5
    assert normalise(VALUES, "rank").tolist() == [0.6, 0.3, 0.8, 0.3, 1.0]


@pytest.mark.parametrize("shape", [(1,), (9,), (4, 60), (2, 3, 25)])
def test_average_ranks_equal_scipy_rankdata(shape: tuple[int, ...]) -> None:
    from scipy.stats import rankdata

    rng = np.random.default_rng(len(shape))
    x = rng.integers(0, 7, size=shape).astype(float)  # many ties
    assert np.array_equal(average_ranks(x), rankdata(x, method="average", axis=-1))
    y = x.copy()
    y.reshape(-1, shape[-1])[0, 0] = np.nan  # a row with NaN is NaN, as scipy propagates
    assert np.array_equal(average_ranks(y), rankdata(y, axis=-1), equal_nan=True)


def test_lower_is_worse_reverses_order() -> None:
    assert normalise(VALUES, "rank", "lower_is_worse").tolist() == [0.6, 0.9, 0.4, 0.9, 0.2]
    assert normalise(VALUES, "raw", "lower_is_worse").tolist() == [-3, -1, -4, -1, -5]


def test_zscore_and_minmax() -> None:
    z = normalise(VALUES, "zscore")
    mean, sd = 2.8, math.sqrt(((VALUES - 2.8) ** 2).mean())
    assert z == pytest.approx((VALUES - mean) / sd)
    assert normalise(VALUES, "minmax").tolist() == pytest.approx([0.5, 0.0, 0.75, 0.0, 1.0])
    assert normalise(np.ones(4), "zscore").tolist() == [0, 0, 0, 0]
    assert normalise(np.ones(4), "minmax").tolist() == [0, 0, 0, 0]


def test_exp_rank_matches_iod_formula() -> None:
    # X = -23 ln(1 - R (1 - exp(-100/23))); R = 1 gives 100, R = 0.5 gives ~15.65
    assert exp_transform(np.array([1.0]))[0] == pytest.approx(100.0)
    half = -23 * math.log(1 - 0.5 * (1 - math.exp(-100 / 23)))
    assert exp_transform(np.array([0.5]))[0] == pytest.approx(half)
    assert half == pytest.approx(15.647, abs=0.001)
    out = normalise(np.array([10.0, 20.0, 30.0, 40.0]), "exp_rank")
    assert out[-1] == pytest.approx(100.0)
    assert np.all(np.diff(out) > 0)


def test_unknown_transform() -> None:
    with pytest.raises(ValueError, match="unknown transform"):
        normalise(VALUES, "log")


def test_transforms_are_vectorised_over_draws() -> None:
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(4, 50))
    for t in ("rank", "zscore", "minmax", "exp_rank"):
        stacked = normalise(batch, t)
        for d in range(4):
            assert stacked[d] == pytest.approx(normalise(batch[d], t))


def test_aggregation_weights_and_geometric() -> None:
    z = np.array([[0.2, 0.8], [0.5, 0.5]])
    assert aggregate(z, [1, 3]).tolist() == pytest.approx([0.65, 0.5])
    geo = aggregate(z, [1, 1], "geometric")
    assert geo.tolist() == pytest.approx([0.4, 0.5])
    with pytest.raises(ValueError, match="strictly positive"):
        aggregate(np.array([[0.0, 1.0]]), [1, 1], "geometric")
    draws = aggregate(np.stack([z, z]), np.array([[1, 0], [0, 1]]))
    np.testing.assert_allclose(draws, [[0.2, 0.5], [0.8, 0.5]])


def test_ties_broken_by_code_order() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.9 + 1e-15])
    codes = np.array(["E4", "E3", "E1", "E2"])
    # 0.9 and 0.9+1e-15 are equal after rounding: E2 before E3; then E1 before E4
    assert rank_order(scores, codes).tolist() == [3, 1, 2, 0]
    assert ranks_from_scores(scores, codes).tolist() == [4, 2, 3, 1]


def test_deciles() -> None:
    assert deciles(np.arange(1, 21)).tolist() == [i for i in range(1, 11) for _ in range(2)]
    assert deciles(np.array([1, 3284, 3285, 32844]), 32844).tolist() == [1, 1, 2, 10]


def test_winsorise_clips_to_quantiles() -> None:
    from canrank.composite import winsorise

    x = np.array([0.0, 1.0, 2.0, 3.0, 100.0])
    out = winsorise(x, 0.0, 0.75)
    assert out.tolist() == [0.0, 1.0, 2.0, 3.0, 3.0]
    # 2-D: each draw clipped on its own
    both = winsorise(np.stack([x, x * 2]), 0.25, 0.75)
    assert both[1].tolist() == [2.0, 2.0, 4.0, 6.0, 6.0]
