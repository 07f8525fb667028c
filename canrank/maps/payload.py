"""The data a map page carries: one geometry payload, and one view per scenario shown.

The geometry (LSOAs, boroughs) is written once per file; a view holds what differs between
scenarios (indicator values, classes, ranks, CANs). Both are plain JSON built here from the
pipeline's frames; the page's script turns them into Leaflet layers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import shapely

from canrank.maps import geometry as geo

__all__ = [
    "MeasureSpec",
    "PreparedGeometry",
    "class_breaks",
    "colours",
    "geometry_payload",
    "prepare",
    "script_json",
    "view_payload",
]

_SCHEMES = {
    "quantiles": "Quantiles",
    "fisher_jenks": "FisherJenksSampled",
    "equal_interval": "EqualInterval",
}
#: ColorBrewer sequential palettes (colour-blind safe, Harrower & Brewer 2003), 3-9 classes.
PALETTES = {
    "YlOrRd": ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"],
    "PuBu": ["#f1eef6", "#d0d1e6", "#a6bddb", "#74a9cf", "#3690c0", "#0570b0", "#034e7b"],
    "Purples": ["#f2f0f7", "#dadaeb", "#bcbddc", "#9e9ac8", "#807dba", "#6a51a3", "#4a1486"],
}
_DIRECTION = {
    "higher_is_worse": "Darker = more stressed (higher values are worse); rank 1 = most stressed",
    "lower_is_worse": "Darker = more stressed (lower values are worse); rank 1 = most stressed",
}


@dataclass(frozen=True)
class MeasureSpec:
    """One colourable measure: the composite score or an indicator's raw value."""

    key: str
    column: str
    label: str
    direction: str = "higher_is_worse"
    reference_date: str | None = None


@dataclass(frozen=True)
class PreparedGeometry:
    """Simplified coverage of the study area, in the LSOA order every view must follow."""

    codes: np.ndarray
    names: np.ndarray
    borough_index: np.ndarray
    borough_names: list[str]
    lsoa_bng: np.ndarray  # simplified, EPSG:27700 (for CAN outlines and the static map)
    lsoa_wgs: np.ndarray
    borough_bng: np.ndarray
    borough_wgs: np.ndarray
    crs: Any


def class_breaks(values: np.ndarray, scheme: str, k: int) -> np.ndarray:
    """Upper class bounds from mapclassify (sampled Fisher-Jenks keeps this fast without numba)."""
    name = _SCHEMES[scheme]
    kwargs: dict[str, Any] = {"k": k}
    if name == "FisherJenksSampled":
        kwargs["truncate"] = False
    values = np.asarray(values, dtype=float)
    classifier = getattr(mapclassify, name)(values[~np.isnan(values)], **kwargs)
    return np.unique(np.asarray(classifier.bins, dtype=float))


def colours(palette: str, k: int) -> list[str]:
    """``k`` colours spread over a ColorBrewer sequential palette, light to dark."""
    base = PALETTES.get(palette, PALETTES["YlOrRd"])
    idx = np.linspace(0, len(base) - 1, k).round().astype(int)
    return [base[i] for i in idx]


def _num(value: float, digits: int = 4) -> float | None:
    """Round to ``digits`` significant figures (smaller JSON, same display)."""
    if value is None or not np.isfinite(value):
        return None
    return float(f"{float(value):.{digits}g}")


def _label(value: float) -> str:
    return f"{float(value):.4g}"


def prepare(
    lsoa: gpd.GeoDataFrame, boroughs: gpd.GeoDataFrame | None, simplify_m: float
) -> PreparedGeometry:
    """Coverage-simplify the LSOAs (and boroughs), sorted by LSOA code for a stable page."""
    frame = lsoa.sort_values("lsoa_code", kind="stable")
    crs = frame.crs
    if crs is not None and not crs.is_projected:
        frame = frame.to_crs(27700)
        crs = frame.crs
    cov = geo.simplify_coverage(geo.build_coverage(frame.geometry.to_numpy()), simplify_m)
    codes_b, b_index = np.unique(frame["borough_code"].astype(str).to_numpy(), return_inverse=True)
    names_by_code = dict(zip(frame["borough_code"], frame["borough_name"], strict=False))
    if boroughs is not None and len(boroughs):
        bframe = boroughs.to_crs(crs).set_index(boroughs["borough_code"].astype(str))
        names_by_code.update(dict(zip(bframe.index, bframe["borough_name"], strict=False)))
        shapes = bframe.geometry.reindex(codes_b)
        missing = shapes.isna().to_numpy()
        bgeoms = shapes.to_numpy().copy()
        if missing.any():
            dis = geo.dissolve(cov, frame["borough_code"].astype(str).to_numpy())
            for j in np.flatnonzero(missing):
                bgeoms[j] = dis[codes_b[j]]
        bgeoms = np.asarray(bgeoms, dtype=object)
        btol = simplify_m
        bgeoms = geo.simplify_coverage(geo.build_coverage(bgeoms), btol)
    else:
        dis = geo.dissolve(cov, frame["borough_code"].astype(str).to_numpy())
        bgeoms = np.array([dis[c] for c in codes_b], dtype=object)
    return PreparedGeometry(
        codes=frame["lsoa_code"].astype(str).to_numpy(),
        names=frame["lsoa_name"].astype(str).to_numpy(),
        borough_index=b_index.astype(int),
        borough_names=[str(names_by_code.get(c, c)) for c in codes_b],
        lsoa_bng=cov,
        lsoa_wgs=geo.to_wgs84(cov, crs),
        borough_bng=bgeoms,
        borough_wgs=geo.to_wgs84(bgeoms, crs),
        crs=crs,
    )


