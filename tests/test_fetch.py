"""``canrank fetch`` against a local HTTP server: full, resumed and restarted downloads, checksum
mismatches, 404 and unreachable servers, zip archives shared by several sources, mirror copies."""

from __future__ import annotations

import hashlib
import importlib
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from canrank import sources
from canrank.acquire import fetch, locate
from canrank.cli import app
from canrank.errors import InputError, MissingSourceError
from canrank.sources import CATALOGUE, Source

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes
fetch_cmd = importlib.import_module("canrank.cli.fetch")
sources_cmd = importlib.import_module("canrank.cli.sources")
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@dataclass
class Server:
    """What the local server serves and what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)
    truncate_once: set[str] = field(default_factory=set)  # send half a body, once
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    base: str = ""

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


def _handler(state: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            name = self.path.lstrip("/")
            rng = self.headers.get("Range")
            state.requests.append((name, rng))
            body = state.files.get(name)
            if body is None:
                self.send_error(404, "Not Found")
                return
            start = 0
            if rng and not state.ignore_range:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_error(416, "Range Not Satisfiable")
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            chunk = body[start:]
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            if name in state.truncate_once:
                state.truncate_once.discard(name)
                self.wfile.write(chunk[: len(chunk) // 2])
                self.wfile.flush()
                return  # HTTP/1.0: the connection closes short of Content-Length
            self.wfile.write(chunk)

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def _source(url: str | None, *, sha256: str | None = SHA, **kw: object) -> Source:
    base = {
        "id": "test_src",
        "publisher": "Test publisher",
        "title": "A test file",
        "reference_date": "2020",
        "licence": "OGL",
        "filename": "data.csv",
        "loader": "iod",
        "url": url,
        "sha256": sha256,
    }
    return Source(**{**base, **kw})  # type: ignore[arg-type]


def test_full_download(server: Server, tmp_path: Path) -> None:
    server.files["data.csv"] = PAYLOAD
    seen: list[tuple[int, int | None]] = []
    located = fetch(
        _source(server.url("data.csv")),
        raw_dir=tmp_path,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert located.origin == "download"
    assert located.path.read_bytes() == PAYLOAD
    assert not list(tmp_path.glob("*.part"))
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    # a second fetch uses the cache and does not ask the server again
    assert fetch(_source(server.url("data.csv")), raw_dir=tmp_path).origin == "cache"
    assert len(server.requests) == 1


def test_interrupted_download_resumes_with_range(server: Server, tmp_path: Path) -> None:
    server.files["data.csv"] = PAYLOAD
    server.truncate_once.add("data.csv")
    src = _source(server.url("data.csv"))
    with pytest.raises(MissingSourceError, match="resumes") as info:
        fetch(src, raw_dir=tmp_path)
    assert "test_src" in str(info.value)
    part = tmp_path / "data.csv.part"
    assert part.stat().st_size == len(PAYLOAD) // 2
    assert not (tmp_path / "data.csv").exists()  # nothing under the final name
    located = fetch(src, raw_dir=tmp_path)
    assert server.requests[-1] == ("data.csv", f"bytes={len(PAYLOAD) // 2}-")
    assert located.path.read_bytes() == PAYLOAD
    assert not part.exists()


def test_server_ignoring_range_restarts(server: Server, tmp_path: Path) -> None:
    server.files["data.csv"] = PAYLOAD
    server.ignore_range = True
    (tmp_path / "data.csv.part").write_bytes(b"stale bytes from another file")
    located = fetch(_source(server.url("data.csv")), raw_dir=tmp_path)
    assert server.requests[-1][1] == "bytes=29-"  # it asked to resume ...
    assert located.path.read_bytes() == PAYLOAD  # ... and started again on a 200


def test_complete_part_file_gets_416_and_restarts(server: Server, tmp_path: Path) -> None:
    server.files["data.csv"] = PAYLOAD
    (tmp_path / "data.csv.part").write_bytes(PAYLOAD + b"extra")
    located = fetch(_source(server.url("data.csv")), raw_dir=tmp_path)
    assert located.path.read_bytes() == PAYLOAD
    assert [r[1] for r in server.requests] == [f"bytes={len(PAYLOAD) + 5}-", None]


def test_checksum_mismatch_is_an_error_and_kept_aside(server: Server, tmp_path: Path) -> None:
    server.files["data.csv"] = PAYLOAD[:-1] + b"X"
    with pytest.raises(InputError, match="checksum mismatch") as info:
        fetch(_source(server.url("data.csv")), raw_dir=tmp_path)
    assert "data.csv.rejected" in str(info.value)
    assert not (tmp_path / "data.csv").exists()
    assert (tmp_path / "data.csv.rejected").exists()
    assert not list(tmp_path.glob("*.part"))


def test_404_and_unreachable_are_clear(server: Server, tmp_path: Path) -> None:
    with pytest.raises(MissingSourceError) as info:
        fetch(_source(server.url("nope.csv"), how_to_get="ask the publisher"), raw_dir=tmp_path)
    text = str(info.value)
    assert "test_src" in text and "HTTP 404" in text and "ask the publisher" in text
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(MissingSourceError, match="cannot reach the server") as info:
        fetch(_source(f"http://127.0.0.1:{port}/data.csv"), raw_dir=tmp_path, timeout=5)
    assert "What to do" in str(info.value)
    assert not any(tmp_path.iterdir())


def test_no_url_and_no_download(tmp_path: Path) -> None:
    with pytest.raises(MissingSourceError, match="download it by hand"):
        fetch(_source(None, how_to_get="download it by hand"), raw_dir=tmp_path)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(f"statistical-gis-boundaries-london/ESRI/{name}", data)
    return buf.getvalue()


def test_archive_is_downloaded_once_for_sources_sharing_it(server: Server, tmp_path: Path) -> None:
    layers = {}
    for stem in ("LSOA", "Ward", "Borough"):
        for ext in (".shp", ".shx", ".dbf", ".prj"):
            layers[stem + ext] = f"{stem}{ext} bytes".encode()
    server.files["bounds.zip"] = _zip(layers)
    origins = []
    for stem in ("LSOA", "Ward", "Borough"):
        src = _source(
            server.url("bounds.zip"),
            id=f"test_{stem.lower()}",
            filename=f"{stem}.shp",
            sidecars=(f"{stem}.shx", f"{stem}.dbf", f"{stem}.prj"),
            archive="bounds.zip",
            sha256=hashlib.sha256(f"{stem}.shp bytes".encode()).hexdigest(),
        )
        located = fetch(src, raw_dir=tmp_path)
        origins.append(located.origin)
        for name in src.all_filenames():
            assert (tmp_path / name).read_bytes() == layers[name]
    assert origins == ["download", "archive", "archive"]
    assert [r[0] for r in server.requests] == ["bounds.zip"]


def test_archive_member_with_wrong_checksum(server: Server, tmp_path: Path) -> None:
    server.files["bounds.zip"] = _zip({"LSOA.shp": b"edited", "LSOA.shx": b"x"})
    src = _source(
        server.url("bounds.zip"),
        filename="LSOA.shp",
        sidecars=("LSOA.shx",),
        archive="bounds.zip",
    )
    with pytest.raises(InputError, match="checksum mismatch"):
        fetch(src, raw_dir=tmp_path)
    assert not (tmp_path / "LSOA.shp").exists()
    assert not (tmp_path / "bounds.zip").exists()  # the next run downloads a fresh archive


def test_mirror_copy_is_verified(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror" / "deep" / "folder"
    mirror.mkdir(parents=True)
    (mirror / "data.csv").write_bytes(PAYLOAD)
    raw = tmp_path / "raw"
    located = fetch(_source(None), raw_dir=raw, mirror=tmp_path / "mirror")
    assert located.origin == "mirror"
    assert (raw / "data.csv").read_bytes() == PAYLOAD
    bad_mirror = tmp_path / "bad"
    bad_mirror.mkdir()
    (bad_mirror / "other.csv").write_bytes(b"edited")
    with pytest.raises(InputError, match="checksum mismatch"):
        fetch(_source(None, filename="other.csv"), raw_dir=raw, mirror=bad_mirror)
    assert not (raw / "other.csv").exists()


# --- the CLI ---------------------------------------------------------------------------------


def test_sources_lists_every_catalogue_id(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(sources_cmd, "console", Console(file=buffer, width=400, highlight=False))
    result = CliRunner().invoke(app, ["sources"])
    assert result.exit_code == 0, result.output
    listed = buffer.getvalue()
    for sid in CATALOGUE:
        assert sid in listed, sid
    for sid in ("iod2019_file7", "iod2025_file7", "ew_lsoa_2021_bgc", "lsoa11_lsoa21_lookup"):
        assert sid in CATALOGUE


def test_cli_fetch_downloads_and_lists_every_unreachable_source(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.files["data.csv"] = PAYLOAD
    good = _source(server.url("data.csv"))
    gone = _source(server.url("gone.csv"), id="test_gone", filename="gone.csv")
    manual = _source(None, id="test_manual", filename="m.csv", how_to_get="export it by hand")
    catalogue = {s.id: s for s in (good, gone, manual)}
    monkeypatch.setattr(sources, "CATALOGUE", catalogue)
    out, errors = io.StringIO(), io.StringIO()
    monkeypatch.setattr(fetch_cmd, "console", Console(file=out, width=300))
    monkeypatch.setattr(fetch_cmd, "err", Console(file=errors, width=300))
    monkeypatch.delenv("CANRANK_MIRROR", raising=False)
    result = CliRunner().invoke(app, ["fetch", "--raw-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "test_src" in out.getvalue() and "from download" in out.getvalue()
    message = errors.getvalue()
    assert "2 source(s) needed by this run are not available" in message
    assert "test_gone" in message and "HTTP 404" in message
    assert "test_manual" in message and "export it by hand" in message
    assert "2 of 3 source(s) could not be fetched" in message
    assert (tmp_path / "data.csv").read_bytes() == PAYLOAD


def test_cli_fetch_quiet_prints_nothing(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.files["data.csv"] = PAYLOAD
    monkeypatch.setattr(sources, "CATALOGUE", {"test_src": _source(server.url("data.csv"))})
    out, errors = io.StringIO(), io.StringIO()
    monkeypatch.setattr(fetch_cmd, "console", Console(file=out, width=300))
    monkeypatch.setattr(fetch_cmd, "err", Console(file=errors, width=300, force_terminal=True))
    result = CliRunner().invoke(app, ["fetch", "--raw-dir", str(tmp_path), "--quiet"])
    assert result.exit_code == 0
    assert out.getvalue() == "" and errors.getvalue() == ""
    (tmp_path / "data.csv").unlink()
    result = CliRunner().invoke(app, ["fetch", "--raw-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "test_src" in errors.getvalue()  # the download bar names the source
    assert "100.0 kB" in errors.getvalue() or "102.4 kB" in errors.getvalue()


# --- Stat-Xplore sources (the API path itself is tested in test_statxplore_api.py) -----------

DWP = ("dwp_hb_lsoa_2017_02", "dwp_pc_lsoa_2016_11")


def test_dwp_sources_carry_an_api_query_and_no_checksum() -> None:
    for sid in DWP:
        source = CATALOGUE[sid]
        spec = source.statxplore
        assert spec is not None and source.url is None and source.sha256 is None
        for name in ("database", "measure", "geography", "month_field", "month_value"):
            assert getattr(spec, name).startswith("str:"), (sid, name)
        assert spec.month_value.endswith(spec.period.replace("-", ""))
        assert set(spec.unconfirmed) <= {"geography", "month_value"} and spec.unconfirmed
        assert "STATXPLORE_API_KEY" in source.how_to_get and "export" in source.how_to_get
        assert "inferred, not confirmed" in source.how_to_get


def test_cli_fetch_dwp_without_key_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, errors = io.StringIO(), io.StringIO()
    monkeypatch.setattr(fetch_cmd, "console", Console(file=out, width=400))
    monkeypatch.setattr(fetch_cmd, "err", Console(file=errors, width=400))
    monkeypatch.delenv("CANRANK_MIRROR", raising=False)
    monkeypatch.delenv("STATXPLORE_API_KEY", raising=False)
    monkeypatch.setenv("STATXPLORE_BASE_URL", "http://127.0.0.1:9/never-asked")
    result = CliRunner().invoke(app, ["fetch", *DWP, "--raw-dir", str(tmp_path)])
    assert result.exit_code == 2
    message = " ".join(errors.getvalue().split())
    for sid in DWP:
        assert (
            f"{sid}: {CATALOGUE[sid].filename} (DWP (Stat-Xplore)) is not in data/raw/" in message
        )
        assert (
            f"set STATXPLORE_API_KEY (Stat-Xplore: Account > Open Data API Access) and run "
            f"`canrank fetch {sid}`" in message
        )
    assert "Stat-Xplore (table view, CSV) and save it under this name" in message
    assert "2 of 2 source(s) could not be fetched" in message
    assert not any(tmp_path.iterdir())
    # a build without --download never asks the API, key or not
    monkeypatch.setenv("STATXPLORE_API_KEY", "some-key")
    with pytest.raises(MissingSourceError, match="STATXPLORE_API_KEY"):
        locate(CATALOGUE[DWP[0]], raw_dir=tmp_path)


def test_fetch_dwp_api_unreachable_is_a_missing_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("STATXPLORE_API_KEY", "some-key")
    monkeypatch.setenv("STATXPLORE_BASE_URL", f"http://127.0.0.1:{port}/webapi/rest/v1")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with pytest.raises(MissingSourceError) as info:
        fetch(CATALOGUE[DWP[0]], raw_dir=tmp_path)
    text = str(info.value)
    assert (
        "dwp_hb_lsoa_2017_02: the Stat-Xplore API query failed: could not reach Stat-Xplore" in text
    )
    assert "export the table from Stat-Xplore (table view, CSV) and save it as" in text
    assert "some-key" not in text
    assert not any(tmp_path.iterdir())
    # an address that would send the key unencrypted is refused before any request
    monkeypatch.setenv("STATXPLORE_BASE_URL", "http://stat-xplore.example.org/webapi/rest/v1")
    with pytest.raises(MissingSourceError, match="unencrypted"):
        fetch(CATALOGUE[DWP[0]], raw_dir=tmp_path)
