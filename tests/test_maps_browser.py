"""The maps in a real browser (headless Chromium, network blocked): they draw every LSOA and CAN,
show tooltips and profiles, restyle per indicator, never run injected script, and fetch
nothing. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from browser_util import open_page, why_unavailable
from map_fixtures import HOSTILE_IMG, HOSTILE_SCRIPT, hostile_grid
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from canrank.maps.interactive import make_map, save_map

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
READY = (
    "window.canrankMaps && window.canrankMaps.length >= {n} && "
    "document.querySelectorAll('path.canrank-lsoa').length > 0"
)


@pytest.fixture(scope="module", autouse=True)
def _browser() -> None:
    reason = why_unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    ARTIFACTS.mkdir(exist_ok=True)


def _assert_clean(log) -> None:
    assert log.errors == [], log.errors
    assert log.console_errors() == [], log.console_errors()
    assert log.dialogs == [], log.dialogs
    assert log.blocked == [], f"the page tried the network: {log.blocked[:5]}"
    assert all(u.startswith(("file:", "data:", "blob:")) for u in log.requests), log.requests[:5]


def _inside(frame, code: str) -> list[float]:
    """A (lat, lon) point inside an LSOA of ``frame``."""
    return _inside_points(frame, code)[0]


def _inside_points(frame, code: str, n: int = 6) -> list[list[float]]:
    """Several (lat, lon) points well inside an LSOA (a CAN label may cover any one of them)."""
    geom = frame.set_index("lsoa_code").geometry.to_crs(27700).loc[code]
    core = geom.buffer(-20) if not geom.buffer(-20).is_empty else geom
    points = [core.representative_point()]
    minx, miny, maxx, maxy = core.bounds
    for fx, fy in [(0.3, 0.3), (0.7, 0.7), (0.3, 0.7), (0.7, 0.3), (0.5, 0.2), (0.5, 0.8)]:
        p = shapely.Point(minx + fx * (maxx - minx), miny + fy * (maxy - miny))
        if core.contains(p):
            points.append(p)
    wgs = gpd.GeoSeries(points[:n], crs=27700).to_crs(4326)
    return [[p.y, p.x] for p in wgs]


def _hover_any(page, frame, code: str, map_index: int = 0) -> str:
    """Hover points inside LSOA ``code`` until its tooltip appears; return the tooltip's text."""
    points = _inside_points(frame, code)
    for latlon in points[:-1]:
        try:
            return _hover(page, latlon, code, map_index, timeout=5_000)
        except PlaywrightTimeout:
            page.mouse.move(1, 1)
    return _hover(page, points[-1], code, map_index)


def _hover(
    page, latlon: list[float], code: str, map_index: int = 0, timeout: float = 60_000
) -> str:
    """Centre the map on a point inside LSOA ``code``, hover there, return the tooltip's text."""
    point = page.evaluate(
        """([m, ll]) => {
            const ctx = canrankMaps[m];
            ctx.map.setView(ll, 15, {animate: false});
            const box = ctx.map.getContainer().getBoundingClientRect();
            const p = ctx.map.latLngToContainerPoint(ll);
            return [box.left + p.x, box.top + p.y];
        }""",
        [map_index, latlon],
    )
    page.mouse.move(point[0] - 4, point[1] - 4)
    page.mouse.move(point[0], point[1], steps=4)
    handle = page.wait_for_function(
        "code => Array.from(document.querySelectorAll('.leaflet-tooltip.canrank-tooltip'))"
        ".find(t => t.textContent.includes(code))",
        arg=code,
        timeout=timeout,
    )
    return handle.as_element().inner_text()


def test_hostile_names_show_as_text_and_never_run(tmp_path: Path) -> None:
    lsoa, cans = hostile_grid()
    path = tmp_path / "hostile.html"
    save_map(
        make_map(
            lsoa, cans, title=f"Title {HOSTILE_IMG}", indicator_fields=[("imd_value", "IMD")], k=3
        ),
        path,
    )
    with open_page(path, width=900, height=700) as (page, log):
        page.wait_for_function(READY.format(n=1))
        for name in (HOSTILE_IMG, HOSTILE_SCRIPT):
            code = lsoa.loc[lsoa["lsoa_name"] == name, "lsoa_code"].iloc[0]
            text = _hover(page, _inside(lsoa, code), code)
            assert name in text
        # The CAN named with a script tag: label and profile show the text.
        labels = page.evaluate(
            "Array.from(document.querySelectorAll('.canrank-can-label')).map(e => e.textContent)"
        )
        assert any(HOSTILE_SCRIPT in t for t in labels)
        page.evaluate("canrankMap.openCan(canrankMaps[0], 1, canrankMaps[0].map.getCenter())")
        popup = page.wait_for_selector(".canrank-profile", state="visible").inner_text()
        assert HOSTILE_SCRIPT in popup
        assert HOSTILE_IMG in page.inner_text(".canrank-title")
        # No element was created from the names: the only images are Leaflet's own.
        assert (
            page.evaluate("document.querySelectorAll('img[src=\"x\"], img[onerror]').length") == 0
        )
        # ... and no script element beyond those written in the file.
        assert page.evaluate("document.scripts.length") == path.read_text().count("<script")
        page.wait_for_timeout(200)
        page.screenshot(path=str(ARTIFACTS / "map-hostile.png"))
        _assert_clean(log)


