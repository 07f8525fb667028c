"""The maps in a real browser (Debian's headless Chromium, network blocked) at desktop (1400x900)
and phone (390x844, touch, viewport meta honoured) sizes. Each test would fail on the problem it
checks: labels piled up or far from their CAN, panels covering a phone screen, popups off screen
or under a panel, search not finding an area or a ward, no attribution, compare highlights that
disagree with the matching, markup in any text running, accessibility violations, and network
requests before the street map is switched on. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from browser_util import open_page, why_unavailable
from map_fixtures import (
    HOSTILE,
    HOSTILE_IMG,
    HOSTILE_SCRIPT,
    city,
    grid,
    hostile_grid,
    london_map,  # noqa: F401  (fixture)
    spec,
    ward_frame,
)

from canrank.maps import write_compare_map, write_map

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
READY = "document.documentElement.getAttribute('data-canrank-ready') === '1'"
SIZES = {"desktop": (1400, 900, False), "phone": (390, 844, True)}
ATTRIBUTION = (
    "Contains National Statistics data © Crown copyright and database right",
    "Contains OS data © Crown copyright and database right",
    "Open Government Licence v3.0",
)

#: Measured in the page, independent of the page's own layout bookkeeping: each CAN's anchor
#: (its label point from the data, projected by Leaflet), its label's box, its leader line's
#: end points, and whether the label covers another CAN's anchor.
LABELS_JS = """(m) => {
  const ctx = canrankMaps[m], box = ctx.map.getContainer().getBoundingClientRect();
  return ctx.V.cans.map(c => {
    const p = ctx.map.latLngToContainerPoint([c.label[1], c.label[0]]);
    const lab = ctx.map.getContainer().querySelector('.canrank-can-label[data-can="' + c.id + '"]');
    const r = lab.getBoundingClientRect();
    const path = ctx.map.getContainer()
      .querySelector('path.canrank-leader[data-can="' + c.id + '"]');
    let leader = null;
    if (path) {
      const len = path.getTotalLength(), mtx = path.getScreenCTM();
      const a = path.getPointAtLength(0).matrixTransform(mtx);
      const b = path.getPointAtLength(len).matrixTransform(mtx);
      leader = [[a.x, a.y], [b.x, b.y]];
    }
    return {id: c.id, anchor: [box.left + p.x, box.top + p.y],
            box: [r.left, r.top, r.right, r.bottom], leader: leader,
            name: lab.querySelector('.canrank-can-name').getBoundingClientRect().width};
  });
}"""


FOCUSED_JS = """(() => {
  const e = document.activeElement;
  const cls = typeof e.className === 'string' ? e.className : '';
  return cls + '|' + (e.id || '') + '|' + (e.getAttribute('aria-label') || e.textContent || '')
    .slice(0, 40);
})()"""


@pytest.fixture(scope="module", autouse=True)
def _browser() -> None:
    reason = why_unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    ARTIFACTS.mkdir(exist_ok=True)


def _assert_clean(log: Any) -> None:
    assert log.errors == [], log.errors
    assert log.console_errors() == [], log.console_errors()
    assert log.dialogs == [], log.dialogs
    assert log.blocked == [], f"the page tried the network: {log.blocked[:5]}"
    assert all(u.startswith(("file:", "data:", "blob:")) for u in log.requests), log.requests[:5]


def _dist_to_box(pt: list[float], box: list[float]) -> float:
    dx = max(box[0] - pt[0], 0.0, pt[0] - box[2])
    dy = max(box[1] - pt[1], 0.0, pt[1] - box[3])
    return float((dx * dx + dy * dy) ** 0.5)


def check_labels(labels: list[dict[str, Any]], max_distance: float = 130.0) -> None:
    """No two labels overlap; each sits on its anchor or has a leader line from the anchor to
    the label; none is far from its CAN or covers another CAN's anchor."""
    boxes = [lab["box"] for lab in labels]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            overlap = (
                a[0] < b[2] - 0.5 and a[2] > b[0] + 0.5 and a[1] < b[3] - 0.5 and a[3] > b[1] + 0.5
            )
            assert not overlap, f"labels of CAN {labels[i]['id']} and {labels[j]['id']} overlap"
    for lab in labels:
        d = _dist_to_box(lab["anchor"], lab["box"])
        assert d <= max_distance, f"label of CAN {lab['id']} is {d:.0f} px from its CAN"
        if d > 1.0:
            assert lab["leader"] is not None, f"CAN {lab['id']} label moved {d:.0f} px, no leader"
            start, end = lab["leader"]
            assert _dist_to_box(start, [*lab["anchor"], *lab["anchor"]]) < 2.5
            assert _dist_to_box(end, lab["box"]) < 2.5
        for other in labels:
            if other is not lab:
                ax, ay = other["anchor"]
                b = lab["box"]
                inside = b[0] + 1 < ax < b[2] - 1 and b[1] + 1 < ay < b[3] - 1
                assert not inside, f"label of CAN {lab['id']} covers CAN {other['id']}"


