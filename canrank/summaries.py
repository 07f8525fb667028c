"""MHCLG area summary measures of the Indices of Deprivation for any grouping of LSOAs.

MHCLG publishes six summary measures for each local authority district (IoD 2019 technical
report, section 3.8 and Appendix N, as cited in research/anchors.md section 6.2; published as
File 10). This module
recomputes them for *any* grouping of LSOAs (borough, ward, Community Action Neighbourhood) from
the LSOA-level scores, national ranks and population denominators, so that canrank's own areas
can be described in exactly the same terms as the official district summaries.

Definitions (each was checked against the published 2019 figures for the 33 London boroughs;
see ``tests/test_summaries.py``):

* **average score** -- population-weighted mean of the LSOA scores.
* **average rank** -- population-weighted mean of the *reversed* national ranks
  ``n_national + 1 - rank``, so the most deprived LSOA in England counts ``n_national`` and the
  least deprived counts 1. A higher average rank means a more deprived area.
* **proportion of LSOAs in the most deprived 10% nationally** -- unweighted share of the group's
  LSOAs whose national percentile (below) is 10 or less, i.e. ``rank <= n_national / 10``
  (ranks 1..3,284 of 32,844: exactly national decile 1).
* **extent** -- population-weighted mean of a sliding weight on the national percentile
  ``p = ceil(100 * rank / n_national)`` (1 = most deprived 1% of LSOAs): weight 1 for
  ``p <= 10``, ``0.95 - 0.9 * (p - 11) / 19`` for ``11 <= p <= 30`` (0.95 at the 11th percentile
  falling in 19 equal steps to 0.05 at the 30th) and 0 beyond. ``floor`` or ``round`` in place
  of ``ceil`` does *not* reproduce the published extent (errors up to 0.038).
* **local concentration** -- population-weighted mean of the reversed ranks of the group's most
  deprived LSOAs that together hold exactly 10% of the group's population; the last LSOA
  counts only with the part of its population needed to reach 10% (taking it whole is off by
  up to 371 rank points for London boroughs).
* **scale** (Income and Employment only) -- number of people deprived, ``sum(score * count)``,
  where ``count`` is the denominator the domain's rate is a share of: total population for
  Income, working-age population (18-59/64) for Employment.

Population denominators (verified empirically: every other choice is off by hundreds of rank
points): total population for the IMD and the Income, Education, Health, Crime, Barriers and
Living Environment domains; working-age population for Employment; children aged 0-15 for IDACI;
adults aged 60 and over for IDAOPI. The same denominator weights every measure of a domain.

Ranks of summary measures are ``1 = most deprived`` among the groups passed in (ties share the
lowest rank, ``method="min"``, which is how File 10 ranks the many districts with no LSOA in the
most deprived 10%). Only a frame covering all of England reproduces the published ranks among
all districts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from canrank.errors import InputError, quote
from canrank.loaders._validate import open_workbook

__all__ = [
    "DOMAINS",
    "MEASURES",
    "N_NATIONAL",
    "DomainSpec",
    "extent_weight",
    "iod_summaries",
    "national_percentile",
    "read_published_summaries",
    "summary_measures",
]

#: Number of LSOAs in England by LSOA vintage: 2011 LSOAs (IoD 2015 and 2019) and 2021 LSOAs
#: (IoD 2025). National ranks run from 1 (most deprived) to this number.
N_NATIONAL: dict[str, int] = {"2011": 32_844, "2021": 33_755}

#: The summary measures, in output order; each is followed by ``<measure>_rank`` in the output.
MEASURES: tuple[str, ...] = (
    "average_score",
    "average_rank",
    "proportion_most_deprived_10",
    "extent",
    "local_concentration",
    "scale",
)


@dataclass(frozen=True)
class DomainSpec:
    """How one IoD index is summarised: its label and the population column that weights it.

    ``scale`` is True for the count-based domains (Income, Employment) whose score is a rate of
    ``population``, so ``score * population`` counts the people deprived.
    """

    label: str
    population: str
    scale: bool = False


#: The IMD, its seven domains and the two supplementary indices, keyed by canrank's short names
#: (the prefixes of ``<name>_score`` / ``<name>_rank`` in :func:`canrank.loaders.iod.read_iod`).
DOMAINS: dict[str, DomainSpec] = {
    "imd": DomainSpec("IMD", "population"),
    "income": DomainSpec("Income", "population", scale=True),
    "employment": DomainSpec("Employment", "working_age", scale=True),
    "education": DomainSpec("Education, Skills and Training", "population"),
    "health": DomainSpec("Health Deprivation and Disability", "population"),
    "crime": DomainSpec("Crime", "population"),
    "barriers": DomainSpec("Barriers to Housing and Services", "population"),
    "living_environment": DomainSpec("Living Environment", "population"),
    "idaci": DomainSpec("IDACI", "children_0_15"),
    "idaopi": DomainSpec("IDAOPI", "older_60_plus"),
}

_GROUP_LEVELS: dict[str, tuple[str, str]] = {
    "borough": ("lad_code", "lad_name"),
    "lad": ("lad_code", "lad_name"),
}


def national_percentile(rank: pd.Series | np.ndarray, n_national: int) -> np.ndarray:
    """National percentile of each rank, ``ceil(100 * rank / n_national)`` (1 = most deprived 1%).

    Computed in integer arithmetic so a rank exactly on a percentile boundary (``100 * rank``
    divisible by ``n_national``, e.g. rank 8,211 of 32,844 is exactly the 25th) is never
    pushed into the next percentile by floating-point error.
    """
    r = np.asarray(rank, dtype=np.int64)
    return (100 * r + n_national - 1) // n_national


def extent_weight(percentile: pd.Series | np.ndarray) -> np.ndarray:
    """Extent weight for a national percentile (IoD 2019 technical report section 3.8).

    1 for percentiles 1-10, ``0.95 - 0.9 * (p - 11) / 19`` for 11-30 (0.95 at 11, 0.05 at 30)
    and 0 beyond the 30th percentile.
    """
    p = np.asarray(percentile, dtype=float)
    sliding = 0.95 - 0.9 * (p - 11.0) / 19.0
    return np.where(p <= 10, 1.0, np.where(p <= 30, sliding, 0.0))


def _rank_desc(values: pd.Series) -> pd.Series:
    """Rank groups so the largest (most deprived) value is 1; ties share the lowest rank."""
    return values.rank(ascending=False, method="min", na_option="keep").astype("Int64")


def _check_columns(frame: pd.DataFrame, columns: Sequence[str], *, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{what} needs column(s) {', '.join(quote(c) for c in missing)}, which the frame "
            f"lacks; it has {', '.join(quote(c) for c in list(frame.columns)[:12])}"
            + (" ..." if len(frame.columns) > 12 else ""),
            hint="pass the LSOA frame from canrank.loaders.iod.read_iod or name the columns",
        )


def _check_values(
    frame: pd.DataFrame, columns: Sequence[str], *, n_national: int, rank: str
) -> None:
    """Reject missing values and ranks outside 1..n_national."""
    for col in columns:
        bad = frame[col].isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{int(bad.sum())} LSOA(s) have no value in {quote(col)} (first at row {row})",
                column=col,
                hint="drop or fill those LSOAs before summarising",
            )
    ranks = frame[rank].to_numpy(dtype=float)
    if ((ranks < 1) | (ranks > n_national) | (ranks != np.round(ranks))).any():
        raise InputError(
            f"{quote(rank)} must hold whole national ranks from 1 to {n_national:,}; found "
            f"{ranks.min():g} to {ranks.max():g}",
            column=rank,
            hint="check n_national matches the LSOA vintage (32,844 for 2011, 33,755 for 2021)",
        )


def summary_measures(
    frame: pd.DataFrame,
    *,
    group: str,
    score: str,
    rank: str,
    population: str,
    n_national: int,
    scale_count: str | None = None,
    names: str | None = None,
) -> pd.DataFrame:
    """MHCLG summary measures of one index for each group of LSOAs (IoD 2019 TR section 3.8).

    Parameters
    ----------
    frame
        One row per LSOA.
    group
        Column naming each LSOA's group (e.g. ``lad_code``, a ward code or a CAN id). LSOAs
        whose group is missing (e.g. outside every CAN) are left out.
    score, rank
        Columns with the LSOA score and *national* rank (1 = most deprived of ``n_national``).
    population
        Denominator weighting every measure (total population for the IMD; see :data:`DOMAINS`).
    n_national
        Number of LSOAs in England the ranks are out of (:data:`N_NATIONAL`).
    scale_count
        Column with the count the score is a rate of; when given, ``scale = sum(score * count)``
        (Income: total population; Employment: working-age population).
    names
        Optional column with a display name for each group (first value per group is used).

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by ``area_code``: ``area_code``, ``area_name`` (if ``names``),
        then each measure followed by ``<measure>_rank`` (1 = most deprived among the groups):
        ``average_score``, ``average_rank``, ``proportion_most_deprived_10``, ``extent``,
        ``local_concentration`` and, with ``scale_count``, ``scale``. Groups whose population
        sums to 0 get NaN for the weighted measures.
    """
    needed = [group, score, rank, population]
    needed += [c for c in (scale_count, names) if c is not None and c not in needed]
    _check_columns(frame, needed, what="summary_measures")
    if n_national < 1:
        raise InputError(f"n_national must be positive, not {n_national}")
    _check_values(
        frame,
        [c for c in (score, rank, population, scale_count) if c is not None],
        n_national=n_national,
        rank=rank,
    )
    if (frame[population] < 0).any():
        raise InputError(f"{quote(population)} has negative populations", column=population)

    work = pd.DataFrame(
        {
            "area_code": frame[group].to_numpy(),
            "score": frame[score].to_numpy(dtype=float),
            "rank": frame[rank].to_numpy(dtype=np.int64),
            "pop": frame[population].to_numpy(dtype=float),
        }
    )
    work["rev"] = n_national + 1 - work["rank"]
    pct = national_percentile(work["rank"], n_national)
    work["in10"] = (pct <= 10).astype(float)
    work["w_score"] = work["score"] * work["pop"]
    work["w_rev"] = work["rev"] * work["pop"]
    work["w_extent"] = extent_weight(pct) * work["pop"]
    if scale_count is not None:
        work["deprived"] = work["score"] * frame[scale_count].to_numpy(dtype=float)

    # Local concentration: most deprived first; each LSOA contributes the part of its population
    # that still fits under 10% of the group's population, so the last one counts partially.
    work = work.sort_values(["area_code", "rank"], kind="stable")
    grouped = work.groupby("area_code", sort=True)
    target = 0.1 * grouped["pop"].transform("sum")
    before = grouped["pop"].cumsum() - work["pop"]
    take = (target - before).clip(lower=0.0)
    take = np.minimum(take, work["pop"])
    work["lc_pop"] = take
    work["lc_rev"] = take * work["rev"]

    sums = work.groupby("area_code", sort=True).agg(
        pop=("pop", "sum"),
        w_score=("w_score", "sum"),
        w_rev=("w_rev", "sum"),
        w_extent=("w_extent", "sum"),
        lc_pop=("lc_pop", "sum"),
        lc_rev=("lc_rev", "sum"),
        proportion_most_deprived_10=("in10", "mean"),
        **({"scale": ("deprived", "sum")} if scale_count is not None else {}),
    )
    pop = sums["pop"].where(sums["pop"] > 0)
    lc_pop = sums["lc_pop"].where(sums["lc_pop"] > 0)
    measures = {
        "average_score": sums["w_score"] / pop,
        "average_rank": sums["w_rev"] / pop,
        "proportion_most_deprived_10": sums["proportion_most_deprived_10"],
        "extent": sums["w_extent"] / pop,
        "local_concentration": sums["lc_rev"] / lc_pop,
    }
    if scale_count is not None:
        measures["scale"] = sums["scale"]

    out = pd.DataFrame(index=sums.index)
    if names is not None:
        out["area_name"] = frame.groupby(group, sort=True)[names].first()
    for name, values in measures.items():
        out[name] = values.astype(float)
        out[f"{name}_rank"] = _rank_desc(out[name])
    out = out.reset_index()
    out.attrs.update({"n_national": n_national, "score": score, "population": population})
    return out


def _group_columns(iod: pd.DataFrame, level: str) -> tuple[str, str | None]:
    if level in _GROUP_LEVELS:
        code, name = _GROUP_LEVELS[level]
    elif level in iod.columns:
        code = level
        stem = level.removesuffix("_code").removesuffix("_id")
        name = f"{stem}_name"
    else:
        raise InputError(
            f"unknown level {quote(level)}: use 'borough' (or 'lad') or the name of a column "
            "holding each LSOA's group, e.g. 'ward_code' or 'can_id'",
            column=level,
        )
    _check_columns(iod, [code], what=f"summaries by {level}")
    return code, (name if name in iod.columns else None)


def _default_n_national(iod: pd.DataFrame) -> int:
    vintage = str(iod.attrs.get("lsoa_vintage", ""))
    if vintage in N_NATIONAL:
        return N_NATIONAL[vintage]
    raise InputError(
        "cannot tell how many LSOAs the national ranks are out of: the frame has no "
        f"attrs['lsoa_vintage'] ({quote(vintage)})",
        hint="read the file with canrank.loaders.iod.read_iod or pass n_national=32844 "
        "(2011 LSOAs) or 33755 (2021 LSOAs)",
    )


def iod_summaries(
    iod: pd.DataFrame,
    *,
    level: str = "borough",
    domains: Sequence[str] | None = None,
    n_national: int | None = None,
) -> pd.DataFrame:
    """Summary measures for the IMD and each domain in a tidy IoD frame, in long format.

    Parameters
    ----------
    iod
        Tidy LSOA frame from :func:`canrank.loaders.iod.read_iod` (``<domain>_score``,
        ``<domain>_rank`` and the population columns named in :data:`DOMAINS`).
    level
        ``"borough"``/``"lad"`` to group by ``lad_code``, or the name of any column holding each
        LSOA's group (``ward_code``, ``can_id``); names come from ``<stem>_name`` if present.
    domains
        Short names from :data:`DOMAINS`; default every domain whose score, rank and population
        columns are all present.
    n_national
        LSOAs in England; default from ``iod.attrs['lsoa_vintage']`` via :data:`N_NATIONAL`.

    Returns
    -------
    pandas.DataFrame
        One row per (area, domain): ``area_code``, ``area_name``, ``domain``, and each of
        :data:`MEASURES` followed by its ``_rank`` (``scale`` is NaN except Income/Employment).
        Ranks are among the areas in ``iod``.
    """
    code, name = _group_columns(iod, level)
    n = _default_n_national(iod) if n_national is None else int(n_national)
    if domains is None:
        chosen = [
            d
            for d, spec in DOMAINS.items()
            if {f"{d}_score", f"{d}_rank", spec.population} <= set(iod.columns)
        ]
        if not chosen:
            raise InputError(
                "the frame has no '<domain>_score'/'<domain>_rank' columns with their "
                "population denominators",
                hint="read the file with canrank.loaders.iod.read_iod",
            )
    else:
        unknown = [d for d in domains if d not in DOMAINS]
        if unknown:
            raise InputError(
                f"unknown domain(s) {', '.join(quote(d) for d in unknown)}; known: "
                + ", ".join(DOMAINS)
            )
        chosen = list(domains)

    parts: list[pd.DataFrame] = []
    for domain in chosen:
        spec = DOMAINS[domain]
        part = summary_measures(
            iod,
            group=code,
            score=f"{domain}_score",
            rank=f"{domain}_rank",
            population=spec.population,
            n_national=n,
            scale_count=spec.population if spec.scale else None,
            names=name,
        )
        part.insert(1 if name is None else 2, "domain", domain)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    if "area_name" not in out.columns:
        out.insert(1, "area_name", pd.Series(pd.NA, index=out.index, dtype="string"))
    return _long_columns(out)


def _long_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Order and complete the long-format columns shared by computed and published summaries."""
    columns = ["area_code", "area_name", "domain"]
    for measure in MEASURES:
        columns += [measure, f"{measure}_rank"]
    for col in columns:
        if col not in frame.columns:
            dtype = "Int64" if col.endswith("_rank") else float
            frame[col] = pd.Series(np.nan, index=frame.index).astype(dtype)
    for measure in MEASURES:
        frame[measure] = frame[measure].astype(float)
        frame[f"{measure}_rank"] = frame[f"{measure}_rank"].astype("Int64")
    return frame[columns].reset_index(drop=True)


