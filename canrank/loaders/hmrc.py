"""Read HMRC's "Children in low-income families local measure" at LSOA level (XLSX or CSV).

The measure (HMRC, snapshots at 31 August, 2006-2016; replaced in 2019 by DWP/HMRC's
"Children in low income families: local area statistics") counts children in families on
out-of-work benefits or on tax credits with reported income below 60% of the UK median.

Layout (ASSUMED, not confirmed from a real file: no copy of the LSOA workbook could be found
in public repositories or stored pages while writing this loader): a sheet such as ``LSOA``
with title/snapshot lines above one header row, then one row per LSOA and notes below::

    Personal tax credits: Children in low-income families local measure
    Snapshot as at 31 August 2014
    <blank>
    LSOA Code | LSOA Name | Local Authority | Number of children in low-income families |
        % of children in low-income families
    E01000001 | City of London 001A | City of London | 25 | 8.2
    ...
    Source: HMRC ...

Because the real headings are not known exactly, the header row is found by content: an
LSOA code column ("LSOA Code", "LSOA11CD", "Lower Super Output Area code" ...) and a count
column whose heading contains "children in low-income families" (quotes, hyphens and case
ignored, so 'Children in "Low-Income Families" Local Measure' also matches) and no
"%"/"percent"/"proportion". The percentage column is optional; Excel cells formatted as
percentages (0.082) are converted to percent (8.2). If several count columns match (e.g.
"all children" and "under 16"), the leftmost is used and recorded in ``attrs``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from canrank.errors import InputError, quote
from canrank.loaders._validate import LSOA_2011, check_lsoa_codes, to_numeric
from canrank.loaders.statxplore import (
    Grid,
    check_unique,
    is_blank,
    pick_sheet,
    read_grids,
    relocate,
)

__all__ = ["read_hmrc_cilif"]

_SOURCE = "the HMRC Children in Low-Income Families Local Measure (LSOA table)"
_HEADER_SEARCH_ROWS = 40
_CODE = re.compile(
    r"^(?:lsoa|lower (?:layer )?super output area)s?\s*(?:\(?20\d\d\)?\s*)?(?:code|cd)"
    r"\s*(?:\(?20\d\d\)?)?$|^lsoa(?:11|21)?cd$|^lsoa$"
)
_NAME = re.compile(
    r"^(?:lsoa|lower (?:layer )?super output area)s?\s*(?:\(?20\d\d\)?\s*)?(?:name|nm)"
    r"\s*(?:\(?20\d\d\)?)?$|^lsoa(?:11|21)?nm$"
)
_GSS = re.compile(r"^[A-Z]\d{8}$")
_TOTALS = (
    "total",
    "england",
    "wales",
    "england and wales",
    "united kingdom",
    "uk",
    "great britain",
)
_FOOTER_STARTS = ("source", "note", "*", "footnote", "figures", "crown copyright", "(")
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_SNAPSHOT = re.compile(rf"(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTHS})\s+(\d{{4}})", re.IGNORECASE)
_HINT_FILE = "use the HMRC file as published, without renaming or deleting rows and columns"


def _norm(text: str) -> str:
    """Normalise a heading: lower case, no quotes, hyphens/underscores as spaces."""
    t = text.casefold()
    t = re.sub(r"[\"'“”‘’`]", "", t)
    t = t.replace("-", " ").replace("_", " ")
    return " ".join(t.split())


def _is_pct(norm: str) -> bool:
    return "%" in norm or "percent" in norm or "proportion" in norm or norm.startswith("rate")


def _is_count(norm: str) -> bool:
    return "children in low income families" in norm and not _is_pct(norm)


@dataclass
class _Header:
    row: int  # 0-based index in the grid
    code: int
    count: int
    name: int | None
    pct: int | None


def _find_header(grid: Grid) -> tuple[_Header | None, InputError | None]:
    """Find the header row by content; return it, or the most useful error for this sheet."""
    for r, row in enumerate(grid.rows[:_HEADER_SEARCH_ROWS]):
        norms = [_norm(c) for c in row]
        code = next((j for j, n in enumerate(norms) if _CODE.match(n)), None)
        if code is None:
            continue
        count = next((j for j, n in enumerate(norms) if _is_count(n)), None)
        if count is None:
            shown = ", ".join(quote(c) for c in row if c)
            return None, InputError(
                "this does not look like the HMRC Children in Low-Income Families Local "
                "Measure: the header row has an LSOA code column but no column for the number "
                f"of children in low-income families. Columns found: {shown}",
                file=grid.where,
                row=r + 1,
                column="Number of children in low-income families",
                hint=_HINT_FILE + "; files from other publishers need their own loader",
            )
        name = next((j for j, n in enumerate(norms) if _NAME.match(n)), None)
        pct = next((j for j, n in enumerate(norms) if _is_pct(n) and "low income" in n), None)
        return _Header(row=r, code=code, count=count, name=name, pct=pct), None
    return None, InputError(
        f"no header row with an LSOA code column (e.g. 'LSOA Code') in the first "
        f"{_HEADER_SEARCH_ROWS} rows",
        file=grid.where,
        column="LSOA Code",
        hint=_HINT_FILE + "; choose the sheet with LSOA rows",
    )


def _choose_sheet(grids: list[Grid], sheet: str | None, path: Path) -> tuple[Grid, _Header]:
    """Pick the requested sheet (or search all, LSOA-named sheets first) and its header."""
    if sheet is not None and grids[0].source_format == "xlsx":
        candidates = [pick_sheet(grids, sheet, path=path, what=_SOURCE)]
    else:
        candidates = sorted(grids, key=lambda g: "lsoa" not in (g.sheet or "").casefold())
    errors: list[InputError] = []
    for grid in candidates:
        header, error = _find_header(grid)
        if header is not None:
            return grid, header
        if error is not None:
            errors.append(error)
    if len(candidates) == 1 or not errors:
        raise errors[0]
    partial = [e for e in errors if e.row is not None]
    if partial:
        raise partial[0]
    raise InputError(
        "no sheet has a header row with an LSOA code column; searched "
        + ", ".join(quote(g.sheet) for g in candidates),
        file=path,
        column="LSOA Code",
        hint="check this is the LSOA-level file of the HMRC Children in Low-Income Families "
        "Local Measure",
    )


def _snapshot(rows: Sequence[Sequence[str]]) -> tuple[str | None, str | None]:
    """Return (title, snapshot date or year) from the lines above the header."""
    title: str | None = None
    when: str | None = None
    months = _MONTHS.split("|")
    for row in rows:
        for cell in row:
            if not cell:
                continue
            title = title or cell
            if when is None:
                m = _SNAPSHOT.search(cell)
                if m:
                    month = months.index(m.group(2).casefold()) + 1
                    when = f"{int(m.group(3)):04d}-{month:02d}-{int(m.group(1)):02d}"
                else:
                    y = re.search(r"\b(20\d\d)\b", cell)
                    when = y.group(1) if y else None
    return title, when


def read_hmrc_cilif(
    path: str | Path,
    *,
    sheet: str | None = None,
    allow_suppressed: bool = False,
    countries: str = "E",
    vintage: str | None = LSOA_2011,
) -> pd.DataFrame:
    """Read the LSOA table of HMRC's Children in Low-Income Families Local Measure.

    Returns ``lsoa_code``, ``lsoa_name`` (if present), ``children_low_income`` and
    ``children_low_income_pct`` (0-100, if present); totals and notes are dropped. ``sheet``
    applies to workbooks only; without it every sheet is searched (LSOA-named ones first).
    """
    path = Path(path)
    grids = read_grids(path, what=_SOURCE)
    grid, h = _choose_sheet(grids, sheet, path)
    rows = grid.rows
    header = rows[h.row]
    code_col = header[h.code]
    count_col = header[h.count]
    pct_col = header[h.pct] if h.pct is not None else None
    needed = max(j for j in (h.code, h.count, h.name, h.pct) if j is not None) + 1
    value_cols = [h.count] + ([h.pct] if h.pct is not None else [])

    file_rows: list[int] = []
    grid_rows: list[int] = []
    codes: list[str] = []
    names: list[str] = []
    dropped = 0
    gap = False
    last = len(rows) - 1
    while last > h.row and is_blank(rows[last]):
        last -= 1
    for i in range(h.row + 1, len(rows)):
        row = rows[i]
        if is_blank(row):
            gap = True
            continue
        code = row[h.code] if h.code < len(row) else ""
        name = row[h.name] if h.name is not None and h.name < len(row) else ""
        low = code.casefold()
        has_values = any(j < len(row) and row[j] for j in value_cols)
        if low.startswith(_FOOTER_STARTS) or (gap and not _GSS.match(code)):
            break
        if low.startswith(_TOTALS) or (not code and name.casefold().startswith(_TOTALS)):
            dropped += 1
            continue
        if not _GSS.match(code) and not has_values:
            break  # a note line directly below the table
        if len(row) < needed:
            cut = i == last and not grid.ends_with_newline
            raise InputError(
                f"incomplete row: it has {len(row)} cells but the table needs {needed}"
                + ("; the file ends here without a line break, so it was cut off" if cut else ""),
                file=grid.where,
                row=i + 1,
                hint="download the file again" if cut else _HINT_FILE,
            )
        file_rows.append(i + 1)
        grid_rows.append(i)
        codes.append(code)
        names.append(name)

    if not codes:
        raise InputError(
            "no LSOA rows below the header",
            file=grid.where,
            row=h.row + 1,
            hint=_HINT_FILE,
        )
    check_unique(codes, file_rows, where=grid.where, column=code_col)
    try:
        check_lsoa_codes(
            pd.Series(codes, dtype=object),
            file=grid.where,
            column=code_col,
            header_rows=0,
            countries=countries,
            vintage=vintage,
        )
    except InputError as exc:
        raise relocate(exc, file_rows) from None

    raw = {count_col: [rows[i][h.count] for i in grid_rows]}
    if h.pct is not None and pct_col is not None:
        raw[pct_col] = [rows[i][h.pct].rstrip("%").strip() for i in grid_rows]
    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in raw.items()})
    try:
        num = to_numeric(
            frame,
            list(raw),
            file=grid.where,
            header_rows=0,
            allow_suppressed=allow_suppressed,
            scores=[pct_col] if pct_col is not None else [],
        )
    except InputError as exc:
        raise relocate(exc, file_rows) from None

    count = num[count_col].to_numpy(dtype=float)
    _check_range(count, 0.0, None, file_rows, grid.where, count_col, "a negative count")
    out = pd.DataFrame({"lsoa_code": codes})
    if h.name is not None:
        out["lsoa_name"] = names
    out["children_low_income"] = count
    if h.pct is not None and pct_col is not None:
        pct = num[pct_col].to_numpy(dtype=float)
        scale = np.array([100.0 if (i, h.pct) in grid.percent_cells else 1.0 for i in grid_rows])
        pct = pct * scale
        _check_range(pct, 0.0, 100.0, file_rows, grid.where, pct_col, "not a percentage")
        out["children_low_income_pct"] = pct
    out = out.sort_values("lsoa_code", kind="stable").reset_index(drop=True)

    title, when = _snapshot(rows[: h.row])
    out.attrs.update(
        {
            "source": "HMRC Children in Low-Income Families Local Measure",
            "source_format": f"hmrc-cilif-{grid.source_format}",
            "file": str(path),
            "sheet": grid.sheet,
            "title": title,
            "period": when,
            "measure": count_col,
            "count_column": count_col,
            "pct_column": pct_col,
            "header_row": h.row + 1,
            "rows_dropped": dropped,
            "suppressed": int(np.isnan(count).sum()),
        }
    )
    return out


def _check_range(
    values: np.ndarray,
    low: float,
    high: float | None,
    file_rows: Sequence[int],
    where: str,
    column: str,
    what: str,
) -> None:
    """Raise ``InputError`` at the first value outside [low, high] (NaN allowed)."""
    bad = values < low
    if high is not None:
        bad |= values > high
    idx = np.flatnonzero(bad)
    if idx.size:
        raise InputError(
            f"{values[idx[0]]:g} is {what} ({idx.size} such value(s))",
            file=where,
            row=file_rows[idx[0]],
            column=column,
            hint=_HINT_FILE,
        )
