"""The data a map page carries: one geometry payload, and one view per scenario shown.

The geometry (LSOAs, boroughs, wards) is written once per file; a view holds what differs between
scenarios (values, classes, ranks, CANs, texts). Both are plain JSON built here from the build's
tables and a :class:`~canrank.maps.spec.MapSpec`; the page's script turns them into Leaflet
layers and writes every text with ``textContent``. :func:`script_json` makes the JSON safe
inside a ``<script>`` element.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from canrank.maps import geometry as geo
from canrank.maps.palettes import assign_classes, class_breaks, colours
from canrank.maps.spec import MapSpec, MeasureInfo

__all__ = [
    "PreparedGeometry",
    "can_order_note",
    "geometry_payload",
    "lsoa_coverage",
    "measure_classes",
    "prepare",
    "script_json",
    "view_payload",
]


@dataclass(frozen=True)
class PreparedGeometry:
    """Simplified coverage of the study area, in the LSOA order every view must follow."""

    codes: np.ndarray
    names: np.ndarray
    borough_index: np.ndarray
    borough_names: list[str]
    ward_index: np.ndarray  # -1 = no ward
    ward_names: list[str]
    ward_borough: list[int]
    lsoa_bng: np.ndarray  # simplified, EPSG:27700 (CAN outlines, the static map)
    lsoa_wgs: np.ndarray
    borough_bng: np.ndarray
    borough_wgs: np.ndarray
    ward_wgs: np.ndarray  # ward polygons (WGS 84), for outlines, bounds and label points
    crs: Any


def _num(value: float | None, digits: int = 4) -> float | None:
    """Round to ``digits`` significant figures (smaller JSON, same display)."""
    if value is None or not np.isfinite(value):
        return None
    return float(f"{float(value):.{digits}g}")


def _wards(
    frame: gpd.GeoDataFrame,
    cov: np.ndarray,
    wards: gpd.GeoDataFrame | None,
    borough_names: list[str],
    crs: Any,
    tolerance_m: float,
) -> tuple[np.ndarray, list[str], list[int], np.ndarray]:
    """Ward index per LSOA, ward names, each ward's borough index, and ward polygons (WGS 84)."""
    n = len(frame)
    if "ward_name" not in frame.columns and wards is None:
        return np.full(n, -1), [], [], np.array([], dtype=object)
    bidx = {name: j for j, name in enumerate(borough_names)}
    lsoa_ward = (
        frame["ward_name"].astype("string").fillna("").to_numpy(dtype=object)
        if "ward_name" in frame.columns
        else np.full(n, "", dtype=object)
    )
    lsoa_borough = frame["borough_name"].astype(str).to_numpy()
    if wards is not None and len(wards):
        w = wards.to_crs(crs)
        if "borough_name" in w.columns:
            wb = w["borough_name"].astype(str).to_numpy()
        else:
            wb = np.array([""] * len(w))
        keys = list(zip(w["ward_name"].astype(str), wb, strict=True))
        # Keep only wards of the study area's boroughs (a ward layer may cover more).
        keep = np.array([b in bidx or not b for _, b in keys])
        w, keys = w[keep], [k for k, kk in zip(keys, keep, strict=True) if kk]
        order = sorted(range(len(keys)), key=lambda j: (keys[j][1], keys[j][0], j))
        w = w.iloc[order]
        keys = [keys[j] for j in order]
        polys = np.asarray(w.geometry.to_numpy(), dtype=object)
        polys = geo.coverage(polys, tolerance_m)
    else:
        keys = sorted({(str(a), str(b)) for a, b in zip(lsoa_ward, lsoa_borough, strict=True) if a})
        label = np.array([f"{a}\u0000{b}" for a, b in zip(lsoa_ward, lsoa_borough, strict=True)])
        dis = geo.dissolve(cov, label)
        polys = np.array([dis[f"{a}\u0000{b}"] for a, b in keys], dtype=object)
    index_of = {k: j for j, k in enumerate(keys)}
    by_name: dict[str, int] = {}
    for j, (name, _) in enumerate(keys):
        by_name.setdefault(name, j)
    ward_index = np.array(
        [
            index_of.get((str(a), str(b)), by_name.get(str(a), -1)) if a else -1
            for a, b in zip(lsoa_ward, lsoa_borough, strict=True)
        ],
        dtype=int,
    )
    names = [k[0] for k in keys]
    wborough = [bidx.get(k[1], -1) for k in keys]
    return ward_index, names, wborough, geo.to_wgs84(polys, crs)


