"""National context: where each study-area LSOA stands among all LSOAs in England.

canrank ranks LSOAs within the study area ("of 4,835 in London"). The published Indices of
Deprivation also rank every LSOA in England ("of 32,844 in England" for 2011 LSOAs), and GLA
and Trust for London analyses show both, because national deciles capture few London LSOAs.
This module reads those national ranks from the IoD file the scenario already loads (File 7,
or the GLA's London workbook, which keeps the national ranks; the catalogue lists them in
:data:`canrank.sources.NATIONAL_RANK_SOURCES`) and returns, per LSOA:

* ``imd_rank_england`` - the IMD rank among England's LSOAs (1 = most deprived);
* ``imd_decile_england`` - the published national IMD decile (1 = most deprived 10 %);
* ``<key>_rank_england`` - for each IoD-based indicator of the scenario (including proxies), the
  national rank of the IoD measure it reads (e.g. ``children_low_income_rank_england`` is the
  IDACI rank when IDACI stands in for it).

Nothing is re-ranked: the figures are the publisher's. ``attrs`` carry ``n_england`` (the "of N"),
the source, the edition and a label per column for tooltips and tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from canrank.sources import CATALOGUE, ENGLAND_LSOAS, IOD_MEASURE_LABELS, NATIONAL_RANK_SOURCES

if TYPE_CHECKING:
    from canrank.config import ResolvedScenario
    from canrank.study import Study

__all__ = [
    "IMD_DECILE",
    "IMD_RANK",
    "national_columns",
    "national_context",
    "national_context_for_study",
    "national_summary",
    "rank_text",
]

IMD_RANK = "imd_rank_england"
IMD_DECILE = "imd_decile_england"
SUFFIX = "_rank_england"
#: IoD layouts whose ``<measure>_rank`` columns rank all LSOAs in England (not ``*_rank_ew``).
_NATIONAL_LAYOUTS = ("file7-csv", "london-workbook")


def _measure(column: str) -> str | None:
    for end in ("_score", "_rank", "_decile"):
        if column.endswith(end):
            measure = column[: -len(end)]
            return measure if measure in IOD_MEASURE_LABELS else None
    return None


def _is_national(source_id: str, frame: pd.DataFrame | None) -> bool:
    if source_id in NATIONAL_RANK_SOURCES:
        return True
    if frame is not None:
        return frame.attrs.get("source_format") in _NATIONAL_LAYOUTS
    return False


def _n_england(source_id: str, frame: pd.DataFrame | None) -> int:
    vintage = NATIONAL_RANK_SOURCES.get(source_id) or (
        frame.attrs.get("lsoa_vintage") if frame is not None else None
    )
    return ENGLAND_LSOAS.get(str(vintage), ENGLAND_LSOAS["2011"])


def rank_text(rank: float | int | None, n: int, place: str) -> str:
    """``'1,234 of 32,844 in England'`` (or ``'-'`` when there is no rank)."""
    if rank is None or (isinstance(rank, float) and not np.isfinite(rank)) or pd.isna(rank):
        return "-"
    return f"{int(rank):,} of {n:,} in {place}"


def _imd_source(scenario: ResolvedScenario, frames: Mapping[str, pd.DataFrame]) -> str | None:
    """The IoD source the IMD rank is read from: the scenario's IMD indicator's source, else the
    population source, else any national IoD source the scenario loads."""
    for ind in scenario.indicators:
        if _measure(ind.column) == "imd" and _is_national(ind.source, frames.get(ind.source)):
            return ind.source
    candidates = [scenario.population.source, *(i.source for i in scenario.indicators)]
    for sid in candidates:
        frame = frames.get(sid)
        if _is_national(sid, frame) and (frame is None or "imd_rank" in frame.columns):
            return sid
    return None


def national_columns(scenario: ResolvedScenario) -> dict[str, str]:
    """The national-context columns a scenario gets, with a label for each (what the coordinator
    adds to ``lsoa.csv``, the tooltip, ``explain`` and the CAN profiles). The ``of N`` figure is
    for 2011 LSOAs unless the source ranks 2021 LSOAs."""
    out: dict[str, str] = {}
    sid = _imd_source(scenario, {})
    if sid is not None:
        n = _n_england(sid, None)
        out[IMD_RANK] = f"IMD rank of {n:,} in England (1 = most deprived)"
        out[IMD_DECILE] = "IMD decile in England (1 = most deprived 10 %)"
    for ind in scenario.indicators:
        measure = _measure(ind.column)
        if measure is None or not _is_national(ind.source, None):
            continue
        col = f"{ind.key}{SUFFIX}"
        if col == IMD_RANK and measure != "imd":
            continue
        n = _n_england(ind.source, None)
        out.setdefault(
            col,
            f"{ind.label}: national rank of {IOD_MEASURE_LABELS[measure]} of {n:,} in England "
            "(1 = most deprived)",
        )
    return out


def national_context(
    lsoa_codes: Sequence[str] | pd.Series | pd.Index,
    frames: Mapping[str, pd.DataFrame] | pd.DataFrame,
    scenario: ResolvedScenario,
    *,
    source_id: str | None = None,
) -> pd.DataFrame:
    """National IoD ranks for ``lsoa_codes`` (one row each, same order, with ``lsoa_code``).

    ``frames`` maps source ids to loaded frames (as :func:`canrank.loaders.read_source` returns
    them); a single IoD frame may be passed instead, taken as ``source_id`` (default: the
    scenario's IMD source). Columns are ``imd_rank_england``, ``imd_decile_england`` and
    ``<key>_rank_england`` per IoD-based indicator, as nullable integers (``<NA>`` for an LSOA
    the file does not rank, e.g. a 2011 code against IoD 2025's 2021 LSOAs). ``attrs``:
    ``n_england``, ``n_area``, ``source``, ``edition``, ``labels`` (column -> label), ``notes``.
    """
    if isinstance(frames, pd.DataFrame):
        sid = (
            source_id
            or _imd_source(scenario, {})
            or next((i.source for i in scenario.indicators if _measure(i.column)), "iod")
        )
        frames = {sid: frames}
    codes = pd.Index([str(c) for c in lsoa_codes])
    out = pd.DataFrame({"lsoa_code": codes.to_numpy()})
    labels: dict[str, str] = {}
    notes: list[str] = []
    attrs: dict[str, Any] = {"n_area": len(codes)}

    def ranks(sid: str, column: str) -> pd.Series:
        frame = frames[sid]
        table = frame.drop_duplicates("lsoa_code").set_index("lsoa_code")[column]
        values = pd.to_numeric(table.reindex(codes), errors="coerce")
        unmatched = int(values.isna().sum())
        if unmatched:
            notes.append(
                f"{unmatched} of {len(codes):,} LSOA(s) have no {column} in {sid} (e.g. "
                f"{codes[values.isna().to_numpy()][0]}; another LSOA vintage?)"
            )
        return (
            pd.Series(values.to_numpy(), index=out.index, dtype="Float64").round().astype("Int64")
        )

    imd_sid = _imd_source(scenario, frames)
    if imd_sid is not None and imd_sid in frames and "imd_rank" in frames[imd_sid].columns:
        frame = frames[imd_sid]
        n = _n_england(imd_sid, frame)
        out[IMD_RANK] = ranks(imd_sid, "imd_rank")
        if "imd_decile" in frame.columns:
            out[IMD_DECILE] = ranks(imd_sid, "imd_decile")
        else:  # the published decile rule: ceil(rank x 10 / n)
            r = out[IMD_RANK].astype("Float64")
            out[IMD_DECILE] = np.ceil(r * 10 / n).clip(upper=10).astype("Int64")
        labels[IMD_RANK] = f"IMD rank of {n:,} in England (1 = most deprived)"
        labels[IMD_DECILE] = "IMD decile in England (1 = most deprived 10 %)"
        attrs.update(
            n_england=n,
            source=imd_sid,
            edition=str(frame.attrs.get("edition", "")),
            lsoa_vintage=str(frame.attrs.get("lsoa_vintage", NATIONAL_RANK_SOURCES.get(imd_sid))),
        )
    for ind in scenario.indicators:
        measure = _measure(ind.column)
        frame = frames.get(ind.source)
        if measure is None or frame is None or not _is_national(ind.source, frame):
            continue
        column = f"{measure}_rank"
        col = f"{ind.key}{SUFFIX}"
        if column not in frame.columns or col in out.columns:
            continue
        n = _n_england(ind.source, frame)
        out[col] = ranks(ind.source, column)
        labels[col] = (
            f"{ind.label}: national rank of {IOD_MEASURE_LABELS[measure]} of {n:,} in England "
            "(1 = most deprived)"
        )
        attrs.setdefault("n_england", n)
    attrs["labels"] = labels
    attrs["notes"] = list(dict.fromkeys(notes))
    out.attrs.update(attrs)
    return out


def national_context_for_study(
    study: Study, lsoa_codes: Sequence[str] | pd.Series | None = None
) -> pd.DataFrame | None:
    """:func:`national_context` for a prepared study: the scenario's national IoD file(s) are
    taken from ``study.frames`` when the study keeps its loaded frames, else read again from
    where :func:`canrank.study.prepare_study` found them (File 7 2015: about 7 s, mostly the
    loader's validation). ``None`` when the scenario loads no IoD file with national ranks.
    Rows follow ``lsoa_codes`` (default: ``study.lsoa`` order)."""
    from canrank.loaders import read_source

    sc = study.scenario
    wanted = [sc.population.source, *(i.source for i in sc.indicators)]
    frames: dict[str, pd.DataFrame] = {}
    loaded: Mapping[str, pd.DataFrame] = getattr(study, "frames", None) or {}
    for sid in dict.fromkeys(wanted):
        if sid in loaded and _is_national(sid, loaded[sid]):
            frames[sid] = loaded[sid]  # kept by prepare_study: no second read
            continue
        loc = study.located.get(sid)
        if loc is None or loc.source.loader != "iod":
            continue
        if sid not in NATIONAL_RANK_SOURCES and sid in CATALOGUE:
            continue  # a catalogue IoD file without national English ranks
        frame = read_source(loc.source, loc.path)
        if _is_national(sid, frame):
            frames[sid] = frame
    if not frames:
        return None
    codes = lsoa_codes if lsoa_codes is not None else study.lsoa["lsoa_code"]
    return national_context(codes, frames, sc)


def national_summary(context: pd.DataFrame, area_label: str) -> dict[str, Any]:
    """JSON-able summary for the manifest and reports: ``of N in England`` against ``of n in
    <area>``, and how many of the area's LSOAs fall in each national IMD decile."""
    n_area = int(context.attrs.get("n_area", len(context)))
    out: dict[str, Any] = {
        "n_area": n_area,
        "area": area_label,
        "n_england": context.attrs.get("n_england"),
        "source": context.attrs.get("source"),
        "edition": context.attrs.get("edition"),
        "columns": dict(context.attrs.get("labels", {})),
        "notes": list(context.attrs.get("notes", [])),
    }
    if out["n_england"] is not None:
        out["text"] = (
            f"national ranks are of {int(out['n_england']):,} LSOAs in England; study-area "
            f"ranks of {n_area:,} in {area_label}"
        )
    if IMD_DECILE in context.columns:
        dec = context[IMD_DECILE].dropna().astype(int)
        out["imd_decile_england_counts"] = {str(d): int((dec == d).sum()) for d in range(1, 11)}
    return out
