"""The build pipeline as a Python API: load -> validate -> combine -> select -> render -> write.

``build()`` is what ``canrank build`` runs; a notebook can call the stages separately
(``prepare_study`` then ``rank_study`` then ``select_cans``) to compare scenarios without writing
files. Data flows one way; each stage returns new frames.
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from canrank import __version__
from canrank.acquire import Located, locate_all, sha256_file
from canrank.composite import aggregate, deciles, normalise, ranks_from_scores, winsorise
from canrank.config import Config, ResolvedScenario, load_config
from canrank.contiguity import Contiguity
from canrank.errors import InputError, quote
from canrank.loaders import read_source
from canrank.naming import assign_wards, name_cans
from canrank.outputs import atomic_directory, write_csv, write_gpkg, write_json
from canrank.overrides import (
    apply_overrides,
    can_override_notes,
    load_overrides,
    override_map_notes,
)
from canrank.render import make_map, save_map
from canrank.selection import Selection, SelectionProblem, SelectionRules, select
from canrank.vintage import harmonise_indicator

__all__ = [
    "BuildResult",
    "Study",
    "build",
    "build_problem",
    "can_table",
    "prepare_study",
    "rank_study",
    "select_cans",
]

StageHook = Callable[[str], None]


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


@dataclass
class BuildResult:
    """What a build produced, in memory and on disk."""

    study: Study
    lsoa: gpd.GeoDataFrame
    cans: gpd.GeoDataFrame
    selection: Selection
    graph: Contiguity
    manifest: dict[str, Any]
    out_dir: Path | None


class _Timer:
    """Per-stage wall-clock timings for the manifest and the benchmark."""

    def __init__(self, hook: StageHook | None) -> None:
        self.timings: dict[str, float] = {}
        self.hook = hook

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.hook:
            self.hook(name)
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)


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
    timer: _Timer | None = None,
) -> Study:
    """Locate and load every source of a scenario, and join them on the study area's LSOAs."""
    timer = timer or _Timer(None)
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
    )


def rank_study(study: Study) -> gpd.GeoDataFrame:
    """Normalise, weight and combine the indicators; add score, rank, decile per LSOA."""
    sc = study.scenario
    out = study.lsoa.copy()
    norm_cols = []
    for ind in sc.indicators:
        raw = study.values[ind.key].to_numpy(dtype=float)
        out[f"{ind.key}_value"] = raw
        clipped = winsorise(raw, *ind.winsorise) if ind.winsorise else raw
        out[f"{ind.key}_norm"] = normalise(clipped, ind.transform, ind.direction)
        norm_cols.append(f"{ind.key}_norm")
    weights = np.array([i.weight for i in sc.indicators])
    norm = out[norm_cols].to_numpy(dtype=float)
    score = aggregate(norm, weights, sc.aggregation)
    for ind, col in zip(sc.indicators, norm_cols, strict=True):
        arithmetic = sc.aggregation == "arithmetic"
        out[f"{ind.key}_contribution"] = ind.weight * out[col] if arithmetic else np.nan
    out["score"] = score
    out["rank"] = ranks_from_scores(score, out["lsoa_code"].to_numpy())
    out["decile"] = deciles(out["rank"].to_numpy())
    return out


def build_problem(
    ranked: gpd.GeoDataFrame, graph: Contiguity, scenario: ResolvedScenario
) -> SelectionProblem:
    """The selection problem for a ranked study area (areas in the graph's order)."""
    if list(graph.ids) != list(ranked["lsoa_code"]):
        raise ValueError("graph ids and ranked frame rows are not in the same order")
    sel = scenario.selection
    _codes, borough_idx = np.unique(ranked["borough_code"].to_numpy(), return_inverse=True)
    return SelectionProblem(
        graph=graph,
        score=ranked["score"].to_numpy(dtype=float),
        population=ranked["population"].to_numpy(dtype=float),
        borough=borough_idx.astype(np.int64),
        rules=SelectionRules(
            n_cans=sel.n_cans,
            min_population=sel.min_population,
            max_population=sel.max_population,
            max_per_borough=sel.max_per_borough,
            separation=sel.separation,
            min_member_score=sel.min_member_score,
        ),
    )