@pytest.mark.realdata
def test_london_map_renders_offline(london_build) -> None:
    path = london_build.out_dir / "map.html"
    with open_page(path) as (page, log):
        page.wait_for_function(READY.format(n=1))
        counts = page.evaluate(
            """() => ({
                lsoaPaths: document.querySelectorAll('path.canrank-lsoa').length,
                drawn: Array.from(document.querySelectorAll('path.canrank-lsoa'))
                    .filter(p => (p.getAttribute('d') || '').length > 10).length,
                lsoaLayers: canrankMaps[0].layers.lsoa.getLayers().length,
                canPaths: document.querySelectorAll('path.canrank-can').length,
                canLayers: canrankMaps[0].layers.cans.getLayers().length,
                boroughPaths: document.querySelectorAll('path.canrank-borough').length,
                labels: Array.from(document.querySelectorAll('.canrank-can-label'))
                    .filter(e => e.getBoundingClientRect().width > 0).map(e => e.textContent),
            })"""
        )
        assert counts["lsoaPaths"] == counts["lsoaLayers"] == 4835
        assert counts["drawn"] == 4835  # every LSOA is in view at the opening zoom
        assert counts["canPaths"] == counts["canLayers"] == 15
        assert counts["boroughPaths"] == 33
        names = set(london_build.cans["name"])
        assert len(counts["labels"]) == 15
        assert all(any(n in lab for lab in counts["labels"]) for n in names)
        # Labels were moved apart: no two overlap.
        overlaps = page.evaluate(
            """() => {
                const r = Array.from(document.querySelectorAll('.canrank-can-label'))
                    .map(e => e.getBoundingClientRect());
                let n = 0;
                for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++)
                    if (r[i].left < r[j].right && r[i].right > r[j].left &&
                        r[i].top < r[j].bottom && r[i].bottom > r[j].top) n++;
                return n;
            }"""
        )
        assert overlaps == 0
        page.screenshot(path=str(ARTIFACTS / "map-london.png"))
        legend = page.inner_text(".canrank-legend")
        assert "Composite score" in legend and "Data reference dates" in legend
        assert "uses proxies" in page.inner_text(".canrank-title")

        # Restyle by an indicator through the layer control (radio buttons).
        before = page.evaluate(
            "canrankMaps[0].layers.lsoa.getLayers().map(l => l.options.fillColor)"
        )
        page.hover(".leaflet-control-layers")  # a collapsed control opens on hover
        radios = page.locator(".leaflet-control-layers-base input[type=radio]")
        assert radios.count() == 1 + len(london_build.study.scenario.indicators)
        radios.nth(2).check()
        after = page.evaluate(
            "canrankMaps[0].layers.lsoa.getLayers().map(l => l.options.fillColor)"
        )
        assert before != after
        assert page.evaluate("canrankMaps[0].measure") == 2
        page.mouse.click(5, 500)

        # Tooltip on the most stressed LSOA, and the CAN profile on click.
        top = london_build.lsoa.sort_values("rank").iloc[0]
        text = _hover_any(page, london_build.lsoa, top["lsoa_code"])
        assert top["lsoa_name"] in text and top["lsoa_code"] in text
        assert top["borough_name"] in text and "rank 1 of 4835" in text
        page.screenshot(path=str(ARTIFACTS / "map-london-tooltip.png"))
        page.evaluate("canrankMap.openCan(canrankMaps[0], 1, canrankMaps[0].map.getCenter())")
        profile = page.wait_for_selector(".canrank-profile", state="visible").inner_text()
        can1 = london_build.cans.set_index("can_id").loc[1]
        assert can1["name"] in profile and f"{int(can1['population']):,}" in profile
        assert "London median" in profile
        _assert_clean(log)


@pytest.mark.realdata
@pytest.mark.slow
def test_compare_map_is_synchronised_and_offline(london_build, mirror, tmp_path: Path) -> None:
    from canrank.maps.compare import changed_cans, compare_map
    from canrank.pipeline import build

    from conftest import CONFIG

    other = build(
        CONFIG, scenario="gla-2017-proxies", mirror=mirror, raw_dir=tmp_path / "raw", write=False
    )
    path = tmp_path / "compare.html"
    save_map(compare_map(london_build, other), path)
    changed_a, changed_b = changed_cans(london_build, other)
    with open_page(path, width=1600, height=900) as (page, log):
        page.wait_for_function(READY.format(n=2))
        assert page.evaluate("document.querySelectorAll('path.canrank-lsoa').length") == 2 * 4835
        assert page.evaluate("document.querySelectorAll('path.canrank-can-changed').length") == len(
            changed_a
        ) + len(changed_b)
        page.evaluate("canrankMaps[0].map.setView([51.53, -0.08], 13, {animate: false})")
        view = page.evaluate("[canrankMaps[1].map.getCenter(), canrankMaps[1].map.getZoom()]")
        assert view[1] == 13
        assert view[0]["lat"] == pytest.approx(51.53, abs=1e-6)
        page.screenshot(path=str(ARTIFACTS / "map-compare.png"))
        _assert_clean(log)
