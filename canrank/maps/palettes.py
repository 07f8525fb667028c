"""Class breaks and colours for the choropleths, shared by the interactive and the static map.

Colours come from matplotlib's registered colormaps (the ColorBrewer sequential ramps such as
``YlOrRd``, ``PuBu``, ``Purples`` are matplotlib's 9-class ColorBrewer data), resampled to exactly
``k`` evenly spaced colours from lightest to darkest, so every class count the config allows
(2-10) gets ``k`` distinct colours. For ``k = 3`` and ``k = 5`` these are exact members of the
9-class ColorBrewer set. An unknown palette name is a :class:`~canrank.errors.ConfigError`.

Breaks: the default ``quantiles`` scheme is ``numpy.quantile`` (mapclassify is imported only for
Fisher-Jenks, because its numba compilation costs seconds at import).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from canrank.errors import ConfigError

__all__ = ["SCHEMES", "assign_classes", "check_palette", "class_breaks", "colours"]

SCHEMES = ("quantiles", "fisher_jenks", "equal_interval")


@cache
def _names() -> frozenset[str]:
    from matplotlib import colormaps

    return frozenset(colormaps)


def check_palette(palette: str) -> str:
    """Return ``palette`` if matplotlib knows it, else raise ConfigError naming close matches."""
    names = _names()
    if palette in names:
        return palette
    import difflib

    close = difflib.get_close_matches(palette, sorted(names), n=3)
    raise ConfigError(
        f"unknown map palette {palette!r}",
        column="map.palette",
        hint="use a matplotlib colormap name such as YlOrRd, PuBu, Purples or viridis"
        + (f" (did you mean {', '.join(close)}?)" if close else ""),
    )


@cache
def colours(palette: str, k: int) -> tuple[str, ...]:
    """``k`` colours of ``palette`` from light to dark (hex ``#rrggbb``)."""
    if not 1 <= k <= 256:
        raise ConfigError(f"map class count k={k} is out of range", hint="use k from 2 to 10")
    check_palette(palette)
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps[palette].resampled(k)
    return tuple(to_hex(cmap(i), keep_alpha=False) for i in range(k))


def class_breaks(values: np.ndarray, scheme: str, k: int) -> np.ndarray:
    """Upper class bounds (ascending, unique; the last is the maximum) of the finite values."""
    vals = np.asarray(values, dtype=float)
    vals = vals[np.isfinite(vals)]
    if len(vals) == 0:
        return np.array([0.0])
    if scheme == "quantiles":
        bins = np.quantile(vals, np.arange(1, k + 1) / k)
    elif scheme == "equal_interval":
        lo, hi = float(vals.min()), float(vals.max())
        bins = lo + (hi - lo) * np.arange(1, k + 1) / k
    elif scheme == "fisher_jenks":
        import mapclassify

        bins = np.asarray(mapclassify.FisherJenksSampled(vals, k=k, truncate=False).bins)
    else:
        raise ConfigError(
            f"unknown map scheme {scheme!r}", column="map.scheme", hint=f"use one of {SCHEMES}"
        )
    bins = np.asarray(bins, dtype=float)
    bins[-1] = vals.max()
    return np.unique(bins)


def assign_classes(values: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Class index per value (``v <= bins[j]`` goes to the first such ``j``); NaN -> class 0."""
    vals = np.asarray(values, dtype=float)
    cls = np.searchsorted(bins, np.nan_to_num(vals, nan=-np.inf), side="left")
    return cls.clip(0, len(bins) - 1).astype(int)
