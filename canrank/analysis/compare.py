"""Compare the rankings and CANs of two or more scenarios (e.g. the commission's indicator swap).

For every pair of scenarios: which CANs are in both and which only in one (CANs are matched
one-to-one by maximum LSOA overlap with the Hungarian algorithm, ``scipy.optimize.
linear_sum_assignment``), how much matched CANs overlap (Jaccard index on LSOAs and on
population), how well the LSOA rankings agree (Spearman's rho and Kendall's tau-b of the scores,
``scipy.stats``), the average absolute rank shift (OECD/JRC Handbook 2008, step 7) and the LSOAs
whose rank moved most. Everything is computed in memory from ``BuildResult`` objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.stats import kendalltau, spearmanr

from canrank.errors import InputError

__all__ = ["TOP_SHIFTS", "PairComparison", "compare_pair", "compare_results", "match_cans"]

#: How many of the largest rank shifts each pair reports.
TOP_SHIFTS = 20


@dataclass
class PairComparison:
    """The comparison of scenario ``a`` with scenario ``b``."""

    a: str
    b: str
    cans: pd.DataFrame  # one row per matched pair or unmatched CAN
    shifts: pd.DataFrame  # the TOP_SHIFTS largest rank shifts
    summary: dict[str, Any]  # one row of compare_summary.csv


def _members(result: Any) -> dict[int, list[str]]:
    return {
        int(row.can_id): sorted(str(row.lsoa_codes).split(";")) for row in result.cans.itertuples()
    }


def _jaccard(x: set[str], y: set[str], pop: pd.Series) -> tuple[float, float]:
    union = x | y
    if not union:
        return float("nan"), float("nan")
    inter = x & y
    pop_union = float(pop.loc[sorted(union)].sum())
    pop_inter = float(pop.loc[sorted(inter)].sum()) if inter else 0.0
    return len(inter) / len(union), (pop_inter / pop_union if pop_union else float("nan"))


def match_cans(
    members_a: dict[int, list[str]], members_b: dict[int, list[str]]
) -> list[tuple[int, int]]:
    """One-to-one matching of CAN ids maximising the total number of shared LSOAs.

    Pairs sharing no LSOA are dropped. Ties between equally good matchings are broken in favour
    of lower CAN numbers (a tiny penalty on the id), so the matching is deterministic.
    """
    ids_a, ids_b = sorted(members_a), sorted(members_b)
    if not ids_a or not ids_b:
        return []
    overlap = np.array(
        [[len(set(members_a[i]) & set(members_b[j])) for j in ids_b] for i in ids_a], dtype=float
    )
    eps = 1e-6 / (len(ids_a) * len(ids_b) + 1)
    penalty = eps * (np.arange(len(ids_a))[:, None] + np.arange(len(ids_b))[None, :])
    rows, cols = linear_sum_assignment(-(overlap - penalty))
    return [(ids_a[r], ids_b[c]) for r, c in zip(rows, cols, strict=True) if overlap[r, c] > 0]


def compare_pair(
    a: Any, b: Any, *, name_a: str | None = None, name_b: str | None = None, top: int = TOP_SHIFTS
) -> PairComparison:
    """Compare two ``BuildResult`` objects of the same study area."""
    na = name_a or str(a.manifest.get("scenario", "A"))
    nb = name_b or str(b.manifest.get("scenario", "B"))
    la = a.lsoa.set_index("lsoa_code")
    lb = b.lsoa.set_index("lsoa_code")
    common = la.index.intersection(lb.index).sort_values()
    if not len(common):
        raise InputError(
            f"scenarios {na!r} and {nb!r} share no LSOA", hint="compare scenarios of one area"
        )
    pop = pd.concat([la["population"], lb["population"]])
    pop = pop[~pop.index.duplicated()]
    ma, mb = _members(a), _members(b)
    pairs = match_cans(ma, mb)
    names_a = dict(zip(a.cans["can_id"].astype(int), a.cans["name"].astype(str), strict=True))
    names_b = dict(zip(b.cans["can_id"].astype(int), b.cans["name"].astype(str), strict=True))
    rows: list[dict[str, Any]] = []

    def row(ca: int | None, cb: int | None) -> dict[str, Any]:
        sa = set(ma.get(ca, [])) if ca is not None else set()
        sb = set(mb.get(cb, [])) if cb is not None else set()
        jl, jp = _jaccard(sa, sb, pop)
        status = (
            "both" if ca is not None and cb is not None else ("only_a" if cb is None else "only_b")
        )
        return {
            "scenario_a": na,
            "scenario_b": nb,
            "status": status,
            "can_a": ca,
            "name_a": names_a.get(ca, "") if ca is not None else "",
            "can_b": cb,
            "name_b": names_b.get(cb, "") if cb is not None else "",
            "n_lsoas_a": len(sa),
            "n_lsoas_b": len(sb),
            "shared_lsoas": len(sa & sb),
            "population_a": round(float(pop.loc[sorted(sa)].sum())) if sa else 0,
            "population_b": round(float(pop.loc[sorted(sb)].sum())) if sb else 0,
            "shared_population": round(float(pop.loc[sorted(sa & sb)].sum())) if sa & sb else 0,
            "jaccard_lsoa": jl if sa and sb else 0.0,
            "jaccard_population": jp if sa and sb else 0.0,
        }

    matched_a = {p[0] for p in pairs}
    matched_b = {p[1] for p in pairs}
    for ca, cb in sorted(pairs):
        rows.append(row(ca, cb))
    rows += [row(ca, None) for ca in sorted(ma) if ca not in matched_a]
    rows += [row(None, cb) for cb in sorted(mb) if cb not in matched_b]
    cans = pd.DataFrame(rows)
    cans["can_a"] = cans["can_a"].astype("Int64")
    cans["can_b"] = cans["can_b"].astype("Int64")

    sa_all = set().union(*map(set, ma.values())) if ma else set()
    sb_all = set().union(*map(set, mb.values())) if mb else set()
    jl_all, jp_all = _jaccard(sa_all, sb_all, pop)
    score_a = la.loc[common, "score"].to_numpy(dtype=float)
    score_b = lb.loc[common, "score"].to_numpy(dtype=float)
    rank_a = la.loc[common, "rank"].to_numpy(dtype=np.int64)
    rank_b = lb.loc[common, "rank"].to_numpy(dtype=np.int64)
    rho = float(spearmanr(score_a, score_b).statistic)
    tau = float(kendalltau(score_a, score_b).statistic)
    shift = rank_b - rank_a
    shifts = pd.DataFrame(
        {
            "scenario_a": na,
            "scenario_b": nb,
            "lsoa_code": common.to_numpy(),
            "lsoa_name": la.loc[common, "lsoa_name"].to_numpy(),
            "borough_name": la.loc[common, "borough_name"].to_numpy(),
            "rank_a": rank_a,
            "rank_b": rank_b,
            "shift": shift,
            "score_a": score_a,
            "score_b": score_b,
            "can_a": la.loc[common, "can_id"].astype("Int64").to_numpy(),
            "can_b": lb.loc[common, "can_id"].astype("Int64").to_numpy(),
        }
    )
    shifts["abs_shift"] = np.abs(shift)
    shifts = (
        shifts.sort_values(["abs_shift", "lsoa_code"], ascending=[False, True], kind="stable")
        .head(top)
        .drop(columns="abs_shift")
        .reset_index(drop=True)
    )
    both = cans[cans["status"] == "both"]
    summary = {
        "scenario_a": na,
        "scenario_b": nb,
        "n_lsoas_common": len(common),
        "spearman": rho,
        "kendall": tau,
        "mean_abs_rank_shift": float(np.abs(shift).mean()),
        "max_abs_rank_shift": int(np.abs(shift).max()),
        "n_cans_a": len(ma),
        "n_cans_b": len(mb),
        "cans_matched": len(both),
        "cans_identical": int((both["jaccard_lsoa"] == 1.0).sum()),
        "cans_only_a": int((cans["status"] == "only_a").sum()),
        "cans_only_b": int((cans["status"] == "only_b").sum()),
        "mean_jaccard_lsoa_matched": float(both["jaccard_lsoa"].mean()) if len(both) else 0.0,
        "mean_jaccard_population_matched": float(both["jaccard_population"].mean())
        if len(both)
        else 0.0,
        "jaccard_lsoa_all_cans": jl_all,
        "jaccard_population_all_cans": jp_all,
    }
    return PairComparison(na, nb, cans, shifts, summary)


def compare_results(results: dict[str, Any], *, top: int = TOP_SHIFTS) -> list[PairComparison]:
    """Compare every pair of scenarios, in the order given (A with B, A with C, B with C...)."""
    if len(results) < 2:
        raise InputError("at least two scenarios are needed", hint="name two or more scenarios")
    return [
        compare_pair(results[x], results[y], name_a=x, name_b=y, top=top)
        for x, y in combinations(results, 2)
    ]
