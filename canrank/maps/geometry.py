"""Small, gap-free map geometry: rebuild a true coverage, simplify it, quantise and delta-encode.

The London LSOA polygons meet along common lines but do not share vertices, so simplifying each
polygon alone opens gaps and overlaps between neighbours. Here all boundaries are noded together
and polygonised into faces, each face goes back to the LSOA containing it, and the result (a valid
coverage) is simplified with ``shapely.coverage_simplify`` (GEOS CoverageSimplifier, a
Visvalingam-Whyatt variant that keeps shared edges shared). Coordinates are then rounded to
1e-5 degrees (~1 m) and written as integer deltas, which is about a third of GeoJSON's size.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

__all__ = [
    "QUANTUM",
    "build_coverage",
    "coverage",
    "dissolve",
    "encode",
    "encode_many",
    "inner_point",
    "label_points",
    "simplify_coverage",
    "to_wgs84",
]

#: Coordinate quantum in degrees (1e-5 degrees is ~1.1 m north-south, ~0.7 m east-west in London).
QUANTUM = 1e-5
_SNAP_M = 0.1


def build_coverage(geoms: np.ndarray) -> np.ndarray:
    """The same areas as ``geoms`` but as a valid coverage (neighbours share their vertices).

    Faces in two polygons (overlaps) go to the first; faces in none (gaps) are left out. A
    polygon that receives no face keeps its own geometry.
    """
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0 or (not _surely_not_coverage(geoms) and shapely.coverage_is_valid(geoms)):
        return geoms
    lines = shapely.union_all(shapely.set_precision(shapely.boundary(geoms), _SNAP_M))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    tree = shapely.STRtree(geoms)
    face_idx, geom_idx = tree.query(shapely.point_on_surface(faces), predicate="within")
    owner = np.full(len(faces), -1, dtype=np.int64)
    # Reverse so that, for a face in several polygons, the lowest polygon index wins.
    owner[face_idx[::-1]] = geom_idx[::-1]
    keep = owner >= 0
    out = geoms.copy()
    order = np.argsort(owner[keep], kind="stable")
    kept_faces, kept_owner = faces[keep][order], owner[keep][order]
    groups, starts = np.unique(kept_owner, return_index=True)
    for g, part in zip(groups, np.split(kept_faces, starts[1:]), strict=True):
        out[g] = shapely.coverage_union_all(part) if len(part) > 1 else part[0]
    return out


def _surely_not_coverage(geoms: np.ndarray) -> bool:
    """A quick test that spares GEOS's full check (most of a second for London's LSOAs):
    neighbours in a coverage share their vertices, so in a coverage of many areas most vertices
    belong to two or more of them. When most belong to one only, it is not a coverage."""
    if len(geoms) < 50:
        return False
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    if not len(coords):
        return False
    bits = np.ascontiguousarray(coords).view(np.uint64)  # exact coordinates (shared = equal)
    key = bits[:, 0] * np.uint64(0x9E3779B97F4A7C15) + bits[:, 1]  # a hash; wraps around
    _, vertex = np.unique(key, return_inverse=True)
    pairs = np.unique(vertex.ravel() * len(geoms) + owner)  # each vertex once per area
    count = np.bincount(pairs // len(geoms))
    return bool((count[count > 0] == 1).mean() > 0.5)


def simplify_coverage(geoms: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Simplify a coverage keeping shared edges shared (needs shapely >= 2.1)."""
    if tolerance_m <= 0 or len(geoms) == 0:
        return np.asarray(geoms, dtype=object)
    return shapely.make_valid(shapely.coverage_simplify(geoms, tolerance_m))


#: Simplified coverages already computed (or being computed) in this process, by content.
_COVERAGES: dict[tuple[bytes, float], Future[np.ndarray]] = {}
_COVERAGES_LOCK = threading.Lock()


def coverage(geoms: np.ndarray, tolerance_m: float) -> np.ndarray:
    """``simplify_coverage(build_coverage(geoms), tolerance_m)``, computed once per process for
    the same geometry (by WKB content): a build starts it in the background as soon as the
    boundaries are read, and the map stage then finds it done. A second caller for the same
    input waits for the first instead of computing it again."""
    geoms = np.asarray(geoms, dtype=object)
    digest = hashlib.sha1(usedforsecurity=False)
    for blob in shapely.to_wkb(geoms):
        digest.update(blob)
    key = (digest.digest(), float(tolerance_m))
    with _COVERAGES_LOCK:
        future = _COVERAGES.get(key)
        owner = future is None
        if owner:
            future = Future()
            while len(_COVERAGES) >= 4:
                _COVERAGES.pop(next(iter(_COVERAGES)))
            _COVERAGES[key] = future
    assert future is not None
    if owner:
        try:
            future.set_result(simplify_coverage(build_coverage(geoms), tolerance_m))
        except BaseException as exc:
            with _COVERAGES_LOCK:
                _COVERAGES.pop(key, None)
            future.set_exception(exc)
    return future.result()


def to_wgs84(geoms: np.ndarray, crs: object) -> np.ndarray:
    """Reproject to WGS 84 (longitude, latitude) for Leaflet."""
    return np.asarray(gpd.GeoSeries(geoms, crs=crs).to_crs(4326).array, dtype=object)


def dissolve(geoms: np.ndarray, labels: np.ndarray) -> dict[object, shapely.Geometry]:
    """Union the members of each label (a coverage, so coverage_union is exact and fast)."""
    out: dict[object, shapely.Geometry] = {}
    labels = np.asarray(labels)
    for label in sorted(set(labels.tolist()), key=str):
        out[label] = shapely.coverage_union_all(np.asarray(geoms)[labels == label])
    return out