def geometry_payload(prep: PreparedGeometry) -> dict[str, Any]:
    """LSOA and borough geometry as delta-encoded integers, with names and codes."""
    minx, miny, maxx, maxy = shapely.total_bounds(prep.lsoa_wgs)
    return {
        "quantum": geo.QUANTUM,
        "bounds": [round(float(v), 5) for v in (minx, miny, maxx, maxy)],
        "lsoa": {
            "code": prep.codes.tolist(),
            "name": prep.names.tolist(),
            "borough": prep.borough_index.tolist(),
            "geom": [geo.encode(g) for g in prep.lsoa_wgs],
        },
        "boroughs": {
            "name": prep.borough_names,
            "geom": [geo.encode(g) for g in prep.borough_wgs],
        },
    }


def _ranks(values: np.ndarray, direction: str) -> np.ndarray:
    s = pd.Series(values)
    return s.rank(ascending=direction == "lower_is_worse", method="min").astype(int).to_numpy()


def _measure(
    spec: MeasureSpec, values: np.ndarray, scheme: str, k: int, palette: str, ranks: np.ndarray
) -> dict[str, Any]:
    bins = class_breaks(values, scheme, k)
    cols = colours(palette, len(bins))
    if spec.direction == "lower_is_worse":
        cols = cols[::-1]
    cls = np.searchsorted(bins, values, side="left").clip(0, len(bins) - 1)
    lows = [float(np.nanmin(values)), *bins[:-1].tolist()]
    classes = [
        f"{_label(lo)} to {_label(hi)}" if j == 0 else f"over {_label(lo)} to {_label(hi)}"
        for j, (lo, hi) in enumerate(zip(lows, bins, strict=True))
    ]
    label = spec.label + (f" ({spec.reference_date})" if spec.reference_date else "")
    return {
        "key": spec.key,
        "label": label,
        "direction_note": _DIRECTION.get(spec.direction, _DIRECTION["higher_is_worse"]),
        "colours": cols,
        "classes": classes,
        "counts": np.bincount(cls, minlength=len(bins)).tolist(),
        "cls": "".join(chr(48 + int(c)) for c in cls),
        "value": [_num(v) for v in values],
        "rank": ranks.tolist(),
    }


def view_payload(
    prep: PreparedGeometry,
    lsoa: pd.DataFrame,
    cans: pd.DataFrame,
    *,
    title: str,
    notes: Sequence[str],
    measures: Sequence[MeasureSpec],
    scheme: str,
    k: int,
    palette: str,
    area: str = "Study area",
    changed: Sequence[int] = (),
    changed_note: str = "",
) -> dict[str, Any]:
    """Values, classes, ranks and CANs of one scenario, in ``prep``'s LSOA order."""
    frame = lsoa.set_index(lsoa["lsoa_code"].astype(str)).reindex(prep.codes)
    if frame["score"].isna().any():
        raise ValueError("the LSOA frame does not cover the prepared geometry")
    score = frame["score"].to_numpy(dtype=float)
    comp = MeasureSpec("score", "score", "Composite score", "higher_is_worse")
    out_measures = [_measure(comp, score, scheme, k, palette, frame["rank"].to_numpy(int))]
    for spec in measures:
        vals = frame[spec.column].to_numpy(dtype=float)
        out_measures.append(_measure(spec, vals, scheme, k, palette, _ranks(vals, spec.direction)))
    if "can_id" in frame.columns:
        can_ids = pd.to_numeric(frame["can_id"], errors="coerce").fillna(0).astype(int).to_numpy()
    else:
        can_ids = np.zeros(len(frame), dtype=int)
    pop = frame["population"].to_numpy(dtype=float)
    changed_set = {int(c) for c in changed}
    can_rows = []
    for _, c in cans.sort_values("can_id").iterrows():
        cid = int(c["can_id"])
        members = can_ids == cid
        outline = shapely.coverage_union_all(prep.lsoa_bng[members])
        outline_wgs = geo.to_wgs84(np.array([outline], dtype=object), prep.crs)[0]
        profile = [
            [
                "Composite score",
                _num(np.average(score[members], weights=pop[members])),
                _num(np.median(score)),
            ]
        ]
        for spec in measures:
            vals = frame[spec.column].to_numpy(dtype=float)
            profile.append(
                [
                    spec.label,
                    _num(np.average(vals[members], weights=pop[members])),
                    _num(np.median(vals)),
                ]
            )
        can_rows.append(
            {
                "id": cid,
                "name": str(c["name"]),
                "population": round(float(c["population"])),
                "n_lsoas": int(c["n_lsoas"]),
                "boroughs": str(c.get("boroughs", "")),
                "mean_score": _num(float(c["mean_score"])),
                "best_rank": int(c["best_rank"]) if "best_rank" in c else None,
                "changed": cid in changed_set,
                "label": [round(float(v), 5) for v in geo.label_points([outline_wgs])[0]],
                "geom": geo.encode(outline_wgs),
                "profile": profile,
            }
        )
    sources = [[s.label, s.reference_date or "not stated"] for s in measures]
    return {
        "title": title,
        "notes": list(notes),
        "area": area,
        "measures": out_measures,
        "decile": frame["decile"].to_numpy(int).tolist(),
        "can": can_ids.tolist(),
        "cans": can_rows,
        "sources": sources,
        "scheme_note": f"Classes: {scheme.replace('_', ' ')}, {len(out_measures[0]['colours'])} "
        f"classes of the {len(prep.codes):,} LSOAs (ColorBrewer {palette}, colour-blind safe)",
        "changed_note": changed_note,
    }


def script_json(data: object) -> str:
    """JSON safe inside a ``<script>`` element: ``<``, ``>``, ``&`` and line separators escaped."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for ch, rep in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, rep)
    return text
