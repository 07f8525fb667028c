"""Compatibility layer: the map code now lives in :mod:`canrank.maps`.

``make_map``/``save_map``/``class_breaks`` are re-exported so existing callers keep working;
``prepare_geometry`` keeps its old meaning (per-polygon simplification, WGS 84, 1e-5 degrees).
"""

from __future__ import annotations

import geopandas as gpd
import shapely

from canrank.maps.interactive import make_map, save_map
from canrank.maps.payload import class_breaks

__all__ = ["class_breaks", "make_map", "prepare_geometry", "save_map"]


def prepare_geometry(frame: gpd.GeoDataFrame, simplify_m: float) -> gpd.GeoDataFrame:
    """Simplify in EPSG:27700, reproject to WGS 84 and round coordinates to 1e-5 degrees."""
    out = frame.copy()
    if simplify_m > 0:
        out.geometry = out.geometry.simplify(simplify_m, preserve_topology=True)
    out = out.to_crs(4326)
    out.geometry = shapely.set_precision(out.geometry.values, 1e-5)
    return out
