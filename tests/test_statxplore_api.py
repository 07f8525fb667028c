"""Tests for the Stat-Xplore Open Data API client against a local fake server.

The server listens on 127.0.0.1 only, checks the ``APIKey`` header and the JSON query, and
answers with a cube shaped like the real ``/table`` response (fields/items/uris, measures,
cubes with nested values). No other address is contacted.
"""

from __future__ import annotations

import importlib
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from canrank.acquire import locate, locate_all
from canrank.cli import app
from canrank.errors import CanrankError, InputError
from canrank.loaders import read_source
from canrank.loaders.statxplore import read_statxplore
from canrank.loaders.statxplore_api import (
    API_KEY_ENV,
    BASE_URL_ENV,
    StatXploreClient,
    StatXploreError,
    build_table_query,
    cube_to_frame,
)
from canrank.sources import CATALOGUE

KEY = "test-key-0123456789abcdef"
PREFIX = "/webapi/rest/v1"
DB = "str:database:hb_new"
MEASURE = "str:count:hb_new:V_F_HB_NEW"
GEO_FIELD = "str:field:hb_new:V_F_HB_NEW:COA_CODE"
MONTH_FIELD = "str:field:hb_new:F_HB_NEW_DATE:NEW_DATE_NAME"
GEO_VALUE = "str:value:hb_new:V_F_HB_NEW:COA_CODE:V_C_MASTERGEOG11_LSOA_TO_MSOA:"
MONTH_VALUE = "str:value:hb_new:F_HB_NEW_DATE:NEW_DATE_NAME:C_HB_NEW_DATE:"
MONTH_LABELS = {"201702": "February 2017", "201705": "May 2017"}
#: Fake LSOAs: code -> (name, claimants per requested month, in order).
LSOAS = {
    "E01000001": ("City of London 001A", 12),
    "E01000002": ("City of London 001B", 30),
    "E01000003": ("City of London 001C", None),
}


#: What a whole-valueset (Great Britain) query answers: uri code -> (label, claimants).
GB_AREAS: dict[str, tuple[str, int | None]] = {
    "E01000002": ("City of London 001B", 30),
    "E01000001": ("City of London 001A", 12),
    "W01000001": ("Isle of Anglesey 001A", 5),
    "S01006506": ("Culter - 01", 3),
    "E01000003": ("City of London 001C", 7),
    "ZZXXXXXXX": ("Unknown", 40),
}
#: The databases the fake server knows: id -> (measure, date field, month labels by value id).
DATABASES = {
    DB: (MEASURE, MONTH_FIELD, "Month", {k: v for k, v in MONTH_LABELS.items()}),
    "str:database:PC_New": (
        "str:count:PC_New:V_F_PC_CASELOAD_New",
        "str:field:PC_New:F_PC_QTR_New:DATE_NAME",
        "Quarter",
        {"201611": "November 2016"},
    ),
}


