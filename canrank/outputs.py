"""Writing outputs atomically and byte-reproducibly.

A build writes into a hidden temporary folder next to the destination and moves it into place
only when every file is complete, so a failed run never leaves half-written outputs. Writers fix
everything that would otherwise vary between runs: float formatting in CSV, the GeoPackage
timestamps (GDAL's ``OGR_CURRENT_DATE``), and key order in JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

__all__ = ["atomic_directory", "atomic_file", "write_csv", "write_gpkg", "write_json"]

#: A fixed timestamp for GeoPackage metadata, so identical inputs give identical bytes.
FIXED_TIMESTAMP = "2000-01-01T00:00:00.000Z"


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success replace ``final`` with it, on error delete it."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    finally:
        if old is not None and old.exists():
            shutil.rmtree(old, ignore_errors=True)
    os.chmod(final, 0o755)


@contextmanager
def atomic_file(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; move it into place only when writing succeeded."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, final)
        os.chmod(final, 0o644)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV with ``\\n`` line ends and floats written with 10 significant digits."""
    frame.to_csv(path, index=False, lineterminator="\n", float_format="%.10g", encoding="utf-8")


def write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    """Write GeoPackage layers with fixed metadata timestamps (reproducible bytes)."""
    previous = os.environ.get("OGR_CURRENT_DATE")
    os.environ["OGR_CURRENT_DATE"] = FIXED_TIMESTAMP
    try:
        for i, (name, frame) in enumerate(layers.items()):
            pyogrio.write_dataframe(
                frame,
                path,
                layer=name,
                driver="GPKG",
                append=i > 0,
                layer_options={"SPATIAL_INDEX": "YES"},
            )
    finally:
        if previous is None:
            os.environ.pop("OGR_CURRENT_DATE", None)
        else:
            os.environ["OGR_CURRENT_DATE"] = previous


def write_json(data: dict[str, Any], path: Path) -> None:
    """Pretty JSON with sorted-by-insertion keys, UTF-8, trailing newline."""
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", "utf-8")
