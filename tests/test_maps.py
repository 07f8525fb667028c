"""The map package without a browser: coverage geometry, encoding, escaping, palettes, pinned
Leaflet, determinism, the spec, the static PNG/PDF and the comparison page's data."""

from __future__ import annotations

import hashlib
import html
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
import shapely.affinity
from map_fixtures import (
    HOSTILE,
    HOSTILE_IMG,
    HOSTILE_SCRIPT,
    grid,
    hostile_grid,
    london_map,  # noqa: F401  (fixture)
    spec,
    ward_frame,
)

from canrank.errors import ConfigError, InputError
from canrank.maps import MapSpec, MeasureInfo, write_map
from canrank.maps import assets as assets_mod
from canrank.maps import geometry as geo
from canrank.maps.compare import compare_page
from canrank.maps.interactive import map_page
from canrank.maps.page import check_offline
from canrank.maps.palettes import class_breaks, colours
from canrank.maps.payload import script_json

MAX_LONDON_BYTES = 5_000_000
REPO = Path(__file__).resolve().parents[1]


def _json_blocks(page: str) -> dict[str, object]:
    blocks = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', page, re.S)
    return {k: json.loads(v) for k, v in blocks}


def _decode(ring: list[int]) -> np.ndarray:
    return np.cumsum(np.asarray(ring, dtype=np.int64).reshape(-1, 2), axis=0) * geo.QUANTUM


def test_build_coverage_makes_neighbours_share_vertices() -> None:
    lsoa, _ = grid()
    raw = lsoa.geometry.to_numpy()
    assert not shapely.coverage_is_valid(raw)  # the fixture's edges do not share vertices
    cov = geo.build_coverage(raw)
    assert shapely.coverage_is_valid(cov)
    np.testing.assert_allclose(shapely.area(cov), shapely.area(raw), rtol=1e-6)


def test_simplified_coverage_has_no_gaps_or_overlaps() -> None:
    rng = np.random.default_rng(1)
    xs = np.linspace(0, 1000, 60)
    ys = 500 + rng.normal(0, 15, len(xs))
    line = list(zip(xs, ys, strict=True))
    a = shapely.Polygon([(0, 0), (1000, 0), *line[::-1]])
    b = shapely.Polygon([*line, (1000, 1000), (0, 1000)])
    simp = geo.simplify_coverage(geo.build_coverage(np.array([a, b], dtype=object)), 20)
    assert shapely.get_num_coordinates(simp).sum() < shapely.get_num_coordinates([a, b]).sum()
    assert shapely.intersection(simp[0], simp[1]).area < 1e-6
    assert shapely.union_all(simp).area == pytest.approx(1_000_000, rel=1e-9)


def test_encode_round_trips_to_quantised_coordinates() -> None:
    poly = shapely.Polygon([(-0.1, 51.5), (-0.09, 51.5), (-0.09, 51.51), (-0.1, 51.51)])
    enc = geo.encode(poly)
    assert len(enc) == 1 and len(enc[0]) == 1
    np.testing.assert_allclose(
        _decode(enc[0][0]), np.asarray(poly.exterior.coords)[:-1], atol=geo.QUANTUM
    )


def test_encode_many_equals_encode_one_by_one() -> None:
    """The vectorised encoder writes exactly what the plain one writes, odd shapes included."""
    rng = np.random.default_rng(3)
    shapes: list[shapely.Geometry | None] = []
    for _ in range(40):  # jittered polygons, some with holes, some in several parts
        x, y = rng.uniform(-0.5, 0.5), rng.uniform(51.2, 51.7)
        segs = int(rng.integers(1, 9))
        outer = shapely.Point(x, y).buffer(rng.uniform(1e-4, 1e-2), quad_segs=segs)
        if rng.random() < 0.3:
            outer = outer.difference(shapely.Point(x, y).buffer(5e-5))
        if rng.random() < 0.3:
            outer = shapely.union_all([outer, shapely.box(x + 0.02, y, x + 0.021, y + 0.001)])
        shapes.append(outer)
    shapes += [
        None,
        shapely.Polygon(),
        shapely.box(0, 0, 2e-6, 2e-6),  # collapses below three quantised vertices
        shapely.box(0, 0, 1, 1).difference(shapely.box(0.4, 0.4, 0.400002, 0.400002)),
        shapely.Polygon([(0, 0), (1e-6, 0), (1, 0), (1, 1), (1, 1), (0, 1)]),  # repeated vertex
        shapely.LineString([(0, 0), (1, 1)]),  # not a polygon: the plain encoder's answer
    ]
    arr = np.array(shapes, dtype=object)
    assert geo.encode_many(arr) == [geo.encode(g) for g in arr]