def select_cans(problem: SelectionProblem, scenario: ResolvedScenario) -> Selection:
    """Run the configured selection method."""
    sel = scenario.selection
    options: dict[str, Any] = {}
    if sel.method in ("greedy", "optimal"):
        options["seeds"] = sel.seeds
    if sel.method == "optimal":
        options["time_limit_s"] = sel.time_limit_s
        options["mip_gap"] = sel.mip_gap
    return select(problem, sel.method, **options)


def can_table(
    ranked: gpd.GeoDataFrame, selection: Selection
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """One row per CAN with its dissolved polygon, and the CAN number per LSOA."""
    labels = selection.labels(len(ranked))
    names = name_cans(ranked, labels)
    rows = []
    for k, members in enumerate(selection.cans, start=1):
        sub = ranked.iloc[members]
        boroughs = sub.groupby("borough_name", sort=False)["population"].sum()
        boroughs = boroughs.sort_values(ascending=False, kind="stable")
        pop = float(sub["population"].sum())
        rows.append(
            {
                "can_id": k,
                "name": names[k],
                "boroughs": "; ".join(boroughs.index.astype(str)),
                "n_lsoas": len(sub),
                "population": round(pop),
                "mean_score": float(np.average(sub["score"], weights=sub["population"])),
                "objective": float((sub["score"] * sub["population"]).sum()),
                "best_rank": int(sub["rank"].min()),
                "lsoa_codes": ";".join(sorted(sub["lsoa_code"])),
                "geometry": sub.geometry.union_all(),
            }
        )
    cans = gpd.GeoDataFrame(rows, geometry="geometry", crs=ranked.crs)
    if len(cans):
        cans = _can_profiles(ranked, selection, labels, cans)
    return cans, labels


def _can_profiles(
    ranked: gpd.GeoDataFrame, selection: Selection, labels: np.ndarray, cans: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Add each CAN's profile: every indicator's population-weighted mean against the study
    area's median, and the MHCLG summary measures of the composite score within the study area
    (:func:`canrank.summaries.summary_measures`, ranks out of the study area's LSOAs)."""
    from canrank.summaries import summary_measures

    pop = ranked["population"].to_numpy(dtype=float)
    extra: dict[str, list[float] | float] = {}
    for col in [c for c in ranked.columns if c.endswith("_value")]:
        key = col[: -len("_value")]
        values = ranked[col].to_numpy(dtype=float)
        median = float(np.median(values))
        means = [float(np.average(values[m], weights=pop[m])) for m in selection.cans]
        extra[f"{key}_value"] = means
        extra[f"{key}_area_median"] = median
        extra[f"{key}_median_ratio"] = [v / median if median else float("nan") for v in means]
    inside = labels > 0
    frame = pd.DataFrame(
        {
            "can_id": labels[inside],
            "score": ranked["score"].to_numpy(dtype=float)[inside],
            "rank": ranked["rank"].to_numpy()[inside],
            "population": pop[inside],
        }
    )
    measures = summary_measures(
        frame,
        group="can_id",
        score="score",
        rank="rank",
        population="population",
        n_national=len(ranked),
    ).set_index("area_code")
    for name in (
        "average_score",
        "average_rank",
        "proportion_most_deprived_10",
        "extent",
        "local_concentration",
    ):
        extra[name] = measures.loc[cans["can_id"], name].to_numpy(dtype=float).tolist()
    out = cans.drop(columns="geometry").assign(**extra)
    out["geometry"] = cans.geometry.to_numpy()
    return gpd.GeoDataFrame(out, geometry="geometry", crs=cans.crs)


def _versions() -> dict[str, str]:
    import folium
    import pyogrio
    import scipy
    import shapely

    return {
        "canrank": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "geopandas": gpd.__version__,
        "shapely": shapely.__version__,
        "geos": shapely.geos_version_string,
        "scipy": scipy.__version__,
        "pyogrio": pyogrio.__version__,
        "gdal": pyogrio.__gdal_version_string__,
        "folium": folium.__version__,
    }


def build(
    config_path: str | Path = "config/indicators.yaml",
    *,
    scenario: str | None = None,
    out: str | Path | None = None,
    mirror: str | Path | None = None,
    raw_dir: str | Path = "data/raw",
    allow_download: bool = False,
    on_stage: StageHook | None = None,
    write: bool = True,
    area: str | None = None,
    strict: bool = False,
    overrides: str | Path | None = None,
    **selection_overrides: Any,
) -> BuildResult:
    """Run the whole pipeline for one scenario and (unless ``write=False``) write the outputs.

    Outputs go to ``out`` (default ``data/processed/<scenario>/``) atomically: a failure leaves
    any previous outputs untouched and no partial files.
    """
    timer = _Timer(on_stage)
    config_path = Path(config_path)
    with timer.stage("config"):
        config = load_config(config_path)
        resolved = config.resolve(scenario, area=area, strict=strict, **selection_overrides)
    study = prepare_study(
        config,
        resolved,
        raw_dir=Path(raw_dir),
        mirror=Path(mirror) if mirror else None,
        allow_download=allow_download,
        timer=timer,
    )
    with timer.stage("rank"):
        ranked = rank_study(study)
    with timer.stage("contiguity"):
        cc = resolved.contiguity
        graph = Contiguity.from_geometry(
            ranked.geometry.values,
            ranked["lsoa_code"].tolist(),
            tolerance_m=cc.tolerance_m,
            rule=cc.rule,
            min_shared_m=cc.min_shared_m,
        )
    with timer.stage("select"):
        problem = build_problem(ranked, graph, resolved)
        local = load_overrides(overrides) if overrides is not None else None
        override_notes: list[str] = []
        if local:
            problem, override_notes = apply_overrides(problem, local)
            override_notes = [*override_notes, *local.warnings]
        selection = select_cans(problem, resolved)
    with timer.stage("name"):
        if study.wards is not None:
            ranked["ward_name"] = assign_wards(ranked, study.wards)
        cans, labels = can_table(ranked, selection)
        ranked["can_id"] = pd.array(np.where(labels > 0, labels, pd.NA), dtype="Int64")
        name_by_id = dict(zip(cans["can_id"], cans["name"], strict=True))
        ranked["can_name"] = ranked["can_id"].map(name_by_id).astype("string")
        if study.scenario.proxies:
            cans["proxies"] = "; ".join(study.scenario.proxies)
        cans["selection_method"] = selection.method
        cans["selection_gap"] = selection.gap
        cans["override"] = can_override_notes(local, problem, selection) if local else ""
    lsoa_out = _lsoa_columns(ranked, resolved)
    manifest = _manifest(config_path, resolved, study, graph, selection, ranked, cans, timer)
    manifest["selection"]["solve_seconds"] = round(selection.solve_seconds, 3)
    if local:
        manifest["overrides"] = local.to_manifest() | {"warnings": override_notes}
        manifest["warnings"] = [*manifest["warnings"], *override_notes]
    default_dir = resolved.name if area is None else f"{resolved.name}-{resolved.area_key}"
    out_dir = Path(out) if out else Path("data/processed") / default_dir
    if write:
        with atomic_directory(out_dir) as tmp:
            with timer.stage("write"):
                write_csv(lsoa_out.drop(columns="geometry"), tmp / "lsoa.csv")
                write_csv(_cans_csv(cans), tmp / "cans.csv")
                write_gpkg({"lsoa": lsoa_out, "cans": cans}, tmp / "canrank.gpkg")
            with timer.stage("render"):
                _render(
                    ranked,
                    cans,
                    resolved,
                    tmp / "map.html",
                    boroughs=study.boroughs,
                    notes=override_map_notes(local) if local else [],
                )
            manifest["timings_s"] = dict(timer.timings)
            write_json(manifest, tmp / "manifest.json")
    manifest["timings_s"] = dict(timer.timings)
    return BuildResult(
        study, lsoa_out, cans, selection, graph, manifest, out_dir if write else None
    )


def _render(
    ranked: gpd.GeoDataFrame,
    cans: gpd.GeoDataFrame,
    resolved: ResolvedScenario,
    path: Path,
    *,
    boroughs: gpd.GeoDataFrame | None = None,
    notes: list[str] | None = None,
) -> None:
    """Write the consultee map of one build to ``path`` (``notes`` are added to the legend)."""
    fmap = make_map(
        ranked,
        cans,
        title=_title(resolved),
        indicator_fields=[(f"{i.key}_value", i.label) for i in resolved.indicators],
        scheme=resolved.map.scheme,
        k=resolved.map.k,
        palette=resolved.map.palette,
        simplify_m=resolved.map.simplify_m,
        notes=[f"Proxy: {p}" for p in resolved.proxies] + list(notes or []),
        boroughs=boroughs,
        indicators=resolved.indicators,
        area=resolved.area.label,
    )
    save_map(fmap, path)


def _title(sc: ResolvedScenario) -> str:
    text = f"canrank: Community Action Neighbourhoods, {sc.area.label}, scenario {sc.name}"
    if sc.proxies:
        text += " (uses proxies)"
    return text


def _lsoa_columns(ranked: gpd.GeoDataFrame, sc: ResolvedScenario) -> gpd.GeoDataFrame:
    """The ``lsoa`` output: fixed leading columns, indicators, score, rank, CAN; sorted by rank."""
    cols = ["lsoa_code", "lsoa_name", "borough_code", "borough_name", "population"]
    for ind in sc.indicators:
        cols += [f"{ind.key}_value", f"{ind.key}_norm", f"{ind.key}_contribution"]
    cols += ["score", "rank", "decile", "can_id", "can_name"]
    if "ward_name" in ranked.columns:
        cols.append("ward_name")
    out = ranked[[*cols, "geometry"]].sort_values("rank", kind="stable").reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=ranked.crs)


def _cans_csv(cans: gpd.GeoDataFrame) -> pd.DataFrame:
    return pd.DataFrame(cans.drop(columns="geometry"))


def _config_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(
    config_path: Path,
    sc: ResolvedScenario,
    study: Study,
    graph: Contiguity,
    selection: Selection,
    ranked: gpd.GeoDataFrame,
    cans: gpd.GeoDataFrame,
    timer: _Timer,
) -> dict[str, Any]:
    inputs = []
    for sid, loc in sorted(study.located.items()):
        src = loc.source
        files = []
        for name in src.all_filenames():
            p = loc.path.parent / name
            files.append({"file": name, "bytes": p.stat().st_size, "sha256": sha256_file(p)})
        inputs.append(
            {
                "source": sid,
                "publisher": src.publisher,
                "title": src.title,
                "reference_date": src.reference_date,
                "origin": loc.origin,
                "rows": study.row_counts.get(sid),
                "files": files,
            }
        )
    sel = sc.selection
    return {
        "canrank_version": __version__,
        "scenario": sc.name,
        "config": {
            "file": config_path.name,
            "sha256": _config_digest(config_path),
            "resolved": sc.model_dump(mode="json"),
        },
        "proxies": sc.proxies,
        "vintage_conversions": study.vintage_conversions,
        "inputs": inputs,
        "rows": {
            "lsoas": len(ranked),
            "cans": len(cans),
            "lsoas_in_cans": int(ranked["can_id"].notna().sum()),
            "population_in_cans": int(cans["population"].sum()),
        },
        "contiguity": graph.summary(),
        "selection": {
            "method": selection.method,
            "objective": "maximise the population-weighted composite score covered: "
            "sum over CAN members of population x score",
            "objective_value": round(selection.objective, 6),
            "upper_bound": selection.upper_bound,
            "gap": selection.gap,
            "n_cans": sel.n_cans,
            "min_population": sel.min_population,
            "max_population": sel.max_population,
            "max_per_borough": sel.max_per_borough,
            "separation": sel.separation,
            "min_member_score": sel.min_member_score,
            "details": selection.details,
        },
        "warnings": study.warnings,
        "versions": _versions(),
        "timings_s": {},
    }
