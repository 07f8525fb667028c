"""``canrank sources``: the catalogue of published sources."""

from __future__ import annotations

from canrank.cli.common import app, console


@app.command()
def sources() -> None:
    """List the published sources canrank knows, with publisher, date and file name."""
    from rich.table import Table

    from canrank.sources import CATALOGUE

    table = Table(title="Source catalogue")
    for col in ("id", "publisher", "reference date", "file", "sha256 known"):
        table.add_column(col, overflow="fold")
    for s in CATALOGUE.values():
        table.add_row(s.id, s.publisher, s.reference_date, s.filename, "yes" if s.sha256 else "no")
    console.print(table, markup=False)
