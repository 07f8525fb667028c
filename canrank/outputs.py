"""Writing outputs safely, atomically and byte-reproducibly.

Output folders (:func:`output_folder`): canrank only ever replaces files it wrote itself. A build
writes into a temporary folder *inside* the destination (so ``--out .`` and symlinked folders
work and the final moves are renames on one file system) and, when every file is complete,
moves in only the files it wrote. Which files of a folder are canrank's is known from the
previous build's ``manifest.json`` (``canrank_version`` and ``outputs``) or, for folders
without a manifest (analysis subfolders), from a small ``.canrank-outputs.json`` record. A
non-empty folder canrank did not create is refused, naming it and the way out; nothing that
canrank did not write is ever deleted. A lock (``flock`` on the folder) makes concurrent runs
leave one consistent folder, and temporary folders of killed runs (named with their pid) are
removed by the next run once that pid is dead.

Text cells (:func:`neutralise`): CSV and spreadsheet cells that start with ``=``, ``+``, ``-``,
``@``, tab or carriage return are prefixed with ``'`` so spreadsheet programs show them as text
instead of running them as formulas (OWASP CSV-injection guidance); numbers stay numbers.

Writers fix everything that would otherwise vary between runs: float formatting in CSV, the
GeoPackage timestamps (GDAL's ``OGR_CURRENT_DATE``), and key order in JSON.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canrank.errors import CanrankError, InputError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = [
    "FORMULA_TRIGGERS",
    "OWNERSHIP_RECORD",
    "atomic_directory",
    "atomic_file",
    "neutralise",
    "neutralise_frame",
    "output_file",
    "output_folder",
    "safe_component",
    "unneutralise",
    "unneutralise_frame",
    "write_csv",
    "write_gpkg",
    "write_json",
]

#: A fixed timestamp for GeoPackage metadata, so identical inputs give identical bytes.
FIXED_TIMESTAMP = "2000-01-01T00:00:00.000Z"

#: First characters that make a spreadsheet program read a cell as a formula (OWASP).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")

#: Ownership record written into output folders that hold no build ``manifest.json``.
OWNERSHIP_RECORD = ".canrank-outputs.json"

#: Files an older canrank build (whose manifest has no ``outputs`` list) wrote.
_LEGACY_BUILD_FILES = frozenset(
    {
        "lsoa.csv",
        "cans.csv",
        "canrank.gpkg",
        "contiguity.csv",
        "map.html",
        "manifest.json",
        "run.json",
        "canrank.xlsx",
    }
)

_TMP_PREFIX = ".canrank-tmp-"
_TMP_NAME = re.compile(r"^\.canrank-tmp-(\d+)-[A-Za-z0-9_]+$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Names -> path components
# --------------------------------------------------------------------------------------------


def safe_component(name: str) -> str:
    """Turn a name (scenario, comparison, area) into one safe path component.

    The result never leaves the folder it is joined to: it has no ``/`` or ``\\``, is never
    ``.`` or ``..``, does not start with a dot or dash, has no NUL or control characters and
    is at most 100 characters. A name that is already safe (``[A-Za-z0-9][A-Za-z0-9._-]*``) is
    returned unchanged; any other name is cleaned and given a short hash of the original, so
    two different names never map to the same folder.
    """
    text = str(name)
    if _SAFE_NAME.match(text) and not _WINDOWS_RESERVED.match(text) and not text.endswith("."):
        return text
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    cleaned = re.sub(r"\.{2,}", "_", cleaned)[:80] or "unnamed"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned}-{digest}"


def _plain_name(name: object) -> bool:
    """True for a bare file name that cannot point outside its folder (used on manifests)."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
    )


# --------------------------------------------------------------------------------------------
# Operating-system errors -> one clear message
# --------------------------------------------------------------------------------------------

