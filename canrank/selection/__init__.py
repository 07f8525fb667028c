"""CAN selection: the problem, the result, and the registered methods.

``select(problem, method, **options)`` dispatches to a method module and checks the result:
``"optimal"`` (column generation with exact pricing and a reduced-cost proof, see
:mod:`canrank.selection.optimal`) or ``"greedy"`` (the quick heuristic). A new method registers
itself in :data:`METHODS` with the same signature ``(problem, **options) -> Selection``.
Heavy modules (numba, HiGHS) are imported only when a method runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from canrank.errors import SelectionError
from canrank.selection.problem import (
    Selection,
    SelectionProblem,
    SelectionRules,
    WarmStart,
    validate_selection,
)

__all__ = [
    "METHODS",
    "Selection",
    "SelectionProblem",
    "SelectionRules",
    "WarmStart",
    "select",
    "validate_selection",
]



def _greedy(problem: SelectionProblem, **options: Any) -> Selection:
    from canrank.selection.greedy import select_greedy

    return select_greedy(problem, **options)


def _optimal(problem: SelectionProblem, **options: Any) -> Selection:
    from canrank.selection.optimal import select_optimal

    return select_optimal(problem, **options)


METHODS: dict[str, Callable[..., Selection]] = {
    "greedy": _greedy,
    "optimal": _optimal,
}


def select(problem: SelectionProblem, method: str = "optimal", **options: Any) -> Selection:
    """Run a selection method and check its result against the rules.

    ``optimal`` options: ``warm_start`` (a :class:`WarmStart` from an earlier selection of the
    same problem with other scores), ``progress`` (called once per round with a dict),
    ``node_limit``, ``max_rounds``, ``time_limit_s`` (a safety net) and others documented in
    :func:`canrank.selection.optimal.select_optimal`.
    """
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
