"""Read DWP Stat-Xplore table downloads (CSV or XLSX) of claimant counts by LSOA.

Stat-Xplore is where DWP publishes Housing Benefit and Pension Credit caseloads by small area.
A "Download Table" export is not a plain table, so this module finds the table inside it.

Layout of a real download (confirmed from a Stat-Xplore CSV committed in a public repository,
MatteoLarrode/ChildrenLowIncomeHouseholdsUK, ``inst/extdata/households_on_UC_ltla_15-22.csv``)::

    Stat-Xplore                                          <- tool name
                                                         <- blank
    "Households on Universal Credit (I II III IV z)"     <- dataset name (+ annotation keys)
    "National - Regional - LA - OAs by Month"            <- query: rows field "by" columns field
    "Counting: Households on Universal Credit"           <- measure
                                                         <- blank
    Filters:
    "Default Summation","Households on Universal Credit"
                                                         <- blank
    "Month","August 2015","August 2015 - Annotations",...,   <- column field, then periods
    "National - Regional - LA - OAs",                    <- row (geography) field label
    "County Durham",13,,11,,...                          <- one row per area
    ...
    "Total",98139,,...
                                                         <- blanks, then footer:
    "INFO","Statistical disclosure control has been applied ..."
    Symbol,Description
    "z","(.. in doubled quotes) denotes a nil or negligible number of claimants ..."
    Source: Department for Work and Pensions

Also accepted (older exports and hand-made views): a header row whose first cell is the
geography label and whose other cells are periods ("Feb-17", "February 2017", "2014/15"),
``Dataset:``/``Measure:``/``Query:`` title lines, and area labels that are codes
("E01000001"), "code : name" ("E01000027 : Barking and Dagenham 001A") or names only
("Barking and Dagenham 001A", mapped with ``name_lookup``). XLSX downloads are assumed to hold
the same rows in the first sheet (not confirmed from a real file).

Cell symbols: DWP's own footnote in the real download says ``..`` "denotes a nil or negligible
number of claimants", i.e. a value withheld by statistical disclosure control. It is treated
as suppressed (an error unless ``allow_suppressed=True``, then NaN; a caller may choose to read
it as 0). No real Stat-Xplore download seen uses ``-``, so ``-`` is also treated as suppressed
by default rather than silently invented as zero; pass ``dash_means="zero"`` if a file's own
footnotes say ``-`` means nil.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from canrank.errors import InputError, quote
from canrank.loaders._validate import (
    LSOA_2011,
    check_lsoa_codes,
    check_size,
    check_xlsx_members,
    decode_text,
    to_numeric,
)

__all__ = [
    "Grid",
    "area_code_and_name",
    "lookup_name",
    "name_index",
    "period_key",
    "pick_sheet",
    "read_grids",
    "read_statxplore",
    "select_period",
]

#: Any GSS-style code (E01000001, W01000001, S01006506, E02000001 ...). Whether it is an LSOA
#: code of the right country is checked later by ``check_lsoa_codes`` so the message is precise.
_GSS = re.compile(r"^[A-Z]\d{8}$")
_CODE_THEN_NAME = re.compile(r"^([A-Z]\d{8})\s*(?::|\s-\s|\s–\s)\s*(.+)$")
_NAME_THEN_CODE = re.compile(r"^(.+?)\s*(?::|\s-\s|\s–\s)\s*([A-Z]\d{8})$")
#: LSOA names are "<local authority> <3 digits><letter>", e.g. "Barking and Dagenham 001A".
_LSOA_NAME = re.compile(r"^\S.*\s\d{3}[A-Z]$")
_REVISION_MARK = re.compile(r"\s*\((?:r|p|R|P)\)\s*$")
_PERIOD_FORMATS = ("%b-%y", "%B-%y", "%b %Y", "%B %Y", "%b-%Y", "%B-%Y", "%Y%m", "%Y-%m", "%m/%Y")

#: Row labels that are not areas: table totals and DWP's catch-all rows.
_NON_AREA_ROWS = frozenset(
    {"total", "column total", "grand total", "unknown", "abroad", "unknown or abroad"}
)
#: First cells that start the footer below the table.
_FOOTER_STARTS = (
    "info",
    "symbol",
    "source",
    "data source",
    "*",
    "note",
    "statistical disclosure",
    "stat-xplore",
    "annotation",
)
#: Labels of Stat-Xplore time fields (first cell of the header in the real layout).
_TIME_FIELDS = frozenset({"month", "quarter", "year", "date", "financial year", "time"})
#: A header cell that names a period: a year, "Feb-17", or "2014/15".
_PERIOD_LIKE = re.compile(r"(?:19|20)\d\d|\b[a-z]{3,9}[- ]\d\d\b|\d{4}/\d{2}", re.IGNORECASE)

_SOURCE = "a Stat-Xplore table download"
_HINT_DOWNLOAD = (
    "download the table again from Stat-Xplore (Download Table > CSV or Excel) and use it unchanged"
)


# --------------------------------------------------------------------------------------------
# Reading CSV / XLSX into a grid of strings (shared with other loaders of spreadsheet layouts)
# --------------------------------------------------------------------------------------------


@dataclass
class Grid:
    """One sheet (or a CSV file) as rows of stripped cell strings, plus where it came from."""

    rows: list[list[str]]
    where: str
    source_format: str
    sheet: str | None = None
    ends_with_newline: bool = True
    #: (row index, column index) of numeric cells formatted as a percentage in Excel.
    percent_cells: set[tuple[int, int]] = field(default_factory=set)


def _cell_text(value: object) -> str:
    """Render a spreadsheet cell as the text a user sees (integers without '.0')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if np.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def read_grids(path: str | Path, *, what: str) -> list[Grid]:
    """Read every sheet of an XLSX workbook, or a CSV file, as ``Grid`` objects.

    Empty, truncated, legacy-.xls and undecodable files raise ``InputError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "file not found",
            file=path,
            hint=f"check the path; it should point to {what}",
        )
    check_size(path, what=what)
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(
            "the file is empty",
            file=path,
            hint=f"download {what} again; the previous download did not complete",
        )
    suffix = path.suffix.lower()
    if raw[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise InputError(
            "this is a legacy Excel 97-2003 (.xls) workbook, which is not supported",
            file=path,
            hint="open it in a spreadsheet program and save it as .xlsx, or download CSV",
        )
    if raw[:4] == b"PK\x03\x04":
        return _read_xlsx(path, raw, what=what)
    if suffix in {".xlsx", ".xlsm"}:
        raise InputError(
            "this .xlsx file is not a valid Excel workbook (it does not start like one); "
            "the download is probably truncated or is an error page",
            file=path,
            hint=f"download {what} again",
        )
    return [_read_csv(path, raw, what=what)]


def _read_xlsx(path: Path, raw: bytes, *, what: str) -> list[Grid]:
    """Read all sheets of a workbook, converting truncation/corruption into ``InputError``."""
    import openpyxl

    grids: list[Grid] = []
    try:
        check_xlsx_members(path)
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        try:
            for ws in book.worksheets:
                rows: list[list[str]] = []
                percent: set[tuple[int, int]] = set()
                for r, cells in enumerate(ws.iter_rows()):
                    row: list[str] = []
                    for c, cell in enumerate(cells):
                        value = getattr(cell, "value", None)
                        row.append(_cell_text(value))
                        fmt = getattr(cell, "number_format", None) or ""
                        if isinstance(value, int | float) and "%" in fmt:
                            percent.add((r, c))
                    rows.append(row)
                width = max((len(r) for r in rows), default=0)
                rows = [r + [""] * (width - len(r)) for r in rows]
                grids.append(
                    Grid(
                        rows=rows,
                        where=f"{path}, sheet {quote(ws.title)}",
                        source_format="xlsx",
                        sheet=ws.title,
                        percent_cells=percent,
                    )
                )
        finally:
            book.close()
    except InputError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, KeyError, XML errors ... on damaged files
        raise InputError(
            f"cannot be read as an Excel workbook ({type(exc).__name__}); the download looks "
            "truncated or corrupted",
            file=path,
            hint=f"download {what} again and check the file size matches the website",
        ) from None
    return grids


def _read_csv(path: Path, raw: bytes, *, what: str) -> Grid:
    """Decode (UTF-8, else Windows-1252) and parse a CSV strictly, reporting the failing line."""
    text = decode_text(raw, file=path, what=what)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    try:
        for row in reader:
            rows.append([cell.strip() for cell in row])
    except csv.Error as exc:
        raise InputError(
            f"the CSV cannot be parsed ({exc}); an unterminated quote usually means the "
            "download was cut off",
            file=path,
            row=reader.line_num,
            hint=f"download {what} again",
        ) from None
    return Grid(
        rows=rows,
        where=str(path),
        source_format="csv",
        ends_with_newline=text.endswith(("\n", "\r")),
    )


def pick_sheet(grids: Sequence[Grid], sheet: str | None, *, path: str | Path, what: str) -> Grid:
    """Return the named sheet (exact, then case-insensitive) or the first one; CSV has one."""
    if sheet is None or grids[0].source_format != "xlsx":
        return grids[0]
    for same in (
        lambda g: g.sheet == sheet,
        lambda g: (g.sheet or "").strip().casefold() == sheet.strip().casefold(),
    ):
        found = [g for g in grids if same(g)]
        if found:
            return found[0]
    raise InputError(
        f"the workbook has no sheet {quote(sheet)}; sheets: "
        + ", ".join(quote(g.sheet) for g in grids),
        file=path,
        hint=f"pass one of the sheet names above (the sheet holding {what}), or leave it unset",
    )


def is_blank(row: Sequence[str]) -> bool:
    """True when every cell of the row is empty."""
    return not any(row)


def relocate(exc: InputError, file_rows: Sequence[int]) -> InputError:
    """Re-issue an error raised on a compacted table with the row number the user sees.

    ``file_rows[i]`` is the 1-based file row of table position ``i``; the shared checks are
    called with ``header_rows=0`` so their ``row`` is ``position + 1``.
    """
    row = exc.row
    if row is not None and 1 <= row <= len(file_rows):
        row = file_rows[row - 1]
    return InputError(exc.message, file=exc.file, row=row, column=exc.column, hint=exc.hint)


def check_unique(
    codes: Sequence[str], file_rows: Sequence[int], *, where: str, column: str
) -> None:
    """Raise ``InputError`` naming both file rows when an LSOA code appears twice."""
    first: dict[str, int] = {}
    for code, row in zip(codes, file_rows, strict=True):
        if code in first:
            dups = len(codes) - len(set(codes))
            raise InputError(
                f"LSOA code {quote(code)} appears more than once (first at row {first[code]}); "
                f"{dups} duplicate row(s)",
                file=where,
                row=row,
                column=column,
                hint="each LSOA must appear once; remove the duplicated rows or download the "
                "table again",
            )
        first[code] = row


# --------------------------------------------------------------------------------------------
# Labels and periods
# --------------------------------------------------------------------------------------------


def area_code_and_name(label: str) -> tuple[str | None, str | None]:
    """Split an area label into (code, name): "E01000027 : Barking and Dagenham 001A", a code
    alone, "name : code", or a name alone (code ``None``)."""
    text = " ".join(label.split())
    if _GSS.match(text):
        return text, None
    m = _CODE_THEN_NAME.match(text)
    if m:
        return m.group(1), m.group(2).strip()
    m = _NAME_THEN_CODE.match(text)
    if m:
        return m.group(2), m.group(1).strip()
    return None, text or None


def _looks_like_area(label: str, lookup: Mapping[str, str] | None) -> bool:
    """True for labels that are (or contain) a GSS code, look like an LSOA name, or are in
    the caller's name lookup."""
    code, name = area_code_and_name(label)
    if code is not None:
        return True
    if name is None:
        return False
    if _LSOA_NAME.match(name):
        return True
    return lookup is not None and lookup_name(lookup, name) is not None


