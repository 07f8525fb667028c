"""A rich progress bar (bytes, speed, time left) for ``canrank fetch`` downloads.

:func:`canrank.acquire.fetch` reports progress through a ``(done, total)`` callback; this module
turns those calls into one bar per download, created only when a download actually starts (cache
and mirror copies show none), and into nothing at all with ``--quiet``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

__all__ = ["ProgressFactory", "download_progress"]

ProgressFn = Callable[[int, int | None], None]
ProgressFactory = Callable[[str], ProgressFn | None]


@contextmanager
def download_progress(console: Console, quiet: bool = False) -> Iterator[ProgressFactory]:
    """Yield ``progress_for(label)``: a callback drawing a byte bar for that download (or None)."""
    if quiet:
        yield lambda _label: None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )

    def progress_for(label: str) -> ProgressFn:
        task: list[TaskID] = []

        def update(done: int, total: int | None) -> None:
            if not task:
                task.append(progress.add_task(label, total=total))
            progress.update(task[0], completed=done, total=total)

        return update

    with progress:
        yield progress_for
