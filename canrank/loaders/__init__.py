"""Loaders, one module per publisher format, each returning a tidy frame keyed by ``lsoa_code``.

:func:`read_source` dispatches on the catalogue entry's ``loader`` name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from canrank.sources import Source

__all__ = ["LOADERS", "read_source"]

#: loader name -> "module:function"; modules are imported on first use.
LOADERS: dict[str, str] = {
    "iod": "canrank.loaders.iod:read_iod",
    "lsoa_boundaries": "canrank.loaders.boundaries:read_lsoa_boundaries",
    "wards": "canrank.loaders.boundaries:read_wards",
    "boroughs": "canrank.loaders.boundaries:read_boroughs",
    "loneliness": "canrank.loaders.loneliness:read_loneliness",
    "statxplore": "canrank.loaders.statxplore:read_statxplore",
    "hmrc_cilif": "canrank.loaders.hmrc:read_hmrc_cilif",
    "lsoa_lookup": "canrank.vintage:read_lsoa_lookup",
}


def _resolve(name: str) -> Callable[..., pd.DataFrame]:
    module, func = LOADERS[name].split(":")
    return getattr(importlib.import_module(module), func)


def read_source(source: Source, path: Path, **options: Any) -> pd.DataFrame:
    """Read a located source file with its catalogue loader."""
    return _resolve(source.loader)(path, **options)
