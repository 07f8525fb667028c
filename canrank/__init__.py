"""canrank: rank small areas by a composite of official indicators and select contiguous
Community Action Neighbourhoods (CANs).

The public API is re-exported here lazily (PEP 562), so that ``import canrank`` and the
command line start quickly; the CLI (``canrank``) is a thin layer over this API.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Build": "canrank.builds",
    "open_build": "canrank.builds",
    "load_build": "canrank.builds",
    "build_status": "canrank.builds",
    "build": "canrank.pipeline",
    "Study": "canrank.study",
    "prepare_study": "canrank.study",
    "rank_study": "canrank.ranking",
    "build_problem": "canrank.problem",
    "select_cans": "canrank.problem",
    "can_table": "canrank.describe",
    "aggregate": "canrank.composite",
    "normalise": "canrank.composite",
    "ranks_from_scores": "canrank.composite",
    "Config": "canrank.config",
    "load_config": "canrank.config",
    "Contiguity": "canrank.contiguity",
    "CanrankError": "canrank.errors",
    "ConfigError": "canrank.errors",
    "InputError": "canrank.errors",
    "MissingSourceError": "canrank.errors",
    "SelectionError": "canrank.errors",
    "Selection": "canrank.selection",
    "SelectionProblem": "canrank.selection",
    "SelectionRules": "canrank.selection",
    "select": "canrank.selection",
    "validate_selection": "canrank.selection",
}

__all__ = [
    "Build",
    "CanrankError",
    "Config",
    "ConfigError",
    "Contiguity",
    "InputError",
    "MissingSourceError",
    "Selection",
    "SelectionError",
    "SelectionProblem",
    "SelectionRules",
    "Study",
    "__version__",
    "aggregate",
    "build",
    "build_problem",
    "build_status",
    "can_table",
    "load_build",
    "load_config",
    "normalise",
    "open_build",
    "prepare_study",
    "rank_study",
    "ranks_from_scores",
    "select",
    "select_cans",
    "validate_selection",
]

if TYPE_CHECKING:
    from canrank.builds import Build, build_status, load_build, open_build
    from canrank.composite import aggregate, normalise, ranks_from_scores
    from canrank.config import Config, load_config
    from canrank.contiguity import Contiguity
    from canrank.describe import can_table
    from canrank.errors import (
        CanrankError,
        ConfigError,
        InputError,
        MissingSourceError,
        SelectionError,
    )
    from canrank.pipeline import build
    from canrank.problem import build_problem, select_cans
    from canrank.ranking import rank_study
    from canrank.selection import (
        Selection,
        SelectionProblem,
        SelectionRules,
        select,
        validate_selection,
    )
    from canrank.study import Study, prepare_study


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'canrank' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