_OS_REASONS = {
    errno.ENOSPC: ("the disk is full", "free some space on that disk or choose another --out"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space or choose another --out"),
    errno.EROFS: ("the file system is read-only", "choose a writable folder with --out"),
    errno.EACCES: (
        "permission denied",
        "choose a folder you can write to with --out, or fix its permissions",
    ),
    errno.EPERM: (
        "the operation is not permitted",
        "choose a folder you can write to with --out, or fix its permissions",
    ),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose another --out"),
    errno.EISDIR: ("a folder stands where a file should be written", "choose another --out"),
    errno.ENAMETOOLONG: ("the path is too long", "choose a shorter --out"),
}


def output_error(exc: OSError, where: str | Path) -> InputError:
    """An ``InputError`` for a failed write: which file or folder, why, and what to do."""
    reason, hint = _OS_REASONS.get(
        exc.errno or 0, (exc.strerror or str(exc), "check the folder and try again")
    )
    target = exc.filename if exc.filename else where
    return InputError(f"cannot write the outputs here: {reason}", file=str(target), hint=hint)


_GDAL_REASONS = (
    ("no space left", errno.ENOSPC),
    ("read-only file system", errno.EROFS),
    ("permission denied", errno.EACCES),
    ("disk quota", errno.EDQUOT),
)


def _as_os_error(exc: BaseException) -> OSError | None:
    """The ``OSError`` behind an exception (GDAL/pyogrio only say it in their message)."""
    if isinstance(exc, OSError) and exc.errno in _OS_REASONS:
        return exc
    text = str(exc).lower()
    for needle, code in _GDAL_REASONS:
        if needle in text:
            return OSError(code, os.strerror(code))
    return None


# --------------------------------------------------------------------------------------------
# Output folders
# --------------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _owned_outputs(folder: Path) -> set[str] | None:
    """Names of the files canrank wrote into ``folder`` before, or ``None`` if it is not canrank's.

    A folder is canrank's when its ``manifest.json`` has ``canrank_version`` (its ``outputs``
    list names the files; a manifest of an older canrank without that list means the usual
    build files) or when it holds canrank's ownership record. Names that are not bare file
    names are ignored, so an edited manifest cannot point canrank at other files.
    """
    owned: set[str] | None = None
    manifest = _read_json(folder / "manifest.json")
    if isinstance(manifest, dict) and "canrank_version" in manifest:
        listed = manifest.get("outputs")
        if isinstance(listed, list):
            owned = {n for n in listed if _plain_name(n)}
        else:
            owned = {n for n in _LEGACY_BUILD_FILES if (folder / n).exists()}
        owned.add("manifest.json")
    record = _read_json(folder / OWNERSHIP_RECORD)
    if isinstance(record, dict) and isinstance(record.get("outputs"), list):
        owned = (owned or set()) | {n for n in record["outputs"] if _plain_name(n)}
        owned.add(OWNERSHIP_RECORD)
    return owned


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(folder: Path) -> list[str]:
    """Remove temporary folders left by killed runs (their pid is dead); return their names."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TMP_NAME.match(entry.name)
        if not m or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


def _foreign_entries(folder: Path) -> list[str]:
    """Entries of ``folder`` other than canrank's temporary folders, sorted."""
    return sorted(e for e in os.listdir(folder) if not _TMP_NAME.match(e))


def _refuse_foreign(folder: Path, entries: list[str]) -> InputError:
    shown = ", ".join(repr(e) for e in entries[:5]) + (" ..." if len(entries) > 5 else "")
    return InputError(
        f"the output folder is not empty and was not written by canrank (it holds {shown}); "
        "canrank does not write into it, so that nothing in it is replaced or deleted",
        file=str(folder),
        hint="choose an empty or new folder with --out (it is created if missing)",
    )


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the folder itself (no lock file is left behind)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _prepare_folder(final: Path) -> tuple[Path, list[Path]]:
    """Resolve (following symlinks) and create the destination; say whether it was created."""
    target = Path(os.path.abspath(final))
    try:
        target = target.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise InputError(
            f"the output path cannot be resolved ({exc})",
            file=str(final),
            hint="choose another --out",
        ) from None
    if target.exists() and not target.is_dir():
        raise InputError(
            "the output path is a file, not a folder",
            file=str(target),
            hint="choose a folder (new or empty) with --out",
        )
    created = [p for p in [target, *target.parents] if not p.exists()]
    if created:
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _drop_if_created(target, created)
            raise output_error(exc, target) from None
    return target, created


def _check_owned(target: Path, names: Iterable[str] | None, *, shared: bool = False) -> set[str]:
    """Refuse a foreign, non-empty folder, or a planned name that would replace a foreign file."""
    owned = _owned_outputs(target)
    entries = _foreign_entries(target)
    if owned is None:
        if entries and not shared:
            raise _refuse_foreign(target, entries)
        owned = set()
    if names is not None:
        _check_collisions(target, list(names), owned)
    return owned


def _check_collisions(target: Path, names: list[str], owned: set[str]) -> None:
    for name in names:
        if not _plain_name(name):
            raise ValueError(f"output name {name!r} is not a plain file name")
        if name not in owned and os.path.lexists(target / name):
            raise InputError(
                "canrank would replace this file, but it did not write it; it is left as it is",
                file=str(target / name),
                hint="move that file away, or choose an empty or new folder with --out",
            )


def _make_tmp(target: Path) -> Path:
    try:
        return Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", dir=target))
    except OSError as exc:
        raise output_error(exc, target) from None


def _commit(target: Path, tmp: Path, owned: set[str]) -> None:
    """Move the finished files into place, the manifest last; keep the ownership record true.

    A file canrank wrote before is hard-linked (or copied) aside first and a folder moved
    aside, so that if a move fails every name is put back as it was. Nothing is deleted
    except canrank's own temporary folders and ownership record.
    """
    written = sorted(n for n in os.listdir(tmp) if n != OWNERSHIP_RECORD)
    _check_collisions(target, written, owned)
    order = [n for n in written if n != "manifest.json"] + [
        n for n in written if n == "manifest.json"
    ]
    old = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", dir=target))
    saved: set[str] = set()
    moved: list[str] = []
    try:
        for name in order:
            dest = target / name
            if os.path.lexists(dest):
                if dest.is_dir() and not dest.is_symlink():
                    os.replace(dest, old / name)
                else:
                    _keep_copy(dest, old / name)
                saved.add(name)
            os.replace(tmp / name, dest)
            moved.append(name)
        _write_record(target, owned, written)
    except BaseException:
        for name in reversed(moved):
            dest = target / name
            if name in saved:
                if dest.is_dir() and not dest.is_symlink():
                    shutil.rmtree(dest, ignore_errors=True)
                os.replace(old / name, dest)
            elif dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest, ignore_errors=True)
            else:
                dest.unlink(missing_ok=True)
        for name in saved - set(moved):
            if not os.path.lexists(target / name):
                os.replace(old / name, target / name)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _keep_copy(src: Path, dst: Path) -> None:
    """Keep the previous version of a file for a rollback (a hard link, else a copy)."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _write_record(target: Path, owned: set[str], written: list[str]) -> None:
    """Record which files are canrank's when the manifest alone does not say it.

    A folder with a new ``manifest.json`` listing every canrank file needs no record; files
    canrank wrote earlier but not this time (and folders without a manifest) are listed in
    ``.canrank-outputs.json`` so that a later run may replace them.
    """
    mine = {n for n in (owned | set(written)) if os.path.lexists(target / n)}
    mine.discard(OWNERSHIP_RECORD)
    record = target / OWNERSHIP_RECORD
    listed: set[str] = set()
    if "manifest.json" in written:
        manifest = _read_json(target / "manifest.json")
        outputs = manifest.get("outputs") if isinstance(manifest, dict) else None
        listed = {n for n in outputs if _plain_name(n)} if isinstance(outputs, list) else set()
    if "manifest.json" in written and mine <= set(written) | listed:
        if OWNERSHIP_RECORD in owned:
            record.unlink(missing_ok=True)
        return
    data = {"written_by": "canrank", "outputs": sorted(mine | {OWNERSHIP_RECORD})}
    part = target / f"{_TMP_PREFIX}{os.getpid()}-record"
    part.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    os.replace(part, record)


@contextmanager
def output_folder(
    final: str | Path, names: Iterable[str] | None = None, *, shared: bool = False
) -> Iterator[Path]:
    """Yield a temporary folder to write into; on success move its files into ``final``.

    ``final`` is created if missing and may be ``.`` or a symlink to a folder. It must be
    empty or a folder canrank wrote before (see the module docstring); otherwise, or if a
    file canrank would write is there but not canrank's, ``InputError`` is raised before
    anything is written. ``names`` (optional) are the file names the caller will write, so
    that such a clash is reported before the work starts rather than after it. ``shared``
    allows a folder holding other files (for one-file outputs): only a file canrank would
    replace must be canrank's.

    Only the files written into the yielded folder are moved in (the manifest last); nothing
    else in the folder is touched (files of a previous run that this run did not write again
    stay, listed in the ownership record). On any error nothing in ``final`` changes, the
    temporary folder is removed, and a folder this call created is removed again if empty. A full
    disk, a read-only folder or a permission problem is an ``InputError`` naming the folder
    or file and what to do.
    """
    try:
        target, created = _prepare_folder(Path(final))
    except OSError as exc:  # e.g. a parent folder that may not be searched
        raise output_error(exc, final) from None
    planned = list(names) if names is not None else None
    try:
        with _locked(target):
            _remove_stale(target)
            _check_owned(target, planned, shared=shared)
            tmp = _make_tmp(target)
    except OSError as exc:
        _drop_if_created(target, created)
        raise output_error(exc, target) from None
    except BaseException:
        _drop_if_created(target, created)
        raise
    try:
        yield tmp
        with _locked(target):
            owned = _check_owned(target, None, shared=shared)
            _commit(target, tmp, owned)
    except CanrankError:
        _cleanup(tmp, target, created)
        raise
    except BaseException as exc:
        _cleanup(tmp, target, created)
        os_exc = _as_os_error(exc) if isinstance(exc, Exception) else None
        if os_exc is not None:
            raise output_error(os_exc, getattr(exc, "filename", None) or target) from None
        raise
    shutil.rmtree(tmp, ignore_errors=True)


def _cleanup(tmp: Path, target: Path, created: list[Path]) -> None:
    shutil.rmtree(tmp, ignore_errors=True)
    _drop_if_created(target, created)


def _drop_if_created(target: Path, created: list[Path]) -> None:
    """Remove the folders this run created for the destination, if nothing else is in them."""
    for folder in created:  # deepest first
        try:
            folder.rmdir()
        except OSError:
            return


#: The name earlier versions used; same behaviour as :func:`output_folder`.
atomic_directory = output_folder


@contextmanager
def atomic_file(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; move it into place only when writing succeeded.

    Low level: it does not check who wrote an existing ``final``; use :func:`output_file` for
    outputs in folders that may hold the user's files.
    """
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", dir=final.parent)
    except OSError as exc:
        raise output_error(exc, final.parent) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, final)
        os.chmod(final, 0o644)
    except OSError as exc:
        raise output_error(exc, final) from None
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def output_file(final: str | Path) -> Iterator[Path]:
    """Like :func:`output_folder` for one file: replace ``final`` only if canrank wrote it.

    The file's folder may hold anything else; the file's name is added to the folder's
    ownership record so that the next run may replace it.
    """
    final = Path(final)
    with output_folder(final.parent, names=[final.name], shared=True) as tmp:
        yield tmp / final.name


