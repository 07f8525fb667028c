"""``canrank map``: the interactive map of a scenario, two scenarios side by side, or the
static PNG/PDF for reports, built in memory (``build(..., write=False)``) and written to one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from canrank.cli import (
    ConfigOpt,
    MirrorOpt,
    QuietOpt,
    RawOpt,
    ScenarioOpt,
    _run,
    app,
    build_in_memory,
    err,
)

if TYPE_CHECKING:
    pass


@app.command("map")
def map_command(
    config: ConfigOpt = Path("config/indicators.yaml"),
    scenario: ScenarioOpt = None,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--compare",
            help="Two scenario names: write a side-by-side map with the CANs that differ "
            "highlighted.",
            metavar="SCENARIO_A SCENARIO_B",
        ),
    ] = None,
    static: Annotated[
        bool, typer.Option("--static", help="Write the report map as PNG and PDF instead.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output file (default <scenario>-map.html, compare-<A>-vs-<B>.html, or "
            "<scenario>-map.png/.pdf with --static).",
        ),
    ] = None,
    mirror: MirrorOpt = None,
    raw_dir: RawOpt = Path("data/raw"),
    quiet: QuietOpt = False,
) -> None:
    """Write a self-contained map (no network needed to open it)."""
    from canrank.maps.interactive import map_for_result, save_map

    if compare:
        from canrank.maps.compare import compare_map

        a, b = compare
        target = out or Path(f"compare-{a}-vs-{b}.html")

        def run_compare() -> list[Path]:
            fig = compare_map(
                build_in_memory(config, a, mirror, raw_dir),
                build_in_memory(config, b, mirror, raw_dir),
            )
            save_map(fig, target)
            return [target]

        written = _run(run_compare)
    elif static:
        from canrank.maps.static import save_static, static_for_result

        def run_static() -> list[Path]:
            result = build_in_memory(config, scenario, mirror, raw_dir)
            stem = out or Path(f"{result.study.scenario.name}-map")
            return save_static(static_for_result(result), stem)

        written = _run(run_static)
    else:

        def run_map() -> list[Path]:
            result = build_in_memory(config, scenario, mirror, raw_dir)
            target = out or Path(f"{result.study.scenario.name}-map.html")
            save_map(map_for_result(result), target)
            return [target]

        written = _run(run_map)
    if not quiet:
        for path in written:
            err.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", highlight=False)