def name_index(lookup: Mapping[str, str]) -> dict[str, str]:
    """Index an LSOA name -> code lookup by normalised name (case and spacing ignored)."""
    return {" ".join(str(k).split()).casefold(): str(v).strip() for k, v in lookup.items()}


def lookup_name(index: Mapping[str, str], name: str) -> str | None:
    """Find an LSOA name in an index built by ``name_index``."""
    return index.get(" ".join(name.split()).casefold())


def period_key(label: str) -> str:
    """Normalise a period label so "Feb-17", "February 2017", "201702" and "February 2017 (r)"
    compare equal ("2017-02"); other labels ("2014/15") are compared case-insensitively."""
    text = _REVISION_MARK.sub("", " ".join(str(label).split()))
    for fmt in _PERIOD_FORMATS:
        try:
            return datetime.strptime(text, fmt).strftime("%Y-%m")
        except ValueError:
            continue
    return text.casefold()


def select_period(
    labels: Sequence[str], period: str | None, *, where: str, row: int | None = None
) -> int:
    """Return the index of the requested period among ``labels``.

    Without ``period`` there must be exactly one; a missing or ambiguous period is an
    ``InputError`` listing the periods that are available.
    """
    shown = ", ".join(quote(lab) for lab in labels[:12]) + (" ..." if len(labels) > 12 else "")
    if not labels:
        raise InputError(
            "the table has no period columns",
            file=where,
            row=row,
            hint="download a table with the month (or quarter/year) field in the columns",
        )
    if period is None:
        if len(labels) == 1:
            return 0
        raise InputError(
            f"the table has {len(labels)} periods, so the period to use must be given; "
            f"available: {shown}",
            file=where,
            row=row,
            hint="pass period='<one of the labels above>' (e.g. in the indicator's "
            "configuration), or download a table with a single month",
        )
    want = period_key(period)
    hits = [i for i, lab in enumerate(labels) if period_key(lab) == want]
    if not hits:
        raise InputError(
            f"period {quote(period)} is not in the table; available: {shown}",
            file=where,
            row=row,
            hint="use one of the available periods, or download the table for that period",
        )
    if len(hits) > 1:
        raise InputError(
            f"period {quote(period)} matches {len(hits)} columns "
            f"({', '.join(quote(labels[i]) for i in hits)}); the table has more than one column "
            "field",
            file=where,
            row=row,
            hint="download a table with only the period field in the columns",
        )
    return hits[0]


