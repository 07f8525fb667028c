"""Small synthetic study areas for map tests, shaped like a build's ``lsoa``/``cans`` tables.

``grid`` is a 4 x 3 grid of 500 m squares in EPSG:27700 whose neighbours' shared edges do not share
vertices; ``city`` a larger grid with many CANs close together (labels must be moved apart);
``HOSTILE`` a corpus of markup and script that must show as text wherever a name appears.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from canrank.maps.spec import MapSpec, MeasureInfo, attribution_text

HOSTILE_IMG = "<img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = "</script><script>alert(1)</script>"
#: Markup, script and JavaScript-string breakers for every text field (names, labels, notes).
HOSTILE = [
    HOSTILE_IMG,
    HOSTILE_SCRIPT,
    "<svg onload=alert(2)>",
    '"><iframe srcdoc="<script>alert(3)</script>">',
    "';alert(4);//",
    '");alert(5);//',
    "<b onmouseover=alert(6)>bold</b>",
    "javascript:alert(7)",
    "<!--",
    "]]><script>alert(8)</script>",
    "\u2028\u2029<script>alert(9)</script>",
    "&lt;script&gt;alert(10)&lt;/script&gt;",
    "{{7*7}} ${alert(11)}",
    "<a href=javascript:alert(12)>click</a>",
    "<details open ontoggle=alert(13)>",
    "<style>*{display:none}</style>",
    r"Cost $\undefined$ each",  # matplotlib would read $...$ as (broken) mathematics
]


def grid(
    names: Mapping[int, str] | None = None,
    *,
    nx: int = 4,
    ny: int = 3,
    size: float = 500.0,
    cans: Mapping[int, Sequence[int]] | None = None,
    can_names: Mapping[int, str] | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(lsoa, cans) frames like a build's: ``nx * ny`` square LSOAs and the given CANs.

    ``names`` overrides LSOA names by cell index, and the key 100 the first borough's name;
    ``cans`` maps CAN id -> cell indices (default: two CANs of two cells).
    """
    names = names or {}
    cans = cans or {1: [nx * ny - 2, nx * ny - 1], 2: [0, 1]}
    rows = []
    x0, y0 = 530_000.0, 180_000.0
    half = nx // 2
    for j in range(ny):
        for i in range(nx):
            k = j * nx + i
            ring = [(x0 + i * size, y0 + j * size), (x0 + (i + 1) * size, y0 + j * size)]
            # An extra vertex on the right edge only: the neighbour's left edge lacks it.
            ring += [(x0 + (i + 1) * size, y0 + (j + 0.37) * size)] if i < nx - 1 else []
            ring += [
                (x0 + (i + 1) * size, y0 + (j + 1) * size),
                (x0 + i * size, y0 + (j + 1) * size),
            ]
            west = i < half
            rows.append(
                {
                    "lsoa_code": f"E0100{k:04d}",
                    "lsoa_name": names.get(k, f"Test {k:03d}"),
                    "borough_code": "E09000001" if west else "E09000002",
                    "borough_name": names.get(100, "Borough A") if west else "Borough B",
                    "population": 1500.0 + 10 * k,
                    "imd_value": float(k),
                    "geometry": shapely.Polygon(ring),
                }
            )
    lsoa = gpd.GeoDataFrame(rows, geometry="geometry", crs=27700)
    n = len(lsoa)
    lsoa["score"] = lsoa["imd_value"] / max(n - 1, 1)
    lsoa["rank"] = lsoa["score"].rank(ascending=False, method="first").astype(int)
    lsoa["decile"] = np.ceil(lsoa["rank"] / n * 10).astype(int)
    wards = ward_frame(nx, ny, size, names)
    lsoa["ward_name"] = [wards["ward_name"].iloc[_ward_of(k % nx, k // nx, nx)] for k in range(n)]
    label = np.zeros(n, dtype=int)
    for cid, cells in cans.items():
        label[list(cells)] = cid
    lsoa["can_id"] = pd.array(np.where(label > 0, label, pd.NA), dtype="Int64")
    cnames = {cid: f"CAN number {cid}" for cid in cans}
    if not can_names and cans.keys() == {1, 2}:
        cnames = {1: names.get(200, "North East"), 2: "South West"}
    cnames.update(can_names or {})
    lsoa["can_name"] = lsoa["can_id"].map(cnames).astype("string")
    can_rows = []
    for cid in sorted(cans):
        sub = lsoa[label == cid]
        can_rows.append(
            {
                "can_id": cid,
                "name": cnames[cid],
                "boroughs": "; ".join(sorted(set(sub["borough_name"]))),
                "n_lsoas": len(sub),
                "population": round(sub["population"].sum()),
                "mean_score": float(np.average(sub["score"], weights=sub["population"])),
                "objective": float((sub["score"] * sub["population"]).sum()),
                "best_rank": int(sub["rank"].min()),
                "lsoa_codes": ";".join(sub["lsoa_code"]),
                "geometry": sub.geometry.union_all(),
            }
        )
    return lsoa, gpd.GeoDataFrame(can_rows, geometry="geometry", crs=27700)


def _ward_of(i: int, j: int, nx: int) -> int:
    return (j // 2) * ((nx + 1) // 2) + i // 2


def ward_frame(
    nx: int = 4, ny: int = 3, size: float = 500.0, names: Mapping[int, str] | None = None
) -> gpd.GeoDataFrame:
    """Wards of 2 x 2 cells over the grid (key 300 of ``names`` renames the first ward)."""
    names = names or {}
    x0, y0 = 530_000.0, 180_000.0
    half = nx // 2
    rows = []
    for wj in range((ny + 1) // 2):
        for wi in range((nx + 1) // 2):
            k = len(rows)
            i1, j1 = min(2 * wi + 2, nx), min(2 * wj + 2, ny)
            rows.append(
                {
                    "ward_code": f"E0500{k:04d}",
                    "ward_name": names.get(300, "Ward Alpha") if k == 0 else f"Ward {k:02d}",
                    "borough_name": (names.get(100, "Borough A") if 2 * wi < half else "Borough B"),
                    "geometry": shapely.box(
                        x0 + 2 * wi * size, y0 + 2 * wj * size, x0 + i1 * size, y0 + j1 * size
                    ),
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=27700)


def city(n_cans: int = 12) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A 48 x 20 grid of 250 m cells with ``n_cans`` one- or two-cell CANs packed side by side in
    the centre with long names (their labels collide at the opening zoom), and 2 x 2-cell wards."""
    nx, ny, size = 48, 20, 250.0
    cans: dict[int, list[int]] = {}
    spots = [(i, j) for j in (9, 10, 11) for i in range(18, 30, 3)]
    for cid, (i, j) in enumerate(spots[:n_cans], start=1):
        cans[cid] = [j * nx + i, j * nx + i + 1] if cid % 2 else [j * nx + i]
    can_names = {cid: f"Long Neighbourhood Name {cid} & Somewhere Green" for cid in cans}
    lsoa, can_frame = grid(nx=nx, ny=ny, size=size, cans=cans, can_names=can_names)
    return lsoa, can_frame, ward_frame(nx, ny, size)


def hostile_grid() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The grid with script-injection attempts as LSOA, borough, ward and CAN names."""
    names: dict[int, str] = {k: HOSTILE[k % len(HOSTILE)] for k in range(12)}
    names.update({5: HOSTILE_IMG, 6: HOSTILE_SCRIPT, 100: HOSTILE_IMG, 200: HOSTILE_SCRIPT})
    names[300] = HOSTILE[2]
    return grid(names)


def spec(
    n_lsoas: int = 12,
    *,
    title: str = "Test map",
    k: int = 3,
    scheme: str = "quantiles",
    palette: str = "YlOrRd",
    texts: Sequence[str] | None = None,
    simplify_m: float = 0.0,
) -> MapSpec:
    """A MapSpec for the fixtures; ``texts`` (e.g. HOSTILE) go into every text field."""
    t = list(texts or [])

    def pick(j: int, default: str) -> str:
        return f"{default} {t[j % len(t)]}" if t else default

    return MapSpec(
        title=pick(0, title),
        scenario=pick(1, "test"),
        area_label=pick(2, "Testland"),
        n_lsoas=n_lsoas,
        measures=(
            MeasureInfo("score", pick(3, "Composite score")),
            MeasureInfo(
                "imd", pick(4, "IMD"), "higher_is_worse", pick(5, "2015"), pick(6, "") or None
            ),
        ),
        scheme=scheme,
        k=k,
        palette=palette,
        simplify_m=simplify_m,
        notes=(pick(7, "Proxy: none"), pick(8, "Override: none")),
        about=(pick(9, "About this test."), pick(10, "Method.")),
        attribution=attribution_text(2024),
        description=pick(11, "A test scenario"),
        selection_status=pick(12, "proven optimal"),
    )


_LONDON: dict[int, tuple[Path, Any, MapSpec]] = {}


@pytest.fixture
def london_map(
    london_build: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Any, MapSpec]:
    """(map.html, build, spec) of the session's real London build: the map the build wrote, or
    (for a build kept in memory) one written here once per session."""
    key = id(london_build)
    if key not in _LONDON:
        from canrank.build_maps import map_inputs

        lsoa, cans, s = map_inputs(london_build)
        folder = getattr(london_build, "folder", None)
        path = Path(folder) / "map.html" if folder else None
        if path is None or not path.is_file():
            from canrank.maps import write_map

            path = tmp_path_factory.mktemp("london-map") / "map.html"
            write_map(lsoa, cans, s, path, boroughs=london_build.boroughs, wards=london_build.wards)
        _LONDON[key] = (path, london_build, s)
    return _LONDON[key]
