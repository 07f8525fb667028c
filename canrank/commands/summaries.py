"""``canrank summaries``: MHCLG summary measures by borough or CAN, or straight from an IoD file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer

from canrank.cli import (
    ConfigOpt,
    MirrorOpt,
    QuietOpt,
    ScenarioOpt,
    _run,
    app,
    build_in_memory,
    console,
)
from canrank.errors import InputError
from canrank.outputs import atomic_file, write_csv

if TYPE_CHECKING:
    from canrank.pipeline import BuildResult


def composite_summaries(result: BuildResult, level: str) -> pd.DataFrame:
    """Summary measures of the composite score for boroughs or CANs of one build.

    Ranks are ranks within the study area (1 = most stressed of its LSOAs), so "most deprived
    10%" and "extent" are relative to the study area, not England.
    """
    from canrank.summaries import summary_measures

    frame = pd.DataFrame(result.lsoa.drop(columns="geometry"))
    if level == "borough":
        group, names = "borough_code", "borough_name"
    else:
        frame = frame.dropna(subset=["can_id"]).copy()
        frame["can_id"] = frame["can_id"].astype(int)
        group, names = "can_id", "can_name"
    out = summary_measures(
        frame,
        group=group,
        score="score",
        rank="rank",
        population="population",
        n_national=len(result.lsoa),
        names=names,
    )
    out.insert(2, "domain", "composite")
    return out


@app.command()
def summaries(
    level: Annotated[str, typer.Option("--level", help="borough or can.")] = "borough",
    iod: Annotated[
        Path | None,
        typer.Option("--iod", help="Summarise a published IoD file (IMD and every domain)."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="CSV to write.")] = None,
    config: ConfigOpt = Path("config/indicators.yaml"),
    scenario: ScenarioOpt = None,
    mirror: MirrorOpt = None,
    raw_dir: Annotated[Path, typer.Option("--raw-dir")] = Path("data/raw"),
    quiet: QuietOpt = False,
    method: Annotated[
        str | None,
        typer.Option("--method", help="Selection method (default: the config's; greedy is fast)."),
    ] = None,
) -> None:
    """MHCLG summary measures (average score and rank, proportion in the most deprived 10%,
    extent, local concentration, scale) by borough or CAN."""
    if level not in ("borough", "can"):
        raise typer.BadParameter("--level must be 'borough' or 'can'")

    def run() -> pd.DataFrame:
        if iod is not None:
            from canrank.loaders.iod import read_iod
            from canrank.summaries import iod_summaries

            if level != "borough":
                raise InputError(
                    "an IoD file can be summarised by borough only",
                    file=iod,
                    hint="use --level borough with --iod",
                )
            return iod_summaries(read_iod(iod), level="borough")

        result = build_in_memory(config, scenario, mirror, raw_dir, method)
        return composite_summaries(result, level)

    table = _run(run)
    target = out or Path("data/processed") / f"summaries_{level}.csv"
    with atomic_file(target) as tmp:
        write_csv(table, tmp)
    if not quiet:
        console.print(f"{len(table)} rows written to {target}")
