"""The ``canrank`` command line: a thin typer layer over :mod:`canrank.pipeline` and friends.

Every user-fixable problem (``CanrankError``) is printed as one message on stderr and exits
with code 2; nothing is half-written because the pipeline writes atomically.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from canrank.errors import CanrankError

if TYPE_CHECKING:
    from canrank.pipeline import BuildResult

app = typer.Typer(
    name="canrank",
    help="Rank LSOAs by a composite of official indicators and select Community Action "
    "Neighbourhoods (CANs).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
err = Console(stderr=True, highlight=False)
console = Console(highlight=False)

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="Indicator and scenario configuration (YAML).")
]
ScenarioOpt = Annotated[
    str | None, typer.Option("--scenario", "-s", help="Scenario name (default: the config's).")
]
MirrorOpt = Annotated[
    Path | None,
    typer.Option(
        "--mirror",
        help="Folder holding published files (searched recursively); default $CANRANK_MIRROR.",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]
RawOpt = Annotated[Path, typer.Option("--raw-dir", help="Download cache.")]

_STAGES = {
    "config": "Reading the configuration",
    "locate": "Finding source files",
    "load": "Loading and checking source files",
    "validate": "Joining indicators to the study area",
    "rank": "Ranking LSOAs",
    "contiguity": "Building contiguity from boundaries",
    "select": "Selecting CANs",
    "name": "Naming CANs",
    "write": "Writing outputs",
}


def _mirror(value: Path | None) -> Path | None:
    if value is not None:
        return value
    env = os.environ.get("CANRANK_MIRROR")
    return Path(env) if env else None


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[str], None]]:
    """A rich progress bar over pipeline stages; a no-op hook with ``--quiet``."""
    if quiet:
        yield lambda _stage: None
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task("Starting", total=len(_STAGES))
    seen: list[str] = []

    def hook(stage: str) -> None:
        if seen:
            progress.advance(task)
        seen.append(stage)
        progress.update(task, description=_STAGES.get(stage, stage))

    with progress:
        yield hook
        progress.update(task, completed=len(_STAGES))


def build_in_memory(
    config: Path,
    scenario: str | None,
    mirror: Path | None,
    raw_dir: Path,
    method: str | None = None,
) -> BuildResult:
    """One scenario built in memory (nothing written), as the analysis commands need it."""
    from canrank.pipeline import build as run_build

    return run_build(
        config,
        scenario=scenario,
        mirror=_mirror(mirror),
        raw_dir=raw_dir,
        write=False,
        method=method,
    )


def _run(func: Callable[[], Any]) -> Any:
    try:
        return func()
    except CanrankError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True, highlight=False)
        raise typer.Exit(exc.exit_code) from None


@app.command()
def build(
    config: ConfigOpt = Path("config/indicators.yaml"),
    scenario: ScenarioOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (default data/processed/<scenario>)."),
    ] = None,
    mirror: MirrorOpt = None,
    raw_dir: RawOpt = Path("data/raw"),
    download: Annotated[
        bool, typer.Option("--download/--no-download", help="Allow official downloads.")
    ] = False,
    n_cans: Annotated[int | None, typer.Option("--n-cans", help="Number of CANs.")] = None,
    min_population: Annotated[int | None, typer.Option(help="Minimum CAN population.")] = None,
    max_population: Annotated[int | None, typer.Option(help="Maximum CAN population.")] = None,
    max_per_borough: Annotated[int | None, typer.Option(help="Most CANs per borough.")] = None,
    area: Annotated[
        str | None, typer.Option("--area", help="Study area (default: the scenario's).")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse scenarios that use proxy sources.")
    ] = False,
    method: Annotated[
        str | None,
        typer.Option("--method", help="Selection method: greedy or optimal (default: config's)."),
    ] = None,
    time_limit: Annotated[
        float | None,
        typer.Option("--time-limit", help="Seconds the optimal method may search (then: gap)."),
    ] = None,
    overrides: Annotated[
        Path | None,
        typer.Option("--overrides", help="Local-knowledge overrides (YAML or CSV)."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Rank every LSOA, select the CANs and write lsoa.csv, cans.csv, canrank.gpkg, map.html
    and manifest.json."""
    from canrank.pipeline import build as run_build

    with _progress(quiet) as hook:
        result = _run(
            lambda: run_build(
                config,
                scenario=scenario,
                out=out,
                mirror=_mirror(mirror),
                raw_dir=raw_dir,
                allow_download=download,
                on_stage=hook,
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
    if quiet:
        return
    for warning in result.manifest["warnings"]:
        err.print(f"[yellow]note:[/] {warning}", markup=True, highlight=False)
    table = Table(title=f"{len(result.cans)} CANs ({result.manifest['scenario']})")
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
    if sel.get("gap") is not None:
        console.print(
            f"Selection ({sel['method']}): objective {sel['objective_value']:,.0f}, upper bound "
            f"{sel['upper_bound']:,.0f}, gap {100 * sel['gap']:.2f}%"
        )
    console.print(f"Outputs written to {result.out_dir}")


@app.command()
def sources() -> None:
    """List the published sources canrank knows, with publisher, date and file name."""
    from canrank.sources import CATALOGUE

    table = Table(title="Source catalogue")
    for col in ("id", "publisher", "reference date", "file", "sha256 known"):
        table.add_column(col, overflow="fold")
    for s in CATALOGUE.values():
        table.add_row(s.id, s.publisher, s.reference_date, s.filename, "yes" if s.sha256 else "no")
    console.print(table)


@app.command()
def fetch(
    ids: Annotated[list[str] | None, typer.Argument(help="Source ids (default: all).")] = None,
    mirror: MirrorOpt = None,
    raw_dir: RawOpt = Path("data/raw"),
    download: Annotated[
        bool, typer.Option("--download/--no-download", help="Allow official downloads.")
    ] = True,
    quiet: QuietOpt = False,
) -> None:
    """Copy sources into data/raw/ from the mirror or the official URL, verifying checksums."""
    from rich.markup import escape

    from canrank.acquire import fetch as fetch_one
    from canrank.download_progress import download_progress
    from canrank.errors import MissingSourceError
    from canrank.sources import CATALOGUE, get_source

    wanted = ids or list(CATALOGUE)
    failed = 0
    missing: list[tuple[str, str]] = []
    with download_progress(err, quiet) as progress_for:
        for sid in wanted:
            try:
                source = get_source(sid)
                located = fetch_one(
                    source,
                    raw_dir=raw_dir,
                    mirror=_mirror(mirror),
                    allow_download=download,
                    progress=progress_for(sid),
                )
            except KeyError as exc:
                err.print(f"[bold red]error:[/] {exc.args[0]}", markup=True, highlight=False)
                failed += 1
                continue
            except MissingSourceError as exc:
                missing.extend(exc.missing)
                failed += 1
                continue
            except CanrankError as exc:
                err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
                failed += 1
                continue
            if not quiet:
                console.print(f"{sid}: {located.path} (from {located.origin})", highlight=False)
    if missing:
        summary = MissingSourceError(
            missing,
            hint="check the network connection, or put the files in the raw folder or a mirror "
            "(--mirror or CANRANK_MIRROR); `canrank sources` lists where each comes from",
        )
        err.print("[bold red]error:[/] " + escape(str(summary)), highlight=False, soft_wrap=True)
    if failed:
        err.print(f"{failed} of {len(wanted)} source(s) could not be fetched", highlight=False)
        raise typer.Exit(2)


def _register_commands() -> None:
    """Import every module of :mod:`canrank.commands` so that it adds its commands to ``app``."""
    import importlib
    import pkgutil

    import canrank.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"canrank.commands.{info.name}")


_register_commands()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