# --- published summaries ---------------------------------------------------------------------

#: Domain prefixes used in the headers of File 10 and the GLA borough sheets.
_PUBLISHED_DOMAINS: dict[str, str] = {
    "imd": "imd",
    "income": "income",
    "employment": "employment",
    "education, skills and training": "education",
    "health deprivation and disability": "health",
    "crime": "crime",
    "barriers to housing and services": "barriers",
    "living environment": "living_environment",
    "idaci": "idaci",
    "idaopi": "idaopi",
}

_PUBLISHED_MEASURES: dict[str, str] = {
    "average rank": "average_rank",
    "rank of average rank": "average_rank_rank",
    "average score": "average_score",
    "rank of average score": "average_score_rank",
    "proportion of lsoas in most deprived 10% nationally": "proportion_most_deprived_10",
    "rank of proportion of lsoas in most deprived 10% nationally": (
        "proportion_most_deprived_10_rank"
    ),
    "extent": "extent",
    "rank of extent": "extent_rank",
    "local concentration": "local_concentration",
    "rank of local concentration": "local_concentration_rank",
    "scale": "scale",
    "rank of scale": "scale_rank",
}

# "IMD - Average rank", "IMD 2019 - Extent", "Income - Scale"; File 10 also has "Income scale"
# and "Rank of Income Scale".
_HEADER = re.compile(r"^(?P<domain>.+?)(?: \d{4})? - (?P<measure>.+)$")
_SCALE = re.compile(r"^(?P<rank>rank of )?(?P<domain>income|employment) scale$")
_AREA_CODE = re.compile(r"^local authority district code", re.IGNORECASE)
_AREA_NAME = re.compile(r"^local authority district name", re.IGNORECASE)


