"""Age UK / ONS loneliness model (table CT0467), as published for London by the GLA.

The LSOA sheet gives the modelled *log odds* that a person aged 65+ is often lonely; the
prevalence (per cent) is derived with the logistic function, which reproduces the ``Prevalence``
column the workbook publishes for boroughs and MSOAs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from canrank.errors import InputError, quote
from canrank.loaders._validate import check_lsoa_codes, open_workbook, read_sheet, to_numeric

__all__ = ["read_loneliness"]

_SHEET = "LSOA"


def read_loneliness(path: str | Path, *, sheet: str = _SHEET) -> pd.DataFrame:
    """Read the LSOA sheet: code, name, ``loneliness_log_odds``, ``loneliness_prevalence`` (%)."""
    path = Path(path)
    book = open_workbook(path)
    if sheet not in book.sheet_names:
        raise InputError(
            f"no sheet {quote(sheet)}; sheets are {', '.join(quote(s) for s in book.sheet_names)}",
            file=path,
            hint="use london-loneliness-MSOA-LSOA.xlsx (ONS CT0467 for London)",
        )
    raw = read_sheet(book, sheet, file=path, header=None, dtype=object)
    if raw.empty:
        raise InputError(f"sheet {quote(sheet)} is empty", file=path, hint="download it again")
    header = [str(v).strip() for v in raw.iloc[0]]
    if len(header) < 3 or header[0] != "LSOA" or header[2] != "Log odds":
        raise InputError(
            f"sheet {quote(sheet)} does not start with the headers 'LSOA', 'LSOA name', "
            f"'Log odds' (found {', '.join(quote(h) for h in header[:3])})",
            file=path,
            row=1,
            hint="use the workbook as published; do not rename or move its columns",
        )
    body = raw.iloc[1:].reset_index(drop=True)
    body = body[~body.isna().all(axis=1)].reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "lsoa_code": body[0].astype(str).str.strip(),
            "lsoa_name": body[1].astype(str),
            "Log odds": body[2],
        }
    )
    where = f"{path} (sheet {sheet})"
    check_lsoa_codes(frame["lsoa_code"], file=where, column="LSOA", header_rows=1, vintage="2011")
    frame = to_numeric(frame, ["Log odds"], file=where, header_rows=1, scores=["Log odds"])
    log_odds = frame.pop("Log odds")
    frame["loneliness_log_odds"] = log_odds
    frame["loneliness_prevalence"] = 100.0 / (1.0 + np.exp(-log_odds))
    frame = frame.sort_values("lsoa_code", kind="stable").reset_index(drop=True)
    frame.attrs.update({"source_format": "ons-ct0467-london", "reference_date": "2011-03-27"})
    return frame