# --------------------------------------------------------------------------------------------
# Stat-Xplore table download
# --------------------------------------------------------------------------------------------


@dataclass
class _Layout:
    header: int  # 0-based row index of the header with the period labels
    data_start: int  # 0-based row index of the first area row
    geography: str  # label of the row field
    meta_rows: list[list[str]]


def _find_layout(grid: Grid, lookup: Mapping[str, str] | None) -> _Layout:
    """Locate the header and first area row by content, and check the title block above."""
    rows = grid.rows
    first = next(
        (
            i
            for i, row in enumerate(rows)
            if row
            and _looks_like_area(row[0], lookup)
            and any(row[1:])
            and row[0].casefold() not in _NON_AREA_ROWS
        ),
        None,
    )
    signature = _has_title_block(rows[: first if first is not None else len(rows)])
    if first is None:
        if signature:
            raise InputError(
                "no LSOA rows found in the table (area labels should be LSOA codes, "
                "'code : name' or LSOA names such as 'Barking and Dagenham 001A')",
                file=grid.where,
                hint="in Stat-Xplore, choose the Lower Layer Super Output Area level of the "
                "geography field before downloading",
            )
        raise _not_statxplore(grid)
    if not signature:
        raise _not_statxplore(grid)
    above = first - 1
    while above >= 0 and is_blank(rows[above]):
        above -= 1
    if above < 0:
        raise _not_statxplore(grid)
    label_row = rows[above]
    filled = [c for c in label_row if c]
    geography: str
    if len(filled) == 1 and label_row[0]:
        # Real layout: "Month","Aug 2015",... then a row holding only the geography label.
        geography = label_row[0]
        header = above - 1
        while header >= 0 and is_blank(rows[header]):
            header -= 1
    else:
        header = above
        geography = label_row[0]
        if not geography or geography.casefold() in _TIME_FIELDS:
            geography = "area label"
    if header < 0 or not any(_PERIOD_LIKE.search(c) for c in rows[header][1:]):
        raise InputError(
            "cannot find the header row with the period labels (e.g. 'February 2017', "
            "'Feb-17') above the first LSOA row",
            file=grid.where,
            row=first + 1,
            hint=_HINT_DOWNLOAD,
        )
    return _Layout(header=header, data_start=first, geography=geography, meta_rows=rows[:header])


