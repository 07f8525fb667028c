"""``canrank summaries``: MHCLG summary measures by borough or CAN, or straight from an IoD file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    analysis_folder,
    app,
    console,
    open_scenario_build,
    run,
    say,
)
from canrank.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

#: How the rank columns of a summary run, said wherever the table is shown or written.
RANK_NOTE = (
    "average_rank and local_concentration follow MHCLG: they average REVERSED LSOA ranks "
    "(the most stressed LSOA counts n, the least 1), so a HIGHER value means MORE stressed. "
    "Every *_rank column ranks the areas with 1 = most stressed, like every other rank in "
    "canrank."
)

#: Columns shown on screen (the CSV has them all, with each measure's rank).
SHOWN = (
    "area_name",
    "average_score",
    "average_rank",
    "proportion_most_deprived_10",
    "extent",
    "local_concentration",
    "average_score_rank",
)


@app.command()
def summaries(
    level: Annotated[
        str, typer.Option("--level", metavar="LEVEL", help="borough or can.")
    ] = "borough",
    iod: Annotated[
        Path | None,
        typer.Option(
            "--iod", metavar="FILE", help="Summarise a published IoD file (IMD and every domain)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="CSV to write (default <build>/summaries/<level>.csv).",
        ),
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    scenario: ScenarioOpt = None,
    build_dir: BuildOpt = None,
    mirror: MirrorOpt = None,
    raw_dir: RawOpt = DEFAULT_RAW,
    quiet: QuietOpt = False,
) -> None:
    """MHCLG summary measures (average score and rank, proportion in the most deprived 10%,
    extent, local concentration, scale) by borough or CAN, from the scenario's build."""
    if level not in ("borough", "can"):
        raise typer.BadParameter("--level must be 'borough' or 'can'")
    if iod is not None:

        def from_iod() -> pd.DataFrame:
            from canrank.loaders.iod import read_iod
            from canrank.summaries import iod_summaries

            if level != "borough":
                raise InputError(
                    "an IoD file can be summarised by borough only",
                    file=iod,
                    hint="use --level borough with --iod",
                )
            return iod_summaries(read_iod(iod), level="borough")

        table = run(from_iod)
        target = out or Path("data/processed/iod-summaries") / f"{iod.stem}_borough.csv"
        title = f"IoD summary measures by borough ({iod.name})"
    else:
        result = open_scenario_build(
            config,
            scenario,
            build_dir=build_dir,
            mirror=mirror,
            raw_dir=raw_dir,
            geometry=False,
            quiet=quiet,
        )
        from canrank.summaries import composite_summaries

        table = run(lambda: composite_summaries(result.lsoa, level))
        target = out or analysis_folder(result, "summaries") / f"{level}.csv"
        title = f"Summary measures of the composite score by {level} ({result.name})"
    run(lambda: _write(table, target))
    if not quiet:
        _print(table, title)
        say(RANK_NOTE)
        say(f"{len(table)} rows written to {target}")


def _write(table: pd.DataFrame, target: Path) -> None:
    from canrank.outputs import output_file, write_csv

    with output_file(target) as tmp:
        write_csv(table, tmp)


def _print(table: pd.DataFrame, title: str) -> None:
    """The summary table on screen (numbers to 3 decimals, names literal)."""
    from rich.table import Table

    cols = [c for c in SHOWN if c in table.columns]
    shown = Table(title=title)
    for col in cols:
        shown.add_column(col.replace("_", " "), overflow="fold")
    for row in table[cols].itertuples(index=False):
        shown.add_row(*(f"{v:,.3f}" if isinstance(v, float) else str(v) for v in row))
    console.print(shown)
