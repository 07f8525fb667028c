"""canrank: rank small areas by a composite of official indicators and select contiguous
Community Action Neighbourhoods (CANs).

The public API is re-exported here; the CLI (``canrank``) is a thin layer over it.
"""

from __future__ import annotations

__version__ = "0.1.0"

from canrank.composite import aggregate, normalise, ranks_from_scores
from canrank.config import Config, load_config
from canrank.contiguity import Contiguity
from canrank.errors import (
    CanrankError,
    ConfigError,
    InputError,
    MissingSourceError,
    SelectionError,
)
from canrank.pipeline import (
    BuildResult,
    build,
    build_problem,
    prepare_study,
    rank_study,
    select_cans,
)
from canrank.selection import (
    Selection,
    SelectionProblem,
    SelectionRules,
    select,
    validate_selection,
)

__all__ = [
    "BuildResult",
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
    "__version__",
    "aggregate",
    "build",
    "build_problem",
    "load_config",
    "normalise",
    "prepare_study",
    "rank_study",
    "ranks_from_scores",
    "select",
    "select_cans",
    "validate_selection",
]