@dataclass
class ServerState:
    """What the fake server saw and how it should misbehave."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    mode: str = "ok"  # ok | rate_limit | server_error | flaky | not_json | unknown_id
    calls: int = 0
    gb: dict[str, tuple[str, int | None]] = field(default_factory=lambda: dict(GB_AREAS))


def realistic_cube(query: dict[str, Any]) -> dict[str, Any]:
    """Answer a query the way Stat-Xplore does: one nested level per dimension field."""
    months = [m[0] for m in query["recodes"][MONTH_FIELD]["map"]]
    geo_recode = query["recodes"].get(GEO_FIELD)
    geos = [g[0] for g in geo_recode["map"]] if geo_recode else [GEO_VALUE + c for c in LSOAS]
    codes = [g.rsplit(":", 1)[1] for g in geos]
    values = []
    for code in codes:
        _name, base = LSOAS[code]
        values.append([None if base is None else base + k for k in range(len(months))])
    values.append([sum(v[k] or 0 for v in values) for k in range(len(months))])  # Total row
    return {
        "query": query,
        "database": {"id": DB, "annotationKeys": []},
        "measures": [{"uri": MEASURE, "label": "Housing Benefit Claimants"}],
        "fields": [
            {
                "uri": GEO_FIELD,
                "label": "National - Regional - LA - OAs",
                "items": [
                    {"type": "RecodeItem", "labels": [LSOAS[c][0]], "uris": [g]}
                    for c, g in zip(codes, geos, strict=True)
                ]
                + [{"type": "RecodeItem", "labels": ["Total"], "uris": []}],
            },
            {
                "uri": MONTH_FIELD,
                "label": "Month",
                "items": [
                    {
                        "type": "RecodeItem",
                        "labels": [MONTH_LABELS[m.rsplit(":", 1)[1]]],
                        "uris": [m],
                    }
                    for m in months
                ],
            },
        ],
        "cubes": {MEASURE: {"values": values}},
        "annotationMap": {},
    }


def gb_cube(query: dict[str, Any], state: ServerState) -> tuple[int, dict[str, Any]]:
    """Answer a query with an LSOA valueset as its row dimension, as Stat-Xplore does: every
    area of Great Britain (Welsh LSOAs, Scottish data zones, "Unknown"), one column per month."""
    if query.get("database") not in DATABASES:
        return 400, {"message": f"Unknown database {query.get('database')}"}
    measure, month_field, month_label, labels = DATABASES[query["database"]]
    valueset = query["dimensions"][0][0]
    if state.mode == "unknown_id" or not valueset.endswith(":V_C_MASTERGEOG11_LSOA_TO_MSOA"):
        return 400, {"message": f"Unknown valueset {valueset}"}
    if query.get("measures") != [measure] or query["dimensions"][1:] != [[month_field]]:
        return 400, {"message": "Bad measure or dimensions"}
    months = [m[0] for m in query["recodes"][month_field]["map"]]
    value_prefix = valueset.replace("str:valueset:", "str:value:", 1) + ":"
    return 200, {
        "query": query,
        "database": {"id": query["database"], "annotationKeys": []},
        "measures": [{"uri": measure, "label": "Claimants"}],
        "fields": [
            {
                "uri": valueset,
                "label": "National - Regional - LA - OAs",
                "items": [
                    {"type": "ValueItem", "labels": [label], "uris": [value_prefix + code]}
                    for code, (label, _) in state.gb.items()
                ],
            },
            {
                "uri": month_field,
                "label": month_label,
                "items": [
                    {"type": "RecodeItem", "labels": [labels[m.rsplit(":", 1)[1]]], "uris": [m]}
                    for m in months
                ],
            },
        ],
        "cubes": {measure: {"values": [[v] * len(months) for _, v in state.gb.values()]}},
        "annotationMap": {},
    }


def make_handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def _common(self) -> bool:
            state.calls += 1
            if self.headers.get("APIKey") != KEY:
                self._send(401, {"message": "Invalid API key"})
                return False
            if state.mode == "rate_limit":
                self._send(429, {"message": "Too many requests"}, {"Retry-After": "30"})
                return False
            if state.mode == "server_error" or (state.mode == "flaky" and state.calls == 1):
                self._send(503, {"message": "Service Unavailable"}, {"Retry-After": "0"})
                return False
            if state.mode == "not_json":
                self._send(200, b"<html>maintenance</html>")
                return False
            return True

        def do_GET(self) -> None:
            if not self._common():
                return
            if self.path == f"{PREFIX}/schema":
                self._send(200, {"id": "str:folder:root", "children": [{"id": DB}]})
            elif self.path == f"{PREFIX}/schema/{DB}":
                self._send(200, {"id": DB, "label": "Housing Benefit", "type": "DATABASE"})
            else:
                self._send(404, {"message": f"No such item {self.path}"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if not self._common():
                return
            if self.path != f"{PREFIX}/table":
                self._send(404, {"message": "Not found"})
                return
            if self.headers.get("Content-Type") != "application/json":
                self._send(415, {"message": "Content-Type must be application/json"})
                return
            query = json.loads(body)
            state.requests.append(query)
            dims = query.get("dimensions") or [[""]]
            if str(dims[0][0]).startswith("str:valueset:"):
                status, answer = gb_cube(query, state)
                self._send(status, answer)
                return
            if query.get("database") != DB or query.get("measures") != [MEASURE]:
                self._send(400, {"message": f"Unknown database {query.get('database')}"})
                return
            if query.get("dimensions") != [[GEO_FIELD], [MONTH_FIELD]]:
                self._send(400, {"message": "Bad dimensions"})
                return
            self._send(200, realistic_cube(query))

    return Handler


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, ServerState]]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    state = ServerState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}{PREFIX}", state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def query(
    months: tuple[str, ...] = ("201702",), codes: tuple[str, ...] = ("E01000002", "E01000001")
):
    return build_table_query(
        DB,
        MEASURE,
        GEO_FIELD,
        MONTH_FIELD,
        [MONTH_VALUE + m for m in months],
        [GEO_VALUE + c for c in codes],
    )


# ---------------------------------------------------------------------------- query building


def test_build_table_query_shape() -> None:
    q = query(months=("201702", "201705"))
    assert q["database"] == DB and q["measures"] == [MEASURE]
    assert q["dimensions"] == [[GEO_FIELD], [MONTH_FIELD]]
    assert q["recodes"][MONTH_FIELD] == {
        "map": [[MONTH_VALUE + "201702"], [MONTH_VALUE + "201705"]],
        "total": False,
    }
    assert q["recodes"][GEO_FIELD]["map"][0] == [GEO_VALUE + "E01000002"]
    no_geo = build_table_query(DB, MEASURE, GEO_FIELD, MONTH_FIELD, [MONTH_VALUE + "201702"])
    assert GEO_FIELD not in no_geo["recodes"]


def test_build_table_query_rejects_bad_ids() -> None:
    with pytest.raises(StatXploreError, match="not a Stat-Xplore id"):
        build_table_query("hb_new", MEASURE, GEO_FIELD, MONTH_FIELD, [MONTH_VALUE + "201702"])
    with pytest.raises(StatXploreError, match="at least one month"):
        build_table_query(DB, MEASURE, GEO_FIELD, MONTH_FIELD, [])


# ---------------------------------------------------------------------------- client


def test_table_round_trip(server: tuple[str, ServerState]) -> None:
    base, state = server
    client = StatXploreClient(KEY, base_url=base)
    q = query(codes=("E01000002", "E01000001"))
    response = client.table(q)
    assert state.requests == [q]
    df = cube_to_frame(response)
    assert list(df.columns) == ["lsoa_code", "lsoa_name", "claimants"]
    assert df["lsoa_code"].tolist() == ["E01000001", "E01000002"]
    assert df["lsoa_name"].tolist() == ["City of London 001A", "City of London 001B"]
    assert df["claimants"].tolist() == [12.0, 30.0]
    assert df["claimants"].dtype == np.float64
    assert df.attrs["dataset"] == DB
    assert df.attrs["measure"] == "Housing Benefit Claimants"
    assert df.attrs["period"] == "February 2017"
    assert df.attrs["source_format"] == "statxplore-api"


def test_schema(server: tuple[str, ServerState]) -> None:
    base, _ = server
    client = StatXploreClient(KEY, base_url=base)
    assert client.schema()["children"] == [{"id": DB}]
    assert client.schema(DB)["type"] == "DATABASE"
    with pytest.raises(StatXploreError) as info:
        client.schema("str:database:nope")
    assert info.value.status == 404 and "HTTP 404" in str(info.value)


def test_key_from_environment(
    server: tuple[str, ServerState], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = server
    monkeypatch.setenv(API_KEY_ENV, KEY)
    assert StatXploreClient(base_url=base).schema()["id"] == "str:folder:root"


def test_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    with pytest.raises(CanrankError) as info:
        StatXploreClient()
    assert API_KEY_ENV in str(info.value) and "Open Data API Access" in str(info.value)


def test_bad_key_401(server: tuple[str, ServerState]) -> None:
    base, _ = server
    client = StatXploreClient("wrong-key", base_url=base)
    with pytest.raises(StatXploreError) as info:
        client.table(query())
    err = info.value
    assert err.status == 401
    assert "API key was rejected (HTTP 401): Invalid API key" in str(err)
    assert "wrong-key" not in str(err) and "wrong-key" not in repr(client)
    assert f"{base}/table" in str(err)


def test_rate_limit_429_reports_retry_after(server: tuple[str, ServerState]) -> None:
    base, state = server
    state.mode = "rate_limit"
    with pytest.raises(StatXploreError) as info:
        StatXploreClient(KEY, base_url=base, retries=2, max_retry_wait=5).table(query())
    err = info.value
    assert err.status == 429 and err.retry_after == 30
    assert "rate limit reached (HTTP 429)" in str(err) and "retry after 30 seconds" in str(err)
    assert state.calls == 1  # a 30 s wait exceeds max_retry_wait, so no retry


def test_server_error_5xx(server: tuple[str, ServerState]) -> None:
    base, state = server
    state.mode = "server_error"
    with pytest.raises(StatXploreError) as info:
        StatXploreClient(KEY, base_url=base).table(query())
    assert info.value.status == 503
    assert "server error (HTTP 503): Service Unavailable" in str(info.value)
    assert "try again later" in str(info.value)


def test_retry_after_transient_error(server: tuple[str, ServerState]) -> None:
    base, state = server
    state.mode = "flaky"
    response = StatXploreClient(KEY, base_url=base, retries=1).table(query())
    assert state.calls == 2
    assert cube_to_frame(response)["claimants"].tolist() == [12.0, 30.0]


def test_query_rejected_400(server: tuple[str, ServerState]) -> None:
    base, _ = server
    bad = query()
    bad["database"] = "str:database:nope"
    with pytest.raises(StatXploreError) as info:
        StatXploreClient(KEY, base_url=base).table(bad)
    assert "rejected the query (HTTP 400): Unknown database str:database:nope" in str(info.value)


def test_not_json(server: tuple[str, ServerState]) -> None:
    base, state = server
    state.mode = "not_json"
    with pytest.raises(StatXploreError, match="not JSON"):
        StatXploreClient(KEY, base_url=base).schema()


def test_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with socket.socket() as s:  # find a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = StatXploreClient(KEY, base_url=f"http://127.0.0.1:{port}{PREFIX}", timeout=5)
    with pytest.raises(StatXploreError, match="could not reach Stat-Xplore"):
        client.schema()


def test_base_url_must_be_http() -> None:
    with pytest.raises(StatXploreError, match="not an http"):
        StatXploreClient(KEY, base_url="file:///etc/passwd")


# ---------------------------------------------------------------------------- cube_to_frame


def test_cube_several_months_needs_period() -> None:
    response = realistic_cube(query(months=("201702", "201705")))
    with pytest.raises(InputError) as info:
        cube_to_frame(response)
    assert "'February 2017', 'May 2017'" in str(info.value)
    df = cube_to_frame(response, period="May-17")
    assert df["claimants"].tolist() == [13.0, 31.0]
    assert df.attrs["period"] == "May 2017"


def test_cube_suppressed_null() -> None:
    response = realistic_cube(query(codes=("E01000001", "E01000003")))
    with pytest.raises(InputError) as info:
        cube_to_frame(response)
    err = info.value
    assert "Stat-Xplore API response" in str(err) and err.row == 2 and "null" in str(err)
    df = cube_to_frame(response, allow_suppressed=True)
    assert df["claimants"].isna().tolist() == [False, True]


@pytest.mark.parametrize(
    ("code", "expect"),
    [
        ("S01006506", "is not an LSOA code"),
        ("W01000001", "outside the study geography"),
        ("E01035000", "2021 LSOA code"),
    ],
)
def test_cube_wrong_codes(code: str, expect: str) -> None:
    response = realistic_cube(query(codes=("E01000001",)))
    item = response["fields"][0]["items"][0]
    item["uris"] = [GEO_VALUE + code]
    with pytest.raises(InputError) as info:
        cube_to_frame(response)
    assert expect in str(info.value) and info.value.row == 1


def test_cube_duplicate_lsoa() -> None:
    response = realistic_cube(query(codes=("E01000001", "E01000002")))
    response["fields"][0]["items"][1]["uris"] = [GEO_VALUE + "E01000001"]
    with pytest.raises(InputError) as info:
        cube_to_frame(response)
    assert "appears more than once (first at row 1)" in str(info.value) and info.value.row == 2


def test_cube_code_from_label_when_no_uri() -> None:
    response = realistic_cube(query(codes=("E01000001",)))
    response["fields"][0]["items"][0] = {"labels": ["E01000001 : City of London 001A"]}
    df = cube_to_frame(response)
    assert df["lsoa_code"].tolist() == ["E01000001"]
    assert df["lsoa_name"].tolist() == ["City of London 001A"]


def test_cube_malformed() -> None:
    with pytest.raises(InputError, match="no 'cubes'"):
        cube_to_frame({"fields": [], "measures": []})
    response = realistic_cube(query())
    response["cubes"][MEASURE]["values"] = [[1], [2]]  # fields say 3 x 1
    with pytest.raises(InputError, match="shape"):
        cube_to_frame(response)


def test_cube_ragged_values() -> None:
    response = realistic_cube(query())
    response["cubes"][MEASURE]["values"] = [[1], [2, 3], [4]]
    with pytest.raises(InputError, match="not a rectangular array"):
        cube_to_frame(response)


def test_cube_names_only_with_lookup() -> None:
    response = realistic_cube(query(codes=("E01000001",)))
    response["fields"][0]["items"][0] = {"labels": ["City of London 001A"], "uris": []}
    with pytest.raises(InputError, match="cannot find an LSOA code"):
        cube_to_frame(response)
    df = cube_to_frame(response, name_lookup={"city of london 001a": "E01000001"})
    assert df["lsoa_code"].tolist() == ["E01000001"]


def test_cube_drop_other_areas() -> None:
    state = ServerState()
    query = build_table_query(DB, MEASURE, GB_VALUESET, MONTH_FIELD, [MONTH_VALUE + "201702"])
    status, response = gb_cube(query, state)
    assert status == 200
    with pytest.raises(InputError, match="cannot find an LSOA code for 'Unknown'"):
        cube_to_frame(response)  # by default every item must be an LSOA of the study's country
    del state.gb["ZZXXXXXXX"], state.gb["S01006506"]
    with pytest.raises(InputError, match="outside the study geography"):
        cube_to_frame(gb_cube(query, state)[1])
    df = cube_to_frame(response, drop_other_areas=True)
    assert df["lsoa_code"].tolist() == ["E01000001", "E01000002", "E01000003"]
    assert df["claimants"].tolist() == [12.0, 30.0, 7.0]
    assert df.attrs["areas_dropped"] == 3  # Wales, the Scottish data zone, "Unknown"
    assert df.attrs["period_field"] == "Month"
    both = cube_to_frame(response, drop_other_areas=True, countries="EW")
    assert "W01000001" in both["lsoa_code"].tolist() and both.attrs["areas_dropped"] == 2


def test_plain_http_only_to_this_machine() -> None:
    with pytest.raises(StatXploreError, match="unencrypted"):
        StatXploreClient(KEY, base_url="http://stat-xplore.example.org/webapi/rest/v1")
    assert StatXploreClient(KEY, base_url="http://localhost:9/x").base_url == "http://localhost:9/x"


# ---------------------------------------------------------------------------- canrank fetch

GB_VALUESET = "str:valueset:hb_new:V_F_HB_NEW:COA_CODE:V_C_MASTERGEOG11_LSOA_TO_MSOA"
HB = "dwp_hb_lsoa_2017_02"
PC = "dwp_pc_lsoa_2016_11"


@dataclass
class Cli:
    """The outcome of one ``canrank fetch`` run: exit code, stdout and stderr text."""

    code: int
    out: str
    err: str


def run_fetch(
    monkeypatch: pytest.MonkeyPatch, raw: Path, *ids: str, base: str | None, key: str | None = KEY
) -> Cli:
    """Run ``canrank fetch <ids> --raw-dir raw`` with the API key and base URL in the env."""
    fetch_cmd = importlib.import_module("canrank.cli.fetch")
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(fetch_cmd, "console", Console(file=out, width=400))
    monkeypatch.setattr(fetch_cmd, "err", Console(file=err, width=400))
    monkeypatch.delenv("CANRANK_MIRROR", raising=False)
    for var, value in ((API_KEY_ENV, key), (BASE_URL_ENV, base)):
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    result = CliRunner().invoke(app, ["fetch", *ids, "--raw-dir", str(raw)])
    return Cli(result.exit_code, out.getvalue(), err.getvalue())


def test_cli_fetch_housing_benefit_writes_a_file_the_loader_reads(
    server: tuple[str, ServerState], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, state = server
    run = run_fetch(monkeypatch, tmp_path, HB, base=base)
    assert run.code == 0, run.err
    source = CATALOGUE[HB]
    path = tmp_path / source.filename
    assert f"{HB}: {path} (from statxplore-api)" in run.out
    spec = source.statxplore
    assert spec is not None
    assert state.requests == [
        {
            "database": "str:database:hb_new",
            "measures": ["str:count:hb_new:V_F_HB_NEW"],
            "recodes": {
                MONTH_FIELD: {"map": [[MONTH_VALUE + "201702"]], "total": False},
            },
            "dimensions": [[GB_VALUESET], [MONTH_FIELD]],
        }
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.filename]  # no .part left
    text = path.read_text(encoding="utf-8")
    assert KEY not in text and "Stat-Xplore Open Data API" in text
    df = read_source(source, path)  # the catalogue's own loader, default options
    assert df["lsoa_code"].tolist() == ["E01000001", "E01000002", "E01000003"]
    assert df["lsoa_name"].tolist() == [
        "City of London 001A",
        "City of London 001B",
        "City of London 001C",
    ]
    assert df["claimants"].tolist() == [12.0, 30.0, 7.0]
    assert df.attrs["period"] == "February 2017" and df.attrs["measure"] == "Claimants"
    # the next fetch finds the file in data/raw and does not ask the API again
    again = run_fetch(monkeypatch, tmp_path, HB, base=base)
    assert again.code == 0 and "(from cache)" in again.out
    assert len(state.requests) == 1


def test_cli_fetch_pension_credit_quarter(
    server: tuple[str, ServerState], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, state = server
    state.gb = {"E01000005": ("City of London 001E", 9), "S01006506": ("Culter - 01", 1)}
    run = run_fetch(monkeypatch, tmp_path, PC, base=base)
    assert run.code == 0, run.err
    (sent,) = state.requests
    assert sent["database"] == "str:database:PC_New"
    assert sent["dimensions"][1] == ["str:field:PC_New:F_PC_QTR_New:DATE_NAME"]
    df = read_statxplore(tmp_path / CATALOGUE[PC].filename)
    assert df["lsoa_code"].tolist() == ["E01000005"] and df["claimants"].tolist() == [9.0]
    assert df.attrs["period"] == "November 2016"


def test_fetch_null_cells_follow_the_loaders_suppressed_policy(
    server: tuple[str, ServerState], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, state = server
    state.gb["E01000003"] = ("City of London 001C", None)
    run = run_fetch(monkeypatch, tmp_path, HB, base=base)
    assert run.code == 0, run.err
    path = tmp_path / CATALOGUE[HB].filename
    assert "\nE01000003 : City of London 001C,..\n" in path.read_text(encoding="utf-8")
    with pytest.raises(InputError, match="suppressed"):
        read_statxplore(path)
    df = read_statxplore(path, allow_suppressed=True)
    assert df["claimants"].isna().tolist() == [False, False, True]


@pytest.mark.parametrize(
    ("mode", "key", "expect", "calls"),
    [
        ("ok", "wrong-key", "the API key was rejected (HTTP 401): Invalid API key", 1),
        ("rate_limit", KEY, "rate limit reached (HTTP 429)", 1),
        ("server_error", KEY, "Stat-Xplore server error (HTTP 503): Service Unavailable", 3),
        ("unknown_id", KEY, "Stat-Xplore rejected the query (HTTP 400): Unknown valueset", 1),
    ],
)
def test_cli_fetch_api_errors_are_one_clear_message(
    server: tuple[str, ServerState],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    key: str,
    expect: str,
    calls: int,
) -> None:
    base, state = server
    state.mode = mode
    run = run_fetch(monkeypatch, tmp_path, HB, base=base, key=key)
    assert run.code == 2
    message = " ".join(run.err.split())
    assert f"{HB}: the Stat-Xplore API query failed: {expect}" in message
    assert "1 of 1 source(s) could not be fetched" in message
    assert "Traceback" not in run.err and key not in run.err
    assert state.calls == calls  # 5xx retried twice; 401, 400 and a long 429 wait are not
    if mode == "rate_limit":
        assert "retry after 30 seconds" in message
    if mode == "unknown_id":
        assert "inferred, not confirmed: geography " + GB_VALUESET in message
    assert not any(tmp_path.iterdir())  # nothing written, not even a .part


def test_fetch_retries_a_transient_server_error(
    server: tuple[str, ServerState], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, state = server
    state.mode = "flaky"
    run = run_fetch(monkeypatch, tmp_path, HB, base=base)
    assert run.code == 0, run.err
    assert state.calls == 2
    assert read_statxplore(tmp_path / CATALOGUE[HB].filename)["claimants"].sum() == 49.0


def test_fetch_refuses_2021_lsoas_and_writes_nothing(
    server: tuple[str, ServerState], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, state = server
    state.gb = {"E01035000": ("City of London 001G", 4)}
    run = run_fetch(monkeypatch, tmp_path, HB, base=base)
    assert run.code == 2
    assert "2021 LSOA code" in run.err and "Stat-Xplore API response" in run.err
    assert not any(tmp_path.iterdir())


def test_build_download_locates_through_the_api(
    server: tuple[str, ServerState], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``canrank build --download`` locates sources with ``allow_download=True``."""
    base, _state = server
    monkeypatch.setenv(API_KEY_ENV, KEY)
    monkeypatch.setenv(BASE_URL_ENV, base)
    located = locate_all([CATALOGUE[HB], CATALOGUE[PC]], raw_dir=tmp_path, allow_download=True)
    assert {sid: loc.origin for sid, loc in located.items()} == {
        HB: "statxplore-api",
        PC: "statxplore-api",
    }
    assert read_source(CATALOGUE[HB], located[HB].path)["claimants"].tolist() == [12.0, 30.0, 7.0]
    assert locate(CATALOGUE[HB], raw_dir=tmp_path).origin == "cache"
