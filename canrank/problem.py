"""The selection problem of a ranked study area, and the call to the configured method.

Kept apart from :mod:`canrank.selection` (which knows nothing of configs or tables) so that a
build and every analysis of it set the problem up the same way, overrides included.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

from canrank.config import ResolvedScenario
from canrank.contiguity import Contiguity
from canrank.overrides import Overrides, apply_overrides
from canrank.selection import Selection, SelectionProblem, SelectionRules, select

__all__ = ["build_problem", "select_cans"]


def build_problem(
    ranked: pd.DataFrame,
    graph: Contiguity,
    scenario: ResolvedScenario,
    overrides: Overrides | None = None,
) -> tuple[SelectionProblem, list[str]]:
    """The selection problem for a ranked study area (rows in the graph's order), with any
    local-knowledge overrides applied; returns the problem and the overrides' warnings."""
    if list(graph.ids) != list(ranked["lsoa_code"]):
        raise ValueError("graph ids and ranked frame rows are not in the same order")
    sel = scenario.selection
    _codes, borough_idx = np.unique(ranked["borough_code"].to_numpy(), return_inverse=True)
    problem = SelectionProblem(
        graph=graph,
        score=ranked["score"].to_numpy(dtype=float),
        population=ranked["population"].to_numpy(dtype=float),
        borough=borough_idx.astype(np.int64),
        rules=SelectionRules(**{f.name: getattr(sel, f.name) for f in fields(SelectionRules)}),
    )
    if not overrides:
        return problem, []
    problem, notes = apply_overrides(problem, overrides)
    return problem, [*notes, *overrides.warnings]


def select_cans(problem: SelectionProblem, scenario: ResolvedScenario, **extra: Any) -> Selection:
    """Run the scenario's selection method (``extra`` adds run-time options such as
    ``progress``)."""
    if scenario.selection.method != "optimal":
        extra.pop("progress", None)  # only the exact method reports rounds
    return select(problem, scenario.selection.method, **_method_options(scenario), **extra)


def _method_options(scenario: ResolvedScenario) -> dict[str, Any]:
    """The configured options of the scenario's selection method."""
    sel = scenario.selection
    options: dict[str, Any] = {"seeds": sel.seeds}
    if sel.method == "optimal":
        options["node_limit"] = sel.node_limit
        options["max_rounds"] = sel.max_rounds
        options["time_limit_s"] = sel.time_limit_s
    return options
