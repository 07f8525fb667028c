"""A build, in memory or read back from its folder: the contract every analysis reads.

``canrank build`` writes a folder (``lsoa.csv``, ``cans.csv``, ``canrank.gpkg``,
``contiguity.csv``, ``manifest.json``, ``run.json``, ``map.html`` and a copy of any overrides
file). :func:`open_build` reads it back into the same :class:`Build` that
:func:`canrank.build` returns, so ``explain``, ``summaries``, ``map``, ``compare``,
``sensitivity`` and the notebook all see the build's own CANs, members and names, and none of
them redoes the build. :func:`build_status` says whether a folder still matches the current
configuration and inputs; :func:`load_build` opens it, or builds it when missing or stale.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from canrank.errors import InputError

if TYPE_CHECKING:
    import geopandas as gpd

    from canrank.config import ResolvedScenario
    from canrank.contiguity import Contiguity
    from canrank.overrides import Overrides
    from canrank.selection import Selection, SelectionProblem

__all__ = [
    "Build",
    "build_status",
    "default_build_folder",
    "load_build",
    "open_build",
    "rank_ordered",
    "remembered_mirror",
]

MANIFEST = "manifest.json"
RUN = "run.json"
CONTIGUITY = "contiguity.csv"
GPKG = "canrank.gpkg"


@dataclass(frozen=True, eq=False)
class Build:
    """One scenario's build: the LSOA table in rank order, the CANs, the selection (member
    indices into ``lsoa`` rows), the contiguity graph (ids in ``lsoa`` row order), the
    manifest and what the build was made with."""

    scenario: ResolvedScenario
    lsoa: gpd.GeoDataFrame
    cans: gpd.GeoDataFrame
    selection: Selection
    graph: Contiguity
    manifest: dict[str, Any]
    folder: Path | None = None
    boroughs: gpd.GeoDataFrame | None = None
    wards: gpd.GeoDataFrame | None = None
    overrides: Overrides | None = None
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The scenario name."""
        return self.scenario.name

    @property
    def out_dir(self) -> Path | None:
        """The folder the build was written to (``None`` for an in-memory build)."""
        return self.folder

    def problem(self) -> SelectionProblem:
        """The build's selection problem, with its overrides applied (rows in ``lsoa`` order)."""
        from canrank.problem import build_problem

        return build_problem(self.lsoa, self.graph, self.scenario, self.overrides)[0]

    def can_members(self) -> dict[int, list[str]]:
        """LSOA codes of each CAN, by CAN id."""
        return {
            int(row.can_id): sorted(str(row.lsoa_codes).split(";"))
            for row in self.cans.itertuples()
        }


def rank_ordered(
    ranked: pd.DataFrame, graph: Contiguity, selection: Selection
) -> tuple[Contiguity, Selection, np.ndarray]:
    """Re-index a graph and a selection made in study order to the LSOA table's rank order.

    Returns the new graph, the new selection and ``pos`` (new row of each old row). The
    selection keeps its CANs, objective and certificate; a warm start (which refers to the old
    rows) is dropped.
    """
    from canrank.contiguity import Contiguity

    order = np.argsort(ranked["rank"].to_numpy(), kind="stable")
    pos = np.empty(len(order), dtype=np.int64)
    pos[order] = np.arange(len(order))
    ids = [graph.ids[i] for i in order]
    rows = np.repeat(np.arange(graph.n), np.diff(graph.indptr))
    cols = np.asarray(graph.indices)
    keep = rows < cols
    edges = np.column_stack([pos[rows[keep]], pos[cols[keep]]])
    new_graph = Contiguity.from_edges(
        ids,
        edges,
        np.asarray(graph.shared_m)[keep],
        rule=graph.rule,
        tolerance_m=graph.tolerance_m,
        min_shared_m=graph.min_shared_m,
    )
    changes: dict[str, Any] = {"cans": tuple(np.sort(pos[c]) for c in selection.cans)}
    if "warm_start" in {f.name for f in fields(selection)}:
        changes["warm_start"] = None
    return new_graph, replace(selection, **changes), pos


