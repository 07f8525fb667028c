"""``canrank explain LSOA_CODE``: an LSOA's indicators, contributions, rank and CAN status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from canrank.cli import (
    ConfigOpt,
    MirrorOpt,
    ScenarioOpt,
    _run,
    app,
    build_in_memory,
    console,
)


@app.command()
def explain(
    lsoa_code: Annotated[str, typer.Argument(help="LSOA code, e.g. E01001234.")],
    config: ConfigOpt = Path("config/indicators.yaml"),
    scenario: ScenarioOpt = None,
    mirror: MirrorOpt = None,
    raw_dir: Annotated[Path, typer.Option("--raw-dir")] = Path("data/raw"),
    method: Annotated[
        str | None,
        typer.Option("--method", help="Selection method (default: the config's; greedy is fast)."),
    ] = None,
) -> None:
    """Why an LSOA ranks where it does and why it is, or is not, in a CAN."""
    from canrank.explain import Explanation, explain_lsoa

    def run() -> Explanation:
        result = build_in_memory(config, scenario, mirror, raw_dir, method)
        return explain_lsoa(result, lsoa_code.strip().upper())

    ex = _run(run)
    console.print(
        f"[bold]{ex.lsoa_name}[/] ({ex.lsoa_code}), {ex.borough_name}: "
        f"{ex.population:,.0f} residents",
        markup=True,
        highlight=False,
    )
    table = Table(title="Indicators")
    for col in ("indicator", "transform", "weight", "value", "normalised", "contribution"):
        table.add_column(col, overflow="fold")
    for ind in ex.indicators:
        label = str(ind["label"]) + (" [proxy]" if ind["proxy"] else "")
        table.add_row(
            label,
            f"{ind['transform']}, {str(ind['direction']).replace('_', ' ')}",
            f"{ind['weight']:.3f}",
            f"{ind['value']:.4g}",
            f"{ind['normalised']:.4f}",
            f"{ind['contribution']:.4f}",
        )
    console.print(table)
    console.print(
        f"Composite score {ex.score:.4f}: rank {ex.rank:,} of {ex.n_lsoas:,} "
        f"(1 = most stressed), decile {ex.decile}",
        highlight=False,
    )
    console.print(f"CAN: {ex.status} — {ex.reason}", highlight=False, markup=False)