def test_coverage_test_tells_a_coverage_from_loose_neighbours() -> None:
    """The quick test only ever says "not a coverage" when the areas share few vertices."""
    boxes = np.array([shapely.box(i, j, i + 1, j + 1) for i in range(10) for j in range(10)],
                     dtype=object)
    assert shapely.coverage_is_valid(boxes)
    assert not geo._surely_not_coverage(boxes)
    rng = np.random.default_rng(0)
    loose = np.array([shapely.affinity.translate(b, *rng.normal(0, 1e-3, 2)) for b in boxes],
                     dtype=object)
    assert geo._surely_not_coverage(loose)
    assert not shapely.coverage_is_valid(loose)


def test_coverage_is_computed_once_per_content() -> None:
    lsoa, _ = grid()
    raw = lsoa.geometry.to_numpy()
    first = geo.coverage(raw, 5.0)
    again = geo.coverage(np.array([shapely.from_wkb(shapely.to_wkb(g)) for g in raw]), 5.0)
    assert again is first  # the same content: the memoised result
    expected = geo.simplify_coverage(geo.build_coverage(raw), 5.0)
    assert all(a.equals_exact(b, 0) for a, b in zip(first, expected, strict=True))
    assert geo.coverage(raw, 6.0) is not first  # another tolerance is another coverage


def test_inner_point_is_inside_a_concave_shape() -> None:
    ell = shapely.box(0, 0, 1000, 100).union(shapely.box(0, 0, 100, 1000))
    p = geo.inner_point(ell)
    assert ell.contains(p)
    assert ell.centroid.distance(p) > 0  # the centroid of an L lies outside it
    assert not ell.contains(ell.centroid)


@pytest.mark.parametrize("text", HOSTILE)
def test_script_json_cannot_close_the_script_element(text: str) -> None:
    out = script_json({"name": text, "x": "a & b\u2028"})
    assert "<" not in out and ">" not in out and "&" not in out
    assert "\u2028" not in out and "\u2029" not in out
    assert json.loads(out)["name"] == text


@pytest.mark.parametrize("k", range(2, 11))
@pytest.mark.parametrize("palette", ["YlOrRd", "PuBu", "Purples", "viridis"])
def test_palettes_are_exact_and_distinct_for_every_class_count(palette: str, k: int) -> None:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    got = colours(palette, k)
    assert len(got) == k and len(set(got)) == k
    cmap = colormaps[palette].resampled(k)
    assert got == tuple(to_hex(cmap(j)) for j in range(k))


YLORRD9 = (
    "#ffffcc",
    "#ffeda0",
    "#fed976",
    "#feb24c",
    "#fd8d3c",
    "#fc4e2a",
    "#e31a1c",
    "#bd0026",
    "#800026",
)


