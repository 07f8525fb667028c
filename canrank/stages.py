"""Named pipeline stages with wall-clock timings, for progress displays and ``run.json``.

Timings are measurements of one run, so they go to ``run.json`` and never into the
deterministic ``manifest.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["STAGES", "StageHook", "StageTimer"]

StageHook = Callable[[str], None]

#: Every stage of a build, in order, with the words a progress display shows for it.
STAGES: dict[str, str] = {
    "config": "Reading the configuration",
    "locate": "Finding source files",
    "load": "Loading and checking source files",
    "validate": "Joining indicators to the study area",
    "rank": "Ranking LSOAs",
    "contiguity": "Finding neighbouring LSOAs",
    "select": "Selecting CANs",
    "describe": "Naming and describing CANs",
    "write": "Writing tables and GeoPackage",
    "map": "Drawing the map",
}


class StageTimer:
    """Per-stage wall-clock timings; calls ``hook(stage)`` as each stage starts."""

    def __init__(self, hook: StageHook | None) -> None:
        self.timings: dict[str, float] = {}
        self.hook = hook

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body as stage ``name``."""
        if self.hook:
            self.hook(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - start, 3)
