"""``canrank report``: the consultation pack (PDF and HTML) of a scenario's existing build."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from canrank.cli.common import (
    DEFAULT_CONFIG,
    DEFAULT_RAW,
    BuildOpt,
    ConfigOpt,
    MirrorOpt,
    QuietOpt,
    RawOpt,
    ScenarioOpt,
    app,
    open_scenario_build,
    run,
    say,
)


@app.command()
def report(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Folder for report.pdf and report.html (default <build>/report).",
        ),
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    scenario: ScenarioOpt = None,
    build_dir: BuildOpt = None,
    mirror: MirrorOpt = None,
    raw_dir: RawOpt = DEFAULT_RAW,
    quiet: QuietOpt = False,
) -> None:
    """The consultation pack: a cover, an overview map, one page per CAN (map, people and
    places, comparison with the study area, most stressed LSOAs, stability, a box for local
    comments) and the method, as report.pdf and the same as a self-contained report.html."""
    build = open_scenario_build(
        config,
        scenario,
        build_dir=build_dir,
        mirror=mirror,
        raw_dir=raw_dir,
        geometry=True,
        quiet=quiet,
    )

    def write() -> tuple[Path, Path]:
        from canrank.reports.pack import write_report

        return write_report(build, out)

    pdf, page = run(write)
    if not quiet:
        say(f"consultation pack written: {pdf} and {page}")
