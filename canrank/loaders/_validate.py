"""Checks shared by every loader: columns present, LSOA codes valid and unique, numbers numeric.

Loaders call these so that every publisher's file fails in the same, explicit way.
Row numbers in messages are 1-based *file* rows (the header counts), which is what a user sees
in a spreadsheet or text editor.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from canrank.errors import InputError, quote

if TYPE_CHECKING:
    from canrank.config import AreaConfig

__all__ = [
    "LSOA_2011",
    "LSOA_2021",
    "SUPPRESSION_MARKERS",
    "check_area_coverage",
    "check_lsoa_codes",
    "check_population",
    "check_size",
    "check_xlsx_members",
    "decode_text",
    "open_workbook",
    "read_sheet",
    "require_columns",
    "to_numeric",
]

#: LSOA code patterns. 2011 and 2021 codes share the ``E01``/``W01`` prefix; the ranges differ
#: (2011 England codes stop at E01033768; 2021 new codes start at E01033769).
_CODE = re.compile(r"^[EW]01[0-9]{6}$")  # ASCII digits: \d matches any Unicode digit
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
    bad = ~values.fillna("").str.fullmatch(_CODE.pattern)
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


_THOUSANDS = r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"
_COMMA_HINT = (
    "save the file with '.' as the decimal separator and no thousands separators (in a "
    "spreadsheet, export the CSV with an English (UK) locale), or use the file as published"
)


def _check_commas(
    text: pd.Series, *, col: str, file: str | Path, header_rows: int, score: bool
) -> None:
    """Refuse numbers whose comma could be a decimal comma instead of a thousands separator.

    ``1,234`` in a column of counts is a thousands separator; ``0,123``, ``36,45`` and
    ``1.234,5`` are decimal commas; ``36,451`` is ambiguous in a column of scores (``score``)
    or where other cells use a decimal point, so it is refused rather than read as 36451.
    """
    comma = text.str.contains(",", regex=False).fillna(False).to_numpy(dtype=bool)
    if not comma.any():
        return
    # only cells that would be read as numbers once the commas were dropped (others are
    # reported as "not a number")
    parses = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce").notna()
    comma &= parses.to_numpy(dtype=bool)
    if not comma.any():
        return
    thousands = text.str.fullmatch(_THOUSANDS).fillna(False).to_numpy(dtype=bool)
    decimal = comma & ~thousands
    point = (text.str.contains(".", regex=False).fillna(False).to_numpy(dtype=bool)) & ~comma
    if decimal.any():
        i = int(np.flatnonzero(decimal)[0])
        why = "looks like a number written with a decimal comma"
    elif score or point.any():
        i = int(np.flatnonzero(comma)[0])
        where = (
            "a column of scores"
            if score
            else f"a column whose other cells use a decimal point "
            f"(e.g. {quote(text.iloc[int(np.flatnonzero(point)[0])])})"
        )
        why = (
            f"has a comma in {where}: it may be a decimal comma or a thousands separator, so "
            "it is not read as a number"
        )
    else:
        return
    raise InputError(
        f"{quote(text.iloc[i])} {why} ({int(comma.sum())} cell(s) with a comma)",
        file=file,
        row=i + header_rows + 1,
        column=col,
        hint=_COMMA_HINT,
    )


def _check_finite(
    num: pd.Series, *, col: str, file: str | Path, header_rows: int, raw: pd.Series
) -> None:
    inf = np.isinf(num.to_numpy(dtype=float))
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise InputError(
            f"{quote(raw.iloc[i])} is not a finite number ({int(inf.sum())} such cell(s))",
            file=file,
            row=i + header_rows + 1,
            column=col,
            hint="the column must hold ordinary numbers; check the file is not corrupted or edited",
        )


def to_numeric(
    frame: pd.DataFrame,
    columns: Mapping[str, str] | Iterable[str],
    *,
    file: str | Path,
    header_rows: int = 1,
    allow_suppressed: bool = False,
    scores: Iterable[str] = (),
) -> pd.DataFrame:
    """Convert columns to float, failing on the first non-numeric, infinite or suppressed cell.

    With ``allow_suppressed`` the publisher's suppression markers become NaN (the caller then
    decides what a missing value means); anything else that is not a number is still an error.
    Thousands separators (``1,234``) are accepted except in ``scores`` columns; a comma that
    may be a decimal comma is an error (see :func:`_check_commas`).
    """
    out = frame.copy()
    cols = list(columns)
    score_cols = set(scores)
    for col in cols:
        raw = out[col]
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            num = raw.astype(float)
            _check_finite(num, col=col, file=file, header_rows=header_rows, raw=raw)
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
        stripped = raw.astype("string").str.strip()
        _check_commas(
            stripped, col=col, file=file, header_rows=header_rows, score=col in score_cols
        )
        text = stripped.str.replace(",", "", regex=False)
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
        _check_finite(num, col=col, file=file, header_rows=header_rows, raw=stripped)
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


def check_population(
    values: pd.Series | np.ndarray,
    codes: Sequence[str] | pd.Index | pd.Series,
    *,
    file: str | Path,
    column: str,
) -> None:
    """Every LSOA's population must be a finite number above zero (no LSOA is empty).

    A zero, negative, missing or infinite population would silently distort rates and CAN
    population limits.
    """
    pop = np.asarray(values, dtype=float)
    bad = ~np.isfinite(pop) | (pop <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        code = list(codes)[i]
        raise InputError(
            f"the population of LSOA {quote(code)} is {pop[i]:g}; every LSOA's population must "
            f"be a number above zero ({int(bad.sum())} LSOA(s) with a missing, zero, negative "
            "or infinite population)",
            file=file,
            column=column,
            hint="use the population source as published; check the population column in the "
            "config",
        )


def check_area_coverage(
    codes: Iterable[str],
    area: AreaConfig,
    *,
    file: str | Path,
    area_key: str | None = None,
) -> None:
    """The study area's boundaries must hold all of its LSOAs (``expected_lsoas`` in the config).

    A boundary file holding half of London would otherwise give a smaller study area without
    a word. Areas without ``expected_lsoas`` are not checked.
    """
    expected = area.expected_lsoas
    if expected is None:
        return
    found = len(set(codes))
    if found == expected:
        return
    name = f"{area.label} ({area_key})" if area_key else area.label
    key = f"areas.{area_key}.expected_lsoas" if area_key else "the area's expected_lsoas"
    what = "only " if found < expected else ""
    raise InputError(
        f"the boundaries hold {what}{found:,} LSOAs of the study area {quote(name)}, which has "
        f"{expected:,}; a {'partial' if found < expected else 'different'} boundary file would "
        "silently change the study area",
        file=file,
        hint=f"use the complete published boundary file for the area, or, if a "
        f"{'smaller' if found < expected else 'different'} area is meant, change or remove "
        f"{key} in the config",
    )


#: The largest table file read (the largest published LSOA table is tens of megabytes).
MAX_TABLE_BYTES = 1_000_000_000
#: The largest uncompressed content of a workbook (a "zip bomb" would exhaust memory).
MAX_XLSX_UNCOMPRESSED = 2_000_000_000


def check_size(path: str | Path, *, what: str) -> None:
    """Refuse a table file far larger than any published LSOA table before reading it."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_TABLE_BYTES:
        raise InputError(
            f"the file is {size:,} bytes, far larger than any LSOA-level table "
            f"(limit {MAX_TABLE_BYTES:,})",
            file=path,
            hint=f"check this is {what}",
        )


