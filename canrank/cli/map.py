"""``canrank map``: a scenario's interactive map, two scenarios side by side, or the static
PNG/PDF for reports, all drawn from existing builds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from canrank.cli.common import (
    DEFAULT_CONFIG,
    DEFAULT_RAW,
    BuildOpt,
    BuildsOpt,
    ConfigOpt,
    MirrorOpt,
    QuietOpt,
    RawOpt,
    ScenarioOpt,
    analysis_folder,
    app,
    open_scenario_build,
    run,
    say,
)


@app.command("map")
def map_command(
    config: ConfigOpt = DEFAULT_CONFIG,
    scenario: ScenarioOpt = None,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--compare",
            help="Two scenario names: a side-by-side map with the CANs that differ highlighted "
            "(written with the comparison, data/processed/compare/<A>-vs-<B>/).",
            metavar="SCENARIO_A SCENARIO_B",
        ),
    ] = None,
    static: Annotated[
        bool,
        typer.Option("--static", help="Write the report map as PNG and PDF (<build>/static/)."),
    ] = False,
    build_dir: BuildOpt = None,
    builds: BuildsOpt = None,
    mirror: MirrorOpt = None,
    raw_dir: RawOpt = DEFAULT_RAW,
    quiet: QuietOpt = False,
) -> None:
    """Write a self-contained map (no network needed to open it) from the scenario's build."""
    if compare:
        from canrank.cli.compare import run_comparison

        folder = run_comparison(
            list(compare),
            config=config,
            mirror=mirror,
            raw_dir=raw_dir,
            maps=True,
            quiet=quiet,
            builds_root=builds,
        )
        written = sorted(folder.glob("compare_map*.html"))
    else:
        build = open_scenario_build(
            config, scenario, build_dir=build_dir, mirror=mirror, raw_dir=raw_dir, quiet=quiet
        )
        if static:
            from canrank.build_maps import write_build_static

            written = run(lambda: write_build_static(build, analysis_folder(build, "static")))
        else:
            from canrank.build_maps import write_build_map
            from canrank.outputs import output_file

            assert build.folder is not None
            target = build.folder / "map.html"

            def redraw() -> list[Path]:
                with output_file(target) as tmp:
                    write_build_map(build, tmp)
                return [target]

            written = run(redraw)
    if not quiet:
        for path in written:
            say(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
