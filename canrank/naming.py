"""Human-readable CAN names from the wards they lie in, e.g. "Northumberland Park (Haringey)".

Each LSOA is placed in the ward containing its representative point; a CAN takes the name of
the ward holding most of its residents, adds the second ward when that holds at least a
quarter, and adds the borough(s) in brackets. Names are made unique across the selection.
Without a ward layer the MSOA part of the LSOA names is used (e.g. "Liverpool 023 & 031").
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

__all__ = ["assign_wards", "name_cans"]


def assign_wards(lsoa: gpd.GeoDataFrame, wards: gpd.GeoDataFrame) -> pd.Series:
    """Ward name per LSOA (by representative point; nearest ward when a point falls in a gap)."""
    import shapely

    pts = lsoa.geometry.representative_point().to_numpy()
    names = wards["ward_name"].to_numpy()
    out = np.full(len(pts), None, dtype=object)
    # a point touching exactly one ward is nearest to it alone (the usual case, a fast query);
    # points in a gap, on a shared boundary or in an overlap go to the nearest-ward join
    hit_pt, hit_ward = shapely.STRtree(wards.geometry.to_numpy()).query(
        pts, predicate="intersects"
    )
    count = np.bincount(hit_pt, minlength=len(pts))
    single = count[hit_pt] == 1
    out[hit_pt[single]] = names[hit_ward[single]]
    rest = np.flatnonzero(count != 1)
    if len(rest):
        points = gpd.GeoDataFrame(
            {"i": rest}, geometry=pts[rest], crs=lsoa.crs, index=pd.RangeIndex(len(rest))
        )
        joined = gpd.sjoin_nearest(points, wards[["ward_name", "geometry"]], how="left")
        joined = joined[~joined.index.duplicated(keep="first")]
        out[rest] = joined["ward_name"].to_numpy()
    return pd.Series(out, index=lsoa.index, name="ward_name")


def _base_name(members: pd.DataFrame) -> tuple[str, str]:
    boroughs = (
        members.groupby("borough_name", sort=False)["population"]
        .sum()
        .sort_values(ascending=False, kind="stable")
    )
    borough_text = " / ".join(boroughs.index.astype(str))
    if "ward_name" in members and members["ward_name"].notna().any():
        wards = (
            members.groupby("ward_name", sort=True)["population"]
            .sum()
            .sort_values(ascending=False, kind="stable")
        )
        first = str(wards.index[0])
        second = str(wards.index[1]) if len(wards) > 1 else None
        main = first
        if second and wards.iloc[1] >= 0.25 * wards.sum():
            main = f"{first} & {second}"
        return main, borough_text if borough_text else ""
    # no wards: LSOA names are MSOA names plus a letter ("Liverpool 023C" -> "Liverpool 023")
    msoa = members["lsoa_name"].astype(str).str.replace(r"[A-Z]$", "", regex=True).str.strip()
    by_msoa = members.groupby(msoa.to_numpy(), sort=True)["population"].sum()
    top = list(by_msoa.sort_values(ascending=False, kind="stable").index[:2])
    if len(top) == 2:
        first, second = top
        stem, _, number = second.rpartition(" ")
        same_place = first.rpartition(" ")[0] == stem
        return f"{first} & {number if same_place else second}", borough_text
    return str(top[0]), borough_text


def name_cans(lsoa: pd.DataFrame, labels: np.ndarray) -> dict[int, str]:
    """Unique name per CAN number (``labels`` holds the CAN number per LSOA, 0 = none)."""
    names: dict[int, str] = {}
    used: set[str] = set()
    for k in sorted(set(labels.tolist()) - {0}):
        members = lsoa.loc[labels == k]
        main, borough = _base_name(members)
        name = f"{main} ({borough})" if borough else main
        if name in used and "ward_name" in members:
            extra = sorted(set(members["ward_name"].dropna()) - set(main.split(" & ")))
            if extra:
                name = f"{main} & {extra[0]} ({borough})"
        base, n = name, 2
        while name in used:
            name = f"{base} {n}"
            n += 1
        used.add(name)
        names[k] = name
    return names
