"""English Indices of Deprivation (MHCLG/DCLG) by LSOA: File 7 CSVs and the GLA London workbook.

The edition is detected from the header (LSOA and LAD vintages, population year), never from the
file name, and every edition is returned with the same tidy column names, e.g. ``imd_score``,
``income_score``, ``idaci_score``, ``idaopi_score``, ``imd_rank`` and ``population``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from canrank.errors import InputError, quote
from canrank.loaders._validate import (
    check_lsoa_codes,
    check_size,
    decode_text,
    open_workbook,
    read_sheet,
    require_columns,
    to_numeric,
)

__all__ = ["IOD_DOMAINS", "IodEdition", "detect_iod_edition", "read_iod"]

#: Domain prefixes as published, mapped to canrank's short names.
IOD_DOMAINS: dict[str, str] = {
    "Index of Multiple Deprivation (IMD)": "imd",
    "Income": "income",
    "Employment": "employment",
    "Education, Skills and Training": "education",
    "Health Deprivation and Disability": "health",
    "Crime": "crime",
    "Barriers to Housing and Services": "barriers",
    "Living Environment": "living_environment",
    "Income Deprivation Affecting Children Index (IDACI)": "idaci",
    "Income Deprivation Affecting Older People (IDAOPI)": "idaopi",
    # IoD 2025 and the File 8/File 7a family also spell these differently
    "Income Deprivation Affecting Older People Index (IDAOPI)": "idaopi",
    "Income Domain": "income",
    "Children and Young People Sub-domain": "cyp",
    "Adult Skills Sub-domain": "adult_skills",
    "Geographical Barriers Sub-domain": "geographical_barriers",
    "Wider Barriers Sub-domain": "wider_barriers",
    "Indoors Sub-domain": "indoors",
    "Outdoors Sub-domain": "outdoors",
}

_POPULATION = {
    "Total population": "population",
    "Dependent Children aged 0-15": "children_0_15",
    "Population aged 16-59": "pop_16_59",
    "Older population aged 60 and over": "older_60_plus",
    # 2015/2019: "18-59/64: for use with ...", 2025: "18-66 (for use with ...): mid 2022"
    "Working age population": "working_age",
}

_MEASURE = re.compile(r"^(?P<domain>.+?) (?P<kind>Score|Rank|Decile)\b")
_LSOA_CODE = re.compile(r"^(LSOA code \((?P<year>\d{4})\)|geography code)$", re.IGNORECASE)
_LAD_CODE = re.compile(r"^Local Authority District code \((?P<year>\d{4})\)$")
_POP_YEAR = re.compile(r"mid[ -](?P<year>\d{4})")


@dataclass(frozen=True)
class IodEdition:
    """Which IoD release a file belongs to, read from its header."""

    edition: str  # "2015", "2019" or "2025"
    lsoa_vintage: str  # "2011" or "2021"
    lad_vintage: str
    population_year: str | None
    layout: str  # "file7-csv", "london-workbook"

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``IoD 2015 (LSOA 2011)``."""
        return f"IoD {self.edition} (LSOA {self.lsoa_vintage}, {self.layout})"


_EDITION_BY_LAD = {"2013": "2015", "2019": "2019", "2024": "2025", "2023": "2025"}


def detect_iod_edition(columns: list[str], *, file: str | Path, layout: str) -> IodEdition:
    """Identify the IoD edition from column headers (LSOA/LAD code vintage, population year)."""
    first = str(columns[0]).strip() if columns else ""
    m = _LSOA_CODE.match(first)
    if not m:
        raise InputError(
            f"the first column is {quote(first)}, not 'LSOA code (2011)' or 'geography code': "
            "this is not an Indices of Deprivation LSOA file",
            file=file,
            row=1,
            column=first,
            hint="use File 7 of the English Indices of Deprivation (CSV) or the 'ID 2019 for "
            "London' workbook",
        )
    lad_year = next((mm.group("year") for c in columns if (mm := _LAD_CODE.match(str(c)))), None)
    if lad_year is None or lad_year not in _EDITION_BY_LAD:
        raise InputError(
            "no 'Local Authority District code (YEAR)' column with a known year, so the IoD "
            "edition cannot be told",
            file=file,
            row=1,
            hint="use the file as published by MHCLG",
        )
    edition = _EDITION_BY_LAD[lad_year]
    lsoa_year = m.group("year") or ("2021" if edition == "2025" else "2011")
    pop_year = next((pm.group("year") for c in columns if (pm := _POP_YEAR.search(str(c)))), None)
    return IodEdition(edition, lsoa_year, lad_year, pop_year, layout)


