"""Convert LSOA-level values between the 2011 and 2021 LSOA geographies with the ONS lookup.

The ONS "LSOA (2011) to LSOA (2021) to Local Authority District (2022) Exact Fit Lookup" lists
every (2011, 2021) pair with a change flag CHGIND: U unchanged, S a 2011 LSOA split into several
2021 ones, M several 2011 LSOAs merged into one 2021 LSOA, X a complex (many-to-many) change.
Every case is handled by one rule over those pairs, so no case needs special code:

* a **count** is shared among the target LSOAs of each source LSOA in proportion to their
  population (equally, and said so, when no target population is given), then summed per target:
  a split apportions, a merge sums, a complex change does both;
* a **rate or score** is a weighted mean per target, weighting each source by the population it
  contributes (source population x its share above; equal weights, and said so, without a source
  population): a split copies the value, a merge takes the population-weighted mean.

Hand-written (about 100 lines of pandas) because no maintained Python library applies the ONS
LSOA lookup; the R tool AlexGibsonPlymouth/LSOA_Attribution does the same by postcode counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from canrank.errors import ConfigError, InputError, quote

__all__ = [
    "CHANGE_KINDS",
    "VintageReport",
    "convert_lsoa_vintage",
    "frame_vintage",
    "read_lsoa_lookup",
]

Vintage = Literal["2011", "2021"]

#: ONS CHGIND values and what they mean (from the 2011 LSOA's point of view).
CHANGE_KINDS: dict[str, str] = {"U": "unchanged", "S": "split", "M": "merged", "X": "complex"}

_COLUMNS = {
    "LSOA11CD": "lsoa11_code",
    "LSOA11NM": "lsoa11_name",
    "LSOA21CD": "lsoa21_code",
    "LSOA21NM": "lsoa21_name",
    "CHGIND": "change",
    "LAD22CD": "lad22_code",
    "LAD22NM": "lad22_name",
}
_CODE = re.compile(r"^[EW]01\d{6}$")
_LAST_2011_ENGLAND = 33768


def read_lsoa_lookup(path: str | Path) -> pd.DataFrame:
    """Read the ONS LSOA 2011 -> 2021 lookup CSV into tidy columns, checking codes and CHGIND.

    Returns ``lsoa11_code, lsoa11_name, lsoa21_code, lsoa21_name, change`` (+ LAD 2022 columns when
    present), one row per (2011, 2021) pair; ``attrs['lookup_file']`` names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=path, hint="check the path or run `canrank fetch`")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(
            f"the lookup cannot be read as CSV ({type(exc).__name__})",
            file=path,
            hint="download the CSV of the ONS 'LSOA (2011) to LSOA (2021) to Local Authority "
            "District (2022)' lookup again",
        ) from exc
    upper = {str(c).strip().upper(): c for c in raw.columns}
    for needed in ("LSOA11CD", "LSOA21CD", "CHGIND"):
        if needed not in upper:
            shown = ", ".join(quote(c) for c in list(raw.columns)[:8])
            raise InputError(
                f"this is not the ONS LSOA 2011 to 2021 lookup: no {needed} column "
                f"(columns: {shown})",
                file=path,
                column=needed,
                hint="use the ONS 'LSOA (2011) to LSOA (2021) to Local Authority District "
                "(2022) Exact Fit Lookup' CSV as published",
            )
    keep = {upper[k]: v for k, v in _COLUMNS.items() if k in upper}
    out = raw[list(keep)].rename(columns=keep)
    for col in out.columns:
        out[col] = out[col].astype(str).str.strip()
    out["change"] = out["change"].str.upper()
    for col in ("lsoa11_code", "lsoa21_code"):
        bad = ~out[col].str.match(_CODE.pattern)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{quote(out[col].iloc[i])} is not an LSOA code",
                file=path,
                row=i + 2,
                column=_published(keep, col),
                hint="use the lookup exactly as published",
            )
    bad = ~out["change"].isin(list(CHANGE_KINDS))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"change indicator {quote(out['change'].iloc[i])} is not U, S, M or X",
            file=path,
            row=i + 2,
            column="CHGIND",
            hint="use the lookup exactly as published",
        )
    dup = out.duplicated(["lsoa11_code", "lsoa21_code"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(
            f"the pair {out['lsoa11_code'].iloc[i]} -> {out['lsoa21_code'].iloc[i]} appears twice",
            file=path,
            row=i + 2,
            hint="use the lookup exactly as published",
        )
    out.attrs["lookup_file"] = path.name
    return out


def _published(mapping: dict[str, str], value: str) -> str:
    """The published column name for a tidy one (for messages)."""
    return next((k for k, v in mapping.items() if v == value), value)


def frame_vintage(frame: pd.DataFrame, code_column: str = "lsoa_code") -> Vintage | None:
    """The LSOA vintage a frame declares (``attrs['lsoa_vintage']``) or its codes reveal.

    Codes above E01033768 exist only in 2021; otherwise the vintage cannot be told from codes
    alone (most codes are shared), so ``None`` is returned unless the loader said.
    """
    declared = frame.attrs.get("lsoa_vintage")
    if declared in ("2011", "2021"):
        return declared
    codes = frame[code_column].astype(str)
    english = codes.str.startswith("E01")
    if english.any() and (codes[english].str[3:].astype(int) > _LAST_2011_ENGLAND).any():
        return "2021"
    return None


@dataclass
class VintageReport:
    """What a conversion did, for ``manifest.json`` (``to_dict``) and warnings (``summary``)."""

    source_vintage: str
    target_vintage: str
    lookup: str
    counts: list[str]
    rates: list[str]
    n_source: int
    n_target: int
    changes: dict[str, int]  # 2011 LSOAs involved, by ONS change kind
    counts_method: str
    rates_method: str
    incomplete: int = 0
    notes: list[str] = field(default_factory=list)
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "what": self.label,
            "from": f"LSOA {self.source_vintage}",
            "to": f"LSOA {self.target_vintage}",
            "lookup": self.lookup,
            "counts": self.counts,
            "rates": self.rates,
            "source_lsoas": self.n_source,
            "target_lsoas": self.n_target,
            "changes_2011_lsoas": self.changes,
            "counts_method": self.counts_method,
            "rates_method": self.rates_method,
            "incomplete_targets": self.incomplete,
            "notes": self.notes,
        }

    def summary(self) -> str:
        """One line for the build's warnings."""
        kinds = ", ".join(f"{n} {k}" for k, n in self.changes.items())
        text = (
            f"{self.label or 'values'} converted from LSOA {self.source_vintage} to "
            f"{self.target_vintage} with {self.lookup} ({kinds})"
        )
        return text + ("; " + "; ".join(self.notes) if self.notes else "")


def _isin(codes: pd.Series, wanted: Iterable[str]) -> np.ndarray:
    """``codes.isin(wanted)`` through a Python set (pandas' Arrow-string isin is 100x slower)."""
    keep = set(np.asarray(wanted, dtype=object).tolist())
    values = codes.to_numpy(dtype=object).tolist()
    return np.fromiter((c in keep for c in values), dtype=bool, count=len(values))


def _population(values: pd.Series | None, codes: pd.Index, what: str) -> pd.Series | None:
    if values is None:
        return None
    pop = pd.Series(values, dtype=float)
    missing = codes.difference(pop.index)
    if len(missing):
        raise InputError(
            f"the {what} population has no value for {len(missing)} LSOA(s) the lookup needs, "
            f"e.g. {', '.join(quote(c) for c in missing[:3])}",
            hint=f"give a {what} population covering the same LSOA vintage and area",
        )
    return pop.loc[codes]


def convert_lsoa_vintage(
    frame: pd.DataFrame,
    lookup: pd.DataFrame,
    *,
    to: Vintage,
    counts: Iterable[str] = (),
    rates: Iterable[str] | None = None,
    target_population: pd.Series | None = None,
    source_population: pd.Series | None = None,
    code_column: str = "lsoa_code",
    label: str = "",
    file: str | Path | None = None,
) -> tuple[pd.DataFrame, VintageReport]:
    """Convert ``frame`` (one row per LSOA of the other vintage) to LSOA ``to`` codes.

    ``counts`` are apportioned/summed, ``rates`` (default: every other numeric column) averaged;
    populations are Series indexed by LSOA code. Target LSOAs whose sources are not all in
    ``frame`` get NaN (counted in the report as incomplete). Returns ``(converted, report)``.
    """
    if to not in ("2011", "2021"):
        raise ValueError(f"unknown LSOA vintage {to!r}")
    source_vintage = "2021" if to == "2011" else "2011"
    src_col, tgt_col = f"lsoa{source_vintage[2:]}_code", f"lsoa{to[2:]}_code"
    tgt_name = tgt_col.replace("_code", "_name")
    counts = list(counts)
    if rates is None:
        rates = [
            c
            for c in frame.columns
            if c != code_column and c not in counts and pd.api.types.is_numeric_dtype(frame[c])
        ]
    rates = list(rates)
    values = frame.set_index(frame[code_column].astype(str).str.strip())[counts + rates]
    values = values.astype(float)
    unknown = values.index.difference(pd.Index(lookup[src_col].unique()))
    if len(unknown):
        raise InputError(
            f"{len(unknown)} LSOA code(s) are not LSOA {source_vintage} codes in the lookup, "
            f"e.g. {', '.join(quote(c) for c in unknown[:3])}",
            file=file,
            column="LSOA code",
            hint="check the file's LSOA vintage (lsoa_vintage in the config) and the lookup",
        )
    pairs = lookup[_isin(lookup[src_col], values.index)]
    # targets are complete only when every source the lookup gives them is in the frame
    all_pairs = lookup[_isin(lookup[tgt_col], pairs[tgt_col])]
    present = _isin(all_pairs[src_col], values.index)
    incomplete = set(all_pairs.loc[~present, tgt_col])
    src = pairs[src_col].to_numpy()
    tgt = pairs[tgt_col].to_numpy()
    notes: list[str] = []

    tpop = _population(target_population, pd.Index(np.unique(tgt)), "target")
    if tpop is not None:
        tp = tpop.loc[tgt].to_numpy()
        denom = pd.Series(tp).groupby(src).transform("sum").to_numpy()
        share = np.where(denom > 0, tp / np.where(denom > 0, denom, 1), np.nan)
        zero = np.isnan(share)
        if zero.any():  # all targets of a source have zero population: split equally
            n_t = pd.Series(1.0, index=range(len(src))).groupby(src).transform("sum").to_numpy()
            share = np.where(zero, 1.0 / n_t, share)
        counts_method = "apportioned among target LSOAs by target population, then summed"
    else:
        n_t = pd.Series(1.0, index=range(len(src))).groupby(src).transform("sum").to_numpy()
        share = 1.0 / n_t
        counts_method = "split equally among target LSOAs (no target population given), then summed"
        n_split = int((n_t > 1).sum())
        if counts and n_split:
            notes.append(
                "counts of split LSOAs were divided equally because no target-vintage "
                "population was given"
            )

    spop = _population(source_population, pd.Index(np.unique(src)), "source")
    if spop is not None:
        weight = spop.loc[src].to_numpy() * share
        rates_method = "population-weighted mean of source LSOAs (split LSOAs copy their value)"
    else:
        weight = share
        rates_method = (
            "unweighted mean of source LSOAs (no source population given; split LSOAs copy "
            "their value)"
        )
        n_multi = int((pd.Series(tgt).value_counts() > 1).sum())
        if rates and n_multi:
            notes.append(
                f"{n_multi} merged target LSOA(s) took an unweighted mean because no "
                "source-vintage population was given"
            )

    src_values = values.loc[src].to_numpy()
    out = pd.DataFrame(index=pd.Index(np.unique(tgt), name=code_column))
    groups = pd.Series(tgt)
    for j, col in enumerate(counts):
        x = src_values[:, j]
        part = pd.Series(x * share)
        total = part.groupby(groups).sum()
        nan = part.isna().groupby(groups).any()
        out[col] = total.where(~nan)
    for k, col in enumerate(rates, start=len(counts)):
        x = src_values[:, k]
        wx = pd.Series(weight * x)
        num = wx.groupby(groups).sum()
        den = pd.Series(weight).groupby(groups).sum()
        nan = wx.isna().groupby(groups).any()
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = num / den.where(den > 0)
        # zero-weight targets (no population at all): fall back to the plain mean
        plain = pd.Series(x).groupby(groups).mean()
        out[col] = mean.fillna(plain).where(~nan)
    if incomplete:
        out.loc[sorted(incomplete)] = np.nan
        notes.append(
            f"{len(incomplete)} target LSOA(s) have sources missing from the file and were left "
            "empty"
        )
    names = lookup.drop_duplicates(tgt_col).set_index(tgt_col)
    result = out.reset_index()
    if tgt_name in names.columns:
        result.insert(1, "lsoa_name", names.loc[result[code_column], tgt_name].to_numpy())
    result.attrs = {**frame.attrs, "lsoa_vintage": to, "converted_from": source_vintage}

    involved = lookup[_isin(lookup["lsoa11_code"], pairs["lsoa11_code"])]
    per_2011 = involved.drop_duplicates("lsoa11_code")["change"].value_counts()
    changes = {name: int(per_2011.get(flag, 0)) for flag, name in CHANGE_KINDS.items()}
    report = VintageReport(
        source_vintage=source_vintage,
        target_vintage=to,
        lookup=str(lookup.attrs.get("lookup_file", "lookup")),
        counts=counts,
        rates=rates,
        n_source=int(values.shape[0]),
        n_target=len(result),
        changes=changes,
        counts_method=counts_method,
        rates_method=rates_method,
        incomplete=len(incomplete),
        notes=notes,
        label=label,
    )
    return result, report


def harmonise_indicator(
    indicator: Any,
    frame: pd.DataFrame,
    *,
    file: str | Path,
    boundaries_vintage: str | None,
    lookups: dict[str, str],
    frames: dict[str, pd.DataFrame],
    target_population: pd.Series | None,
) -> tuple[pd.DataFrame, VintageReport | None]:
    """Bring one indicator's source frame onto the boundaries' LSOA vintage (pipeline helper).

    ``indicator`` is a :class:`canrank.config.ResolvedIndicator`. Its vintage is the declared
    ``lsoa_vintage``, else what the loader or the codes say, else the boundaries'. A count is an
    indicator with a ``denominator``; anything else is treated as a rate or score.
    """
    target = boundaries_vintage or "2011"
    detected = frame_vintage(frame)
    declared = indicator.lsoa_vintage
    if declared and detected and declared != detected:
        raise InputError(
            f"indicator {indicator.key!r} declares lsoa_vintage {declared!r} but this file is on "
            f"LSOA {detected} codes",
            file=file,
            hint=f"set lsoa_vintage: '{detected}' on the indicator (or remove it)",
        )
    source = declared or detected or target
    if source == target:
        return frame, None
    lookup_id = lookups.get("2011-2021")
    if lookup_id is not None and lookup_id not in frames:
        raise ConfigError(
            f"indicator {indicator.key!r} comes from source {indicator.source!r} on LSOA {source} "
            f"codes but does not declare it, so the lookup {lookup_id!r} was not loaded",
            file=file,
            hint=f"add `lsoa_vintage: '{source}'` to indicator {indicator.key!r} in the config",
        )
    if lookup_id is None:
        raise ConfigError(
            f"indicator {indicator.key!r} comes from source {indicator.source!r} on LSOA {source} "
            f"codes, but the study area's boundaries are LSOA {target}, and no 2011-2021 lookup "
            "is configured for it",
            file=file,
            hint=f"add `lsoa_vintage: '{source}'` to the indicator and `lookups: {{'2011-2021': "
            "lsoa11_lsoa21_lookup}` to the config (the ONS LSOA 2011 to 2021 lookup), or use "
            f"an LSOA {target} edition of the source",
        )
    counts = [indicator.column] if indicator.denominator else []
    rates = [] if counts else [indicator.column]
    source_population = None
    if "population" in frame.columns and indicator.column != "population":
        source_population = frame.set_index(frame["lsoa_code"].astype(str))["population"]
    converted, report = convert_lsoa_vintage(
        frame[["lsoa_code", indicator.column]],
        frames[lookup_id],
        to=target,  # type: ignore[arg-type]
        counts=counts,
        rates=rates,
        target_population=target_population,
        source_population=source_population,
        label=f"indicator {indicator.key} ({indicator.source})",
        file=file,
    )
    return converted, report
