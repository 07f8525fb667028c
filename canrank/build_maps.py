"""The maps of a build: its plain tables and one map specification, handed to
:mod:`canrank.maps` (which knows nothing of builds), for the build, ``canrank map`` and the
comparison report alike."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from canrank.builds import Build

__all__ = ["map_inputs", "map_notes", "write_build_map", "write_build_static"]


def map_notes(build: Build) -> list[str]:
    """Notes a map of a build shows besides its proxies (which the map specification adds
    itself): the local-knowledge overrides."""
    from canrank.overrides import override_map_notes

    return override_map_notes(build.overrides) if build.overrides else []


def map_inputs(build: Build) -> tuple[Any, Any, Any]:
    """``(lsoa, cans, spec)``: the build's tables and its map specification."""
    from canrank.maps import MapSpec

    spec = MapSpec.from_scenario(
        build.scenario,
        n_lsoas=len(build.lsoa),
        notes=map_notes(build),
        selection_status=build.manifest["selection"].get("status"),
    )
    return build.lsoa, build.cans, spec


def write_build_map(build: Build, path: Path) -> None:
    """The consultee map (``map.html``) of a build."""
    from canrank.maps import write_map

    lsoa, cans, spec = map_inputs(build)
    write_map(lsoa, cans, spec, path, boroughs=build.boroughs, wards=build.wards)


def write_build_static(build: Build, folder: Path) -> list[Path]:
    """The report map of a build as ``map.png`` and ``map.pdf`` in ``folder``."""
    from canrank.maps import write_static_map

    lsoa, cans, spec = map_inputs(build)
    png, pdf = folder / "map.png", folder / "map.pdf"
    write_static_map(lsoa, cans, spec, png, pdf, boroughs=build.boroughs)
    return [png, pdf]