def _has_title_block(rows: Sequence[Sequence[str]]) -> bool:
    """True if the rows above the table carry Stat-Xplore's title lines."""
    for row in rows:
        first = next((c for c in row if c), "")
        low = first.casefold()
        if low == "stat-xplore" or low.startswith("counting:") or low == "default summation":
            return True
        if low.rstrip(":") in {"dataset", "measure", "filters", "query"} or any(
            low.startswith(p + ":") for p in ("dataset", "measure", "query")
        ):
            return True
    return False


def _not_statxplore(grid: Grid) -> InputError:
    """The error for a file that is not a Stat-Xplore export (e.g. an IoD CSV)."""
    return InputError(
        "this does not look like a Stat-Xplore table download: there are no Stat-Xplore "
        "title lines ('Stat-Xplore', 'Counting: ...', 'Filters:') above an LSOA table",
        file=grid.where,
        hint="use the Housing Benefit / Pension Credit table downloaded from Stat-Xplore "
        "unchanged; files from other publishers need their own loader",
    )


def _parse_titles(meta: Sequence[Sequence[str]]) -> dict[str, object]:
    """Pull dataset, query, measure and filters from the lines above the table."""
    dataset: str | None = None
    query: str | None = None
    measure: str | None = None
    filters: dict[str, str] = {}
    in_filters = False
    for row in meta:
        cells = [c for c in row if c]
        if not cells:
            in_filters = False
            continue
        head = cells[0]
        low = head.casefold()
        rest = " ".join(cells[1:]).strip()
        key, sep, value = head.partition(":")
        value = (value.strip() or rest) if sep else rest
        k = key.strip().casefold()
        if low == "stat-xplore":
            continue
        if sep and k in {"dataset", "table"}:
            dataset = value or dataset
        elif sep and k in {"counting", "measure"}:
            measure = value or measure
        elif sep and k == "query":
            query = value or query
        elif k == "filters":
            in_filters = True
        elif in_filters and len(cells) >= 2:
            filters[head] = rest
            if low == "default summation" and measure is None:
                measure = rest
        elif dataset is None:
            dataset = head
        elif query is None:
            query = head
    if dataset is not None:
        # Drop the annotation keys DWP appends to the dataset name: "(I II III IV z)".
        dataset = re.sub(r"\s*\((?:[IVXivxzpr]+\s*)+\)\s*$", "", dataset) or dataset
    return {"dataset": dataset, "query": query, "measure": measure, "filters": filters}