def _page_order(lsoa: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The LSOAs in the page's order (by code), in a projected CRS (metres)."""
    frame = lsoa.sort_values("lsoa_code", kind="stable")
    if frame.crs is None or not frame.crs.is_projected:
        frame = frame.to_crs(27700)
    return frame


def lsoa_coverage(lsoa: gpd.GeoDataFrame, simplify_m: float) -> np.ndarray:
    """The simplified LSOA coverage of a map page (the slow part of :func:`prepare`: seconds
    for London). Computed once per process for the same boundaries, so a build can start it
    while it ranks and selects (see :func:`canrank.maps.geometry.coverage`)."""
    return geo.coverage(_page_order(lsoa).geometry.to_numpy(), simplify_m)


def prepare(
    lsoa: gpd.GeoDataFrame,
    boroughs: gpd.GeoDataFrame | None,
    simplify_m: float,
    wards: gpd.GeoDataFrame | None = None,
) -> PreparedGeometry:
    """Coverage-simplify the LSOAs (boroughs, wards), sorted by LSOA code for a stable page."""
    frame = _page_order(lsoa)
    crs = frame.crs
    cov = lsoa_coverage(lsoa, simplify_m)
    if "borough_code" in frame.columns:
        bkey = frame["borough_code"].astype(str).to_numpy()
    else:
        bkey = frame["borough_name"].astype(str).to_numpy()
    codes_b, b_index = np.unique(bkey, return_inverse=True)
    names_by_code = dict(zip(bkey, frame["borough_name"].astype(str), strict=True))
    if boroughs is not None and len(boroughs) and "borough_code" in boroughs.columns:
        bframe = boroughs.to_crs(crs).set_index(boroughs["borough_code"].astype(str))
        names_by_code.update(
            dict(zip(bframe.index, bframe["borough_name"].astype(str), strict=False))
        )
        shapes = bframe.geometry.reindex(codes_b)
        missing = shapes.isna().to_numpy()
        bgeoms = shapes.to_numpy().copy()
        if missing.any():
            dis = geo.dissolve(cov, bkey)
            for j in np.flatnonzero(missing):
                bgeoms[j] = dis[codes_b[j]]
        bgeoms = geo.coverage(np.asarray(bgeoms, dtype=object), simplify_m)
    else:
        dis = geo.dissolve(cov, bkey)
        bgeoms = np.array([dis[c] for c in codes_b], dtype=object)
    borough_names = [str(names_by_code.get(c, c)) for c in codes_b]
    # LSOAs name their borough by name; align them to the borough list by name where possible.
    frame_b = frame.copy()
    frame_b["borough_name"] = [borough_names[j] for j in b_index]
    w_index, w_names, w_borough, w_wgs = _wards(
        frame_b, cov, wards, borough_names, crs, max(2 * simplify_m, 10.0)
    )
    return PreparedGeometry(
        codes=frame["lsoa_code"].astype(str).to_numpy(),
        names=frame["lsoa_name"].astype(str).to_numpy(),
        borough_index=b_index.astype(int),
        borough_names=borough_names,
        ward_index=w_index,
        ward_names=w_names,
        ward_borough=w_borough,
        lsoa_bng=cov,
        lsoa_wgs=geo.to_wgs84(cov, crs),
        borough_bng=bgeoms,
        borough_wgs=geo.to_wgs84(bgeoms, crs),
        ward_wgs=w_wgs,
        crs=crs,
    )


def _bounds(geom: shapely.Geometry) -> list[float]:
    minx, miny, maxx, maxy = shapely.bounds(geom)
    return [round(float(v), 5) for v in (minx, miny, maxx, maxy)]


def geometry_payload(prep: PreparedGeometry) -> dict[str, Any]:
    """LSOA, borough and ward geometry as delta-encoded integers, with names and label points."""
    minx, miny, maxx, maxy = shapely.total_bounds(prep.lsoa_wgs)
    ward_lines: list[list[list[int]]] = []
    if len(prep.ward_wgs):
        edges = shapely.line_merge(shapely.union_all(shapely.boundary(prep.ward_wgs)))
        ward_lines = geo.encode(edges)
    return {
        "quantum": geo.QUANTUM,
        "bounds": [round(float(v), 5) for v in (minx, miny, maxx, maxy)],
        "lsoa": {
            "code": prep.codes.tolist(),
            "name": prep.names.tolist(),
            "borough": prep.borough_index.tolist(),
            "ward": prep.ward_index.tolist(),
            "geom": geo.encode_many(prep.lsoa_wgs),
        },
        "boroughs": {
            "name": prep.borough_names,
            "label": [[round(float(v), 5) for v in p] for p in geo.label_points(prep.borough_wgs)],
            "bounds": [_bounds(g) for g in prep.borough_wgs],
            "geom": geo.encode_many(prep.borough_wgs),
        },
        "wards": {
            "name": prep.ward_names,
            "borough": prep.ward_borough,
            "label": [[round(float(v), 5) for v in p] for p in geo.label_points(prep.ward_wgs)]
            if len(prep.ward_wgs)
            else [],
            "bounds": [_bounds(g) for g in prep.ward_wgs],
            "lines": ward_lines,
        },
    }


def _ranks(values: np.ndarray, direction: str) -> np.ndarray:
    s = pd.Series(values)
    return s.rank(ascending=direction == "lower_is_worse", method="min").astype(int).to_numpy()


def measure_classes(
    values: np.ndarray, info: MeasureInfo, spec: MapSpec
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(upper bounds, class per value, colour per class) with the darkest colour the worst."""
    bins = class_breaks(values, spec.scheme, spec.k)
    cols = list(colours(spec.palette, len(bins)))
    if info.direction == "lower_is_worse":
        cols = cols[::-1]
    return bins, assign_classes(values, bins), cols


def _measure(
    info: MeasureInfo, values: np.ndarray, spec: MapSpec, ranks: np.ndarray
) -> dict[str, Any]:
    bins, cls, cols = measure_classes(values, info, spec)
    finite = values[np.isfinite(values)]
    lows = [float(finite.min()) if len(finite) else 0.0, *bins[:-1].tolist()]
    return {
        "key": info.key,
        "label": info.label,
        "date": info.reference_date or "",
        "proxy": info.proxy_note or "",
        "direction": info.direction,
        "colours": cols,
        "low": [_num(v) for v in lows],
        "high": [_num(v) for v in bins],
        "counts": np.bincount(cls, minlength=len(bins)).tolist(),
        "cls": "".join(chr(48 + int(c)) for c in cls),
        "value": [_num(v) for v in values],
        "rank": ranks.tolist(),
    }


def can_order_note(cans: pd.DataFrame) -> str:
    """How the CANs are numbered, worked out from the table (so the sentence is always true)."""
    c = cans.sort_values("can_id")
    if len(c) < 2:
        return "CANs are numbered 1 upwards."
    if "objective" in c.columns and c["objective"].is_monotonic_decreasing:
        return (
            "CANs are numbered by need: CAN 1 has the most residents weighted by their score "
            "(population \u00d7 mean score), so it is not always the CAN with the highest "
            "scoring area."
        )
    if c["mean_score"].is_monotonic_decreasing:
        return "CANs are numbered by their mean score, highest first."
    if "best_rank" in c.columns and c["best_rank"].is_monotonic_increasing:
        return "CANs are numbered by their most stressed area, most stressed first."
    return "CANs are numbered in the order the selection chose them."


def view_payload(
    prep: PreparedGeometry,
    lsoa: pd.DataFrame,
    cans: pd.DataFrame,
    spec: MapSpec,
    *,
    changed: Sequence[int] = (),
    matched: Mapping[int, int] | None = None,
    compare_note: str = "",
    other: str = "",
) -> dict[str, Any]:
    """Values, classes, ranks, CANs and texts of one scenario, in ``prep``'s LSOA order."""
    frame = lsoa.set_index(lsoa["lsoa_code"].astype(str)).reindex(prep.codes)
    if frame["score"].isna().any():
        raise ValueError("the LSOA frame does not cover the prepared geometry")
    score = frame["score"].to_numpy(dtype=float)
    measures = [_measure(spec.score, score, spec, frame["rank"].to_numpy(int))]
    for info in spec.indicators:
        vals = frame[info.column].to_numpy(dtype=float)
        measures.append(_measure(info, vals, spec, _ranks(vals, info.direction)))
    if "can_id" in frame.columns:
        can_ids = pd.to_numeric(frame["can_id"], errors="coerce").fillna(0).astype(int).to_numpy()
    else:
        can_ids = np.zeros(len(frame), dtype=int)
    pop = frame["population"].to_numpy(dtype=float)
    changed_set = {int(c) for c in changed}
    matched = dict(matched or {})
    can_rows = []
    for _, c in cans.sort_values("can_id").iterrows():
        cid = int(c["can_id"])
        members = can_ids == cid
        if not members.any():
            continue
        outline = shapely.coverage_union_all(prep.lsoa_bng[members])
        outline_wgs = geo.to_wgs84(np.array([outline], dtype=object), prep.crs)[0]
        anchor = geo.to_wgs84(np.array([geo.inner_point(outline)], dtype=object), prep.crs)[0]
        profile = []
        for m_info, m in zip(spec.measures, measures, strict=True):
            vals = score if m_info.key == "score" else frame[m_info.column].to_numpy(dtype=float)
            profile.append(
                [
                    m["label"],
                    _num(np.average(vals[members], weights=pop[members])),
                    _num(np.nanmedian(vals)),
                ]
            )
        best = int(c["best_rank"]) if "best_rank" in c and pd.notna(c["best_rank"]) else None
        if best is None:
            best = int(frame["rank"].to_numpy()[members].min())
        can_rows.append(
            {
                "id": cid,
                "name": str(c["name"]),
                "population": round(float(c["population"])),
                "n_lsoas": int(c["n_lsoas"]),
                "boroughs": str(c.get("boroughs", "")),
                "mean_score": _num(float(c["mean_score"])),
                "best_rank": best,
                "changed": cid in changed_set,
                "match": matched.get(cid),
                "label": [round(float(anchor.x), 5), round(float(anchor.y), 5)],
                "bounds": _bounds(outline_wgs),
                "geom": geo.encode(outline_wgs),
                "profile": profile,
            }
        )
    return {
        "title": spec.title,
        "scenario": spec.scenario,
        "notes": list(spec.notes),
        "area": spec.area_label,
        "n": len(prep.codes),
        "score_sentence": spec.score_sentence(),
        "about": list(spec.about),
        "attribution": spec.attribution,
        "scheme": spec.scheme,
        "palette": spec.palette,
        "measures": measures,
        "decile": frame["decile"].to_numpy(int).tolist() if "decile" in frame.columns else [],
        "national": _national(frame),
        "can": can_ids.tolist(),
        "cans": can_rows,
        "can_order": can_order_note(cans),
        "selection_status": spec.selection_status or "",
        "compare_note": compare_note,
        "other": other,
    }


#: LSOAs in England (2011 geography): the "of N" of the national IMD ranks in the tooltip.
ENGLAND_LSOAS_2011 = 32_844


def _national(frame: pd.DataFrame) -> dict[str, Any]:
    """National IMD rank and decile per LSOA (tooltips say "of 32,844 in England"), when the
    build's table carries them; empty otherwise."""
    if "imd_rank_england" not in frame.columns:
        return {}
    ranks = pd.to_numeric(frame["imd_rank_england"], errors="coerce")
    deciles = pd.to_numeric(frame.get("imd_decile_england"), errors="coerce")
    return {
        "n": ENGLAND_LSOAS_2011,
        "imd_rank": [None if pd.isna(r) else int(r) for r in ranks],
        "imd_decile": [None if pd.isna(d) else int(d) for d in deciles]
        if deciles is not None
        else [],
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