def decode_text(raw: bytes, *, file: str | Path, what: str) -> str:
    """Decode a text file: UTF-8 (BOM optional), UTF-16/32 (BOM or evident), else Windows-1252.

    Files saved by Excel as "Unicode text" are UTF-16; older exports are Windows-1252. Binary
    data (NUL bytes that are not UTF-16) is an ``InputError``.
    """
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        encoding = "utf-32"
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif len(raw) >= 4 and raw[1:4:2] == b"\x00\x00" and raw[0:4:2].count(0) == 0:
        encoding = "utf-16-le"  # ASCII text as UTF-16 without a BOM
    elif len(raw) >= 4 and raw[0:4:2] == b"\x00\x00" and raw[1:4:2].count(0) == 0:
        encoding = "utf-16-be"
    else:
        encoding = ""
    try:
        if encoding:
            text = raw.decode(encoding)
        else:
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = raw.decode("cp1252")
    except UnicodeDecodeError:
        raise InputError(
            f"the file is not readable text (tried {encoding or 'UTF-8 and Windows-1252'})",
            file=file,
            hint=f"use {what} as published, or save it as UTF-8 CSV",
        ) from None
    if "\x00" in text:
        raise InputError(
            "the file contains binary data, so it is not a CSV/text file",
            file=file,
            hint=f"use {what} as published (CSV or XLSX)",
        )
    return text


