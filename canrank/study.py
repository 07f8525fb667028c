"""Load, check and join every source of a scenario on the study area's LSOAs.

The first stage of a build (load -> validate -> combine): each source is found (raw cache,
mirror, official download), read by its publisher's loader, harmonised to the boundaries'
LSOA vintage and checked for coverage, so later stages can trust one table per study area.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from canrank.acquire import Located, locate_all
from canrank.config import Config, ResolvedScenario
from canrank.errors import InputError, quote
from canrank.loaders import check_area_coverage, check_population, read_source
from canrank.stages import StageTimer
from canrank.vintage import harmonise_indicator

__all__ = ["Study", "prepare_study"]


@dataclass
class Study:
    """The validated inputs of one scenario: LSOAs with population, boroughs and raw values."""

    scenario: ResolvedScenario
    lsoa: gpd.GeoDataFrame  # lsoa_code, lsoa_name, borough_code, borough_name, population, ...
    values: pd.DataFrame  # one column per indicator key, raw (rate) values, same row order
    located: dict[str, Located]
    warnings: list[str] = field(default_factory=list)
    wards: gpd.GeoDataFrame | None = None
    boroughs: gpd.GeoDataFrame | None = None
    row_counts: dict[str, int] = field(default_factory=dict)
    vintage_conversions: list[dict[str, Any]] = field(default_factory=list)
    #: every loaded source table but the boundaries, for later stages that need more of a
    #: published file than the indicators (e.g. its national ranks)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)


def _check_coverage(
    frame: pd.DataFrame, study_codes: pd.Index, *, file: Path, national: set[str] | None, what: str
) -> None:
    """Every study LSOA must be present; codes that are not LSOAs at all are errors."""
    codes = pd.Index(frame["lsoa_code"])
    missing = study_codes.difference(codes)
    if len(missing):
        raise InputError(
            f"{len(missing)} LSOA(s) of the study area have no row in {what}, e.g. "
            f"{', '.join(quote(c) for c in missing[:3])}",
            file=file,
            column="LSOA code",
            hint="use the complete published file for the whole study area",
        )
    extra = codes.difference(study_codes)
    if national is not None:
        unknown = extra.difference(pd.Index(sorted(national)))
    else:
        # without a national list, a file mostly about the study area may not hold other codes
        unknown = extra if len(extra) < 0.5 * len(codes) else pd.Index([])
    if len(unknown):
        raise InputError(
            f"{len(unknown)} code(s) are not LSOAs of the study area's boundaries"
            + (" or of England's 2011 geography" if national is not None else "")
            + f", e.g. {', '.join(quote(c) for c in unknown[:3])}",
            file=file,
            column="LSOA code",
            hint="check the file is for 2011 LSOAs of the study area and has not been edited",
        )


def prepare_study(
    config: Config,
    scenario: ResolvedScenario,
    *,
    raw_dir: Path,
    mirror: Path | None,
    allow_download: bool = False,
    timer: StageTimer | None = None,
) -> Study:
    """Locate and load every source of a scenario, and join them on the study area's LSOAs."""
    timer = timer or StageTimer(None)
    with timer.stage("locate"):
        sources = [config.source(s) for s in scenario.source_ids()]
        located = locate_all(sources, raw_dir=raw_dir, mirror=mirror, allow_download=allow_download)
    with timer.stage("load"):
        frames = {sid: read_source(loc.source, loc.path) for sid, loc in located.items()}
    with timer.stage("validate"):
        area = scenario.area
        bounds = frames[area.boundaries]
        bounds_vintage = bounds.attrs.get("lsoa_vintage")
        pop_src = frames[scenario.population.source]
        pop_path = located[scenario.population.source].path
        if scenario.population.column not in pop_src.columns:
            raise InputError(
                f"the population column {quote(scenario.population.column)} is not in this file",
                file=pop_path,
                column=scenario.population.column,
                hint="fix 'population.column' in the config",
            )
        if "lad_code" in bounds.columns and area.lad_prefix:
            bounds = bounds[bounds["lad_code"].str.startswith(area.lad_prefix)]
        if area.lsoa_prefix:
            bounds = bounds[bounds["lsoa_code"].str.startswith(area.lsoa_prefix)]
        bounds = bounds.reset_index(drop=True)
        study_codes = pd.Index(bounds["lsoa_code"])
        check_area_coverage(  # the boundaries hold the whole study area (expected_lsoas)
            study_codes, area, file=located[area.boundaries].path, area_key=scenario.area_key
        )
        national = set(pop_src["lsoa_code"]) if len(pop_src) >= 30000 else None
        _check_coverage(
            pop_src, study_codes, file=pop_path, national=None, what="the population source"
        )
        pop = pop_src.set_index("lsoa_code").loc[study_codes]
        lsoa = bounds.copy()
        if "lad_code" not in lsoa.columns:
            lsoa["lad_code"] = pop["lad_code"].to_numpy()
            lsoa["lad_name"] = pop["lad_name"].to_numpy()
        lsoa = lsoa.rename(columns={"lad_code": "borough_code", "lad_name": "borough_name"})
        lsoa["population"] = pop[scenario.population.column].to_numpy(dtype=float)
        check_population(  # every population finite and above zero
            lsoa["population"], study_codes, file=pop_path, column=scenario.population.column
        )
        denominators = [i.denominator for i in scenario.indicators if i.denominator]
        warnings: list[str] = []
        conversions: list[dict[str, Any]] = []
        values = pd.DataFrame(index=lsoa.index)
        for ind in scenario.indicators:
            src = frames[ind.source]
            path = located[ind.source].path
            if ind.column not in src.columns:
                raise InputError(
                    f"indicator {ind.key!r} needs column {quote(ind.column)}, which this file "
                    f"does not have (it has {', '.join(quote(c) for c in list(src.columns)[:10])})",
                    file=path,
                    column=ind.column,
                    hint="fix the indicator's 'column' in the config, or use the right file",
                )
            src, conversion = harmonise_indicator(
                ind,
                src,
                file=path,
                boundaries_vintage=bounds_vintage,
                lookups=scenario.lookups,
                frames=frames,
                target_population=pop_src.set_index("lsoa_code")[scenario.population.column],
            )
            if conversion is not None:
                conversions.append(conversion.to_dict())
                warnings.append(conversion.summary())
            _check_coverage(src, study_codes, file=path, national=national, what=f"{ind.key!r}")
            raw = src.set_index("lsoa_code").loc[study_codes, ind.column].to_numpy(dtype=float)
            if ind.denominator:
                if ind.denominator not in pop.columns:
                    raise InputError(
                        f"denominator {quote(ind.denominator)} is not a column of the population "
                        "source",
                        file=pop_path,
                        column=ind.denominator,
                        hint="use population, children_0_15, pop_16_59, older_60_plus or "
                        "working_age",
                    )
                denom = pop[ind.denominator].to_numpy(dtype=float)
                with np.errstate(divide="ignore", invalid="ignore"):
                    raw = np.where(denom > 0, raw / denom, np.nan)
            gaps = np.isnan(raw)
            if gaps.any():
                first = study_codes[int(np.flatnonzero(gaps)[0])]
                if ind.missing == "median":
                    raw = np.where(gaps, np.nanmedian(raw), raw)
                    warnings.append(
                        f"{ind.key}: {int(gaps.sum())} missing value(s) imputed with the "
                        f"study-area median (first: {first})"
                    )
                else:
                    raise InputError(
                        f"indicator {ind.key!r} has {int(gaps.sum())} missing value(s) (first "
                        f"{quote(first)}; a suppressed cell or a zero denominator)",
                        file=path,
                        column=ind.column,
                        hint="set 'missing: median' for this indicator to impute, or use a "
                        "complete source",
                    )
            values[ind.key] = raw
        for note in scenario.proxies:
            warnings.append(f"proxy used: {note}")
        repaired = bounds.attrs.get("repaired_geometries", [])
        if repaired:
            warnings.append(
                f"{len(repaired)} invalid boundary polygon(s) repaired with make_valid: "
                + ", ".join(repaired)
            )
        del denominators
        wards = frames.get(area.wards) if area.wards else None
        boroughs = frames.get(area.boroughs) if area.boroughs else None
        counts = {sid: len(f) for sid, f in frames.items()}
    return Study(
        scenario=scenario,
        lsoa=gpd.GeoDataFrame(lsoa, geometry="geometry", crs=bounds.crs),
        values=values,
        located=located,
        warnings=warnings,
        wards=wards,
        boroughs=boroughs,
        row_counts=counts,
        vintage_conversions=conversions,
        frames={sid: f for sid, f in frames.items() if sid not in (area.boundaries,)},
    )
