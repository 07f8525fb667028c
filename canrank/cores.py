"""The CPU cores this process may use: one answer for every part that runs threads or workers
(the pricer's threads, the contiguity tests, a local sensitivity cluster)."""

from __future__ import annotations

import os

__all__ = ["available_cores"]


def available_cores() -> int:
    """Cores in this process's CPU affinity (Linux), else the machine's count; at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
