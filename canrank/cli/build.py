"""``canrank build``: rank every LSOA, select the CANs and write the build folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from canrank.cli.common import (
    DEFAULT_CONFIG,
    DEFAULT_RAW,
    ConfigOpt,
    MirrorOpt,
    QuietOpt,
    RawOpt,
    ScenarioOpt,
    app,
    console,
    mirror_or_env,
    progress_display,
    run,
    say,
)

if TYPE_CHECKING:
    from canrank.builds import Build


@app.command()
def build(
    config: ConfigOpt = DEFAULT_CONFIG,
    scenario: ScenarioOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Output folder (default data/processed/<scenario>)."
        ),
    ] = None,
    mirror: MirrorOpt = None,
    raw_dir: RawOpt = DEFAULT_RAW,
    download: Annotated[
        bool, typer.Option("--download/--no-download", help="Allow official downloads.")
    ] = False,
    n_cans: Annotated[
        int | None, typer.Option("--n-cans", metavar="N", help="Number of CANs.")
    ] = None,
    min_population: Annotated[
        int | None, typer.Option(metavar="N", help="Minimum CAN population.")
    ] = None,
    max_population: Annotated[
        int | None, typer.Option(metavar="N", help="Maximum CAN population.")
    ] = None,
    max_per_borough: Annotated[
        int | None, typer.Option(metavar="N", help="Most CANs per borough.")
    ] = None,
    area: Annotated[
        str | None,
        typer.Option("--area", metavar="AREA", help="Study area (default: the scenario's)."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse scenarios that use proxy sources.")
    ] = False,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            metavar="METHOD",
            help="Selection method: optimal (proven optimal) or greedy (a quick heuristic); "
            "default: the config's.",
        ),
    ] = None,
    time_limit: Annotated[
        float | None,
        typer.Option(
            "--time-limit",
            metavar="SECONDS",
            help="Safety net for the optimal method: stop after this long and report the bound.",
        ),
    ] = None,
    overrides: Annotated[
        Path | None,
        typer.Option(
            "--overrides", metavar="FILE", help="Local-knowledge overrides (YAML or CSV)."
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Rank every LSOA, select the CANs and write the build folder (lsoa.csv, cans.csv,
    canrank.gpkg, map.html, manifest.json and more)."""
    from canrank.pipeline import build as run_build

    mirror = mirror_or_env(mirror) or _remembered(config, scenario, out, area)
    with progress_display(quiet) as (on_stage, on_progress):
        result = run(
            lambda: run_build(
                config,
                scenario=scenario,
                out=out,
                mirror=mirror,
                raw_dir=raw_dir,
                allow_download=download,
                on_stage=on_stage,
                on_progress=on_progress,
                area=area,
                strict=strict,
                overrides=overrides,
                n_cans=n_cans,
                min_population=min_population,
                max_population=max_population,
                max_per_borough=max_per_borough,
                method=method,
                time_limit_s=time_limit,
            )
        )
    if not quiet:
        report_build(result)


def _remembered(
    config: Path, scenario: str | None, out: Path | None, area: str | None
) -> Path | None:
    """The mirror the previous build into the same folder used (so a rebuild needs no flag)."""
    from canrank.builds import default_build_folder, remembered_mirror
    from canrank.config import load_config
    from canrank.errors import CanrankError

    if out is None:
        try:
            name = scenario or load_config(config).default_scenario
        except CanrankError:
            return None  # the build itself reports the config error
        out = default_build_folder(name, area)
    return remembered_mirror(out)


def report_build(result: Build) -> None:
    """Print a build's notes, CAN table, selection status and folder."""
    from rich.table import Table

    from canrank.analysis.diagnostics import diagnostics_lines

    for warning in result.manifest["warnings"]:
        say(f"note: {warning}", style="yellow")
    for line in diagnostics_lines(result.manifest.get("diagnostics", {})):
        say(line)
    table = Table(title=f"{len(result.cans)} CANs ({result.name})")
    for col in ("CAN", "Name", "Boroughs", "LSOAs", "Population", "Mean score"):
        table.add_column(col)
    for _, row in result.cans.iterrows():
        table.add_row(
            str(row["can_id"]),
            str(row["name"]),
            str(row["boroughs"]),
            str(row["n_lsoas"]),
            f"{row['population']:,}",
            f"{row['mean_score']:.3f}",
        )
    console.print(table)
    sel = result.manifest["selection"]
    line = f"Selection ({sel['method']}): objective {sel['objective_value']:,.0f}"
    if sel.get("status"):
        line += f"; {sel['status']}"
    elif sel.get("gap") is not None:
        line += f", upper bound {sel['upper_bound']:,.0f}, gap {100 * sel['gap']:.2f}%"
    console.print(line)
    console.print(f"Outputs written to {result.folder}")
