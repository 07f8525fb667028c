"""``canrank explain LSOA_CODE``: an LSOA's indicators, contributions, rank and CAN status."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.table import Table

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
    console,
    open_scenario_build,
    run,
)
from canrank.errors import InputError


@app.command()
def explain(
    lsoa_code: Annotated[str, typer.Argument(help="LSOA code, e.g. E01001234.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    scenario: ScenarioOpt = None,
    build_dir: BuildOpt = None,
    mirror: MirrorOpt = None,
    raw_dir: RawOpt = DEFAULT_RAW,
    quiet: QuietOpt = False,
) -> None:
    """Why an LSOA ranks where it does and why it is, or is not, in a CAN."""
    code = lsoa_code.strip().upper()
    if not LSOA_CODE.fullmatch(code):
        run(lambda: _bad_code(lsoa_code))
    from canrank.analysis.explain import Explanation, explain_lsoa

    result = open_scenario_build(
        config,
        scenario,
        build_dir=build_dir,
        mirror=mirror,
        raw_dir=raw_dir,
        geometry=False,
        quiet=quiet,
    )
    ex: Explanation = run(lambda: explain_lsoa(result, code))
    console.print(
        f"{ex.lsoa_name} ({ex.lsoa_code}), {ex.borough_name}: {ex.population:,.0f} residents",
        style="bold",
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
        f"Composite score {ex.score:.4f}: rank {ex.rank:,} of {ex.n_lsoas:,} in "
        f"{result.scenario.area.label} (1 = most stressed), decile {ex.decile}"
    )
    for label, value in ex.national:
        console.print(f"{label}: {value}")
    console.print(f"CAN: {ex.status} — {ex.reason}")


#: An LSOA or Data Zone code as published (England E01, Wales W01), checked before any work.
LSOA_CODE = re.compile(r"[EW]01\d{6}")


def _bad_code(text: str) -> None:
    raise InputError(
        f"{text!r} is not an LSOA code",
        hint="give a code like E01001234 (England) or W01000001 (Wales), as in lsoa.csv",
    )
