"""Find a source's files: the cache (``data/raw``), then a mirror folder, then the official URL.

Why this order: a cached copy is what the last run used; a mirror (``--mirror`` or
``CANRANK_MIRROR``) lets offline machines and CI work from a local copy of the published files;
the official download is the last resort. A file whose sha256 differs from the catalogue is an
error, never silently used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from canrank.errors import InputError, MissingSourceError
from canrank.sources import Source

__all__ = ["Located", "fetch", "locate", "locate_all", "mirror_from_env", "sha256_file"]

ProgressFn = Callable[[int, int | None], None]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large files do not load into memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Located:
    """Where a source was found and how."""

    source: Source
    path: Path
    origin: str  # "cache", "mirror", "download", "archive" (a zip already in data/raw), "local"
    # or "statxplore-api" (written from a Stat-Xplore API query: no published sha256)


def mirror_from_env() -> Path | None:
    """The mirror named by ``CANRANK_MIRROR``, if set."""
    value = os.environ.get("CANRANK_MIRROR")
    return Path(value) if value else None


@lru_cache(maxsize=8)
def _index(mirror: Path) -> dict[str, tuple[Path, ...]]:
    """Map file name -> paths under the mirror (walked once per run, sorted for determinism)."""
    found: dict[str, list[Path]] = {}
    for root, dirs, files in os.walk(mirror):
        dirs.sort()
        for name in sorted(files):
            found.setdefault(name, []).append(Path(root) / name)
    return {k: tuple(v) for k, v in found.items()}


def _verify(source: Source, path: Path) -> None:
    if source.sha256 is None:
        return
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise InputError(
            f"the file cannot be read to check it ({exc.strerror or type(exc).__name__})",
            file=path,
            hint="make the file readable (check its permissions)",
        ) from None
    if actual != source.sha256:
        raise InputError(
            f"checksum mismatch for source {source.id}: sha256 is {actual}, the published file's "
            f"is {source.sha256}",
            file=path,
            hint="the file is truncated, edited or a different release; delete it and fetch it "
            "again from the official source",
        )


def _complete(folder: Path, source: Source) -> bool:
    return all((folder / name).is_file() for name in source.all_filenames())


def _in_cache(source: Source, raw_dir: Path) -> Path | None:
    if _complete(raw_dir, source):
        return raw_dir / source.filename
    return None


def _in_mirror(source: Source, mirror: Path) -> Path | None:
    if not mirror.is_dir():
        return None
    for candidate in _index(mirror.resolve()).get(source.filename, ()):
        if _complete(candidate.parent, source):
            return candidate
    return None


class _Interrupted(OSError):
    """The server closed the connection before sending every byte it announced."""


def _download(url: str, part: Path, *, progress: ProgressFn | None, timeout: float) -> None:
    """Download into ``part``, resuming what an interrupted run left there.

    An existing ``part`` is resumed with an HTTP Range request; a server that ignores the range
    (200 instead of 206) is read from the start again. A response shorter than its
    Content-Length keeps ``part`` for the next run and raises ``_Interrupted``. The caller
    verifies ``part`` and moves it to its final name (so the final name is only ever complete).
    """
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "canrank"})
    if done:
        request.add_header("Range", f"bytes={done}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and done:  # the range is past the end: the .part is stale
            part.unlink()
            return _download(url, part, progress=progress, timeout=timeout)
        raise
    with response:
        if done and response.status != 206:
            done = 0  # server ignored the range: start again
        total = response.length
        total = (total + done) if total is not None else None
        if progress:
            progress(done, total)
        with part.open("ab" if done else "wb") as handle:
            while block := response.read(1 << 16):
                handle.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
    if total is not None and done < total:
        raise _Interrupted(
            f"the connection closed after {done:,} of {total:,} bytes; the partial file "
            f"{part.name} is kept and the next `canrank fetch` resumes it"
        )


def _reject(part: Path, final: Path) -> Path:
    """Move a file that failed its checksum aside (never under its final name)."""
    aside = final.with_name(final.name + ".rejected")
    os.replace(part, aside)
    return aside


def _verify_new(source: Source, part: Path, final: Path) -> None:
    """Check a freshly written ``.part`` file, then move it into place; set it aside if bad."""
    if final.name == source.filename and source.sha256 is not None:
        actual = sha256_file(part)
        if actual != source.sha256:
            aside = _reject(part, final)
            raise InputError(
                f"checksum mismatch for source {source.id}: the new file's sha256 is {actual}, "
                f"the published file's is {source.sha256}; it was not used and is kept aside as "
                f"{aside.name}",
                file=final,
                hint="the download is corrupted or the publisher changed the file; try again, "
                "or check the publisher's page for a new release",
            )
    os.replace(part, final)


def fetch(
    source: Source,
    *,
    raw_dir: Path,
    mirror: Path | None = None,
    allow_download: bool = True,
    progress: ProgressFn | None = None,
    timeout: float = 60.0,
) -> Located:
    """Put a source's files into ``raw_dir`` from the mirror or the official URL; verify them.

    Downloads are resumable and atomic; an archive (zip) already in ``raw_dir`` is reused, so
    sources sharing one archive download it once. A checksum mismatch is an error and leaves
    nothing under the final name.
    """
    raw_dir.mkdir(parents=True, exist_ok=True)
    cached = _in_cache(source, raw_dir)
    if cached:
        _verify(source, cached)
        return Located(source, cached, "cache")
    if mirror is not None and (found := _in_mirror(source, mirror)):
        _verify(source, found)
        for name in source.all_filenames():
            tmp = raw_dir / (name + ".part")
            shutil.copyfile(found.parent / name, tmp)
            os.replace(tmp, raw_dir / name)
        return Located(source, raw_dir / source.filename, "mirror")
    if not allow_download or source.url is None:
        return _without_url(source, raw_dir, mirror, allow_download=allow_download)
    target = raw_dir / (source.archive or source.filename)
    reuse = source.archive is not None and target.is_file() and zipfile.is_zipfile(target)
    part = target.with_name(target.name + ".part")
    if not reuse:
        try:
            _download(source.url, part, progress=progress, timeout=timeout)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise MissingSourceError(
                [
                    (
                        source.id,
                        f"download from {source.url} failed ({_reason(exc)}); "
                        + _how(source, mirror, raw_dir),
                    )
                ],
                hint="check the network connection (or use --mirror with a local copy) and run "
                "`canrank fetch` again; an interrupted download resumes",
            ) from exc
    if source.archive:
        if not reuse:
            os.replace(part, target)
        try:
            _extract(target, source, raw_dir)
        except InputError:
            _reject(target, target)  # a bad archive is not reused by the next run
            raise
    else:
        _verify_new(source, part, target)
    return Located(source, raw_dir / source.filename, "archive" if reuse else "download")


def _without_url(
    source: Source, raw_dir: Path, mirror: Path | None, *, allow_download: bool
) -> Located:
    """A source with no download URL (or downloads off): ask the Stat-Xplore API when the
    source has a query and a key is set, else say how to get the file."""
    if allow_download and _statxplore_ready(source):
        return _fetch_statxplore(source, raw_dir)
    raise MissingSourceError([(source.id, _how(source, mirror, raw_dir))])


def _statxplore_ready(source: Source) -> bool:
    """True when the source has a Stat-Xplore API query and ``STATXPLORE_API_KEY`` is set."""
    if source.statxplore is None or source.local_path is not None:
        return False
    from canrank.loaders.statxplore_api import api_key_set

    return api_key_set()


def _fetch_statxplore(source: Source, raw_dir: Path) -> Located:
    """Write the source's file from a Stat-Xplore API query (origin ``statxplore-api``).

    An API answer has no published sha256 to verify; the file records the query it came from.
    A refused or failed request (bad key, rate limit, server error) is one missing-source line.
    """
    from canrank.loaders.statxplore_api import StatXploreError, fetch_to_csv

    assert source.statxplore is not None
    target = raw_dir / source.filename
    try:
        fetch_to_csv(source.statxplore, target, title=source.title)
    except StatXploreError as exc:
        raise MissingSourceError(
            [
                (
                    source.id,
                    f"the Stat-Xplore API query failed: {exc.message}"
                    + (f" (what to do: {exc.hint})" if exc.hint else "")
                    + "; without the API, export the table from Stat-Xplore (table view, CSV) "
                    f"and save it as {target}",
                )
            ]
        ) from None
    return Located(source, target, "statxplore-api")


def _reason(exc: BaseException) -> str:
    """A short reason for a failed download (HTTP status, DNS/connection error, timeout)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot reach the server: {exc.reason}"
    return str(exc) or type(exc).__name__