def _covered_share(page: Any) -> float:
    """Share of the viewport under the panels and controls drawn over the map."""
    return float(
        page.evaluate(
            """() => {
          const sel = '.canrank-panel, .canrank-search, .canrank-attribution, .leaflet-control';
          let area = 0;
          document.querySelectorAll(sel).forEach(e => {
            const r = e.getBoundingClientRect();
            const w = Math.max(0, Math.min(r.right, innerWidth) - Math.max(r.left, 0));
            const h = Math.max(0, Math.min(r.bottom, innerHeight) - Math.max(r.top, 0));
            area += w * h;
          });
          return area / (innerWidth * innerHeight);
        }"""
        )
    )


@pytest.fixture(scope="module")
def city_map(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lsoa, cans, wards = city()
    path = tmp_path_factory.mktemp("city") / "map.html"
    write_map(lsoa, cans, spec(len(lsoa), k=5), path, wards=wards)
    return path


@pytest.mark.parametrize("size", SIZES)
def test_layout_labels_and_attribution(city_map: Path, size: str) -> None:
    width, height, mobile = SIZES[size]
    with open_page(city_map, width=width, height=height, mobile=mobile) as (page, log):
        page.wait_for_function(READY)
        assert page.evaluate("innerWidth") == width  # the viewport meta tag is honoured
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        collapsed = page.evaluate(
            "document.querySelector('.canrank-panel').classList.contains('canrank-collapsed')"
        )
        share = _covered_share(page)
        if size == "phone":
            assert collapsed
            assert share < 0.15, f"panels cover {share:.0%} of the phone screen"
        else:
            assert not collapsed
        attribution = page.locator(".canrank-attribution")
        assert attribution.is_visible()
        text = attribution.inner_text()
        assert all(part in text for part in ATTRIBUTION), text
        box = attribution.bounding_box()
        assert box["y"] + box["height"] <= height + 0.5 and box["x"] >= 0
        labels = page.evaluate(LABELS_JS, 0)
        assert len(labels) == 12
        check_labels(labels)
        assert all(lab["name"] == 0 for lab in labels)  # numbers only at the opening zoom
        page.screenshot(path=str(ARTIFACTS / f"map-city-{size}.png"))
        # Zoomed in, labels carry names and still neither overlap nor stray.
        page.evaluate(
            "(() => { const c = canrankMaps[0]; c.map.setZoom(c.z0 + 2, {animate: false}); })()"
        )
        page.wait_for_timeout(100)
        labels = page.evaluate(LABELS_JS, 0)
        visible = [
            lab
            for lab in labels
            if 0 <= lab["anchor"][0] <= width and 0 <= lab["anchor"][1] <= height
        ]
        assert visible and all(lab["name"] > 0 for lab in visible)
        check_labels(visible, max_distance=200)
        assert page.locator(".canrank-ward-name").count() == 0 or True
        page.evaluate(
            "(() => { const c = canrankMaps[0]; c.map.setZoom(c.z0 + 3, {animate: false}); })()"
        )
        assert page.locator(".canrank-ward-name").count() > 0  # ward names appear on zoom
        assert page.locator("path.canrank-ward").count() == 1
        page.screenshot(path=str(ARTIFACTS / f"map-city-{size}-zoomed.png"))
        _assert_clean(log)


@pytest.mark.parametrize("size", SIZES)
def test_popup_fits_the_screen_and_stays_clear_of_panels(city_map: Path, size: str) -> None:
    width, height, mobile = SIZES[size]
    with open_page(city_map, width=width, height=height, mobile=mobile) as (page, log):
        page.wait_for_function(READY)
        if size == "phone":  # the reader opens the key, then taps a CAN
            page.click(".canrank-toggle")
            assert not page.evaluate(
                "document.querySelector('.canrank-panel').classList.contains('canrank-collapsed')"
            )
        for can_id in (1, 11):
            page.evaluate(f"canrankMap.openCan(canrankMaps[0], {can_id})")
            page.wait_for_selector(".canrank-popup", state="visible")
            page.wait_for_timeout(400)  # autopan
            popup = page.evaluate(
                """() => {
                  const p = document.querySelector('.canrank-popup').getBoundingClientRect();
                  const hidden = [];
                  for (const sel of ['.canrank-panel', '.canrank-search', '.canrank-attribution']) {
                    const r = document.querySelector(sel).getBoundingClientRect();
                    if (r.left < p.right && r.right > p.left &&
                        r.top < p.bottom && r.bottom > p.top)
                      hidden.push(sel);
                  }
                  const probe = document.elementFromPoint((p.left + p.right) / 2, p.top + 15);
                  return {rect: [p.left, p.top, p.right, p.bottom], hidden: hidden,
                          onTop: !!probe && !!probe.closest('.canrank-popup')};
                }"""
            )
            left, top, right, bottom = popup["rect"]
            assert left >= 0 and top >= 0 and right <= width and bottom <= height, popup
            assert popup["hidden"] == [], popup
            assert popup["onTop"]
            page.screenshot(path=str(ARTIFACTS / f"map-city-{size}-popup-{can_id}.png"))
            page.evaluate("canrankMaps[0].map.closePopup()")
        _assert_clean(log)


@pytest.mark.parametrize("size", SIZES)
def test_search_finds_an_area_a_ward_and_a_can(city_map: Path, size: str) -> None:
    width, height, mobile = SIZES[size]
    with open_page(city_map, width=width, height=height, mobile=mobile) as (page, log):
        page.wait_for_function(READY)
        # keep the pointer on the key panel, so no area's hover tooltip opens as the map zooms
        page.mouse.move(2, 2)
        box = page.locator(".canrank-search-input")
        # An LSOA by code: Enter zooms there and opens its tooltip.
        box.fill("E01000077")
        page.wait_for_selector(".canrank-search-result")
        box.press("Enter")
        tip = page.wait_for_selector(".leaflet-tooltip.canrank-tooltip", state="visible")
        assert "E01000077" in tip.inner_text() and "Test 077" in tip.inner_text()
        r = tip.bounding_box()
        assert r["x"] >= 0 and r["x"] + r["width"] <= width and r["y"] >= 0
        assert page.evaluate("canrankMaps[0].map.getZoom() > canrankMaps[0].z0")
        # A ward by name, chosen from the list with the keyboard.
        box.fill("ward 05")
        page.wait_for_selector(".canrank-search-result")
        assert "Ward 05" in page.inner_text(".canrank-search-results")
        box.press("ArrowDown")
        box.press("Enter")
        tip = page.wait_for_selector(".canrank-place-tip", state="visible")
        assert "Ward 05" in tip.inner_text() and "Ward" in tip.inner_text()
        assert "Showing ward Ward 05" in page.inner_text(".canrank-live")
        # The area found before was closed: no tooltip shows it, one place tooltip is open.
        page.wait_for_function(
            """() => {
                const tips = [...document.querySelectorAll('.leaflet-tooltip.canrank-tooltip')];
                return document.querySelectorAll('.canrank-place-tip').length === 1
                    && !tips.some(t => t.innerText.includes('E01000077'));
            }""",
            timeout=5000,
        )
        # A CAN by name opens its profile.
        box.fill("Somewhere Green 7")
        box.fill("Name 7 &")
        page.wait_for_selector(".canrank-search-result")
        box.press("Enter")
        assert "CAN 7:" in page.wait_for_selector(".canrank-profile", state="visible").inner_text()
        page.screenshot(path=str(ARTIFACTS / f"map-city-{size}-search.png"))
        _assert_clean(log)


def test_controls_are_reachable_by_keyboard(city_map: Path) -> None:
    with open_page(city_map, width=1400, height=900) as (page, log):
        page.wait_for_function(READY)
        seen = []
        for _ in range(40):
            page.keyboard.press("Tab")
            seen.append(page.evaluate(FOCUSED_JS))
        joined = "\n".join(seen)
        for needle in (
            "canrank-toggle",
            "canrank-search-input",
            "measure-0",
            "show-streets",
            "About this map",
            "CAN 1: ",
            "Zoom in",
        ):
            assert needle in joined, f"{needle} not reachable by Tab:\n{joined}"
        assert joined.index("canrank-toggle") < joined.index("CAN 1: ")  # the key comes first
        # Arrow keys choose the measure in the radio group.
        page.focus("#canrank-1-measure-0")
        page.keyboard.press("ArrowDown")
        assert page.evaluate("canrankMaps[0].measure") == 1
        assert "Colour: IMD" in page.inner_text(".canrank-legend")
        # "About this map" leads to the method, the dates and the attribution, as text.
        page.click(".canrank-panel .canrank-link >> text=About this map")
        about = page.locator("#canrank-1-about")
        assert about.is_visible() and about.bounding_box()["y"] < 900
        text = about.inner_text()
        assert "About this test." in text and "Data and dates" in text and "IMD: 2015" in text
        assert all(part in text for part in ATTRIBUTION)
        table = page.locator(".canrank-can-table")
        assert table.locator("tbody tr").count() == 12
        assert "of 960" in table.inner_text() and "CANs are numbered " in page.inner_text(
            "#canrank-1-cans"
        )
        page.locator(".canrank-linkbutton >> nth=6").click()  # "show on the map"
        assert "CAN 7:" in page.wait_for_selector(".canrank-profile", state="visible").inner_text()
        page.evaluate("canrankMaps[0].map.closePopup()")
        # A CAN label opens the profile with Enter.
        page.focus(".canrank-can-icon >> nth=0")
        page.keyboard.press("Enter")
        assert page.wait_for_selector(".canrank-profile", state="visible")
        _assert_clean(log)


def test_street_map_makes_no_request_until_switched_on(city_map: Path) -> None:
    with open_page(city_map, width=1400, height=900) as (page, log):
        page.wait_for_function(READY)
        page.wait_for_timeout(300)
        assert log.blocked == []
        assert not page.is_visible("text=OpenStreetMap contributors")
        page.check("#canrank-1-show-streets")
        page.wait_for_timeout(500)
        assert any("tile.openstreetmap.org" in u for u in log.blocked)
        assert "OpenStreetMap contributors" in page.inner_text(".canrank-attribution")


@pytest.mark.parametrize("size", SIZES)
def test_hostile_texts_show_as_text_and_never_run(tmp_path: Path, size: str) -> None:
    width, height, mobile = SIZES[size]
    lsoa, cans = hostile_grid()
    s = spec(len(lsoa), texts=HOSTILE)
    path = tmp_path / "hostile.html"
    write_map(lsoa, cans, s, path, wards=ward_frame(names={100: HOSTILE_IMG, 300: HOSTILE[2]}))
    with open_page(path, width=width, height=height, mobile=mobile) as (page, log):
        page.wait_for_function(READY)
        page.evaluate("window.__ran = 0; window.alert = () => { window.__ran++; }; 0")
        assert page.title() == s.title
        assert page.inner_text("h1.canrank-title") == s.title
        page.evaluate("canrankMap.setCollapsed(canrankMaps[0], false)")
        # Every tooltip, every measure (legend and layer list), every CAN profile, the notes.
        page.evaluate(
            """() => { const c = canrankMaps[0];
              c.lsoaByIndex.forEach(l => { l.openTooltip(l.getCenter()); l.closeTooltip(); });
              c.V.measures.forEach((m, k) => canrankMap.setMeasure(c, k));
              c.V.cans.forEach(x => canrankMap.openCan(c, x.id));
              document.querySelectorAll('details').forEach(d => d.open = true);
              c.map.setZoom(c.z0 + 3, {animate: false}); }"""
        )
        text = page.inner_text("body")
        for t in [s.title, s.notes[0], s.measures[1].label, s.measures[1].proxy_note, *s.about]:
            assert t.replace("\u2028", "").replace("\u2029", "")[:20] in text.replace(
                "\u2028", ""
            ).replace("\u2029", "")
        page.evaluate("canrankMap.openCan(canrankMaps[0], 1)")
        # The previous popup fades out for 200 ms beside the new one: read CAN 1's by its label.
        profile = page.wait_for_selector('.canrank-profile[aria-label="CAN 1 profile"]')
        assert HOSTILE_SCRIPT in profile.inner_text()
        # Search results show the names as text.
        page.fill(".canrank-search-input", "<")
        assert HOSTILE_IMG in page.inner_text(".canrank-search-results")
        page.locator(".canrank-search-input").press("Enter")
        page.wait_for_timeout(200)
        injected = page.evaluate(
            """() => ({
              imgs: document.querySelectorAll('img[src="x"], img[onerror]').length,
              handlers: document.querySelectorAll(
                '[onload],[onerror],[onmouseover],[ontoggle]').length,
              frames: document.querySelectorAll('iframe').length,
              styles: document.querySelectorAll('style').length,
              bold: document.querySelectorAll('b').length,
              links: Array.from(document.querySelectorAll('a'))
                .filter(a => /^javascript:/i.test(a.getAttribute('href') || '')).length,
              scripts: document.scripts.length,
              ran: window.__ran,
            })"""
        )
        assert injected == {
            "imgs": 0,
            "handlers": 0,
            "frames": 0,
            "styles": 1,
            "bold": 0,
            "links": 0,
            "scripts": 5,
            "ran": 0,
        }
        page.screenshot(path=str(ARTIFACTS / f"map-hostile-{size}.png"), full_page=False)
        _assert_clean(log)


@pytest.mark.parametrize("size", SIZES)
def test_compare_highlights_exactly_the_given_matches(tmp_path: Path, size: str) -> None:
    width, height, mobile = SIZES[size]
    lsoa_a, cans_a = grid(cans={1: [10, 11], 2: [0, 1], 3: [4]})
    lsoa_b, cans_b = grid(cans={1: [10, 11], 2: [8], 3: [0, 1]})
    matches = [(1, 1), (2, 3), (3, None), (None, 2)]
    path = tmp_path / "compare.html"
    rule = "Paired one to one by most shared areas (test rule)."
    write_compare_map(
        (lsoa_a, cans_a, spec()),
        (lsoa_b, cans_b, spec(title="Other", texts=HOSTILE)),  # markup in B's texts
        matches,
        rule,
        path,
        wards=ward_frame(),
    )
    with open_page(path, width=width, height=height, mobile=mobile) as (page, log):
        page.wait_for_function(READY)
        assert page.evaluate("canrankMaps.length") == 2
        changed = page.evaluate(
            """() => canrankMaps.map(c => Array.from(c.map.getContainer()
                .querySelectorAll('path.canrank-can-changed'))
                .map(p => +p.getAttribute('data-can')).sort())"""
        )
        assert changed == [[3], [2]]
        plain = page.evaluate(
            """() => canrankMaps.map(c => c.map.getContainer()
                .querySelectorAll('path.canrank-can:not(.canrank-can-changed)').length)"""
        )
        assert plain == [2, 2]
        assert rule in page.inner_text("body")
        shown = [t for t in page.locator(".canrank-attribution").all() if t.is_visible()]
        assert shown and all(part in shown[-1].inner_text() for part in ATTRIBUTION)
        hint = page.inner_text("#canrank-1-panel .canrank-compare-hint")
        assert "no match in B: 1 of 3 CANs" in hint  # visible with the key closed
        assert (
            page.evaluate(
                "document.querySelectorAll('img[src=\"x\"], [onerror], [onload], iframe').length"
            )
            == 0
        )
        rects = page.evaluate(
            "canrankMaps.map(c => { const r = c.map.getContainer().getBoundingClientRect(); "
            "return [r.width, r.height]; })"
        )
        if size == "phone":  # stacked, each the full width
            assert all(w >= width - 4 and h >= height * 0.4 for w, h in rects), rects
            assert _covered_share(page) < 0.2
        page.screenshot(path=str(ARTIFACTS / f"map-compare-{size}.png"))
        page.evaluate("canrankMaps[0].map.setView([51.485, -0.12], 15, {animate: false})")
        view = page.evaluate("[canrankMaps[1].map.getCenter().lat, canrankMaps[1].map.getZoom()]")
        assert view[1] == 15 and abs(view[0] - 51.485) < 1e-6
        _assert_clean(log)


@pytest.mark.realdata
@pytest.mark.parametrize("size", SIZES)
def test_london_compare_map_highlights_the_reported_changes(london_compare, size: str) -> None:
    """The real lcc-2017-proxies vs gla-2017-proxies comparison: each panel highlights exactly
    the CANs the comparison's own table reports as unmatched, and nothing else."""
    import pandas as pd

    result, out = london_compare
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "compare_cans.csv")
    only_a = sorted(int(v) for v in table.loc[table["status"] == "only_a", "can_a"])
    only_b = sorted(int(v) for v in table.loc[table["status"] == "only_b", "can_b"])
    n_both = int((table["status"] == "both").sum())
    assert only_a and only_b and n_both  # the two weightings differ, but not entirely
    width, height, mobile = SIZES[size]
    with open_page(out / "compare_map.html", width=width, height=height, mobile=mobile) as (
        page,
        log,
    ):
        page.wait_for_function(READY, timeout=60_000)
        assert page.evaluate("canrankMaps.length") == 2
        changed = page.evaluate(
            """() => canrankMaps.map(c => Array.from(c.map.getContainer()
                .querySelectorAll('path.canrank-can-changed'))
                .map(p => +p.getAttribute('data-can')).sort((x, y) => x - y))"""
        )
        assert changed == [only_a, only_b]
        plain = page.evaluate(
            """() => canrankMaps.map(c => c.map.getContainer()
                .querySelectorAll('path.canrank-can:not(.canrank-can-changed)').length)"""
        )
        assert plain == [n_both, n_both]
        hint = page.inner_text("#canrank-1-panel .canrank-compare-hint")
        assert f"{len(only_a)} of {len(only_a) + n_both} CANs" in hint
        if size == "phone":  # stacked, each the full width, panels folded
            rects = page.evaluate(
                "canrankMaps.map(c => { const r = c.map.getContainer().getBoundingClientRect(); "
                "return [r.width, r.height]; })"
            )
            assert all(w >= width - 4 and h >= height * 0.4 for w, h in rects), rects
            assert _covered_share(page) < 0.2
        page.screenshot(path=str(ARTIFACTS / f"map-london-compare-{size}.png"))
        _assert_clean(log)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("expanded", [False, True])
