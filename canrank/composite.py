"""The composite ranker: put indicators on a common scale, weight them, rank the areas.

Every transform works on the last axis of an array, so the same code ranks one scenario
(``n`` areas) or a whole Monte Carlo batch (``draws x n``) in one NumPy call. Normalised
values are oriented so that *higher means more stressed* whatever the indicator's direction.

Transforms (OECD/JRC Handbook on Constructing Composite Indicators, 2008, §5):
``raw``/``rate`` (the value as is), ``rank`` (percentile rank in (0, 1], average ranks for
ties), ``zscore``, ``minmax`` (0-1), and ``exp_rank``, the exponential transform of the rank
the IoD uses to combine domains (McLennan et al. 2019, IoD 2019 Technical Report, §3.5):
``X = -23 ln(1 - R (1 - exp(-100/23)))`` with R the rank scaled to (0, 1], 1 = most deprived.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "TRANSFORMS",
    "aggregate",
    "deciles",
    "exp_transform",
    "normalise",
    "rank_order",
    "ranks_from_scores",
    "winsorise",
]

_EXP_C = 1.0 - np.exp(-100.0 / 23.0)


def _oriented(values: np.ndarray, direction: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values if direction == "higher_is_worse" else -values


def exp_transform(scaled_rank: np.ndarray) -> np.ndarray:
    """IoD exponential transform of a rank scaled to (0, 1] (1 = most deprived); range 0-100."""
    return -23.0 * np.log1p(-np.asarray(scaled_rank, dtype=float) * _EXP_C)


def _identity(x: np.ndarray) -> np.ndarray:
    return x.copy()


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n along the last axis, ties sharing their average rank (``rankdata(method=
    "average")``; a row holding NaN is all NaN). Written here because importing
    ``scipy.stats`` costs about a second of every build."""
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    flat = x.reshape(-1, n)
    out = np.empty_like(flat)
    for i, row in enumerate(flat):
        if np.isnan(row).any():
            out[i] = np.nan
            continue
        order = np.argsort(row, kind="mergesort")
        ordered = row[order]
        new = np.empty(n, dtype=bool)
        new[:1] = True
        np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        ends = np.append(starts[1:], n)
        out[i, order] = ((starts + 1 + ends) / 2.0)[np.cumsum(new) - 1]
    return out.reshape(x.shape)


def _rank(x: np.ndarray) -> np.ndarray:
    """Average ranks for ties divided by n: the most stressed area scores 1."""
    return average_ranks(x) / x.shape[-1]


def _exp_rank(x: np.ndarray) -> np.ndarray:
    """The IoD exponential transform of the scaled rank (rank n = the most deprived)."""
    return exp_transform(_rank(x))


def _zscore(x: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, ddof=0, keepdims=True)
    return np.divide(x - mean, std, out=np.zeros_like(x), where=std > 0)


def _minmax(x: np.ndarray) -> np.ndarray:
    lo = x.min(axis=-1, keepdims=True)
    span = x.max(axis=-1, keepdims=True) - lo
    return np.divide(x - lo, span, out=np.zeros_like(x), where=span > 0)


#: The one registry of normalisations: name -> function of oriented values (higher = more
#: stressed) along the last axis. The config, the sensitivity design and the docs read it.
TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "raw": _identity,
    "rate": _identity,
    "rank": _rank,
    "zscore": _zscore,
    "minmax": _minmax,
    "exp_rank": _exp_rank,
}


def normalise(values: np.ndarray, transform: str, direction: str = "higher_is_worse") -> np.ndarray:
    """Normalise along the last axis so that higher = more stressed."""
    func = TRANSFORMS.get(transform)
    if func is None:
        raise ValueError(f"unknown transform {transform!r}; choose one of {', '.join(TRANSFORMS)}")
    return func(_oriented(values, direction))


def winsorise(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Clip values along the last axis to their ``low`` and ``high`` quantiles (outlier treatment
    before normalising, OECD/JRC Handbook §5.2)."""
    x = np.asarray(values, dtype=float)
    lo = np.quantile(x, low, axis=-1, keepdims=True)
    hi = np.quantile(x, high, axis=-1, keepdims=True)
    return np.clip(x, lo, hi)


def aggregate(
    normalised: np.ndarray, weights: np.ndarray | Sequence[float], method: str = "arithmetic"
) -> np.ndarray:
    """Combine normalised indicators (``... x n x m``) with weights (``m`` or ``... x m``).

    Weights are rescaled to sum to one. ``geometric`` needs strictly positive values (use
    ``rank``, ``exp_rank`` or ``minmax`` shifted away from zero) and is partially compensatory.
    """
    z = np.asarray(normalised, dtype=float)
    w = np.asarray(weights, dtype=float)
    w = w / w.sum(axis=-1, keepdims=True)
    if w.ndim > 1:
        w = w[..., None, :]
    if method == "arithmetic":
        return (z * w).sum(axis=-1)
    if method == "geometric":
        if (z <= 0).any():
            raise ValueError(
                "geometric aggregation needs strictly positive normalised values; "
                "use the rank or exp_rank transform"
            )
        return np.exp((np.log(z) * w).sum(axis=-1))
    raise ValueError(f"unknown aggregation {method!r} (arithmetic or geometric)")


def rank_order(scores: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Indices sorted most stressed first; ties broken by ``tiebreak`` ascending (LSOA code order).

    Scores are rounded to 12 significant decimals first so that floating-point noise from a
    different summation order never reorders two equal scores.
    """
    s = np.round(np.asarray(scores, dtype=float), 12)
    return np.lexsort((np.asarray(tiebreak), -s))


def ranks_from_scores(scores: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Rank 1 = highest score; deterministic (see :func:`rank_order`). Works on 1-D input."""
    order = rank_order(scores, tiebreak)
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def deciles(ranks: np.ndarray, n: int | None = None) -> np.ndarray:
    """Decile 1 = the most stressed 10% of the study area, from ranks 1..n."""
    r = np.asarray(ranks)
    n = n or len(r)
    return np.minimum(10, (np.ceil(r * 10 / n)).astype(int)).clip(1, 10)


def composite_frame(
    values: pd.DataFrame,
    *,
    transforms: Sequence[str],
    directions: Sequence[str],
    weights: Sequence[float],
    method: str = "arithmetic",
) -> tuple[pd.DataFrame, np.ndarray]:
    """Normalise each column of ``values`` and aggregate; returns (normalised frame, scores)."""
    cols = list(values.columns)
    norm = np.column_stack(
        [
            normalise(values[c].to_numpy(dtype=float), t, d)
            for c, t, d in zip(cols, transforms, directions, strict=True)
        ]
    )
    scores = aggregate(norm, np.asarray(weights, dtype=float), method)
    return pd.DataFrame(norm, index=values.index, columns=cols), scores
