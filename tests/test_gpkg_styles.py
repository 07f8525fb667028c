"""``canrank.gpkg`` opens ready in QGIS: GeoPackage 1.2, layer styles, layer descriptions.

Checked with GDAL's ``ogrinfo`` (Debian's gdal-bin, required in CI; the GDAL Debian 12 ships
must open the file without a warning) and with ``sqlite3``.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from test_report import build_mini, need_tool

from canrank.builds import Build, open_build
from canrank.maps.palettes import assign_classes, class_breaks, colours
from canrank.reports.gpkg_styles import (
    STYLED_LAYERS,
    layer_qml,
    layer_sld,
    score_classes,
    style_geopackage,
)

LAYERS = ("lsoa", "cans", "boroughs", "wards")


@pytest.fixture(scope="module")
def mini_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    _config, out = build_mini(tmp_path_factory.mktemp("gpkg"))
    return open_build(out)


@pytest.fixture()
def styled(mini_build: Build, tmp_path: Path) -> Path:
    """A copy of the build's GeoPackage, styled."""
    assert mini_build.folder is not None
    path = tmp_path / "canrank.gpkg"
    shutil.copyfile(mini_build.folder / "canrank.gpkg", path)
    assert style_geopackage(mini_build, path) == list(STYLED_LAYERS)
    return path


def _ogrinfo(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need_tool("ogrinfo"), *args, str(path)], capture_output=True, text=True, check=False
    )


def test_ogrinfo_opens_without_warnings(styled: Path) -> None:
    result = _ogrinfo(styled, "-ro")
    assert result.returncode == 0, result.stderr
    assert "warning" not in (result.stderr + result.stdout).lower()
    assert "error" not in result.stderr.lower()
    listed = {
        line.split(":")[1].split("(")[0].strip()
        for line in result.stdout.splitlines()
        if line[:1].isdigit()
    }
    assert listed == {*LAYERS, "layer_styles"}


def test_geopackage_version_is_1_2(mini_build: Build) -> None:
    assert mini_build.folder is not None
    with sqlite3.connect(mini_build.folder / "canrank.gpkg") as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47  # "GPKG"
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10200


def test_layer_styles_table(styled: Path) -> None:
    with sqlite3.connect(styled) as con:
        cols = [r[1] for r in con.execute("PRAGMA table_info(layer_styles)")]
        assert cols == [
            "id",
            "f_table_catalog",
            "f_table_schema",
            "f_table_name",
            "f_geometry_column",
            "styleName",
            "styleQML",
            "styleSLD",
            "useAsDefault",
            "description",
            "owner",
            "ui",
            "update_time",
        ]
        rows = con.execute(
            "SELECT f_table_name, f_geometry_column, useAsDefault, styleQML, styleSLD, "
            "update_time FROM layer_styles ORDER BY id"
        ).fetchall()
        kind = con.execute(
            "SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'"
        ).fetchone()
        geoms = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
    assert kind == ("attributes",)
    assert [r[0] for r in rows] == list(STYLED_LAYERS)
    for name, geom, default, qml, sld, when in rows:
        assert geom == geoms[name] and default == 1, name
        assert when == "2000-01-01T00:00:00.000Z"
        ET.fromstring(qml.split("\n", 1)[1])  # well-formed after the DOCTYPE line
        ET.fromstring(sld.split("\n", 1)[1])


def test_score_classes_are_the_maps(mini_build: Build, styled: Path) -> None:
    mp = mini_build.scenario.map
    score = mini_build.lsoa["score"].to_numpy(dtype=float)
    bins = class_breaks(score, mp.scheme, mp.k)
    classes = score_classes(mini_build)
    assert [c for _, _, c in classes] == list(colours(mp.palette, len(bins)))
    assert [hi for _, hi, _ in classes] == pytest.approx(bins.tolist())
    with sqlite3.connect(styled) as con:
        qml = con.execute(
            "SELECT styleQML FROM layer_styles WHERE f_table_name = 'lsoa'"
        ).fetchone()[0]
    root = ET.fromstring(qml.split("\n", 1)[1])
    renderer = root.find("renderer-v2")
    assert renderer is not None
    assert renderer.get("type") == "graduatedSymbol" and renderer.get("attr") == "score"
    ranges = renderer.findall("ranges/range")
    assert len(ranges) == len(bins)
    lows = np.array([float(r.get("lower", "nan")) for r in ranges])
    highs = np.array([float(r.get("upper", "nan")) for r in ranges])
    # QGIS puts a value in the first range with lower <= v <= upper: the map's class
    qgis_class = np.array([int(np.argmax((lows <= v) & (v <= highs))) for v in score])
    assert (qgis_class == assign_classes(score, bins)).all()
    fills = []
    for sym in renderer.findall("symbols/symbol"):
        opt = sym.find("layer/Option")
        assert opt is not None
        fills.append({o.get("name"): o.get("value") for o in opt}["color"])
        legacy = {p.get("k"): p.get("v") for p in sym.findall("layer/prop")}
        assert legacy["color"] == fills[-1]  # QGIS before 3.26 reads these
    want = [
        ",".join(str(int(h[i : i + 2], 16)) for i in (1, 3, 5)) + ",255"
        for h in colours(mp.palette, len(bins))
    ]
    assert fills == want


