"""The build as a Python API: load -> validate -> combine -> select -> describe -> write.

``build()`` is what ``canrank build`` runs. It only orchestrates: loading and joining is
:mod:`canrank.study`, the composite :mod:`canrank.ranking`, the selection problem
:mod:`canrank.problem`, the CAN table :mod:`canrank.describe`, the records
:mod:`canrank.manifest`, the written files :mod:`canrank.outputs` and :mod:`canrank.maps`.
It returns a :class:`canrank.builds.Build`, the same object :func:`canrank.open_build` reads
back from the folder, so a notebook and every analysis command see one truth.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from canrank.analysis.diagnostics import diagnostics
from canrank.analysis.national import national_context_for_study, national_summary
from canrank.build_maps import write_build_map
from canrank.builds import CONTIGUITY, GPKG, MANIFEST, RUN, Build, contiguity_frame, rank_ordered
from canrank.config import load_config
from canrank.contiguity import Contiguity
from canrank.describe import can_table, lsoa_columns
from canrank.manifest import OUTPUT_LINES, build_manifest, run_record
from canrank.maps.palettes import check_palette
from canrank.overrides import can_override_notes, load_overrides
from canrank.problem import build_problem, select_cans
from canrank.ranking import rank_study
from canrank.stages import StageHook, StageTimer
from canrank.study import prepare_study

__all__ = ["build"]

WORKBOOK = "canrank.xlsx"

#: Build options recorded in the manifest, so a follow-on command can check and redo a build
#: exactly as it was asked for.
RECORDED_OPTIONS = (
    "area",
    "strict",
    "method",
    "n_cans",
    "min_population",
    "max_population",
    "max_per_borough",
    "time_limit_s",
)


def build(
    config_path: str | Path = "config/indicators.yaml",
    *,
    scenario: str | None = None,
    out: str | Path | None = None,
    mirror: str | Path | None = None,
    raw_dir: str | Path = "data/raw",
    allow_download: bool = False,
    on_stage: StageHook | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    write: bool = True,
    area: str | None = None,
    strict: bool = False,
    overrides: str | Path | None = None,
    **selection_overrides: Any,
) -> Build:
    """Run the whole pipeline for one scenario and (unless ``write=False``) write the outputs.

    Outputs go to ``out`` (default ``data/processed/<scenario>/``); only files canrank wrote
    there before are replaced, and a failure leaves the previous outputs untouched.
    ``on_stage`` is called as each stage starts, ``on_progress`` with the selection's
    per-round figures (round, objective, bound, gap).
    """
    from canrank.builds import default_build_folder

    timer = StageTimer(on_stage)
    config_path = Path(config_path)
    options = {"area": area, "strict": strict, **selection_overrides}
    recorded = {k: v for k in RECORDED_OPTIONS if (v := options.get(k)) not in (None, False)}
    with timer.stage("config"):
        config = load_config(config_path)
        resolved = config.resolve(scenario, area=area, strict=strict, **selection_overrides)
        check_palette(resolved.map.palette)  # a config error now, not after the whole build
        local = load_overrides(overrides) if overrides is not None else None
    mirror_path = Path(mirror) if mirror else None
    study = prepare_study(
        config,
        resolved,
        raw_dir=Path(raw_dir),
        mirror=mirror_path,
        allow_download=allow_download,
        timer=timer,
    )
    if write:  # the map's LSOA coverage needs only the boundaries: start it now, alongside
        _start_map_coverage(study, resolved.map.simplify_m)
    with timer.stage("rank"):
        ranked = rank_study(study)
        national = national_context_for_study(study)
        if national is not None:
            for col in national.columns[1:]:
                ranked[col] = national[col].array
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
        problem, override_notes = build_problem(ranked, graph, resolved, local)
        extra = {"progress": on_progress} if on_progress is not None else {}
        selection = select_cans(problem, resolved, **extra)
    with timer.stage("describe"):
        if study.wards is not None:
            from canrank.naming import assign_wards

            ranked["ward_name"] = assign_wards(ranked, study.wards)
        cans, labels = can_table(ranked, selection)
        ranked["can_id"] = pd.array(np.where(labels > 0, labels, pd.NA), dtype="Int64")
        name_by_id = dict(zip(cans["can_id"], cans["name"], strict=True))
        ranked["can_name"] = ranked["can_id"].map(name_by_id).astype("string")
        if resolved.proxies:
            cans["proxies"] = "; ".join(resolved.proxies)
        cans["selection_method"] = selection.method
        cans["selection_status"] = getattr(selection, "status", "") or ""
        cans["selection_gap"] = selection.gap
        cans["override"] = can_override_notes(local, problem, selection) if local else ""
        lsoa_out = lsoa_columns(ranked, resolved)
        rank_graph, rank_selection, _pos = rank_ordered(ranked, graph, selection)
    manifest = build_manifest(
        config_path,
        resolved,
        study,
        graph,
        selection,
        n_lsoas=len(ranked),
        lsoas_in_cans=int(ranked["can_id"].notna().sum()),
        population_in_cans=int(cans["population"].sum()),
        n_cans=len(cans),
    )
    manifest["options"] = recorded
    manifest["diagnostics"] = diagnostics(ranked, resolved)
    if national is not None:
        manifest["national"] = national_summary(national, resolved.area.label)
    if local:
        manifest["overrides"] = local.to_manifest() | {
            "warnings": override_notes,
            "copy": "overrides" + Path(str(overrides)).suffix.lower(),
        }
        manifest["warnings"] = [*manifest["warnings"], *override_notes]
    out_dir = Path(out) if out else default_build_folder(resolved.name, area)
    result = Build(
        scenario=resolved,
        lsoa=lsoa_out,
        cans=cans,
        selection=rank_selection,
        graph=rank_graph,
        manifest=manifest,
        folder=out_dir if write else None,
        boroughs=study.boroughs,
        wards=study.wards,
        overrides=local,
    )
    log = selection.details.get("log")

    def record() -> dict[str, Any]:
        return run_record(
            study,
            selection,
            timer.timings,
            mirror=mirror_path,
            raw_dir=Path(raw_dir),
            solver_log=[str(line) for line in log] if isinstance(log, list) else None,
        )

    if write:
        local_path = Path(overrides) if local and overrides is not None else None
        _write(result, out_dir, timer, local_path=local_path, record=record)
    run = record()
    object.__setattr__(result, "run", run)
    return result


def _start_map_coverage(study: Any, simplify_m: float) -> None:
    """Compute the map page's simplified LSOA, borough and ward coverages on a background
    thread (GEOS releases the GIL), overlapping ranking, contiguity and selection; the map
    stage then finds them computed (:func:`canrank.maps.geometry.coverage` is memoised by
    content, so the page is the same either way). Nothing else depends on it: an error there
    is raised again, in order, by the map stage."""
    from concurrent.futures import ThreadPoolExecutor

    def warm() -> None:
        import contextlib
        import os
        import threading

        from canrank.maps.payload import lsoa_coverage, prepare

        # a lower priority for this thread only: it fills the cores the build leaves idle
        # rather than slowing the selection, which is on the critical path (Linux; else a no-op)
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        lsoa_coverage(study.lsoa, simplify_m)  # the slow part first
        frame = study.lsoa
        if study.wards is not None:
            from canrank.naming import assign_wards

            frame = frame.assign(ward_name=assign_wards(frame, study.wards))
        # the borough and ward coverages too (memoised the same way); the rest is discarded
        prepare(frame, study.boroughs, simplify_m, study.wards)

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="canrank-map")
    pool.submit(warm)
    pool.shutdown(wait=False)


def _write(
    build: Build,
    out_dir: Path,
    timer: StageTimer,
    *,
    local_path: Path | None,
    record: Callable[[], dict[str, Any]],
) -> None:
    """Write every file of a build into ``out_dir``: only files canrank wrote there before are
    replaced, the manifest last (see :func:`canrank.outputs.output_folder`)."""
    from canrank.outputs import output_folder, write_csv, write_gpkg, write_json
    from canrank.reports.gpkg_styles import style_geopackage
    from canrank.reports.workbook import write_workbook

    names = ["lsoa.csv", "cans.csv", GPKG, CONTIGUITY, WORKBOOK, "map.html", MANIFEST]
    ov = build.manifest.get("overrides")
    if ov:
        names.append(ov["copy"])
    build.manifest["outputs"] = sorted([*names, RUN])
    build.manifest["output_descriptions"] = {n: OUTPUT_LINES[n] for n in build.manifest["outputs"]}
    with output_folder(out_dir, build.manifest["outputs"]) as tmp:
        with timer.stage("write"):
            write_csv(build.lsoa.drop(columns="geometry"), tmp / "lsoa.csv")
            write_csv(pd.DataFrame(build.cans.drop(columns="geometry")), tmp / "cans.csv")
            layers = {"lsoa": build.lsoa, "cans": build.cans}
            if build.boroughs is not None:
                layers["boroughs"] = build.boroughs
            if build.wards is not None:
                layers["wards"] = build.wards
            write_gpkg(layers, tmp / GPKG)
            style_geopackage(build, tmp / GPKG)
            write_workbook(build, tmp / WORKBOOK)
            write_csv(contiguity_frame(build.graph), tmp / CONTIGUITY)
            if ov and local_path is not None:
                shutil.copyfile(local_path, tmp / ov["copy"])
        with timer.stage("map"):
            write_build_map(build, tmp / "map.html")
        write_json(record(), tmp / RUN)
        write_json(build.manifest, tmp / MANIFEST)
