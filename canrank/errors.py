"""Errors canrank raises for bad input, bad configuration and missing sources.

Every error names *where* the problem is (file, row, column) and *what to do*, so that the
CLI can print one clear message and exit with code 2 without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "CanrankError",
    "ConfigError",
    "GeometryError",
    "InputError",
    "MissingSourceError",
    "SelectionError",
]


def _quote(value: object) -> str:
    """Render an untrusted value safely for a one-line message (no control characters)."""
    text = str(value)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    if len(text) > 80:
        text = text[:77] + "..."
    return repr(text)


class CanrankError(Exception):
    """Base class: a problem the user can fix; the CLI exits with ``exit_code``."""

    exit_code: int = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        self.hint = hint
        super().__init__(self.__str__())

    def location(self) -> str:
        """Return ``file, row N, column 'X'`` for the parts that are known."""
        parts: list[str] = []
        if self.file:
            parts.append(self.file)
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {_quote(self.column)}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f"\n  What to do: {self.hint}"
        return _printable(text)


def _printable(text: str) -> str:
    """Replace control and format characters (terminal escapes, bidi overrides) except newlines.

    File names and cell values reach messages; an ESC sequence or a right-to-left override in
    one must not reach the user's terminal.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in text)


class InputError(CanrankError):
    """A data file is missing, malformed or inconsistent."""


class GeometryError(InputError):
    """A boundary file has no or a wrong CRS, or geometry that cannot be repaired."""


class ConfigError(CanrankError):
    """``indicators.yaml`` (or an overrides file) is broken or inconsistent."""


class SelectionError(CanrankError):
    """The CAN selection rules cannot be met (for example too few feasible neighbourhoods)."""


class MissingSourceError(CanrankError):
    """One or more sources a scenario needs could not be found in the cache, mirror or online."""

    def __init__(self, missing: Sequence[tuple[str, str]], *, hint: str | None = None) -> None:
        self.missing = list(missing)
        lines = [f"  - {sid}: {how}" for sid, how in self.missing]
        message = (
            f"{len(self.missing)} source(s) needed by this run are not available:\n"
            + "\n".join(lines)
        )
        super().__init__(message, hint=hint)


def quote(value: object) -> str:
    """Public helper for messages that include user data (names, codes, cell values)."""
    return _quote(value)
