"""Checks shared by every loader: columns present, LSOA codes valid and unique, numbers numeric.

Loaders call these so that every publisher's file fails in the same, explicit way.
Row numbers in messages are 1-based *file* rows (the header counts), which is what a user sees
in a spreadsheet or text editor.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from canrank.errors import InputError, quote

__all__ = [
    "LSOA_2011",
    "LSOA_2021",
    "SUPPRESSION_MARKERS",
    "check_lsoa_codes",
    "open_workbook",
    "require_columns",
    "to_numeric",
]

#: LSOA code patterns. 2011 and 2021 codes share the ``E01``/``W01`` prefix; the ranges differ
#: (2011 England codes stop at E01033768; 2021 new codes start at E01033769).
_CODE = re.compile(r"^[EW]01\d{6}$")
LSOA_2011 = "2011"
LSOA_2021 = "2021"
_LAST_2011_ENGLAND = 33768
_LAST_2011_WALES = 11909 + 1909  # not used for range checks; Welsh codes W01000001..W01001958

#: Cell values that publishers use for suppressed or unavailable figures.
SUPPRESSION_MARKERS = frozenset({"..", ".", "-", "*", "x", "c", "..c", "[c]", "[x]", "n/a", "na"})


def require_columns(
    frame: pd.DataFrame, columns: Iterable[str], *, file: str | Path, what: str
) -> None:
    """Raise ``InputError`` naming the first missing column and the columns that are there."""
    have = [str(c) for c in frame.columns]
    for col in columns:
        if col not in have:
            close = [h for h in have if h.strip().lower() == col.strip().lower()]
            near = f" A column {quote(close[0])} differs only in spaces or case." if close else ""
            shown = ", ".join(quote(h) for h in have[:8]) + (" ..." if len(have) > 8 else "")
            raise InputError(
                f"this does not look like {what}: the column is missing.{near} "
                f"Columns found: {shown}",
                file=file,
                column=col,
                hint=f"use the file exactly as published ({what}); do not rename its columns",
            )


def check_lsoa_codes(
    codes: pd.Series,
    *,
    file: str | Path,
    column: str,
    header_rows: int = 1,
    countries: str = "E",
    vintage: str | None = LSOA_2011,
) -> None:
    """Check codes are LSOA codes of the expected countries and vintage, and unique.

    ``header_rows`` converts positional index to the file row users see (row 1 = first header row).
    """
    values = codes.astype("string").str.strip()
    positions = np.arange(len(values))
    bad = ~values.fillna("").str.match(_CODE.pattern)
    if bad.any():
        i = int(positions[bad.to_numpy()][0])
        raise InputError(
            f"{quote(values.iloc[i])} is not an LSOA code (expected E01 or W01 and 6 digits); "
            f"{int(bad.sum())} row(s) like this",
            file=file,
            row=i + header_rows + 1,
            column=column,
            hint="remove totals, footnotes or blank rows, or check this is an LSOA-level file",
        )
    country = values.str[0]
    wrong = ~country.isin(list(countries))
    if wrong.any():
        i = int(positions[wrong.to_numpy()][0])
        names = {"E": "England", "W": "Wales"}
        allowed = " and ".join(names.get(c, c) for c in countries)
        raise InputError(
            f"{quote(values.iloc[i])} is outside the study geography ({allowed} only); "
            f"{int(wrong.sum())} such code(s)",
            file=file,
            row=i + header_rows + 1,
            column=column,
            hint="filter the file to the right country, or choose an area that includes it",
        )
    if vintage == LSOA_2011:
        num = values.str[3:].astype(int)
        newer = (country == "E") & (num > _LAST_2011_ENGLAND)
        if newer.any():
            i = int(positions[newer.to_numpy()][0])
            raise InputError(
                f"{quote(values.iloc[i])} is a 2021 LSOA code but this run uses 2011 LSOAs "
                f"({int(newer.sum())} such code(s))",
                file=file,
                row=i + header_rows + 1,
                column=column,
                hint="use the 2011-based edition of this source, or convert it with the "
                "LSOA 2011-2021 lookup",
            )
    dup = values.duplicated(keep="first")
    if dup.any():
        i = int(positions[dup.to_numpy()][0])
        first = int(positions[(values == values.iloc[i]).to_numpy()][0])
        raise InputError(
            f"LSOA code {quote(values.iloc[i])} appears more than once (first at row "
            f"{first + header_rows + 1}); {int(dup.sum())} duplicate row(s)",
            file=file,
            row=i + header_rows + 1,
            column=column,
            hint="each LSOA must appear once; remove the duplicated rows",
        )


def to_numeric(
    frame: pd.DataFrame,
    columns: Mapping[str, str] | Iterable[str],
    *,
    file: str | Path,
    header_rows: int = 1,
    allow_suppressed: bool = False,
) -> pd.DataFrame:
    """Convert columns to float, failing on the first non-numeric or suppressed cell.

    With ``allow_suppressed`` the publisher's suppression markers become NaN (the caller then
    decides what a missing value means); anything else that is not a number is still an error.
    """
    out = frame.copy()
    cols = list(columns)
    for col in cols:
        raw = out[col]
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            num = raw.astype(float)
            missing = num.isna()
            if missing.any() and not allow_suppressed:
                i = int(np.flatnonzero(missing.to_numpy())[0])
                raise InputError(
                    f"empty cell ({int(missing.sum())} empty cell(s) in this column)",
                    file=file,
                    row=i + header_rows + 1,
                    column=col,
                    hint="every LSOA needs a value; use the complete published file",
                )
            out[col] = num
            continue
        text = raw.astype("string").str.strip().str.replace(",", "", regex=False)
        num = pd.to_numeric(text, errors="coerce")
        blank = text.isna() | (text == "")
        marker = text.str.lower().isin(SUPPRESSION_MARKERS).fillna(False)
        bad = num.isna() & ~blank & ~marker
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{quote(text.iloc[i])} is not a number ({int(bad.sum())} such cell(s))",
                file=file,
                row=i + header_rows + 1,
                column=col,
                hint="the column must hold numbers; check the file is not corrupted or edited",
            )
        gaps = (blank | marker) & num.isna()
        if gaps.any() and not allow_suppressed:
            i = int(np.flatnonzero(gaps.to_numpy())[0])
            kind = "suppressed" if bool(marker.iloc[i]) else "empty"
            raise InputError(
                f"{kind} value {quote(text.iloc[i]) if kind == 'suppressed' else ''}"
                f"({int(gaps.sum())} suppressed or empty cell(s) in this column)",
                file=file,
                row=i + header_rows + 1,
                column=col,
                hint="configure a missing-value policy for this indicator, or use a source "
                "without suppression",
            )
        out[col] = num.astype(float)
    return out


def open_workbook(path: str | Path) -> pd.ExcelFile:
    """Open an .xlsx workbook; a missing, truncated or non-xlsx file is an ``InputError``."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=path, hint="check the path or run `canrank fetch`")
    try:
        return pd.ExcelFile(path, engine="openpyxl")
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise InputError(
            f"the workbook cannot be opened ({type(exc).__name__}); it may be truncated or not "
            "an .xlsx file",
            file=path,
            hint="download it again",
        ) from exc