@pytest.mark.parametrize("k", [2, 3, 5, 9])
def test_colorbrewer_class_counts_that_fit_are_exact_colorbrewer_colours(k: int) -> None:
    # k colours evenly spaced over the 9-class set land on its members when 8 / (k - 1) is whole.
    assert colours("YlOrRd", k) == tuple(YLORRD9[j * 8 // (k - 1)] for j in range(k))


def test_unknown_palette_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        colours("YlOrRdd", 5)
    assert "YlOrRd" in str(info.value)  # the close match is suggested
    with pytest.raises(ConfigError):
        spec(palette="NoSuchPalette")


def test_quantile_breaks_are_numpy_quantiles_without_mapclassify() -> None:
    vals = np.random.default_rng(0).gamma(2, 1, 1000)
    bins = class_breaks(vals, "quantiles", 5)
    np.testing.assert_allclose(bins, np.quantile(vals, [0.2, 0.4, 0.6, 0.8, 1.0]))
    code = (
        "import sys, numpy as np\n"
        "from canrank.maps.palettes import class_breaks\n"
        "class_breaks(np.arange(10.0), 'quantiles', 5)\n"
        "import canrank.maps, canrank.maps.interactive\n"
        "bad = [m for m in ('mapclassify', 'folium', 'matplotlib.pyplot') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _page(lsoa, cans, s=None, **kw) -> str:
    return map_page(lsoa, cans, s or spec(len(lsoa)), **kw).text


def test_page_is_self_contained_responsive_and_attributed() -> None:
    lsoa, cans = grid()
    page = _page(lsoa, cans, boroughs=None, wards=ward_frame())
    check_offline(page)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert '<html lang="en">' in page
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page)
    for lib in ("jquery", "bootstrap", "font-awesome", "cdn.", "unpkg", "jsdelivr"):
        assert lib not in page.lower()
    view = _json_blocks(page)["canrank-view-1"]
    assert "Crown copyright and database right 2024" in view["attribution"]
    assert "Open Government Licence v3.0" in view["attribution"]
    assert "OS data" in view["attribution"]
    assert [m["key"] for m in view["measures"]] == ["score", "imd"]
    assert view["n"] == 12 and len(view["cans"]) == 2
    geom = _json_blocks(page)["canrank-geometry"]
    assert sorted(geom["wards"]["name"]) == ["Ward 01", "Ward 02", "Ward 03", "Ward Alpha"]
    assert all(w >= 0 for w in geom["lsoa"]["ward"])


def test_hostile_texts_appear_only_as_escaped_data(tmp_path: Path) -> None:
    lsoa, cans = hostile_grid()
    path = tmp_path / "map.html"
    write_map(
        lsoa,
        cans,
        spec(len(lsoa), texts=HOSTILE),
        path,
        wards=ward_frame(names={100: HOSTILE_IMG, 300: HOSTILE_IMG}),
    )
    page = path.read_text(encoding="utf-8")
    check_offline(page)
    head = page.split("</head>")[0]
    title = re.search(r"<title>(.*?)</title>", head, re.S)
    assert title and html.unescape(title.group(1)).startswith("Test map " + HOSTILE[0])
    # Outside the inline assets, no hostile text appears raw; all are in the JSON data.
    body = page.split('<script type="application/json"', 1)[1].split("<script>", 1)[0]
    for text in HOSTILE:
        assert text not in body or "<" not in text
    assert page.count("<script") == 5 and page.count("</script>") == 5
    data = _json_blocks(page)
    assert HOSTILE_IMG in data["canrank-geometry"]["lsoa"]["name"]
    assert HOSTILE_SCRIPT in data["canrank-geometry"]["lsoa"]["name"]
    assert HOSTILE_IMG in data["canrank-geometry"]["boroughs"]["name"]
    assert HOSTILE_IMG in data["canrank-geometry"]["wards"]["name"]
    assert any(c["name"] == HOSTILE_SCRIPT for c in data["canrank-view-1"]["cans"])
    assert data["canrank-view-1"]["measures"][1]["label"] == "IMD " + HOSTILE[4]


def test_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    lsoa, cans = grid()
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    write_map(lsoa, cans, spec(), a, wards=ward_frame())
    write_map(lsoa.sample(frac=1, random_state=3), cans, spec(), b, wards=ward_frame())
    assert a.read_bytes() == b.read_bytes()


def test_leaflet_is_the_pinned_release() -> None:
    folder = assets_mod.find_leaflet()
    for name, digest in assets_mod.LEAFLET_SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    css = assets_mod.load_assets().leaflet_css
    assert "url(images/" not in css and "data:image/png;base64," in css
    assert "Leaflet 1.9.4" in assets_mod.load_assets().leaflet_js[:200]


def test_a_different_leaflet_is_refused(tmp_path: Path) -> None:
    (tmp_path / "leaflet.js").write_text("/* not the pinned one */\n")
    (tmp_path / "leaflet.css").write_text("")
    with pytest.raises(assets_mod.AssetsError) as info:
        assets_mod.find_leaflet(tmp_path)
    assert "django-js-lib-leaflet==1.9.4.1" in str(info.value)
    with pytest.raises(assets_mod.AssetsError):
        assets_mod.find_leaflet(tmp_path / "missing")


def test_legend_data_are_plain_and_ranks_out_of_n() -> None:
    lsoa, cans = grid()
    view = _json_blocks(_page(lsoa, cans, spec(k=4)))["canrank-view-1"]
    score = view["measures"][0]
    assert sum(score["counts"]) == 12 and len(score["colours"]) == 4
    assert score["counts"] == [3, 3, 3, 3]
    assert "12 areas in Testland" in view["score_sentence"]
    assert view["can_order"].startswith("CANs are numbered by need")
    best = {c["id"]: c["best_rank"] for c in view["cans"]}
    assert best == {1: 1, 2: 11}


def test_spec_from_scenario_names_dates_proxies_and_attribution() -> None:
    from canrank.config import load_config

    sc = load_config(REPO / "config" / "indicators.yaml").resolve("lcc-2017-proxies")
    s = MapSpec.from_scenario(sc, n_lsoas=4835, notes=["Override: test"], selection_status="ok")
    assert s.measures[0].key == "score" and len(s.measures) == 1 + len(sc.indicators)
    assert all(m.reference_date for m in s.indicators)
    assert any(m.proxy_note for m in s.indicators)
    assert "Override: test" in s.notes and any(n.startswith("Proxy:") for n in s.notes)
    assert re.fullmatch(
        r"Contains National Statistics data © Crown copyright and database right (\d{4}); "
        r"Contains OS data © Crown copyright and database right \1; Open Government Licence v3.0",
        s.attribution,
    )
    assert "4,835" in s.score_sentence() and "(selection: ok)" in " ".join(s.about)
    assert s.scenario == "lcc-2017-proxies" and s.palette == sc.map.palette


def test_spec_requires_the_score_first() -> None:
    with pytest.raises(ValueError):
        MapSpec(
            title="t",
            scenario="s",
            area_label="a",
            n_lsoas=1,
            measures=(MeasureInfo("imd", "IMD"),),
        )


def test_compare_highlights_exactly_the_unmatched_cans() -> None:
    lsoa, cans = grid(cans={1: [10, 11], 2: [0, 1], 3: [4]})
    lsoa_b, cans_b = grid(cans={1: [10, 11], 2: [8], 3: [0, 1]})
    page = compare_page(
        (lsoa, cans, spec()),
        (lsoa_b, cans_b, spec(title="B")),
        [(1, 1), (2, 3), (3, None), (None, 2)],
        "RULE TEXT",
    ).text
    data = _json_blocks(page)
    va, vb = data["canrank-view-1"], data["canrank-view-2"]
    assert {c["id"]: c["changed"] for c in va["cans"]} == {1: False, 2: False, 3: True}
    assert {c["id"]: c["changed"] for c in vb["cans"]} == {1: False, 2: True, 3: False}
    assert {c["id"]: c["match"] for c in va["cans"]} == {1: 1, 2: 3, 3: None}
    assert "RULE TEXT" in va["compare_note"] and "1 of 3 CANs" in va["compare_note"]


def test_compare_refuses_a_matching_that_is_not_one_to_one() -> None:
    lsoa, cans = grid()
    with pytest.raises(InputError):
        compare_page((lsoa, cans, spec()), (lsoa, cans, spec()), [(1, 1), (2, 1)], "r")
    with pytest.raises(InputError):
        compare_page((lsoa, cans, spec()), (lsoa, cans, spec()), [(9, 1)], "r")


def test_static_map_is_reproducible_and_attributed(tmp_path: Path) -> None:
    from canrank.maps import write_static_map
    from canrank.maps.payload import prepare
    from canrank.maps.static import static_figure

    lsoa, cans = grid()
    outs = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        png, pdf = tmp_path / run / "map.png", tmp_path / run / "map.pdf"
        write_static_map(lsoa, cans, spec(), png, pdf)
        outs.append((png, pdf))
    for a, b in zip(*outs, strict=True):
        assert a.stat().st_size > 1000
        assert a.read_bytes() == b.read_bytes(), a.name
    fig = static_figure(lsoa, cans, spec(), prepare(lsoa, None, 0))
    texts = [t.get_text() for t in fig.texts]
    assert spec().attribution in texts
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]
    assert legend[0].startswith("Most stressed 33 % of Testland's areas")


@pytest.mark.realdata
def test_london_map_is_small_offline_and_reproducible(london_map) -> None:  # noqa: F811
    path, build, _ = london_map
    page = path.read_text(encoding="utf-8")
    assert path.stat().st_size <= MAX_LONDON_BYTES
    check_offline(page)
    data = _json_blocks(page)
    assert len(data["canrank-geometry"]["lsoa"]["code"]) == 4835
    assert len(data["canrank-geometry"]["boroughs"]["name"]) == 33
    assert len(data["canrank-geometry"]["wards"]["name"]) > 500
    assert len(data["canrank-view-1"]["cans"]) == len(build.cans)


def test_static_map_shows_hostile_texts_literally(tmp_path: Path) -> None:
    from canrank.maps import write_static_map
    from canrank.maps.payload import prepare
    from canrank.maps.static import static_figure

    lsoa, cans = hostile_grid()
    cans.loc[0, "name"] = HOSTILE[-1]
    s = spec(len(lsoa), texts=HOSTILE)
    write_static_map(lsoa, cans, s, tmp_path / "m.png", tmp_path / "m.pdf")
    assert (tmp_path / "m.png").stat().st_size > 1000
    fig = static_figure(lsoa, cans, s, prepare(lsoa, None, 0))
    fig.canvas.draw()
    shown = [t.get_text().replace("\\$", "$") for t in fig.texts]
    assert s.title in shown
    side = [t.get_text().replace("\\$", "$") for ax in fig.axes for t in ax.texts]
    assert any(HOSTILE[-1] in t for t in side)