def label_points(geoms: Sequence[shapely.Geometry] | np.ndarray) -> np.ndarray:
    """A point well inside each polygon (its largest part), as (lon, lat) rows."""
    pts = []
    for g in geoms:
        parts = shapely.get_parts(g)
        big = parts[int(np.argmax(shapely.area(parts)))] if len(parts) else g
        pts.append(shapely.point_on_surface(big))
    return shapely.get_coordinates(np.array(pts, dtype=object))


def inner_point(geom: shapely.Geometry, tolerance: float = 5.0) -> shapely.Point:
    """The centre of the largest circle inside the largest part (where a label sits best).

    ``tolerance`` is in the geometry's units (metres in EPSG:27700).
    """
    parts = shapely.get_parts(geom)
    big = parts[int(np.argmax(shapely.area(parts)))] if len(parts) else geom
    if big.is_empty:
        return shapely.Point()
    circle = shapely.maximum_inscribed_circle(big, tolerance)
    centre = shapely.get_point(circle, 0)
    return centre if big.contains(centre) else shapely.point_on_surface(big)


def _ring(coords: np.ndarray) -> list[int]:
    q = np.rint(coords[:, :2] / QUANTUM).astype(np.int64)
    q = q[:-1] if len(q) > 1 and (q[0] == q[-1]).all() else q
    keep = np.ones(len(q), dtype=bool)
    keep[1:] = (np.diff(q, axis=0) != 0).any(axis=1)
    q = q[keep]
    d = np.vstack([q[:1], np.diff(q, axis=0)])
    return d.ravel().tolist()


def encode(geom: shapely.Geometry | None) -> list[list[list[int]]]:
    """Polygons -> rings -> ``[x0, y0, dx1, dy1, ...]`` in units of :data:`QUANTUM` (open rings).

    Lines (for outlines) encode the same way, one "ring" per line. The browser decodes with a
    running sum; rings that collapse below 3 vertices are dropped.
    """
    if geom is None or geom.is_empty:
        return []
    out = []
    for part in shapely.get_parts(geom):
        if part.geom_type == "Polygon":
            rings = [part.exterior, *part.interiors]
            enc = [_ring(np.asarray(r.coords)) for r in rings]
            enc = [r for r in enc if len(r) >= 6]
            if enc and len(_ring(np.asarray(part.exterior.coords))) >= 6:
                out.append(enc)
        elif part.geom_type in ("LineString", "LinearRing"):
            enc_line = _ring(np.asarray(part.coords))
            if len(enc_line) >= 4:
                out.append([enc_line])
    return out


def encode_many(geoms: Sequence[shapely.Geometry | None] | np.ndarray) -> list[Any]:
    """``[encode(g) for g in geoms]`` for polygons, vectorised (the same output, about ten
    times faster on London's LSOAs)."""
    geoms = np.asarray(geoms, dtype=object)
    out: list[Any] = [[] for _ in range(len(geoms))]
    if len(geoms) == 0:
        return out
    valid = np.array([g is not None for g in geoms], dtype=bool)
    parts, part_owner = shapely.get_parts(geoms[valid], return_index=True)
    part_owner = np.flatnonzero(valid)[part_owner]
    poly = shapely.get_type_id(parts) == 3
    if not poly.all():  # lines and points: the plain encoder
        for g in np.unique(part_owner[~poly]):
            out[int(g)] = encode(geoms[g])
        keep_owner = ~np.isin(part_owner, part_owner[~poly])
        parts, part_owner = parts[keep_owner], part_owner[keep_owner]
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    # a ring is an exterior when it is the first ring of its part
    exterior = np.ones(len(rings), dtype=bool)
    exterior[1:] = ring_part[1:] != ring_part[:-1]
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    q = np.rint(coords / QUANTUM).astype(np.int64)
    n = len(q)
    first = np.ones(n, dtype=bool)
    first[1:] = ring_of[1:] != ring_of[:-1]
    last = np.ones(n, dtype=bool)
    last[:-1] = first[1:]
    start_of = np.flatnonzero(first)[ring_of]
    count = np.bincount(ring_of, minlength=len(rings))[ring_of]
    # the closing vertex repeats the first: drop it (rings of one vertex keep it)
    keep = ~(last & (count > 1) & (q == q[start_of]).all(axis=1))
    q, ring_of, first = q[keep], ring_of[keep], first[keep]
    same = np.zeros(len(q), dtype=bool)
    same[1:] = (ring_of[1:] == ring_of[:-1]) & (q[1:] == q[:-1]).all(axis=1)
    q, ring_of = q[~same], ring_of[~same]
    first = np.ones(len(q), dtype=bool)
    first[1:] = ring_of[1:] != ring_of[:-1]
    delta = q.copy()
    delta[1:] -= q[:-1]
    delta[first] = q[first]
    sizes = np.bincount(ring_of, minlength=len(rings))
    flat = delta.ravel().tolist()
    bounds = np.concatenate([[0], np.cumsum(2 * sizes)]).tolist()
    current_part = -1
    enc: list[list[int]] = []
    ok_exterior = False
    for r in range(len(rings)):
        p = int(ring_part[r])
        if p != current_part:
            if current_part >= 0 and enc and ok_exterior:
                out[int(part_owner[current_part])].append(enc)
            current_part, enc = p, []
            ok_exterior = sizes[r] >= 3
        if sizes[r] >= 3:
            enc.append(flat[bounds[r] : bounds[r + 1]])
    if current_part >= 0 and enc and ok_exterior:
        out[int(part_owner[current_part])].append(enc)
    return out
