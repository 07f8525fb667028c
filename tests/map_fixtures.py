"""A tiny synthetic study area for map tests: a 4 x 3 grid of 500 m squares in EPSG:27700,
with neighbours whose shared edges do not share vertices, and names that try to inject HTML."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

HOSTILE_IMG = "<img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = "</script><script>alert(1)</script>"


def grid(names: dict[int, str] | None = None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(lsoa, cans) frames shaped like the pipeline's, 12 LSOAs and 2 CANs."""
    names = names or {}
    rows = []
    x0, y0, s = 530_000.0, 180_000.0, 500.0
    for j in range(3):
        for i in range(4):
            k = j * 4 + i
            ring = [(x0 + i * s, y0 + j * s), (x0 + (i + 1) * s, y0 + j * s)]
            # An extra vertex on the right edge only: the neighbour's left edge lacks it.
            ring += [(x0 + (i + 1) * s, y0 + (j + 0.37) * s)] if i < 3 else []
            ring += [(x0 + (i + 1) * s, y0 + (j + 1) * s), (x0 + i * s, y0 + (j + 1) * s)]
            rows.append(
                {
                    "lsoa_code": f"E0100{k:04d}",
                    "lsoa_name": names.get(k, f"Test {k:03d}"),
                    "borough_code": "E09000001" if i < 2 else "E09000002",
                    "borough_name": names.get(100, "Borough A") if i < 2 else "Borough B",
                    "population": 1500.0 + 10 * k,
                    "imd_value": float(k),
                    "geometry": shapely.Polygon(ring),
                }
            )
    lsoa = gpd.GeoDataFrame(rows, geometry="geometry", crs=27700)
    lsoa["score"] = lsoa["imd_value"] / 11
    lsoa["rank"] = lsoa["score"].rank(ascending=False, method="first").astype(int)
    lsoa["decile"] = np.ceil(lsoa["rank"] / 12 * 10).astype(int)
    can = np.zeros(12, dtype=int)
    can[[10, 11]] = 1
    can[[0, 1]] = 2
    lsoa["can_id"] = pd.array(np.where(can > 0, can, pd.NA), dtype="Int64")
    can_names = {1: names.get(200, "North East"), 2: "South West"}
    lsoa["can_name"] = lsoa["can_id"].map(can_names).astype("string")
    cans = []
    for cid in (1, 2):
        sub = lsoa[can == cid]
        cans.append(
            {
                "can_id": cid,
                "name": can_names[cid],
                "boroughs": "; ".join(sorted(set(sub["borough_name"]))),
                "n_lsoas": len(sub),
                "population": round(sub["population"].sum()),
                "mean_score": float(sub["score"].mean()),
                "objective": 0.0,
                "best_rank": int(sub["rank"].min()),
                "lsoa_codes": ";".join(sub["lsoa_code"]),
                "geometry": sub.geometry.union_all(),
            }
        )
    return lsoa, gpd.GeoDataFrame(cans, geometry="geometry", crs=27700)


def hostile_grid() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The grid with script-injection attempts as LSOA, borough and CAN names."""
    return grid({5: HOSTILE_IMG, 6: HOSTILE_SCRIPT, 100: HOSTILE_IMG, 200: HOSTILE_SCRIPT})
