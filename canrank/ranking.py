"""Combine a study's indicators into the composite score, rank and decile of every LSOA."""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from canrank.composite import aggregate, deciles, normalise, ranks_from_scores, winsorise
from canrank.study import Study

__all__ = ["rank_study"]


def rank_study(study: Study) -> gpd.GeoDataFrame:
    """Normalise, weight and combine the indicators; add score, rank, decile per LSOA."""
    sc = study.scenario
    out = study.lsoa.copy()
    norm_cols = []
    for ind in sc.indicators:
        raw = study.values[ind.key].to_numpy(dtype=float)
        out[f"{ind.key}_value"] = raw
        clipped = winsorise(raw, *ind.winsorise) if ind.winsorise else raw
        out[f"{ind.key}_norm"] = normalise(clipped, ind.transform, ind.direction)
        norm_cols.append(f"{ind.key}_norm")
    weights = np.array([i.weight for i in sc.indicators])
    norm = out[norm_cols].to_numpy(dtype=float)
    # --- overlap correction (issue 15): only when the scenario asks for it ---
    # ``overlap_correction: effective_weights`` replaces the nominal weights by weights whose
    # effective importances (squared correlation with the composite) match the nominal shares;
    # the weights used are kept in ``attrs["weights_used"]`` and recorded by the diagnostics.
    if sc.overlap_correction == "effective_weights":
        from canrank.analysis.diagnostics import correct_weights

        weights = correct_weights(norm, weights, sc.aggregation).weights
    out.attrs["weights_used"] = {
        i.key: float(w) for i, w in zip(sc.indicators, weights / weights.sum(), strict=True)
    }
    # --- end overlap correction ---
    score = aggregate(norm, weights, sc.aggregation)
    for ind, col, weight in zip(sc.indicators, norm_cols, weights, strict=True):
        arithmetic = sc.aggregation == "arithmetic"
        out[f"{ind.key}_contribution"] = weight * out[col] if arithmetic else np.nan
    out["score"] = score
    out["rank"] = ranks_from_scores(score, out["lsoa_code"].to_numpy())
    out["decile"] = deciles(out["rank"].to_numpy())
    return out