def _tidy_names(columns: list[str]) -> dict[str, str]:
    """Map published IoD column names to canrank's snake_case names."""
    rename: dict[str, str] = {}
    for col in columns:
        text = str(col).strip()
        if _LSOA_CODE.match(text):
            rename[col] = "lsoa_code"
        elif text.startswith("LSOA name"):
            rename[col] = "lsoa_name"
        elif _LAD_CODE.match(text):
            rename[col] = "lad_code"
        elif text.startswith("Local Authority District name"):
            rename[col] = "lad_name"
        elif any(text.startswith(p) for p in _POPULATION):
            prefix = next(p for p in _POPULATION if text.startswith(p))
            rename[col] = _POPULATION[prefix]
        elif mm := _MEASURE.match(text):
            domain = IOD_DOMAINS.get(mm.group("domain"))
            if domain:
                rename[col] = f"{domain}_{mm.group('kind').lower()}"
    return rename


def _finish(
    frame: pd.DataFrame,
    *,
    file: Path,
    edition: IodEdition,
    header_rows: int,
    required: tuple[str, ...] = ("lsoa_code", "imd_score", "imd_rank"),
    countries: str = "E",
) -> pd.DataFrame:
    """Validate codes and numbers, then return the tidy frame sorted by LSOA code."""
    rename = _tidy_names(list(frame.columns))
    tidy = frame.rename(columns=rename)[list(dict.fromkeys(rename.values()))]
    for needed in required:
        if needed not in tidy.columns:
            published = {
                "lsoa_code": "LSOA code (2011)",
                "imd_score": "Index of Multiple Deprivation (IMD) Score",
                "imd_rank": "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)",
            }[needed]
            require_columns(frame, [published], file=file, what=f"an {edition.label} file")
    if tidy.empty:
        raise InputError("the file has a header but no data rows", file=file, hint="re-download it")
    check_lsoa_codes(
        tidy["lsoa_code"],
        file=file,
        column="LSOA code",
        header_rows=header_rows,
        countries=countries,
        vintage=edition.lsoa_vintage,
    )
    value_cols = [
        c for c in tidy.columns if c not in ("lsoa_code", "lsoa_name", "lad_code", "lad_name")
    ]
    reverse = {v: k for k, v in rename.items()}
    # validate under the published names, so messages name the column the user sees
    published = tidy[value_cols].rename(columns=lambda c: str(reverse.get(c, c)))
    scores = [str(reverse.get(c, c)) for c in value_cols if c.endswith("_score")]
    numeric = to_numeric(
        published, list(published.columns), file=file, header_rows=header_rows, scores=scores
    )
    for col in value_cols:
        tidy[col] = numeric[str(reverse.get(col, col))].to_numpy()
    _check_populations(tidy, file=file, header_rows=header_rows, published=reverse)
    tidy["lsoa_code"] = tidy["lsoa_code"].astype(str).str.strip()
    tidy = tidy.sort_values("lsoa_code", kind="stable").reset_index(drop=True)
    tidy.attrs.update(
        {
            "source_format": edition.layout,
            "edition": edition.edition,
            "lsoa_vintage": edition.lsoa_vintage,
            "lad_vintage": edition.lad_vintage,
            "population_year": edition.population_year,
            "published_columns": {v: str(reverse.get(v, v)) for v in tidy.columns},
        }
    )
    return tidy