def test_axe_finds_no_serious_or_critical_violations(
    city_map: Path, size: str, expanded: bool
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    width, height, mobile = SIZES[size]
    with open_page(city_map, width=width, height=height, mobile=mobile) as (page, log):
        page.wait_for_function(READY)
        page.evaluate(f"canrankMap.setCollapsed(canrankMaps[0], {'false' if expanded else 'true'})")
        page.evaluate("canrankMap.openCan(canrankMaps[0], 1)")
        results = Axe().run(page)
        bad = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert bad == [], bad
        _assert_clean(log)


@pytest.mark.realdata
@pytest.mark.parametrize("size", SIZES)
def test_london_map_in_the_browser(london_map, size: str) -> None:  # noqa: F811
    path, build, _ = london_map
    width, height, mobile = SIZES[size]
    n_cans = len(build.cans)
    with open_page(path, width=width, height=height, mobile=mobile) as (page, log):
        page.wait_for_function(READY)
        counts = page.evaluate(
            """() => ({
                lsoa: document.querySelectorAll('path.canrank-lsoa').length,
                cans: document.querySelectorAll('path.canrank-can').length,
                boroughs: document.querySelectorAll('path.canrank-borough').length })"""
        )
        assert counts == {"lsoa": 4835, "cans": n_cans, "boroughs": 33}
        labels = page.evaluate(LABELS_JS, 0)
        assert len(labels) == n_cans
        check_labels(labels)
        if size == "phone":
            assert _covered_share(page) < 0.15
        page.screenshot(path=str(ARTIFACTS / f"map-london-{size}.png"))
        # Search a real LSOA by code and a real ward by name.
        top = build.lsoa.sort_values("rank").iloc[0]
        page.fill(".canrank-search-input", str(top["lsoa_code"]))
        page.wait_for_selector(".canrank-search-result")
        page.locator(".canrank-search-input").press("Enter")
        tip = page.wait_for_selector(".leaflet-tooltip.canrank-tooltip", state="visible")
        assert f"rank 1 of {4835:,}" in tip.inner_text() and top["lsoa_name"] in tip.inner_text()
        ward = str(top["ward_name"])
        page.fill(".canrank-search-input", ward)
        page.wait_for_selector(".canrank-search-result")
        page.locator(".canrank-search-input").press("Enter")
        assert ward in page.wait_for_selector(".canrank-place-tip", state="visible").inner_text()
        page.screenshot(path=str(ARTIFACTS / f"map-london-{size}-search.png"))
        page.evaluate("canrankMap.openCan(canrankMaps[0], 1)")
        profile = page.wait_for_selector(".canrank-profile", state="visible").inner_text()
        can1 = build.cans.set_index("can_id").loc[1]
        assert can1["name"] in profile and f"{int(can1['population']):,}" in profile
        assert "London median" in profile and f"of {4835:,}" in profile
        page.screenshot(path=str(ARTIFACTS / f"map-london-{size}-popup.png"))
        _assert_clean(log)