def contiguity_frame(graph: Contiguity) -> pd.DataFrame:
    """The graph as an edge list (each edge once): ``lsoa_a``, ``lsoa_b``, ``shared_m``."""
    rows = np.repeat(np.arange(graph.n), np.diff(graph.indptr))
    cols = np.asarray(graph.indices)
    keep = rows < cols
    ids = np.asarray(graph.ids, dtype=object)
    return pd.DataFrame(
        {
            "lsoa_a": ids[rows[keep]],
            "lsoa_b": ids[cols[keep]],
            "shared_m": np.round(np.asarray(graph.shared_m)[keep], 3),
        }
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(
            "this folder holds no canrank build (no manifest.json)",
            file=path.parent,
            hint="run `canrank build` first, or name the build folder with --build",
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"the build's {path.name} cannot be read ({exc})",
            file=path,
            hint="rebuild with `canrank build`",
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{path.name} is not a canrank record", file=path, hint="rebuild")
    return data


def _layer(path: Path, layer: str, geometry: bool) -> Any:
    import pyogrio

    if layer not in {name for name, _ in pyogrio.list_layers(path)}:
        return None
    return pyogrio.read_dataframe(path, layer=layer, read_geometry=geometry)


def open_build(folder: str | Path, *, geometry: bool = True) -> Build:
    """Read a build folder back into a :class:`Build` (no inputs are read, nothing rebuilt).

    ``geometry=False`` skips the polygons (enough for ``explain`` and the summaries).
    """
    from canrank.config import ResolvedScenario
    from canrank.contiguity import Contiguity
    from canrank.overrides import load_overrides
    from canrank.selection import Selection

    folder = Path(folder)
    manifest = _read_json(folder / MANIFEST)
    if "config" not in manifest or "selection" not in manifest:
        raise InputError(
            "manifest.json is not a canrank build manifest",
            file=folder / MANIFEST,
            hint="rebuild with `canrank build`",
        )
    run = _read_json(folder / RUN) if (folder / RUN).exists() else {}
    scenario = ResolvedScenario.model_validate(manifest["config"]["resolved"])
    gpkg = folder / GPKG
    try:
        lsoa = _layer(gpkg, "lsoa", geometry)
        cans = _layer(gpkg, "cans", geometry)
        boroughs = _layer(gpkg, "boroughs", True) if geometry else None
        wards = _layer(gpkg, "wards", True) if geometry else None
        edges = pd.read_csv(folder / CONTIGUITY, dtype={"lsoa_a": str, "lsoa_b": str})
    except (OSError, ValueError) as exc:
        raise InputError(
            f"the build folder is incomplete or damaged ({exc})",
            file=folder,
            hint="rebuild with `canrank build`",
        ) from None
    if lsoa is None or cans is None:
        raise InputError("canrank.gpkg lacks its lsoa or cans layer", file=gpkg, hint="rebuild")
    lsoa["can_id"] = pd.array(lsoa["can_id"], dtype="Int64")
    lsoa["can_name"] = lsoa["can_name"].astype("string")
    codes = lsoa["lsoa_code"].astype(str).tolist()
    index = {c: i for i, c in enumerate(codes)}
    cc = scenario.contiguity
    graph = Contiguity.from_edges(
        codes,
        np.column_stack(
            [edges["lsoa_a"].map(index).to_numpy(), edges["lsoa_b"].map(index).to_numpy()]
        ).astype(np.int64),
        edges["shared_m"].to_numpy(dtype=float),
        rule=cc.rule,
        tolerance_m=float(cc.tolerance_m),
        min_shared_m=float(cc.min_shared_m if cc.rule == "rook" else 0.0),
    )
    sel = manifest["selection"]
    members = tuple(
        np.sort(np.array([index[c] for c in str(s).split(";")], dtype=np.int64))
        for s in cans["lsoa_codes"]
    )
    extra: dict[str, Any] = {}
    if "status" in {f.name for f in fields(Selection)}:
        extra["status"] = sel.get("status") or ""
    selection = Selection(
        cans=members,
        objective=float(sel["objective_value"]),
        method=str(sel["method"]),
        upper_bound=sel.get("upper_bound"),
        gap=sel.get("gap"),
        solve_seconds=float(run.get("solve_seconds", 0.0)),
        details=dict(sel.get("details") or {}),
        **extra,
    )
    overrides = None
    ov = manifest.get("overrides")
    if ov and ov.get("copy"):
        overrides = load_overrides(folder / ov["copy"])
    return Build(
        scenario=scenario,
        lsoa=lsoa,
        cans=cans,
        selection=selection,
        graph=graph,
        manifest=manifest,
        folder=folder,
        boroughs=boroughs,
        wards=wards,
        overrides=overrides,
        run=run,
    )


def default_build_folder(scenario: str, area: str | None = None) -> Path:
    """Where ``canrank build`` writes a scenario by default."""
    from canrank.outputs import safe_component

    name = scenario if area is None else f"{scenario}-{area}"
    return Path("data/processed") / safe_component(name)


def remembered_mirror(folder: Path) -> Path | None:
    """The mirror the build in ``folder`` was made from, else the one a sibling build (another
    scenario under the same parent folder) was made from, if it still exists: the project
    remembers where its published files are, so follow-on commands need no ``--mirror``."""
    for candidate in [folder, *sorted(p for p in folder.parent.glob("*") if p != folder)]:
        try:
            run = json.loads((candidate / RUN).read_text("utf-8"))
        except (OSError, ValueError):
            continue
        mirror = run.get("mirror") if isinstance(run, dict) else None
        if mirror and Path(mirror).is_dir():
            return Path(mirror)
    return None


def _file_unchanged(record: dict[str, Any], expected: dict[str, Any]) -> bool | None:
    """Whether an input file still has the checksum the manifest recorded (``None``: gone)."""
    from canrank.acquire import sha256_file

    path = Path(record["path"])
    try:
        st = path.stat()
    except OSError:
        return None
    if st.st_size != expected["bytes"]:
        return False
    if st.st_mtime_ns == record.get("mtime_ns"):
        return True
    return bool(sha256_file(path) == expected["sha256"])


def build_status(
    folder: Path, config_path: Path, *, scenario: str | None = None
) -> tuple[str, list[str]]:
    """``("fresh" | "missing" | "stale", reasons)`` for a build folder.

    Stale when the configuration resolves differently now (with the options the build was
    made with), when canrank's version changed, or when an input file's checksum changed.
    Inputs that can no longer be found are reported but do not make the build stale: the
    build is then used as it is, and the reason says so.
    """
    from canrank import __version__
    from canrank.config import load_config

    if not (folder / MANIFEST).exists():
        return "missing", [f"no build in {folder}"]
    manifest = _read_json(folder / MANIFEST)
    reasons: list[str] = []
    if manifest.get("canrank_version") != __version__:
        reasons.append(f"built by canrank {manifest.get('canrank_version')}, this is {__version__}")
    options = dict(manifest.get("options") or {})
    config = load_config(config_path)
    if scenario is not None and scenario != manifest.get("scenario"):
        reasons.append(f"the folder holds scenario {manifest.get('scenario')!r}")
    resolved = config.resolve(manifest.get("scenario"), **options)
    if resolved.model_dump(mode="json") != manifest["config"]["resolved"]:
        reasons.append(f"the scenario's configuration in {config_path} has changed")
    run = _read_json(folder / RUN) if (folder / RUN).exists() else {}
    expected = {(i["source"], f["file"]): f for i in manifest.get("inputs", []) for f in i["files"]}
    unknown = []
    for rec in run.get("input_files", []):
        exp = expected.get((rec["source"], Path(rec["path"]).name))
        if exp is None:
            continue
        same = _file_unchanged(rec, exp)
        if same is None:
            unknown.append(Path(rec["path"]).name)
        elif not same:
            reasons.append(f"input {rec['path']} has changed since the build")
    stale = bool(reasons)
    if unknown and not stale:
        reasons.append(
            "input file(s) no longer found, so not re-checked: " + ", ".join(sorted(unknown))
        )
    return ("stale" if stale else "fresh"), reasons


def load_build(
    config_path: str | Path = "config/indicators.yaml",
    scenario: str | None = None,
    *,
    folder: str | Path | None = None,
    mirror: str | Path | None = None,
    raw_dir: str | Path = "data/raw",
    geometry: bool = True,
    notice: Callable[[str], None] | None = None,
    rebuild: Callable[..., Any] | None = None,
) -> Build:
    """Open a scenario's build, building it first when it is missing or stale (and saying so
    through ``notice``). The mirror recorded by the previous build is used when none is given.
    """
    from canrank.config import load_config

    config_path = Path(config_path)
    if folder is None:
        config = load_config(config_path)
        name = scenario or config.default_scenario
        folder = default_build_folder(name)
    folder = Path(folder)
    status, reasons = build_status(folder, config_path, scenario=scenario)
    say = notice or (lambda _m: None)
    if status == "fresh":
        for r in reasons:
            say(f"note: {r}")
        return open_build(folder, geometry=geometry)
    previous: dict[str, Any] = {}
    if (folder / MANIFEST).exists():
        previous = _read_json(folder / MANIFEST)
        scenario = scenario or previous.get("scenario")
    mirror = mirror or remembered_mirror(folder)
    say(f"building {scenario or 'the default scenario'} into {folder}: " + "; ".join(reasons))
    if rebuild is None:
        from canrank.pipeline import build

        rebuild = build
    options = dict(previous.get("options") or {})
    overrides = None
    ov = previous.get("overrides")
    if ov and ov.get("copy"):
        overrides = folder / ov["copy"]
    result: Build = rebuild(
        config_path,
        scenario=scenario,
        out=folder,
        mirror=mirror,
        raw_dir=raw_dir,
        overrides=overrides,
        **options,
    )
    return result if geometry else open_build(folder, geometry=False)