def read_statxplore(
    path: str | Path,
    *,
    period: str | None = None,
    allow_suppressed: bool = False,
    name_lookup: Mapping[str, str] | None = None,
    sheet: str | None = None,
    dash_means: Literal["suppressed", "zero"] = "suppressed",
    countries: str = "E",
    vintage: str | None = LSOA_2011,
) -> pd.DataFrame:
    """Read a Stat-Xplore CSV/XLSX download of claimants by LSOA (Housing Benefit, Pension Credit).

    Returns ``lsoa_code``, ``lsoa_name`` (when labels carry names) and ``claimants`` for one
    period, with totals, "Unknown" rows, blank lines and footnotes dropped; see the module
    docstring for the layout and the meaning of ``..`` and ``-``. ``sheet`` picks a workbook
    sheet (default: the first).
    """
    if dash_means not in ("suppressed", "zero"):
        raise ValueError("dash_means must be 'suppressed' or 'zero'")
    grids = read_grids(path, what=_SOURCE)
    grid = pick_sheet(grids, sheet, path=path, what=_SOURCE)
    index = name_index(name_lookup) if name_lookup is not None else None
    layout = _find_layout(grid, index)
    rows = grid.rows
    header = rows[layout.header]
    header_width = max(i for i, c in enumerate(header) if c) + 1

    columns = [
        (j, cell)
        for j, cell in enumerate(header)
        if j > 0
        and cell
        and not cell.casefold().endswith("annotations")
        and cell.casefold() not in {"total", "column total"}
    ]
    labels = [cell for _, cell in columns]
    pick = select_period(labels, period, where=grid.where, row=layout.header + 1)
    col, col_label = columns[pick]
    period_label = _REVISION_MARK.sub("", col_label)

    file_rows: list[int] = []
    area_labels: list[str] = []
    values: list[str] = []
    dropped = 0
    gap = False
    footer = False
    last = len(rows) - 1
    while last >= 0 and is_blank(rows[last]):
        last -= 1
    for i in range(layout.data_start, len(rows)):
        row = rows[i]
        if is_blank(row):
            gap = True
            continue
        label = row[0]
        low = label.casefold()
        if not label and not gap:
            raise InputError(
                "row has values but no area label",
                file=grid.where,
                row=i + 1,
                column=layout.geography,
                hint=_HINT_DOWNLOAD,
            )
        if low.startswith(_FOOTER_STARTS) or (gap and not _looks_like_area(label, index)):
            footer = True
            break
        if low in _NON_AREA_ROWS:
            dropped += 1
            continue
        if len(row) < header_width:
            cut = i == last and not grid.ends_with_newline
            raise InputError(
                f"incomplete row: it has {len(row)} of the header's {header_width} cells"
                + (
                    "; the file ends here without a line break, so the download was cut off"
                    if cut
                    else ""
                ),
                file=grid.where,
                row=i + 1,
                hint="download the table again" if cut else _HINT_DOWNLOAD,
            )
        file_rows.append(i + 1)
        area_labels.append(label)
        values.append(row[col])

    if not file_rows:
        raise InputError(
            "no LSOA rows found below the header",
            file=grid.where,
            row=layout.header + 1,
            hint="in Stat-Xplore, put the geography field (LSOA level) in the rows",
        )

    codes, names = _resolve_areas(
        area_labels, file_rows, where=grid.where, column=layout.geography, lookup=index
    )
    check_unique(codes, file_rows, where=grid.where, column=layout.geography)
    try:
        check_lsoa_codes(
            pd.Series(codes, dtype=object),
            file=grid.where,
            column=layout.geography,
            header_rows=0,
            countries=countries,
            vintage=vintage,
        )
    except InputError as exc:
        raise relocate(exc, file_rows) from None

    if dash_means == "zero":
        values = ["0" if v.strip() == "-" else v for v in values]
    raw = pd.DataFrame({col_label: pd.Series(values, dtype=object)})
    try:
        num = to_numeric(
            raw, [col_label], file=grid.where, header_rows=0, allow_suppressed=allow_suppressed
        )[col_label]
    except InputError as exc:
        raise relocate(exc, file_rows) from None
    negative = np.flatnonzero((num < 0).to_numpy())
    if negative.size:
        raise InputError(
            f"negative claimant count {quote(values[negative[0]])}",
            file=grid.where,
            row=file_rows[negative[0]],
            column=col_label,
            hint=_HINT_DOWNLOAD,
        )

    out = pd.DataFrame({"lsoa_code": codes})
    if any(n is not None for n in names):
        out["lsoa_name"] = [n if n is not None else "" for n in names]
    out["claimants"] = num.to_numpy(dtype=float)
    out = out.sort_values("lsoa_code", kind="stable").reset_index(drop=True)

    titles = _parse_titles(layout.meta_rows)
    out.attrs.update(
        {
            "source": "DWP Stat-Xplore",
            "source_format": f"statxplore-{grid.source_format}",
            "file": str(path),
            "sheet": grid.sheet,
            "dataset": titles["dataset"],
            "query": titles["query"],
            "measure": titles["measure"],
            "filters": titles["filters"],
            "period": period_label,
            "period_key": period_key(period_label),
            "periods_available": [_REVISION_MARK.sub("", lab) for lab in labels],
            "geography_field": layout.geography,
            "rows_dropped": dropped,
            "footer_found": footer,
            "suppressed": int(out["claimants"].isna().sum()),
            "dash_means": dash_means,
        }
    )
    return out


