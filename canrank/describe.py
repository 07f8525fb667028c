"""Describe a selection: one row per CAN (name, boroughs, population, profile, dissolved
polygon), the CAN of every LSOA, and the LSOA output table in its published column order."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from canrank.analysis.national import national_columns
from canrank.config import ResolvedScenario
from canrank.naming import name_cans
from canrank.selection import Selection

__all__ = ["can_table", "lsoa_columns"]


def can_table(
    ranked: gpd.GeoDataFrame, selection: Selection
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """One row per CAN with its dissolved polygon, and the CAN number per LSOA."""
    labels = selection.labels(len(ranked))
    names = name_cans(ranked, labels)
    rows = []
    for k, members in enumerate(selection.cans, start=1):
        sub = ranked.iloc[members]
        boroughs = sub.groupby("borough_name", sort=False)["population"].sum()
        boroughs = boroughs.sort_values(ascending=False, kind="stable")
        pop = float(sub["population"].sum())
        rows.append(
            {
                "can_id": k,
                "name": names[k],
                "boroughs": "; ".join(boroughs.index.astype(str)),
                "n_lsoas": len(sub),
                "population": round(pop),
                "mean_score": float(np.average(sub["score"], weights=sub["population"])),
                "objective": float((sub["score"] * sub["population"]).sum()),
                "best_rank": int(sub["rank"].min()),
                "lsoa_codes": ";".join(sorted(sub["lsoa_code"])),
                "geometry": sub.geometry.union_all(),
            }
        )
    cans = gpd.GeoDataFrame(rows, geometry="geometry", crs=ranked.crs)
    if len(cans):
        cans = _can_profiles(ranked, selection, labels, cans)
    return cans, labels


def _can_profiles(
    ranked: gpd.GeoDataFrame, selection: Selection, labels: np.ndarray, cans: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Add each CAN's profile: every indicator's population-weighted mean against the study
    area's median, and the MHCLG summary measures of the composite score within the study area
    (:func:`canrank.summaries.summary_measures`, ranks out of the study area's LSOAs)."""
    from canrank.summaries import summary_measures

    pop = ranked["population"].to_numpy(dtype=float)
    extra: dict[str, list[float] | float] = {}
    for col in [c for c in ranked.columns if c.endswith("_value")]:
        key = col[: -len("_value")]
        values = ranked[col].to_numpy(dtype=float)
        median = float(np.median(values))
        means = [float(np.average(values[m], weights=pop[m])) for m in selection.cans]
        extra[f"{key}_value"] = means
        extra[f"{key}_area_median"] = median
        extra[f"{key}_median_ratio"] = [v / median if median else float("nan") for v in means]
    if "imd_decile_england" in ranked.columns:
        # national context: the share of each CAN's residents in England's most deprived 10 %
        # of LSOAs by the IMD (of all LSOAs in England, not of the study area)
        top = (ranked["imd_decile_england"].to_numpy(dtype=float) == 1).astype(float)
        extra["share_in_england_most_deprived_10"] = [
            float(np.average(top[m], weights=pop[m])) for m in selection.cans
        ]
        ranks = ranked["imd_rank_england"].to_numpy(dtype=float)
        extra["best_imd_rank_england"] = [int(np.nanmin(ranks[m])) for m in selection.cans]
    inside = labels > 0
    frame = pd.DataFrame(
        {
            "can_id": labels[inside],
            "score": ranked["score"].to_numpy(dtype=float)[inside],
            "rank": ranked["rank"].to_numpy()[inside],
            "population": pop[inside],
        }
    )
    measures = summary_measures(
        frame,
        group="can_id",
        score="score",
        rank="rank",
        population="population",
        n_national=len(ranked),
    ).set_index("area_code")
    for name in (
        "average_score",
        "average_rank",
        "proportion_most_deprived_10",
        "extent",
        "local_concentration",
    ):
        extra[name] = measures.loc[cans["can_id"], name].to_numpy(dtype=float).tolist()
    out = cans.drop(columns="geometry").assign(**extra)
    out["geometry"] = cans.geometry.to_numpy()
    return gpd.GeoDataFrame(out, geometry="geometry", crs=cans.crs)


def lsoa_columns(ranked: gpd.GeoDataFrame, sc: ResolvedScenario) -> gpd.GeoDataFrame:
    """The ``lsoa`` output: fixed leading columns, indicators, score, rank, CAN; sorted by rank."""
    cols = ["lsoa_code", "lsoa_name", "borough_code", "borough_name", "population"]
    for ind in sc.indicators:
        cols += [f"{ind.key}_value", f"{ind.key}_norm", f"{ind.key}_contribution"]
    cols += ["score", "rank", "decile"]
    cols += [c for c in national_columns(sc) if c in ranked.columns]
    cols += ["can_id", "can_name"]
    if "ward_name" in ranked.columns:
        cols.append("ward_name")
    out = ranked[[*cols, "geometry"]].sort_values("rank", kind="stable").reset_index(drop=True)
    pop = out["population"].to_numpy(dtype=float)
    if np.all(pop == np.round(pop)):
        # counts of residents: one integer type in every output (CSV, GeoPackage, workbook)
        out["population"] = pop.astype(np.int64)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=ranked.crs)