# --------------------------------------------------------------------------------------------
# Formula neutralisation
# --------------------------------------------------------------------------------------------


def neutralise(value: Any) -> Any:
    """Prefix a text that a spreadsheet would run as a formula with ``'``; others unchanged.

    Texts starting with ``=``, ``+``, ``-``, ``@``, tab, carriage return or line feed are
    prefixed, and
    so are texts that already start with ``'`` followed by such a character, which keeps
    :func:`unneutralise` an exact inverse. Numbers, missing values and other texts are
    returned as they are.
    """
    if not isinstance(value, str) or not value:
        return value
    if value[0] in FORMULA_TRIGGERS or (
        value[0] == "'" and value.lstrip("'")[:1] in FORMULA_TRIGGERS
    ):
        return "'" + value
    return value


def unneutralise(value: Any) -> Any:
    """Undo :func:`neutralise` (for reading canrank's own CSV outputs back)."""
    if isinstance(value, str) and value[:1] == "'" and value.lstrip("'")[:1] in FORMULA_TRIGGERS:
        return value[1:]
    return value


def _text_columns(frame: pd.DataFrame) -> list[Any]:
    import pandas as pd

    return [
        c
        for c in frame.columns
        if pd.api.types.is_object_dtype(frame[c])
        or pd.api.types.is_string_dtype(frame[c])
        or isinstance(frame[c].dtype, pd.CategoricalDtype)
    ]


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and column name neutralised (numbers untouched)."""
    out = frame.copy()
    for col in _text_columns(out):
        series = out[col]
        if hasattr(series, "cat"):
            series = series.astype(object)
        out[col] = series.map(neutralise)
    out.columns = [neutralise(c) for c in out.columns]
    return out


def unneutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` read from a canrank CSV, with :func:`neutralise` undone."""
    out = frame.copy()
    for col in _text_columns(out):
        out[col] = out[col].map(unneutralise)
    out.columns = [unneutralise(c) for c in out.columns]
    return out


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