def _resolve_areas(
    labels: Sequence[str],
    file_rows: Sequence[int],
    *,
    where: str,
    column: str,
    lookup: Mapping[str, str] | None,
) -> tuple[list[str], list[str | None]]:
    """Turn area labels into LSOA codes (and names), using ``lookup`` for names-only labels."""
    codes: list[str] = []
    names: list[str | None] = []
    for label, row in zip(labels, file_rows, strict=True):
        code, name = area_code_and_name(label)
        if code is None:
            if lookup is None:
                looks = name is not None and _LSOA_NAME.match(name)
                raise InputError(
                    f"{quote(label)} is "
                    + ("an LSOA name without a code" if looks else "not an LSOA code or name")
                    + " and no name lookup was given",
                    file=where,
                    row=row,
                    column=column,
                    hint="pass name_lookup (LSOA name -> code, e.g. from the ONS LSOA names and "
                    "codes file) or download the table with codes in the labels"
                    if looks
                    else "check the table is at LSOA level",
                )
            found = lookup_name(lookup, name or "")
            if found is None:
                raise InputError(
                    f"LSOA name {quote(label)} is not in the name lookup",
                    file=where,
                    row=row,
                    column=column,
                    hint="check the table is at LSOA level and the lookup is for the same LSOA "
                    "edition (2011 or 2021)",
                )
            code = str(found).strip()
        codes.append(code)
        names.append(name)
    return codes, names