def test_can_outlines_are_labelled(styled: Path) -> None:
    with sqlite3.connect(styled) as con:
        qml = con.execute(
            "SELECT styleQML FROM layer_styles WHERE f_table_name = 'cans'"
        ).fetchone()[0]
    root = ET.fromstring(qml.split("\n", 1)[1])
    assert root.get("labelsEnabled") == "1"
    style = root.find("labeling/settings/text-style")
    assert style is not None and style.get("fieldName") == "name"
    found = root.iterfind("renderer-v2/symbols/symbol/layer/Option/Option")
    props = {o.get("name"): o.get("value") for o in found}
    assert props["style"] == "no" and props["outline_color"] == "8,48,107,255"


def test_layer_descriptions_name_scenario_proxies_and_sources(
    mini_build: Build, styled: Path
) -> None:
    with sqlite3.connect(styled) as con:
        desc = dict(con.execute("SELECT table_name, description FROM gpkg_contents"))
    for layer in LAYERS:
        assert "Scenario mini" in desc[layer], layer
        assert "No proxies" in desc[layer]
        assert "Sources:" in desc[layer] and "File_7_test.csv" in desc[layer]
        assert "Open Government Licence v3.0" in desc[layer]
    assert mini_build.manifest["selection"]["status"] in desc["cans"]
    result = _ogrinfo(styled, "-ro", "-so")
    assert "warning" not in result.stderr.lower()


def test_styling_is_reproducible_and_idempotent(mini_build: Build, tmp_path: Path) -> None:
    assert mini_build.folder is not None
    digests = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.gpkg"
        shutil.copyfile(mini_build.folder / "canrank.gpkg", path)
        style_geopackage(mini_build, path)
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    again = tmp_path / "a.gpkg"
    style_geopackage(mini_build, again)
    with sqlite3.connect(again) as con:
        assert con.execute("SELECT count(*) FROM layer_styles").fetchone()[0] == len(LAYERS)


def test_a_users_own_default_style_is_kept(mini_build: Build, styled: Path) -> None:
    with sqlite3.connect(styled) as con:
        con.execute(
            "INSERT INTO layer_styles (f_table_name, f_geometry_column, styleName, styleQML, "
            "useAsDefault, owner) VALUES ('lsoa', 'geometry', 'mine', '<qgis/>', 1, 'me')"
        )
    style_geopackage(mini_build, styled)
    with sqlite3.connect(styled) as con:
        rows = con.execute(
            "SELECT styleName, useAsDefault FROM layer_styles WHERE f_table_name = 'lsoa' "
            "ORDER BY styleName"
        ).fetchall()
    assert rows == [("canrank lsoa", 0), ("mine", 1)]


def test_unknown_layer_has_no_style() -> None:
    with pytest.raises(ValueError):
        layer_qml("roads")
    with pytest.raises(ValueError):
        layer_qml("lsoa")  # needs the classes
    assert "PolygonSymbolizer" in layer_sld("boroughs")


def test_population_field_types_agree(styled: Path) -> None:
    out = _ogrinfo(styled, "-ro", "-so", "-al").stdout
    types = {}
    layer = None
    for line in out.splitlines():
        if line.startswith("Layer name:"):
            layer = line.split(":", 1)[1].strip()
        elif line.startswith("population:"):
            types[layer] = line.split(":", 1)[1].strip().split(" ")[0]
    assert types["lsoa"] == types["cans"] == "Integer64"


@pytest.mark.realdata
def test_london_geopackage(london_build: Build, tmp_path: Path) -> None:
    assert london_build.folder is not None
    path = tmp_path / "canrank.gpkg"
    shutil.copyfile(london_build.folder / "canrank.gpkg", path)
    assert style_geopackage(london_build, path) == list(STYLED_LAYERS)
    result = _ogrinfo(path, "-ro")
    assert result.returncode == 0 and "warning" not in result.stderr.lower()
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10200
        n = dict(con.execute("SELECT f_table_name, count(*) FROM layer_styles GROUP BY 1"))
        assert n == {name: 1 for name in STYLED_LAYERS}
        desc = dict(con.execute("SELECT table_name, description FROM gpkg_contents"))
    assert "replaced by" in desc["lsoa"]  # the proxies, in words