def open_workbook(path: str | Path) -> pd.ExcelFile:
    """Open an .xlsx workbook; a missing, truncated or non-xlsx file is an ``InputError``."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=path, hint="check the path or run `canrank fetch`")
    check_size(path, what="an Excel workbook")
    try:
        check_xlsx_members(path)
        return pd.ExcelFile(path, engine="openpyxl")
    except InputError:
        raise
    except Exception as exc:  # BadZipFile, KeyError (a missing member), XML/zlib errors ...
        raise _damaged(path, exc) from None


def check_xlsx_members(path: str | Path) -> None:
    """Every worksheet the workbook lists must be in the archive.

    openpyxl silently drops a listed sheet whose member is missing, which would otherwise
    surface as a misleading "no such sheet" or "no header" message.
    """
    import xml.etree.ElementTree as ET

    path = Path(path)
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        names = {i.filename for i in infos}
        total = sum(i.file_size for i in infos)
        if total > MAX_XLSX_UNCOMPRESSED:
            raise InputError(
                f"the workbook unpacks to {total:,} bytes, far more than any LSOA-level table",
                file=path,
                hint="check this is the right file; it may be damaged or malicious",
            )
        rels = "xl/_rels/workbook.xml.rels"
        if rels not in names:
            return
        root = ET.fromstring(zf.read(rels))
    for rel in root:
        if not str(rel.get("Type", "")).endswith("/worksheet"):
            continue
        target = str(rel.get("Target", ""))
        member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        if member not in names:
            raise InputError(
                f"the workbook lists the sheet member {quote(member)} but the file does not "
                "hold it; the file is truncated or damaged",
                file=path,
                hint="download it again (and check its size matches the publisher's page)",
            )


def read_sheet(
    book: pd.ExcelFile, sheet: str, *, file: str | Path, **options: object
) -> pd.DataFrame:
    """``pd.read_excel`` of one sheet; a damaged sheet inside a valid workbook is an ``InputError``.

    Sheets are read lazily, so a truncated or corrupted member (``BadZipFile``, a missing
    member's ``KeyError``, XML or zlib errors) only shows when the sheet itself is read.
    """
    try:
        return pd.read_excel(book, sheet, **options)
    except InputError:
        raise
    except Exception as exc:
        raise _damaged(Path(file), exc, sheet=sheet) from None


def _damaged(path: Path, exc: Exception, *, sheet: str | None = None) -> InputError:
    part = f"sheet {quote(sheet)} of the workbook" if sheet else "the workbook"
    kind = "not a zip archive" if isinstance(exc, zipfile.BadZipFile) else type(exc).__name__
    return InputError(
        f"{part} cannot be opened ({kind}); the file is truncated, damaged or not an "
        ".xlsx workbook",
        file=path,
        hint="download it again (and check its size matches the publisher's page)",
    )
