"""CAN selection: the problem, the result, and the registered methods.

``select(problem, method)`` dispatches to a method module; a new method (an exact MILP, a
hot-spot method) registers itself in :data:`METHODS` with the same signature
``(problem, **options) -> Selection``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from canrank.errors import SelectionError
from canrank.selection.greedy import select_greedy
from canrank.selection.optimal import select_optimal
from canrank.selection.problem import (
    Selection,
    SelectionProblem,
    SelectionRules,
    validate_selection,
)

__all__ = [
    "METHODS",
    "Selection",
    "SelectionProblem",
    "SelectionRules",
    "select",
    "validate_selection",
]

METHODS: dict[str, Callable[..., Selection]] = {
    "greedy": select_greedy,
    "optimal": select_optimal,
}


def select(problem: SelectionProblem, method: str = "greedy", **options: Any) -> Selection:
    """Run a selection method and check its result against the rules."""
    if method not in METHODS:
        raise SelectionError(
            f"unknown selection method {method!r}; available: {', '.join(sorted(METHODS))}"
        )
    result = METHODS[method](problem, **options)
    if len(result.cans) < problem.rules.n_cans:
        raise SelectionError(
            f"only {len(result.cans)} of {problem.rules.n_cans} CANs can be formed under the "
            f"rules (population {problem.rules.min_population:,.0f}-"
            f"{problem.rules.max_population:,.0f}, at most {problem.rules.max_per_borough} per "
            "borough, CANs not touching)",
            hint="relax the population bounds or the borough cap, or ask for fewer CANs",
        )
    broken = validate_selection(problem, list(result.cans))
    if broken:
        raise SelectionError(
            f"method {method!r} returned an invalid selection: {'; '.join(broken[:5])}",
            hint="this is a bug in canrank; please report it with the manifest",
        )
    return result
