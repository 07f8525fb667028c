"""Loaders, one module per publisher format, each returning a tidy frame keyed by ``lsoa_code``.

:func:`read_source` dispatches on the catalogue entry's ``loader`` name.
"""

from __future__ import annotations

import errno
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from canrank.errors import InputError
from canrank.loaders._validate import check_area_coverage, check_population
from canrank.sources import Source

__all__ = ["LOADERS", "check_area_coverage", "check_population", "read_error", "read_source"]

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
    """Read a located source file with its catalogue loader.

    An operating-system error while reading (permission denied, a folder where a file should
    be, an I/O error on a damaged disk) is an ``InputError`` naming the file.
    """
    try:
        return _resolve(source.loader)(path, **options)
    except OSError as exc:
        raise read_error(exc, path) from None


def read_error(exc: OSError, path: Path) -> InputError:
    """An ``InputError`` for a file that exists but cannot be read."""
    reasons = {
        errno.EACCES: ("permission denied", "make the file readable (check its permissions)"),
        errno.EPERM: ("permission denied", "make the file readable (check its permissions)"),
        errno.EISDIR: ("it is a folder, not a file", "point the config at the file itself"),
        errno.EIO: (
            "an input/output error (a damaged disk or a network drive)",
            "copy the file to a local disk and try again",
        ),
    }
    reason, hint = reasons.get(
        exc.errno or 0, (exc.strerror or type(exc).__name__, "check the file and try again")
    )
    return InputError(f"the file cannot be read: {reason}", file=exc.filename or path, hint=hint)
