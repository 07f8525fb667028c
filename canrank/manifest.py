"""What a build records about itself.

``manifest.json`` is deterministic: identical inputs and configuration give identical bytes
(canrank version, resolved configuration, input checksums, contiguity, the selection and its
proof status, warnings, software versions, the list of files the build wrote).
``run.json`` holds what one run measured and where it found things: stage timings, solver
seconds and log, the paths, sizes and modification times of the inputs (used to check a
build is still fresh without hashing every file again), and the mirror it used.
"""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path
from typing import Any

from canrank import __version__
from canrank.acquire import sha256_file
from canrank.config import ResolvedScenario
from canrank.contiguity import Contiguity
from canrank.selection import Selection
from canrank.study import Study

__all__ = ["OUTPUT_LINES", "build_manifest", "input_files", "run_record", "versions"]

#: One line per file a build writes (the README's table says the same), recorded in the
#: manifest beside the list of outputs.
OUTPUT_LINES: dict[str, str] = {
    "lsoa.csv": "one row per LSOA in rank order: indicators, normalised values, contributions, "
    "score, rank, decile, national ranks, CAN",
    "cans.csv": "one row per CAN: name, boroughs, population, members, profile, selection status",
    "canrank.gpkg": "GeoPackage 1.2: layers lsoa, cans, boroughs, wards (EPSG:27700) with QGIS "
    "styles (layer_styles) and layer descriptions",
    "canrank.xlsx": "Excel workbook: CANs, LSOAs, borough and CAN summary measures, sources "
    "with reference dates, method in words",
    "contiguity.csv": "the neighbour graph the selection used (lsoa_a, lsoa_b, shared_m)",
    "map.html": "the consultee map: one self-contained page for desktop and phone",
    "manifest.json": "this record: configuration, inputs and checksums, selection and proof, "
    "diagnostics, warnings, versions (identical for identical inputs)",
    "run.json": "what this run measured: timings, solver seconds, machine, input paths",
    "overrides.yaml": "the local-knowledge overrides file the build used",
    "overrides.yml": "the local-knowledge overrides file the build used",
    "overrides.csv": "the local-knowledge overrides file the build used",
}


def versions() -> dict[str, str]:
    """Versions of canrank and of the libraries whose behaviour shapes the outputs."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd
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
    }


def input_files(study: Study) -> dict[str, list[Path]]:
    """Every file read for each source of a study (main file and sidecars)."""
    return {
        sid: [loc.path.parent / name for name in loc.source.all_filenames()]
        for sid, loc in sorted(study.located.items())
    }


def _inputs(study: Study) -> list[dict[str, Any]]:
    out = []
    for sid, paths in input_files(study).items():
        loc = study.located[sid]
        src = loc.source
        out.append(
            {
                "source": sid,
                "publisher": src.publisher,
                "title": src.title,
                "reference_date": src.reference_date,
                "rows": study.row_counts.get(sid),
                "files": [
                    {"file": p.name, "bytes": p.stat().st_size, "sha256": sha256_file(p)}
                    for p in paths
                ],
            }
        )
    return out


def build_manifest(
    config_path: Path,
    sc: ResolvedScenario,
    study: Study,
    graph: Contiguity,
    selection: Selection,
    *,
    n_lsoas: int,
    lsoas_in_cans: int,
    population_in_cans: int,
    n_cans: int,
) -> dict[str, Any]:
    """The deterministic manifest of one build (no timings, no paths of this machine)."""
    sel = sc.selection
    return {
        "canrank_version": __version__,
        "scenario": sc.name,
        "config": {
            "file": config_path.name,
            "sha256": hashlib.sha256(config_path.read_bytes()).hexdigest(),
            "resolved": sc.model_dump(mode="json"),
        },
        "proxies": sc.proxies,
        "vintage_conversions": study.vintage_conversions,
        "inputs": _inputs(study),
        "rows": {
            "lsoas": n_lsoas,
            "cans": n_cans,
            "lsoas_in_cans": lsoas_in_cans,
            "population_in_cans": population_in_cans,
        },
        "contiguity": graph.summary(),
        "selection": {
            "method": selection.method,
            "status": getattr(selection, "status", None),
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
        "versions": versions(),
    }


def run_record(
    study: Study,
    selection: Selection,
    timings: dict[str, float],
    *,
    mirror: Path | None,
    raw_dir: Path,
    solver_log: list[str] | None = None,
) -> dict[str, Any]:
    """What this run measured and where it found its inputs (``run.json``)."""
    files = []
    for sid, paths in input_files(study).items():
        for p in paths:
            st = p.stat()
            files.append(
                {
                    "source": sid,
                    "origin": study.located[sid].origin,
                    "path": str(p.resolve()),
                    "bytes": st.st_size,
                    "mtime_ns": st.st_mtime_ns,
                }
            )
    return {
        "canrank_version": __version__,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "mirror": str(mirror.resolve()) if mirror else None,
        "raw_dir": str(raw_dir.resolve()),
        "timings_s": dict(timings),
        "solve_seconds": round(selection.solve_seconds, 3),
        "solver_log": list(solver_log or []),
        "input_files": files,
    }