def _parse_header(header: str) -> tuple[str, str] | None:
    """Return (domain, measure column) for a published summary header, or None."""
    text = " ".join(str(header).split()).lower()
    if m := _SCALE.match(text):
        return m.group("domain"), "scale_rank" if m.group("rank") else "scale"
    m = _HEADER.match(text)
    if not m:
        return None
    domain = _PUBLISHED_DOMAINS.get(m.group("domain"))
    measure = _PUBLISHED_MEASURES.get(m.group("measure"))
    if domain is None or measure is None:
        return None
    return domain, measure


def _sheet_summaries(sheet: pd.DataFrame) -> pd.DataFrame | None:
    """Long-format summaries from one sheet, or None if it holds no district summary columns."""
    cols = [str(c) for c in sheet.columns]
    code_col = next((c for c in sheet.columns if _AREA_CODE.match(str(c).strip())), None)
    if code_col is None:
        return None
    name_col = next((c for c in sheet.columns if _AREA_NAME.match(str(c).strip())), None)
    parsed = {c: p for c, p in zip(sheet.columns, map(_parse_header, cols), strict=True) if p}
    if not parsed:
        return None
    rows = sheet[sheet[code_col].notna()]
    parts: list[pd.DataFrame] = []
    for domain in dict.fromkeys(d for d, _ in parsed.values()):
        part = pd.DataFrame(
            {
                "area_code": rows[code_col].astype(str).str.strip().to_numpy(),
                "area_name": (
                    rows[name_col].astype(str).str.strip().to_numpy()
                    if name_col is not None
                    else pd.NA
                ),
                "domain": domain,
            }
        )
        for col, (dom, measure) in parsed.items():
            if dom == domain:
                part[measure] = pd.to_numeric(rows[col], errors="coerce").to_numpy()
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def read_published_summaries(path: str | Path) -> pd.DataFrame:
    """Read published district summary measures into the long format of :func:`iod_summaries`.

    Reads every sheet with a ``Local Authority District code`` column and summary headers:
    IoD 2019 File 10 (sheets ``IMD`` ... ``IDAOPI``, 317 districts, ranks among all districts)
    and the GLA ``ID 2019 for London`` workbook (``Borough summary measures``, ``Borough domain
    summaries``, ``Borough IDACI IDAOPI``). Values are as published (rounded: average score to
    3 decimals, average rank and local concentration to 2, proportion and extent to 4).
    """
    path = Path(path)
    book = open_workbook(path)
    parts: list[pd.DataFrame] = []
    sheets: list[str] = []
    for sheet_name in book.sheet_names:
        header = pd.read_excel(book, sheet_name, nrows=0)
        if not any(_parse_header(str(c)) for c in header.columns):
            continue
        found = _sheet_summaries(pd.read_excel(book, sheet_name))
        if found is not None:
            parts.append(found)
            sheets.append(sheet_name)
    if not parts:
        raise InputError(
            "no sheet has district summary measures ('IMD - Average rank', 'Income - Scale', "
            f"...); sheets are {', '.join(quote(s) for s in book.sheet_names)}",
            file=path,
            hint="use IoD 2019 File 10 or the 'ID 2019 for London' workbook",
        )
    long = pd.concat(parts, ignore_index=True)
    # One row per (area, domain) even if a domain's measures are split over sheets.
    long = long.groupby(["area_code", "domain"], sort=False, as_index=False).first()
    out = _long_columns(long)
    out.attrs.update({"source": str(path), "sheets": sheets})
    return out


def composite_summaries(lsoa: pd.DataFrame, level: str) -> pd.DataFrame:
    """Summary measures of a build's composite score by ``borough`` or ``can``.

    ``lsoa`` is a build's LSOA table (``score``, ``rank``, ``population``, borough and CAN
    columns). Ranks are ranks within the study area (1 = most stressed of its LSOAs), so
    "most deprived 10 %" and "extent" are relative to the study area, not England.
    """
    frame = pd.DataFrame(lsoa.drop(columns="geometry", errors="ignore"))
    if level == "borough":
        group, names = "borough_code", "borough_name"
    elif level == "can":
        frame = frame.dropna(subset=["can_id"]).copy()
        frame["can_id"] = frame["can_id"].astype(int)
        group, names = "can_id", "can_name"
    else:
        raise ValueError(f"level must be 'borough' or 'can', not {level!r}")
    out = summary_measures(
        frame,
        group=group,
        score="score",
        rank="rank",
        population="population",
        n_national=len(lsoa),
        names=names,
    )
    out.insert(2, "domain", "composite")
    return out