def _check_populations(
    tidy: pd.DataFrame, *, file: Path, header_rows: int, published: dict[str, str]
) -> None:
    """Population columns: counts, never negative; the total population above zero."""
    for col in (c for c in _POPULATION.values() if c in tidy.columns):
        values = tidy[col].to_numpy(dtype=float)
        bad = values <= 0 if col == "population" else values < 0
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            need = "above zero" if col == "population" else "zero or more"
            raise InputError(
                f"a population of {values[i]:g} for LSOA {quote(tidy['lsoa_code'].iloc[i])}; "
                f"populations must be {need} ({int(bad.sum())} such row(s))",
                file=file,
                row=i + header_rows + 1,
                column=str(published.get(col, col)),
                hint="use the file as published; it looks edited or damaged",
            )


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV, turning empty or undecodable files into clear errors.

    Columns whose every cell is an ordinary number are parsed by pandas' C parser (fast: File 7
    has 53 numeric columns of 32,844 rows); any column holding something else (an empty or
    suppressed cell, a comma, text) stays text, so :func:`to_numeric` checks it cell by cell
    and names the first bad one. Empty cells are never turned into NaN here."""
    if path.stat().st_size == 0:
        raise InputError("the file is empty", file=path, hint="download it again")
    check_size(path, what="an Indices of Deprivation file")
    text = decode_text(path.read_bytes(), file=path, what="the Indices of Deprivation file")
    try:
        frame = pd.read_csv(io.StringIO(text), keep_default_na=False, low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise InputError("the file has no header row", file=path, hint="download it again") from exc
    except pd.errors.ParserError as exc:
        raise InputError(
            f"the CSV cannot be parsed ({exc})", file=path, hint="download it again"
        ) from exc
    # columns that are text in the published layout (codes, names) stay text
    text_cols = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    return frame.astype({c: str for c in text_cols})


def _read_london_workbook(path: Path) -> tuple[pd.DataFrame, IodEdition]:
    """Join the LSOA sheets of the GLA 'ID 2019 for London' workbook into one File-7-like frame."""
    book = open_workbook(path)
    sheets = [s for s in book.sheet_names if re.fullmatch(r"IMD \d{4}", s)]
    if not sheets:
        raise InputError(
            f"no 'IMD YYYY' sheet; sheets are {', '.join(quote(s) for s in book.sheet_names)}",
            file=path,
            hint="use the 'ID 2019 for London' workbook from the London Datastore",
        )
    main = read_sheet(book, sheets[0], file=path, dtype=object)
    edition = detect_iod_edition(
        [str(c) for c in main.columns], file=path, layout="london-workbook"
    )
    main = main.rename(columns={main.columns[0]: "LSOA code (2011)"})
    for extra in ("IDACI and IDAOPI", "Population figures", "Sub domains"):
        if extra not in book.sheet_names:
            continue
        sheet = read_sheet(book, extra, file=path, dtype=object)
        key = sheet.columns[0]
        keep = [c for c in sheet.columns[1:] if c not in main.columns]
        sheet = sheet.rename(columns={key: "LSOA code (2011)"})
        main = main.merge(sheet[["LSOA code (2011)", *keep]], on="LSOA code (2011)", how="left")
    return main, edition


def read_iod(path: str | Path) -> pd.DataFrame:
    """Read an IoD LSOA file (2015 or 2019 File 7 CSV, 2025 File 7, or the London 2019 workbook).

    Returns one row per LSOA with tidy columns and ``attrs['edition']`` etc. describing the release.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=path, hint="check the path or run `canrank fetch`")
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        frame, edition = _read_london_workbook(path)
        header_rows = 1
    else:
        frame = _read_csv(path)
        edition = detect_iod_edition(list(frame.columns), file=path, layout="file7-csv")
        header_rows = 1
        if _is_income_extract(list(frame.columns)):
            return _read_income_extract(frame, file=path, edition=edition)
    return _finish(frame, file=path, edition=edition, header_rows=header_rows)


_INCOME_ONLY = {"income", "idaci", "idaopi"}


def _is_income_extract(columns: list[str]) -> bool:
    """True for the 10-column England-and-Wales IoD2019 extract ('File_7a'): income domains only."""
    domains = {v.rsplit("_", 1)[0] for v in _tidy_names(columns).values() if v.endswith("_score")}
    return bool(domains) and domains <= _INCOME_ONLY


def _read_income_extract(frame: pd.DataFrame, *, file: Path, edition: IodEdition) -> pd.DataFrame:
    """Load what the England-and-Wales income extract has: English rows, scores, E+W ranks.

    Its ranks run over 34,753 English and Welsh LSOAs, so they are kept as ``<domain>_rank_ew``
    (not comparable with File 7's English ranks); its scores (rates) are the same as File 7's.
    There is no IMD score: an indicator asking for ``imd_score`` fails naming the columns here.
    """
    layout = IodEdition(
        edition.edition,
        edition.lsoa_vintage,
        edition.lad_vintage,
        edition.population_year,
        "income-extract-ew",
    )
    tidy = _finish(
        frame, file=file, edition=layout, header_rows=1, required=("lsoa_code",), countries="EW"
    )
    english = tidy["lsoa_code"].str.startswith("E")
    welsh = int((~english).sum())
    out = tidy[english].reset_index(drop=True)
    out = out.rename(columns={c: f"{c}_ew" for c in out.columns if c.endswith("_rank")})
    out.attrs = dict(tidy.attrs)
    out.attrs["notes"] = [
        "IoD2019 England-and-Wales income extract ('File_7a'): no IMD score or other domains; "
        f"{welsh} Welsh LSOA row(s) dropped; ranks are over England and Wales (kept as *_rank_ew)"
    ]
    return out