def _no_bare_cr(value: Any) -> Any:
    if isinstance(value, str) and "\r" in value:
        return value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV with ``\\n`` line ends, floats with 10 significant digits, formulas neutralised.

    Carriage returns inside text cells become line feeds: Python's CSV writer quotes a cell
    holding ``\\n`` but not one holding a bare ``\\r``, which readers take as a row end.
    """
    frame = frame.copy()
    for col in _text_columns(frame):
        frame[col] = frame[col].astype(object).map(_no_bare_cr)
    try:
        neutralise_frame(frame).to_csv(
            path, index=False, lineterminator="\n", float_format="%.10g", encoding="utf-8"
        )
    except OSError as exc:
        raise output_error(exc, path) from None


def write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    """Write GeoPackage 1.2 layers with fixed metadata timestamps (reproducible bytes).

    Version 1.2: Debian 12's GDAL (3.6) warns "may only be partially supported" on the 1.4
    files newer GDALs write by default; 1.2 holds everything canrank writes.
    """
    import pyogrio

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
                dataset_options={"VERSION": "1.2"} if i == 0 else None,
            )
    except Exception as exc:
        os_exc = _as_os_error(exc)
        if os_exc is not None:
            raise output_error(os_exc, path) from None
        raise
    finally:
        if previous is None:
            os.environ.pop("OGR_CURRENT_DATE", None)
        else:
            os.environ["OGR_CURRENT_DATE"] = previous


def write_json(data: dict[str, Any], path: Path) -> None:
    """Pretty JSON with sorted-by-insertion keys, UTF-8, trailing newline."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    try:
        path.write_text(text, "utf-8")
    except OSError as exc:
        raise output_error(exc, path) from None
