"""Client for DWP's Stat-Xplore Open Data API, returning the same tidy table as the CSV loader.

Using the API instead of a manual download lets a run fetch Housing Benefit or Pension Credit
claimants for a chosen month reproducibly. Only the standard library is used for HTTP.
``canrank fetch`` (and ``canrank build --download``) call :func:`fetch_to_csv` for a catalogue
source with a :class:`~canrank.sources.StatXploreQuery` when ``STATXPLORE_API_KEY`` is set: it
writes the answer as a Stat-Xplore CSV download, which the ``statxplore`` loader then reads
like a hand-made export. ``STATXPLORE_BASE_URL`` points it at another server (tests, mirrors).

API facts used here (Stat-Xplore online help, "Open-Data-API-Table" and "Rate Limit" pages;
field and measure ids as used by public code, e.g. ``str:database:hb_new``,
``str:count:hb_new:V_F_HB_NEW``, ``str:field:hb_new:V_F_HB_NEW:COA_CODE``,
``str:field:hb_new:F_HB_NEW_DATE:NEW_DATE_NAME`` and
``str:value:hb_new:F_HB_NEW_DATE:NEW_DATE_NAME:C_HB_NEW_DATE:201811``):

* base URL ``https://stat-xplore.dwp.gov.uk/webapi/rest/v1``; every request sends the key in an
  ``APIKey`` header; ``GET /schema[/<id>]`` describes folders, databases, fields and measures;
  ``POST /table`` takes ``{"database", "measures", "recodes", "dimensions"}`` as JSON;
* a ``/table`` response has ``fields`` (each with ``label``, ``uri`` and ``items`` carrying
  ``labels`` and ``uris``), ``measures`` (``uri``, ``label``) and ``cubes``
  ``{measure uri: {"values": nested arrays, one level per field in dimension order}}``;
* each key may make 2,000 requests an hour; beyond that the API answers HTTP 429;
* a valueset id (e.g. ``str:valueset:hb_new:V_F_HB_NEW:COA_CODE:V_C_MASTERGEOG21_LA_TO_REGION``)
  may stand in a dimension without a recode: the answer then has every value of that level
  (public code using the live API does this); which ids the catalogue's queries could not
  confirm is recorded in ``canrank/sources.py``.
"""

from __future__ import annotations

import csv
import email.utils
import http.client
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from canrank.errors import CanrankError, InputError, quote
from canrank.loaders._validate import LSOA_2011, check_lsoa_codes
from canrank.loaders.statxplore import (
    area_code_and_name,
    check_unique,
    lookup_name,
    name_index,
    period_key,
    relocate,
    select_period,
)

if TYPE_CHECKING:
    from canrank.sources import StatXploreQuery

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "StatXploreClient",
    "StatXploreError",
    "api_key_set",
    "build_table_query",
    "client_from_env",
    "cube_to_frame",
    "fetch_to_csv",
    "write_statxplore_csv",
]

DEFAULT_BASE_URL = "https://stat-xplore.dwp.gov.uk/webapi/rest/v1"
API_KEY_ENV = "STATXPLORE_API_KEY"
#: Another address for the API (a test server or a mirror of it); unset, the official one.
BASE_URL_ENV = "STATXPLORE_BASE_URL"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_RESPONSE = "Stat-Xplore API response"
_RETRYABLE = frozenset({429, 500, 502, 503, 504})
_CODE_IN_URI = re.compile(r":([A-Z]\d{8})$")
#: Geography items that are not areas (as the CSV loader drops them from a download).
_NON_AREAS = frozenset({"unknown", "abroad", "unknown or abroad", "column total", "grand total"})
_KEY_HINT = (
    f"sign in to Stat-Xplore, open Account > Open Data API Access, copy the key and set the "
    f"{API_KEY_ENV} environment variable (never put the key in a config file in git)"
)


