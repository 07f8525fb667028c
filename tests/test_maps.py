"""The map package without a browser: coverage geometry, encoding, escaping, offline assets,
determinism, the static PNG/PDF, the comparison page and the ``canrank map`` command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import shapely
from map_fixtures import HOSTILE_IMG, HOSTILE_SCRIPT, grid, hostile_grid
from typer.testing import CliRunner

from canrank.maps import assets as assets_mod
from canrank.maps import geometry as geo
from canrank.maps.interactive import check_offline, make_map, save_map
from canrank.maps.payload import prepare, script_json

MAX_LONDON_BYTES = 5_000_000


def _page(lsoa, cans, **kwargs) -> str:
    fmap = make_map(
        lsoa, cans, title="Test map", indicator_fields=[("imd_value", "IMD")], k=3, **kwargs
    )
    return fmap.get_root().render()


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
    # A wiggly shared border between two polygons, then simplified hard.
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


def test_script_json_cannot_close_the_script_element() -> None:
    text = script_json({"name": HOSTILE_SCRIPT, "x": "a & b\u2028"})
    assert "</" not in text and "<" not in text and "&" not in text
    assert json.loads(text)["name"] == HOSTILE_SCRIPT


def test_page_is_self_contained_and_escapes_hostile_names(tmp_path: Path) -> None:
    lsoa, cans = hostile_grid()
    fmap = make_map(lsoa, cans, title="Test", indicator_fields=[("imd_value", "IMD")], k=3)
    path = tmp_path / "map.html"
    save_map(fmap, path)
    page = path.read_text(encoding="utf-8")
    check_offline(page)
    assert "<img src=x" not in page
    assert page.count("<script") == page.count("</script>")  # nothing closed a script early
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)
    data = _json_blocks(page)
    assert HOSTILE_IMG in data["canrank-geometry"]["lsoa"]["name"]
    assert HOSTILE_SCRIPT in data["canrank-geometry"]["lsoa"]["name"]
    assert HOSTILE_IMG in data["canrank-geometry"]["boroughs"]["name"]
    assert any(c["name"] == HOSTILE_SCRIPT for c in data["canrank-view-1"]["cans"])


def test_page_has_every_layer_and_no_cdn_or_paid_tiles() -> None:
    lsoa, cans = grid()
    page = _page(lsoa, cans)
    for factory in ("lsoaLayer", "boroughLayer", "canLayer", "canLabels", "measureChoice"):
        assert f"canrankMap.{factory}(" in page
    assert "cartodb" not in page.lower()
    assert "tile.openstreetmap.org" in page  # the optional layer, off by default
    for lib in ("jquery", "bootstrap", "awesome-markers", "font-awesome", "d3.min"):
        assert lib not in page.lower()
    view = _json_blocks(page)["canrank-view-1"]
    assert [m["key"] for m in view["measures"]] == ["score", "imd"]
    assert len(view["cans"]) == 2 and view["can"].count(0) == 8


def test_same_inputs_give_the_same_bytes() -> None:
    lsoa, cans = grid()
    assert _page(lsoa, cans) == _page(lsoa.sample(frac=1, random_state=3), cans)


def test_missing_leaflet_fails_with_install_hint(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(assets_mod, "_candidates", lambda: [("nowhere", tmp_path)])
    assets_mod.load_assets.cache_clear()
    try:
        with pytest.raises(assets_mod.AssetsError) as info:
            assets_mod.load_assets()
        assert "django-js-lib-leaflet" in str(info.value)
    finally:
        assets_mod.load_assets.cache_clear()


def test_assets_env_var_wins(monkeypatch, tmp_path: Path) -> None:
    (tmp_path / "leaflet.js").write_text("/* fake */ window.L = {};\n//# sourceMappingURL=x.map\n")
    (tmp_path / "leaflet.css").write_text(".leaflet-x { background: url(images/none.png); }")
    monkeypatch.setenv("CANRANK_ASSETS", str(tmp_path))
    assets_mod.load_assets.cache_clear()
    try:
        got = assets_mod.load_assets()
        assert got.origin.startswith("CANRANK_ASSETS")
        assert "sourceMappingURL" not in got.leaflet_js
        assert "images/none.png" not in got.leaflet_css
    finally:
        assets_mod.load_assets.cache_clear()


def test_installed_leaflet_is_found() -> None:
    origin, folder = assets_mod.find_leaflet()
    assert (folder / "leaflet.js").is_file(), origin
    css = assets_mod.load_assets().leaflet_css
    assert "url(images/" not in css and "data:image/png;base64," in css


def test_static_map_is_reproducible(tmp_path: Path) -> None:
    from canrank.maps.static import save_static, static_map

    lsoa, cans = grid()
    prep = prepare(lsoa, None, 0)
    outs = []
    for run in ("a", "b"):
        fig = static_map(
            lsoa, cans, prep, title="Test", notes=["Proxy: none"], k=3, sources=[("IMD", "2015")]
        )
        (tmp_path / run).mkdir()
        outs.append(save_static(fig, tmp_path / run / "map"))
    for a, b in zip(*outs, strict=True):
        assert a.stat().st_size > 1000
        assert a.read_bytes() == b.read_bytes(), a.name


def test_cli_map_help_lists_compare_and_static() -> None:
    from canrank.cli import app

    result = CliRunner().invoke(app, ["map", "--help"])
    assert result.exit_code == 0
    assert "--compare" in result.output and "--static" in result.output


@pytest.mark.realdata
def test_london_map_is_small_offline_and_reproducible(london_build) -> None:
    from canrank.maps.interactive import map_for_result

    path = london_build.out_dir / "map.html"
    page = path.read_text(encoding="utf-8")
    assert path.stat().st_size <= MAX_LONDON_BYTES
    check_offline(page)
    again = map_for_result(london_build).get_root().render()
    assert again == page
    data = _json_blocks(page)
    assert len(data["canrank-geometry"]["lsoa"]["code"]) == 4835
    assert len(data["canrank-geometry"]["boroughs"]["name"]) == 33
    assert len(data["canrank-view-1"]["cans"]) == 15


@pytest.mark.realdata
def test_compare_with_itself_marks_nothing_changed(london_build) -> None:
    from canrank.maps.compare import changed_cans, compare_map

    assert changed_cans(london_build, london_build) == ([], [])
    page = compare_map(london_build, london_build).get_root().render()
    check_offline(page)
    data = _json_blocks(page)
    assert {"canrank-geometry", "canrank-view-1", "canrank-view-2"} <= set(data)
    assert not any(c["changed"] for c in data["canrank-view-2"]["cans"])