def _extract(archive: Path, source: Source, raw_dir: Path) -> None:
    """Pull the source's files (matched by base name) out of a zip, verifying the main file."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = {Path(m).name: m for m in zf.namelist()}
            for name in source.all_filenames():
                if name not in members:
                    raise InputError(
                        f"the archive has no member {name}", file=archive, hint="download again"
                    )
                tmp = raw_dir / (name + ".part")
                with zf.open(members[name]) as src, tmp.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                _verify_new(source, tmp, raw_dir / name)
    except zipfile.BadZipFile as exc:
        raise InputError(
            "the downloaded archive is not a valid zip (truncated download?)",
            file=archive,
            hint="delete it and run `canrank fetch` again",
        ) from exc


def _partial(source: Source, folder: Path) -> list[str]:
    """Companion files missing beside a main file that is there (e.g. a shapefile's .prj)."""
    if not (folder / source.filename).is_file():
        return []
    return [n for n in source.all_filenames() if not (folder / n).is_file()]


def _how(source: Source, mirror: Path | None, raw_dir: Path | None = None) -> str:
    where = f"not in data/raw/ or the mirror {mirror}" if mirror else "not in data/raw/ (no mirror)"
    folders = [raw_dir] if raw_dir is not None else []
    if mirror is not None and mirror.is_dir():
        folders += [p.parent for p in _index(mirror.resolve()).get(source.filename, ())]
    for folder in folders:
        absent = _partial(source, folder)
        if absent:
            where = f"in {folder} but without {', '.join(absent)}, which must sit beside it"
            break
    how = source.how_to_get or (
        f"download {source.url}" if source.url else "obtain it from the publisher"
    )
    return f"{source.filename} ({source.publisher}) is {where}; {how}"


def locate(
    source: Source, *, raw_dir: Path, mirror: Path | None = None, allow_download: bool = False
) -> Located:
    """Find a source without copying: cache first, then mirror (used in place), then download.

    A source defined in the config with a ``path`` is used from that path only.
    """
    if source.local_path is not None:
        path = Path(source.local_path)
        absent = [n for n in (path.name, *source.sidecars) if not (path.parent / n).is_file()]
        if path.name in absent:
            raise MissingSourceError(
                [(source.id, f"{path} (named in the config's 'sources:') does not exist")]
            )
        if absent:
            raise MissingSourceError(
                [
                    (
                        source.id,
                        f"{', '.join(absent)} missing beside {path.name} in {path.parent} (a "
                        "shapefile needs its .shx, .dbf and .prj files next to the .shp)",
                    )
                ]
            )
        _verify(source, path)
        return Located(source, path, "local")
    cached = _in_cache(source, raw_dir)
    if cached:
        _verify(source, cached)
        return Located(source, cached, "cache")
    if mirror is not None and (found := _in_mirror(source, mirror)):
        _verify(source, found)
        return Located(source, found, "mirror")
    if allow_download and (source.url is not None or source.statxplore is not None):
        return fetch(source, raw_dir=raw_dir, mirror=None, allow_download=True)
    raise MissingSourceError([(source.id, _how(source, mirror, raw_dir))])


def locate_all(
    sources: Iterable[Source],
    *,
    raw_dir: Path,
    mirror: Path | None = None,
    allow_download: bool = False,
) -> dict[str, Located]:
    """Locate every source, collecting *all* missing ones into one ``MissingSourceError``."""
    found: dict[str, Located] = {}
    missing: list[tuple[str, str]] = []
    for source in sources:
        try:
            found[source.id] = locate(
                source, raw_dir=raw_dir, mirror=mirror, allow_download=allow_download
            )
        except MissingSourceError as exc:
            missing.extend(exc.missing)
    if missing:
        raise MissingSourceError(
            missing,
            hint="put the files in data/raw/, name a mirror folder with --mirror or "
            "CANRANK_MIRROR, or run `canrank fetch` where the official sites can be reached",
        )
    return found