class StatXploreError(CanrankError):
    """The Stat-Xplore API refused a request, failed, or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(message, file=url, hint=hint)


class StatXploreClient:
    """Minimal Stat-Xplore Open Data API client (``/schema``, ``/table``, ``/rate_limit``).

    The key comes from ``api_key`` or the ``STATXPLORE_API_KEY`` environment variable and is
    never included in messages. ``retries`` re-sends a request after HTTP 429/5xx, waiting for
    the server's ``Retry-After`` when it is at most ``max_retry_wait`` seconds.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 120.0,
        retries: int = 0,
        max_retry_wait: float = 60.0,
    ) -> None:
        key = (api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")).strip()
        if not key:
            raise StatXploreError(
                f"no Stat-Xplore API key: pass api_key or set {API_KEY_ENV}", hint=_KEY_HINT
            )
        if any(not ch.isprintable() for ch in key):
            raise StatXploreError(
                "the Stat-Xplore API key contains control characters", hint=_KEY_HINT
            )
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise StatXploreError(
                f"base_url {quote(base_url)} is not an http(s) URL",
                hint=f"use the default {DEFAULT_BASE_URL}",
            )
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise StatXploreError(
                f"base_url {quote(base_url)} uses http://, which would send the API key "
                "unencrypted",
                hint=f"use https:// (the default is {DEFAULT_BASE_URL}); plain http is only for "
                "a test server on this machine",
            )
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be positive and retries non-negative")
        self._api_key = key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.max_retry_wait = max_retry_wait

    def __repr__(self) -> str:
        return f"StatXploreClient(base_url={self.base_url!r}, api_key=<hidden>)"

    def schema(self, schema_id: str | None = None) -> dict[str, Any]:
        """Return the schema root, or the folder/database/field/measure with this id."""
        path = "/schema" if not schema_id else "/schema/" + urllib.parse.quote(schema_id, safe=":")
        return self._request("GET", path)

    def table(self, query: Mapping[str, Any]) -> dict[str, Any]:
        """Submit a table query (see ``build_table_query``) and return the JSON response."""
        for key in ("database", "measures"):
            if key not in query:
                raise StatXploreError(
                    f"the table query has no {quote(key)}",
                    hint="build the query with build_table_query()",
                )
        return self._request("POST", "/table", body=dict(query))

    def rate_limit(self) -> dict[str, Any]:
        """Return the key's current rate-limit status (does not count towards the limit)."""
        return self._request("GET", "/rate_limit")

    def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send one request (retrying 429/5xx if configured) and decode the JSON object."""
        url = self.base_url + path
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {
            "APIKey": self._api_key,
            "Accept": "application/json",
            "User-Agent": "canrank (Stat-Xplore Open Data API client)",
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = response.read()
                break
            except urllib.error.HTTPError as exc:
                error = _http_error(exc, url)
                wait = error.retry_after if error.retry_after is not None else 2.0**attempt
                if (
                    error.status in _RETRYABLE
                    and attempt < self.retries
                    and wait <= self.max_retry_wait
                ):
                    time.sleep(max(wait, 0.0))
                    attempt += 1
                    continue
                raise error from None
            except urllib.error.URLError as exc:
                raise StatXploreError(
                    f"could not reach Stat-Xplore ({exc.reason})",
                    url=url,
                    hint="check the network connection and proxy settings, or use a "
                    "downloaded CSV with read_statxplore()",
                ) from None
            except TimeoutError:
                raise StatXploreError(
                    f"Stat-Xplore did not answer within {self.timeout:g} seconds",
                    url=url,
                    hint="try again later, or request fewer LSOAs or months per query",
                ) from None
            except (http.client.HTTPException, OSError) as exc:
                raise StatXploreError(
                    f"the connection to Stat-Xplore broke ({type(exc).__name__})",
                    url=url,
                    hint="try again; if it keeps happening, request fewer LSOAs per query",
                ) from None
        try:
            decoded = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise StatXploreError(
                "Stat-Xplore answered with something that is not JSON",
                url=url,
                hint="the service may be down for maintenance; try again later",
            ) from None
        if not isinstance(decoded, dict):
            raise StatXploreError("Stat-Xplore answered with JSON that is not an object", url=url)
        return decoded


def _server_message(exc: urllib.error.HTTPError) -> str:
    """The server's own error text (JSON ``message``/``error`` or plain text), shortened."""
    try:
        raw = exc.read(4000)
    except Exception:  # the body may already be closed or unreadable
        return ""
    text = raw.decode("utf-8", "replace").strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        obj = None
    if isinstance(obj, dict):
        for key in ("message", "error", "errorMessage", "detail"):
            if isinstance(obj.get(key), str):
                text = obj[key]
                break
    text = " ".join(text.split())
    return text[:300]


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _http_error(exc: urllib.error.HTTPError, url: str) -> StatXploreError:
    """Translate an HTTP error status into a message that says what to do."""
    status = exc.code
    detail = _server_message(exc)
    said = f": {detail}" if detail else ""
    if status == 401:
        return StatXploreError(
            f"the API key was rejected (HTTP 401){said}", url=url, status=status, hint=_KEY_HINT
        )
    if status == 403:
        return StatXploreError(
            f"access denied (HTTP 403){said}",
            url=url,
            status=status,
            hint="check the API key is active and allowed to use this dataset",
        )
    if status == 404:
        return StatXploreError(
            f"not found (HTTP 404){said}",
            url=url,
            status=status,
            hint="check the database, field and measure ids with client.schema()",
        )
    if status in {400, 422}:
        return StatXploreError(
            f"Stat-Xplore rejected the query (HTTP {status}){said}",
            url=url,
            status=status,
            hint="check the ids in the query against client.schema('<database id>')",
        )
    if status == 413:
        return StatXploreError(
            f"the requested table is too large (HTTP 413){said}",
            url=url,
            status=status,
            hint="request fewer LSOAs or months per query",
        )
    if status == 429:
        wait = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
        when = f"; retry after {wait:g} seconds" if wait is not None else ""
        return StatXploreError(
            f"rate limit reached (HTTP 429): Stat-Xplore allows 2,000 requests per hour per "
            f"key{when}",
            url=url,
            status=status,
            retry_after=wait,
            hint="wait and run again, cache responses, or create the client with retries=1",
        )
    if 500 <= status < 600:
        wait = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
        return StatXploreError(
            f"Stat-Xplore server error (HTTP {status}){said}",
            url=url,
            status=status,
            retry_after=wait,
            hint="the service may be busy or down for maintenance; try again later",
        )
    return StatXploreError(
        f"unexpected HTTP {status} from Stat-Xplore{said}", url=url, status=status
    )


def build_table_query(
    database: str,
    measure: str,
    geography_field: str,
    month_field: str,
    month_value_ids: Sequence[str],
    geography_value_ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Build a ``/table`` query with LSOAs in rows and the chosen months in columns.

    Without ``geography_value_ids`` the geography field is not recoded, so the server returns
    its default values; pass the LSOA value ids (``str:value:...:E01000001``) to get LSOAs.
    """
    ids = {
        "database": database,
        "measure": measure,
        "geography_field": geography_field,
        "month_field": month_field,
    }
    for name, value in ids.items():
        if not isinstance(value, str) or not value.startswith("str:"):
            raise StatXploreError(
                f"{name} {quote(value)} is not a Stat-Xplore id (they start with 'str:')",
                hint="look the id up with StatXploreClient.schema()",
            )
    months = [month_value_ids] if isinstance(month_value_ids, str) else list(month_value_ids)
    if not months:
        raise StatXploreError(
            "at least one month value id is needed",
            hint="e.g. 'str:value:hb_new:F_HB_NEW_DATE:NEW_DATE_NAME:C_HB_NEW_DATE:201811'",
        )
    recodes: dict[str, Any] = {month_field: {"map": [[m] for m in months], "total": False}}
    if geography_value_ids is not None:
        geos = (
            [geography_value_ids]
            if isinstance(geography_value_ids, str)
            else list(geography_value_ids)
        )
        if not geos:
            raise StatXploreError("geography_value_ids is empty", hint="pass None or LSOA ids")
        recodes[geography_field] = {"map": [[g] for g in geos], "total": False}
    return {
        "database": database,
        "measures": [measure],
        "recodes": recodes,
        "dimensions": [[geography_field], [month_field]],
    }


def _item_label(item: Mapping[str, Any]) -> str:
    labels = item.get("labels") or []
    return str(labels[0]) if labels else ""


def _is_total(item: Mapping[str, Any]) -> bool:
    return _item_label(item).strip().casefold() == "total"


@dataclass
class _Areas:
    """The geography items kept from a response: codes, names, 1-based item rows, cells."""

    codes: list[str] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    cells: list[object] = field(default_factory=list)
    dropped: int = 0


def cube_to_frame(
    response: Mapping[str, Any],
    *,
    period: str | None = None,
    allow_suppressed: bool = False,
    name_lookup: Mapping[str, str] | None = None,
    countries: str = "E",
    vintage: str | None = LSOA_2011,
    drop_other_areas: bool = False,
) -> pd.DataFrame:
    """Turn a ``/table`` response (LSOAs x months) into ``lsoa_code``, ``lsoa_name``, ``claimants``.

    Codes come from item uris (``...:COA_CODE:V_C_MASTERGEOG11_LSOA_TO_MSOA:E01000001``) or
    labels; ``null`` cells are suppressed values (an error unless ``allow_suppressed``).
    ``drop_other_areas`` drops items that are not LSOAs of ``countries`` (another country's
    LSOAs, Scottish data zones, "Unknown"/"Abroad") instead of rejecting them: a whole-valueset
    query answers for Great Britain. How many were dropped is ``attrs["areas_dropped"]``.
    """
    fields, measure, cube = _response_parts(response)
    values = _cube_values(cube, fields)
    geo, month_axis = _axes(fields, values.shape)
    table = _geography_by_month(values, geo, month_axis)
    month_labels, pick, period_label = _choose_month(fields, month_axis, period)
    geo_label = str(fields[geo].get("label") or "geography")
    index = name_index(name_lookup) if name_lookup is not None else None
    areas = _collect_areas(
        fields[geo], table[:, pick], index, countries=countries, drop=drop_other_areas
    )
    _check_areas(areas, geo_label, countries=countries, vintage=vintage)
    claimants = _claimant_counts(areas, geo_label, period_label, allow_suppressed)
    out = pd.DataFrame({"lsoa_code": areas.codes})
    if any(n is not None for n in areas.names):
        out["lsoa_name"] = [n if n is not None else "" for n in areas.names]
    out["claimants"] = claimants
    out = out.sort_values("lsoa_code", kind="stable").reset_index(drop=True)
    database = response.get("database")
    month_field = fields[month_axis].get("label") if month_axis is not None else None
    out.attrs.update(
        {
            "source": "DWP Stat-Xplore Open Data API",
            "source_format": "statxplore-api",
            "dataset": database.get("id") if isinstance(database, Mapping) else database,
            "measure": measure.get("label"),
            "measure_id": str(measure.get("uri", "")),
            "period": period_label,
            "period_key": period_key(period_label),
            "periods_available": month_labels,
            "geography_field": geo_label,
            "period_field": str(month_field or "Month"),
            "suppressed": int(np.isnan(claimants).sum()),
            "areas_dropped": areas.dropped,
        }
    )
    return out


def _response_parts(
    response: Mapping[str, Any],
) -> tuple[list[Mapping[str, Any]], Mapping[str, Any], Mapping[str, Any]]:
    """The fields, the first measure and its cube of a ``/table`` response, checked."""
    for key in ("fields", "measures", "cubes"):
        if key not in response:
            raise InputError(
                f"this is not a Stat-Xplore table response: it has no {quote(key)}",
                file=_RESPONSE,
                hint="pass the JSON returned by StatXploreClient.table()",
            )
    fields = list(response["fields"])
    measures = list(response["measures"])
    if not fields or not measures:
        raise InputError("the response has no fields or no measures", file=_RESPONSE)
    measure = measures[0]
    measure_uri = str(measure.get("uri", ""))
    cubes = response["cubes"]
    cube = cubes.get(measure_uri)
    if cube is None and len(cubes) == 1:
        cube = next(iter(cubes.values()))
    if cube is None or "values" not in cube:
        raise InputError(
            f"the response has no cube for measure {quote(measure_uri)}", file=_RESPONSE
        )
    return fields, measure, cube


def _cube_values(cube: Mapping[str, Any], fields: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The cube's nested values as an array with one axis per field (checked rectangular)."""
    sizes = [len(f.get("items", [])) for f in fields]
    try:
        values = np.array(cube["values"], dtype=object)
        if any(isinstance(v, list | tuple | dict) for v in values.ravel()):
            raise ValueError("ragged")
    except ValueError:  # ragged nesting
        raise InputError(
            "the cube's values are not a rectangular array",
            file=_RESPONSE,
            hint="the response is incomplete or malformed; run the query again",
        ) from None
    if values.size != int(np.prod(sizes)) or (values.ndim > 1 and values.shape != tuple(sizes)):
        raise InputError(
            f"the cube has shape {values.shape} but the fields have {tuple(sizes)} items",
            file=_RESPONSE,
            hint="the response is incomplete or malformed; run the query again",
        )
    return values.reshape(sizes)


def _axes(fields: Sequence[Mapping[str, Any]], sizes: Sequence[int]) -> tuple[int, int | None]:
    """The geography axis and the month axis (the one other field with several items)."""
    geo = _geography_axis(fields)
    others = [i for i in range(len(fields)) if i != geo]
    varying = [i for i in others if sizes[i] > 1]
    if len(varying) > 1:
        labels = ", ".join(quote(fields[i].get("label")) for i in varying)
        raise InputError(
            f"the table has more than one field besides the geography: {labels}",
            file=_RESPONSE,
            hint="query LSOAs by month only (see build_table_query)",
        )
    month_axis = varying[0] if varying else (others[0] if others else None)
    return geo, month_axis


def _geography_by_month(values: np.ndarray, geo: int, month_axis: int | None) -> np.ndarray:
    """The cube as a 2-D array: one row per geography item, one column per month."""
    order = [geo] + ([month_axis] if month_axis is not None else [])
    order += [i for i in range(values.ndim) if i not in order]
    return values.transpose(order).reshape(values.shape[geo], -1)


def _choose_month(
    fields: Sequence[Mapping[str, Any]], month_axis: int | None, period: str | None
) -> tuple[list[str], int, str]:
    """(labels of the months, the chosen column, its label); totals are never chosen."""
    if month_axis is None:
        month_items: list[Mapping[str, Any]] = [{"labels": ["(all)"]}]
    else:
        month_items = list(fields[month_axis]["items"])
    month_keep = [j for j, item in enumerate(month_items) if not _is_total(item)]
    month_labels = [_item_label(month_items[j]) for j in month_keep]
    pick = month_keep[select_period(month_labels, period, where=_RESPONSE)]
    return month_labels, pick, _item_label(month_items[pick])


def _collect_areas(
    geo_field: Mapping[str, Any],
    column: np.ndarray,
    index: Mapping[str, str] | None,
    *,
    countries: str,
    drop: bool,
) -> _Areas:
    """Codes, names, rows and cells of the geography items (totals, and with ``drop`` other
    areas, left out)."""
    geo_label = str(geo_field.get("label") or "geography")
    areas = _Areas()
    for i, item in enumerate(geo_field["items"]):
        if _is_total(item):
            continue
        if drop and _is_other_area(item, countries):
            areas.dropped += 1
            continue
        code, name = _item_code(item, i + 1, geo_label, index)
        areas.codes.append(code)
        areas.names.append(name)
        areas.rows.append(i + 1)
        areas.cells.append(column[i])
    if not areas.codes:
        raise InputError("the response has no areas", file=_RESPONSE, column=geo_label)
    return areas


def _is_other_area(item: Mapping[str, Any], countries: str) -> bool:
    """True for "Unknown"/"Abroad" items and for items whose code is not an LSOA code of
    ``countries`` (e.g. Scottish data zones S01..., Welsh LSOAs when only England is wanted)."""
    label = _item_label(item)
    if " ".join(label.split()).casefold() in _NON_AREAS:
        return True
    uris = [str(u) for u in item.get("uris") or []]
    code = uris[0].rsplit(":", 1)[-1] if len(uris) == 1 else area_code_and_name(label)[0]
    if code is None:
        return False  # a name only: left for the name lookup (or its clear error)
    return re.fullmatch(f"[{re.escape(countries)}]01\\d{{6}}", code) is None


def _check_areas(areas: _Areas, geo_label: str, *, countries: str, vintage: str | None) -> None:
    """Codes unique, LSOA codes of the study's countries and vintage (rows as in the response)."""
    check_unique(areas.codes, areas.rows, where=_RESPONSE, column=geo_label)
    try:
        check_lsoa_codes(
            pd.Series(areas.codes, dtype=object),
            file=_RESPONSE,
            column=geo_label,
            header_rows=0,
            countries=countries,
            vintage=vintage,
        )
    except InputError as exc:
        raise relocate(exc, areas.rows) from None


def _claimant_counts(
    areas: _Areas, geo_label: str, period_label: str, allow_suppressed: bool
) -> np.ndarray:
    """The cells as non-negative floats; ``null`` (suppressed) is NaN or an error."""
    claimants = np.empty(len(areas.cells), dtype=float)
    nulls = sum(c is None for c in areas.cells)
    for k, cell in enumerate(areas.cells):
        if cell is None and allow_suppressed:
            claimants[k] = np.nan
        elif cell is None:
            raise InputError(
                f"suppressed (null) value for period {quote(period_label)} ({nulls} null cell(s))",
                file=_RESPONSE,
                row=areas.rows[k],
                column=geo_label,
                hint="configure a missing-value policy for this indicator (allow_suppressed=True)",
            )
        elif isinstance(cell, int | float) and not isinstance(cell, bool) and cell >= 0:
            claimants[k] = float(cell)
        else:
            raise InputError(
                f"{quote(cell)} is not a claimant count",
                file=_RESPONSE,
                row=areas.rows[k],
                column=geo_label,
                hint="the response is malformed; run the query again",
            )
    return claimants


def _geography_axis(fields: Sequence[Mapping[str, Any]]) -> int:
    """Index of the field whose items are areas (codes in uris/labels), else the first field."""
    for i, f in enumerate(fields):
        for item in f.get("items", []):
            uris = item.get("uris") or []
            if any(_CODE_IN_URI.search(str(u)) for u in uris):
                return i
            if area_code_and_name(_item_label(item))[0] is not None:
                return i
    return 0


def _item_code(
    item: Mapping[str, Any], row: int, column: str, lookup: Mapping[str, str] | None
) -> tuple[str, str | None]:
    """LSOA code (and name) of one geography item, from its uri, label or the name lookup."""
    uris = [str(u) for u in item.get("uris") or []]
    label = _item_label(item)
    if len(uris) > 1:
        raise InputError(
            f"{quote(label)} is a group of {len(uris)} areas, not one LSOA",
            file=_RESPONSE,
            row=row,
            column=column,
            hint="do not combine LSOAs in the query's recodes",
        )
    code, name = area_code_and_name(label)
    m = _CODE_IN_URI.search(uris[0]) if uris else None
    if m:
        return m.group(1), (name if name != m.group(1) else None)
    if code is not None:
        return code, name
    if lookup is not None and name is not None:
        found = lookup_name(lookup, name)
        if found is not None:
            return str(found).strip(), name
    raise InputError(
        f"cannot find an LSOA code for {quote(label)} (not in its uri, label or name lookup)",
        file=_RESPONSE,
        row=row,
        column=column,
        hint="query the LSOA level of the geography field, or pass name_lookup",
    )


# --------------------------------------------------------------------------------------------
# canrank fetch: one source's month from the API, written as a Stat-Xplore table download
# --------------------------------------------------------------------------------------------


def api_key_set() -> bool:
    """True when ``STATXPLORE_API_KEY`` holds a key (``canrank fetch`` may use the API)."""
    return bool(os.environ.get(API_KEY_ENV, "").strip())


def client_from_env(*, retries: int = 2, max_retry_wait: float = 10.0) -> StatXploreClient:
    """A client keyed from ``STATXPLORE_API_KEY``, at ``STATXPLORE_BASE_URL`` if set.

    It re-sends a request after HTTP 429/5xx up to ``retries`` times when the server asks to
    wait at most ``max_retry_wait`` seconds (longer waits become the error message instead).
    """
    base_url = os.environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL
    return StatXploreClient(base_url=base_url, retries=retries, max_retry_wait=max_retry_wait)


def fetch_to_csv(
    spec: StatXploreQuery,
    target: Path,
    *,
    title: str,
    client: StatXploreClient | None = None,
) -> pd.DataFrame:
    """Query one month of every LSOA and write ``target`` as a Stat-Xplore CSV download.

    Only LSOAs of ``spec.countries`` are kept (the valueset answers for Great Britain); null
    cells are written as ``..`` so the ``statxplore`` loader applies the indicator's
    suppressed-value policy exactly as for a hand-made export. The file appears atomically.
    """
    client = client if client is not None else client_from_env()
    query = build_table_query(
        spec.database, spec.measure, spec.geography, spec.month_field, [spec.month_value]
    )
    try:
        response = client.table(query)
    except StatXploreError as exc:
        raise _name_unconfirmed(exc, spec) from None
    frame = cube_to_frame(
        response,
        period=spec.period,
        allow_suppressed=True,
        countries=spec.countries,
        drop_other_areas=True,
    )
    write_statxplore_csv(frame, target, title=title, spec=spec)
    return frame


def _name_unconfirmed(exc: StatXploreError, spec: StatXploreQuery) -> StatXploreError:
    """Add the catalogue's unconfirmed ids to an error about an unknown id (HTTP 400/404/422)."""
    if exc.status not in {400, 404, 422} or not spec.unconfirmed:
        return exc
    ids = "; ".join(f"{name} {getattr(spec, name)}" for name in spec.unconfirmed)
    return StatXploreError(
        exc.message,
        url=exc.file,
        status=exc.status,
        retry_after=exc.retry_after,
        hint=f"these ids in canrank's catalogue are inferred, not confirmed: {ids}; look them "
        "up with StatXploreClient().schema() and correct them, or export the table from "
        "Stat-Xplore by hand",
    )


def write_statxplore_csv(
    frame: pd.DataFrame, path: Path, *, title: str, spec: StatXploreQuery
) -> None:
    """Write ``cube_to_frame``'s result in the layout of a Stat-Xplore "Download Table" CSV.

    Title lines, the period header, one ``code : name`` row per LSOA and a footer naming the
    API query, written to ``<name>.part`` and renamed so a partial file never has the name.
    """
    attrs = frame.attrs
    measure = str(attrs.get("measure") or "Claimants")
    geography = str(attrs.get("geography_field") or "Lower Layer Super Output Area")
    period_field = str(attrs.get("period_field") or "Month")
    rows: list[list[str]] = [
        ["Stat-Xplore"],
        [],
        [title],
        [f"{geography} by {period_field}"],
        [f"Counting: {measure}"],
        [],
        ["Filters:"],
        ["Default Summation", measure],
        [],
        [period_field, str(attrs.get("period") or spec.period)],
        [geography],
    ]
    names = frame["lsoa_name"] if "lsoa_name" in frame.columns else None
    for i, code in enumerate(frame["lsoa_code"]):
        name = str(names.iloc[i]) if names is not None else ""
        label = f"{code} : {name}" if name else str(code)
        rows.append([label, _cell(float(frame["claimants"].iloc[i]))])
    rows += [
        [],
        ["Source: Department for Work and Pensions, Stat-Xplore Open Data API"],
        [
            f"Query: database {spec.database}; measure {spec.measure}; geography "
            f"{spec.geography}; {period_field.casefold()} {spec.month_value}"
        ],
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    try:
        with part.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows(rows)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)  # only left over when writing failed


def _cell(value: float) -> str:
    """A claimant count as Stat-Xplore writes it: an integer, or ``..`` when suppressed."""
    if np.isnan(value):
        return ".."
    return str(int(value)) if value.is_integer() else repr(value)
