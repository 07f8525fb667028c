"""Why an LSOA ranks where it does, and why it is (or is not) in a CAN.

Answers the commissioners' question "why is this area in and that one out?" from a finished
build: the indicator values, their normalised values and weighted contributions, the rank, and
for an LSOA outside every CAN the first rule that keeps it out — a neighbouring CAN (CANs may
not touch), its borough's CAN cap, no contiguous room for a neighbourhood within the population
bounds, or a best possible neighbourhood that scores below the weakest selected CAN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from canrank.analysis.national import national_columns
from canrank.builds import Build
from canrank.errors import InputError, quote
from canrank.selection.greedy import grow_region

__all__ = ["Explanation", "explain_lsoa"]


@dataclass(frozen=True)
class Explanation:
    """Everything ``canrank explain`` prints about one LSOA."""

    lsoa_code: str
    lsoa_name: str
    borough_name: str
    population: float
    rank: int
    n_lsoas: int
    decile: int
    score: float
    indicators: list[dict[str, object]] = field(default_factory=list)
    can_id: int | None = None
    can_name: str | None = None
    status: str = ""
    reason: str = ""
    #: national context: (label, value) pairs such as ("IMD rank of 32,844 in England ...",
    #: "1,234"), empty when the scenario's sources carry no national ranks
    national: list[tuple[str, str]] = field(default_factory=list)


def explain_lsoa(result: Build, code: str) -> Explanation:
    """Explain one LSOA of a build (``code`` as in ``lsoa.csv``)."""
    lsoa = result.lsoa.set_index("lsoa_code")
    if code not in lsoa.index:
        raise InputError(
            f"LSOA {quote(code)} is not in the study area of scenario "
            f"{result.scenario.name} ({len(lsoa)} LSOAs)",
            hint="check the code (e.g. E01001234) or choose another --area",
        )
    row = lsoa.loc[code]
    sc = result.scenario
    indicators = [
        {
            "key": ind.key,
            "label": ind.label,
            "transform": ind.transform,
            "direction": ind.direction,
            "weight": ind.weight,
            "value": float(row[f"{ind.key}_value"]),
            "normalised": float(row[f"{ind.key}_norm"]),
            "contribution": float(row[f"{ind.key}_contribution"]),
            "proxy": ind.proxy_note,
        }
        for ind in sc.indicators
    ]
    base: dict[str, Any] = {
        "lsoa_code": code,
        "lsoa_name": str(row["lsoa_name"]),
        "borough_name": str(row["borough_name"]),
        "population": float(row["population"]),
        "rank": int(row["rank"]),
        "n_lsoas": len(lsoa),
        "decile": int(row["decile"]),
        "score": float(row["score"]),
        "indicators": indicators,
        "national": [
            (label, f"{int(row[col]):,}")
            for col, label in national_columns(sc).items()
            if col in row.index and not pd.isna(row[col])
        ],
    }
    if not pd.isna(row["can_id"]):
        can_id = int(row["can_id"])
        return Explanation(
            **base,
            can_id=can_id,
            can_name=str(row["can_name"]),
            status="in a CAN",
            reason=f"it is one of the LSOAs of CAN {can_id}, {row['can_name']}",
        )
    status, reason = _why_not(result, code)
    return Explanation(**base, status=status, reason=reason)


def _why_not(result: Build, code: str) -> tuple[str, str]:
    """The first selection rule that keeps ``code`` out of every CAN."""
    graph = result.graph
    ranked = result.lsoa
    problem = result.problem()
    rules = problem.rules
    i = graph.ids.index(code)
    labels = result.selection.labels(graph.n)
    cans = result.cans.set_index("can_id")
    if result.overrides:
        reasons = dict(result.overrides.exclude)
        if code in reasons:
            why = f" ({reasons[code]})" if reasons[code] else ""
            return (
                "excluded by local knowledge",
                f"the overrides file {result.overrides.file} excludes it from every CAN{why}",
            )
    if not problem.eligible()[i]:
        return (
            "below the threshold",
            f"its score is below the minimum member score ({rules.min_member_score})",
        )
    touching = sorted({int(labels[j]) for j in graph.neighbors(i) if labels[j] > 0})
    if rules.separation and touching:
        names = ", ".join(f"CAN {k} ({cans.loc[k, 'name']})" for k in touching)
        return (
            "next to a CAN",
            f"it borders {names}; CANs may not touch, and adding it to that CAN would have "
            "broken the population bound or lowered the CAN's score per resident",
        )
    load = np.zeros(int(problem.borough.max()) + 1, dtype=np.int64)
    for members in result.selection.cans:
        for b in np.unique(problem.borough[members]):
            load[b] += 1
    if load[problem.borough[i]] >= rules.max_per_borough:
        in_borough = sorted(
            {int(labels[j]) for j in np.flatnonzero(problem.borough == problem.borough[i])} - {0}
        )
        names = ", ".join(f"{k} ({cans.loc[k, 'name']})" for k in in_borough)
        return (
            "borough cap",
            f"{ranked.loc[i, 'borough_name']} already has {rules.max_per_borough} CANs "
            f"(CAN {names}), the most allowed per borough",
        )
    free = problem.eligible() & (labels == 0)
    if rules.separation:
        for members in result.selection.cans:
            for j in members:
                free[graph.neighbors(int(j))] = False
    adjacency = [graph.neighbors(k).tolist() for k in range(graph.n)]
    region = grow_region(problem, i, free, load, adjacency)
    if region is None:
        return (
            "no contiguous room",
            "the free LSOAs connected to it cannot make a neighbourhood of "
            f"{rules.min_population:,.0f}-{rules.max_population:,.0f} residents without "
            "touching a CAN or exceeding a borough cap",
        )
    value = float(problem.weight[region].sum())
    weakest = min(float(problem.weight[c].sum()) for c in result.selection.cans)
    return (
        "below the threshold",
        f"the best neighbourhood grown from it ({len(region)} LSOAs, "
        f"{problem.population[region].sum():,.0f} residents) covers a population-weighted score "
        f"of {value:,.0f}, less than the weakest selected CAN ({weakest:,.0f})",
    )
