"""``canrank fetch``: fill the download cache from the mirror or the official URLs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from canrank.cli.common import MirrorOpt, QuietOpt, RawOpt, app, console, err
from canrank.cli.common import mirror_or_env as _mirror
from canrank.errors import CanrankError


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
                err.print("[bold red]error:[/] " + escape(str(exc.args[0])), markup=True)
                failed += 1
                continue
            except MissingSourceError as exc:
                missing.extend(exc.missing)
                failed += 1
                continue
            except CanrankError as exc:
                err.print("[bold red]error:[/] " + escape(str(exc)), markup=True)
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
        err.print("[bold red]error:[/] " + escape(str(summary)), markup=True, soft_wrap=True)
    if failed:
        err.print(f"{failed} of {len(wanted)} source(s) could not be fetched", highlight=False)
        raise typer.Exit(2)
