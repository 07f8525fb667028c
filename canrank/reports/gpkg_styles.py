"""QGIS styles and layer descriptions stored inside ``canrank.gpkg``, so it opens ready.

QGIS reads a layer's default style from the GeoPackage's ``layer_styles`` table (the table QGIS
itself writes with "Save style ... in database"; columns ``f_table_catalog``,
``f_table_schema``, ``f_table_name``, ``f_geometry_column``, ``styleName``, ``styleQML``,
``styleSLD``, ``useAsDefault``, ``description``, ``owner``, ``ui``, ``update_time``). This
module writes one default style per layer:

- ``lsoa``: a graduated renderer on ``score`` with the classes and colours of the map (the same
  :func:`canrank.maps.palettes.class_breaks` and :func:`~canrank.maps.palettes.colours` of
  ``scenario.map``: scheme, ``k`` and palette);
- ``cans``: navy outlines, no fill, labelled with the CAN's ``name``;
- ``boroughs`` and ``wards``: outlines (wards dashed, labelled with ``ward_name`` when zoomed in).

Each style carries QML (what QGIS uses) and a plain SLD 1.1 (for other clients). Symbol
properties are written both as ``<Option type="Map">`` (QGIS 3.26 and later) and as legacy
``<prop k v>`` elements (QGIS 3.0-3.24), so every QGIS 3 reads them.

Layer descriptions (``gpkg_contents.description``) say the scenario, the proxies and the
sources. The table is registered in ``gpkg_contents`` as an ``attributes`` table, every time
stamp is fixed, and re-running replaces canrank's own rows, so the file's bytes depend only on
the build.
"""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from canrank.builds import Build
    from canrank.reports.pack import BuildTexts

__all__ = [
    "LAYER_STYLES_SQL",
    "STYLED_LAYERS",
    "layer_descriptions",
    "layer_qml",
    "score_classes",
    "style_geopackage",
]

#: The ``layer_styles`` table as QGIS creates it in a GeoPackage.
LAYER_STYLES_SQL = """
CREATE TABLE IF NOT EXISTS "layer_styles" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "f_table_catalog" TEXT(256),
    "f_table_schema" TEXT(256),
    "f_table_name" TEXT(256),
    "f_geometry_column" TEXT(256),
    "styleName" TEXT(30),
    "styleQML" TEXT,
    "styleSLD" TEXT,
    "useAsDefault" BOOLEAN,
    "description" TEXT,
    "owner" TEXT(30),
    "ui" TEXT(30),
    "update_time" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)
"""

#: Layers canrank styles, in drawing order (bottom first).
STYLED_LAYERS = ("lsoa", "wards", "boroughs", "cans")

OWNER = "canrank"
NAVY = (8, 48, 107)
QGIS_VERSION = "3.22.0-Białowieża"


# --------------------------------------------------------------------------------------------
# Classes and colours (the map's)
# --------------------------------------------------------------------------------------------


def score_classes(build: Build) -> list[tuple[float, float, str]]:
    """``(lower, upper, "#rrggbb")`` per class of ``score``, lightest (least stressed) first.

    A value ``v`` belongs to the first class with ``v <= upper`` (QGIS's graduated renderer
    does the same with ranges in this order).
    """
    from canrank.maps.palettes import class_breaks, colours

    mp = build.scenario.map
    score = build.lsoa["score"].to_numpy(dtype=float)
    bins = class_breaks(score, mp.scheme, mp.k)
    cols = colours(mp.palette, len(bins))
    finite = score[np.isfinite(score)]
    lows = [float(finite.min()) if len(finite) else 0.0, *map(float, bins[:-1])]
    return [(lo, float(hi), c) for lo, hi, c in zip(lows, bins, cols, strict=True)]


def _rgba(colour: str | tuple[int, int, int], alpha: int = 255) -> str:
    if isinstance(colour, str):
        h = colour.lstrip("#")
        colour = (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))
    return f"{colour[0]},{colour[1]},{colour[2]},{alpha}"


def _hex(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


# --------------------------------------------------------------------------------------------
# QML
# --------------------------------------------------------------------------------------------


def _props(parent: ET.Element, props: dict[str, str]) -> None:
    """Symbol-layer properties as an Option map (QGIS >= 3.26) and legacy props (< 3.26)."""
    opt = ET.SubElement(parent, "Option", type="Map")
    for k, v in props.items():
        ET.SubElement(opt, "Option", type="QString", name=k, value=v)
    for k, v in props.items():
        ET.SubElement(parent, "prop", k=k, v=v)


def _fill_symbol(
    name: str,
    fill: str | None,
    outline: str,
    width_mm: float,
    *,
    outline_style: str = "solid",
) -> ET.Element:
    sym = ET.Element("symbol", type="fill", name=name, alpha="1", clip_to_extent="1", force_rhr="0")
    layer = ET.SubElement(
        sym, "layer", attrib={"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"}
    )
    _props(
        layer,
        {
            "border_width_map_unit_scale": "3x:0,0,0,0,0,0",
            "color": fill or "255,255,255,0",
            "joinstyle": "bevel",
            "offset": "0,0",
            "offset_map_unit_scale": "3x:0,0,0,0,0,0",
            "offset_unit": "MM",
            "outline_color": outline,
            "outline_style": outline_style,
            "outline_width": f"{width_mm:g}",
            "outline_width_unit": "MM",
            "style": "solid" if fill else "no",
        },
    )
    return sym


def _labeling(
    field: str,
    *,
    size: float,
    colour: str,
    bold: bool,
    italic: bool,
    max_scale: float | None = None,
) -> ET.Element:
    lab = ET.Element("labeling", type="simple")
    settings = ET.SubElement(lab, "settings", calloutType="simple")
    style = ET.SubElement(
        settings,
        "text-style",
        fieldName=field,
        isExpression="0",
        fontFamily="Sans Serif",
        fontSize=f"{size:g}",
        fontSizeUnit="Point",
        fontWeight="75" if bold else "50",
        fontItalic="1" if italic else "0",
        namedStyle=("Bold " if bold else "") + ("Italic" if italic else "") or "Regular",
        textColor=colour,
        textOpacity="1",
        blendMode="0",
        multilineHeight="1",
        previewBkgrdColor="255,255,255,255",
    )
    ET.SubElement(
        style,
        "text-buffer",
        bufferDraw="1",
        bufferSize="0.8",
        bufferSizeUnits="MM",
        bufferColor="255,255,255,255",
        bufferOpacity="0.85",
        bufferNoFill="1",
        bufferJoinStyle="128",
        bufferBlendMode="0",
    )
    ET.SubElement(
        settings,
        "text-format",
        wrapChar="",
        autoWrapLength="24",
        multilineAlign="1",
        formatNumbers="0",
        plussign="0",
        decimals="3",
        leftDirectionSymbol="<",
        rightDirectionSymbol=">",
        reverseDirectionSymbol="0",
        placeDirectionSymbol="0",
        addDirectionSymbol="0",
        useMaxLineLengthForAutoWrap="1",
    )
    ET.SubElement(
        settings,
        "placement",
        placement="1",
        centroidInside="1",
        centroidWhole="0",
        fitInPolygonOnly="0",
        priority="5",
        dist="0",
        distUnits="MM",
        offsetType="0",
        quadOffset="4",
        xOffset="0",
        yOffset="0",
        offsetUnits="MM",
        rotationAngle="0",
        overrunDistance="0",
        overrunDistanceUnit="MM",
        repeatDistance="0",
        repeatDistanceUnits="MM",
    )
    ET.SubElement(
        settings,
        "rendering",
        scaleVisibility="1" if max_scale else "0",
        scaleMin="0",
        scaleMax=f"{max_scale:g}" if max_scale else "0",
        obstacle="1",
        obstacleFactor="1",
        obstacleType="1",
        displayAll="0",
        upsidedownLabels="0",
        limitNumLabels="0",
        maxNumLabels="2000",
        minFeatureSize="0",
        labelPerPart="0",
        mergeLines="0",
        fontLimitPixelSize="0",
        fontMinPixelSize="3",
        fontMaxPixelSize="10000",
        drawLabels="1",
        zIndex="0",
    )
    return lab


def _qgis_root(labels: bool) -> ET.Element:
    return ET.Element(
        "qgis",
        version=QGIS_VERSION,
        styleCategories="Symbology|Labeling",
        labelsEnabled="1" if labels else "0",
        hasScaleBasedVisibilityFlag="0",
        minScale="100000000",
        maxScale="0",
    )


def _graduated(classes: Sequence[tuple[float, float, str]]) -> ET.Element:
    rend = ET.Element(
        "renderer-v2",
        type="graduatedSymbol",
        attr="score",
        graduatedMethod="GraduatedColor",
        symbollevels="0",
        forceraster="0",
        enableorderby="0",
        referencescale="-1",
    )
    ranges = ET.SubElement(rend, "ranges")
    symbols = ET.SubElement(rend, "symbols")
    for i, (lo, hi, col) in enumerate(classes):
        ET.SubElement(
            ranges,
            "range",
            lower=repr(lo),
            upper=repr(hi),
            symbol=str(i),
            label=f"{lo:.3f} to {hi:.3f}",
            render="true",
        )
        symbols.append(_fill_symbol(str(i), _rgba(col), "128,128,128,160", 0.05))
    ET.SubElement(rend, "mode", name="quantile")
    method = ET.SubElement(rend, "classificationMethod", id="Quantile")
    ET.SubElement(method, "symmetricMode", enabled="0", symmetrypoint="0", astride="0")
    ET.SubElement(
        method, "labelFormat", format="%1 to %2", labelprecision="3", trimtrailingzeroes="0"
    )
    ET.SubElement(method, "parameters")
    ET.SubElement(method, "extraInformation")
    ET.SubElement(rend, "rotation")
    ET.SubElement(rend, "sizescale")
    return rend


def _single(symbol: ET.Element) -> ET.Element:
    rend = ET.Element(
        "renderer-v2",
        type="singleSymbol",
        symbollevels="0",
        forceraster="0",
        enableorderby="0",
        referencescale="-1",
    )
    symbols = ET.SubElement(rend, "symbols")
    symbol.set("name", "0")
    symbols.append(symbol)
    ET.SubElement(rend, "rotation")
    ET.SubElement(rend, "sizescale")
    return rend


def _qml_text(root: ET.Element) -> str:
    ET.indent(root, space=" ")
    body = ET.tostring(root, encoding="unicode")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + body + "\n"


def layer_qml(layer: str, classes: Sequence[tuple[float, float, str]] | None = None) -> str:
    """The QML of one canrank layer (``lsoa`` needs the score ``classes``)."""
    navy = _rgba(NAVY)
    if layer == "lsoa":
        if not classes:
            raise ValueError("the lsoa style needs the score classes")
        root = _qgis_root(False)
        root.append(_graduated(classes))
    elif layer == "cans":
        root = _qgis_root(True)
        root.append(_single(_fill_symbol("0", None, navy, 0.8)))
        root.append(_labeling("name", size=9, colour=navy, bold=True, italic=False))
    elif layer == "boroughs":
        root = _qgis_root(False)
        root.append(_single(_fill_symbol("0", None, "35,35,35,255", 0.4)))
    elif layer == "wards":
        root = _qgis_root(True)
        root.append(_single(_fill_symbol("0", None, "85,85,85,255", 0.2, outline_style="dash")))
        root.append(
            _labeling(
                "ward_name", size=7, colour="40,40,40,255", bold=False, italic=True, max_scale=40000
            )
        )
    else:
        raise ValueError(f"no canrank style for layer {layer!r}")
    return _qml_text(root)


# --------------------------------------------------------------------------------------------
# SLD (for clients other than QGIS)
# --------------------------------------------------------------------------------------------

_SLD = "http://www.opengis.net/sld"
_SE = "http://www.opengis.net/se"
_OGC = "http://www.opengis.net/ogc"


def _se(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{_SE}}}{tag}", attrib)
    if text is not None:
        el.text = text
    return el


def _sld_poly(
    rule: ET.Element, fill: str | None, stroke: str, width_px: float, dash: str | None = None
) -> None:
    sym = _se(rule, "PolygonSymbolizer")
    if fill:
        f = _se(sym, "Fill")
        _se(f, "SvgParameter", fill, name="fill")
    s = _se(sym, "Stroke")
    _se(s, "SvgParameter", stroke, name="stroke")
    _se(s, "SvgParameter", f"{width_px:g}", name="stroke-width")
    if dash:
        _se(s, "SvgParameter", dash, name="stroke-dasharray")


def _sld_label(rule: ET.Element, field: str, size: float, colour: str) -> None:
    sym = _se(rule, "TextSymbolizer")
    label = _se(sym, "Label")
    ET.SubElement(label, f"{{{_OGC}}}PropertyName").text = field
    font = _se(sym, "Font")
    _se(font, "SvgParameter", f"{size:g}", name="font-size")
    halo = _se(sym, "Halo")
    _se(halo, "Radius", "1.5")
    _se(sym, "Fill").append(_svg("fill", colour))


def _svg(name: str, value: str) -> ET.Element:
    el = ET.Element(f"{{{_SE}}}SvgParameter", name=name)
    el.text = value
    return el


def layer_sld(layer: str, classes: Sequence[tuple[float, float, str]] | None = None) -> str:
    """A Symbology Encoding 1.1 style of one canrank layer."""
    ET.register_namespace("", _SLD)
    ET.register_namespace("se", _SE)
    ET.register_namespace("ogc", _OGC)
    root = ET.Element(f"{{{_SLD}}}StyledLayerDescriptor", version="1.1.0")
    named = ET.SubElement(root, f"{{{_SLD}}}NamedLayer")
    _se(named, "Name", layer)
    user = ET.SubElement(named, f"{{{_SLD}}}UserStyle")
    _se(user, "Name", layer)
    fts = _se(user, "FeatureTypeStyle")
    navy = _hex(NAVY)
    if layer == "lsoa":
        for i, (lo, hi, col) in enumerate(classes or []):
            rule = _se(fts, "Rule")
            _se(rule, "Name", f"{lo:.3f} to {hi:.3f}")
            flt = ET.SubElement(rule, f"{{{_OGC}}}Filter")
            both = ET.SubElement(flt, f"{{{_OGC}}}And")
            low_op = "PropertyIsGreaterThanOrEqualTo" if i == 0 else "PropertyIsGreaterThan"
            for op, value in ((low_op, lo), ("PropertyIsLessThanOrEqualTo", hi)):
                cmp_ = ET.SubElement(both, f"{{{_OGC}}}{op}")
                ET.SubElement(cmp_, f"{{{_OGC}}}PropertyName").text = "score"
                ET.SubElement(cmp_, f"{{{_OGC}}}Literal").text = repr(value)
            _sld_poly(rule, col, "#808080", 0.2)
    else:
        rule = _se(fts, "Rule")
        _se(rule, "Name", layer)
        if layer == "cans":
            _sld_poly(rule, None, navy, 2.5)
            _sld_label(rule, "name", 12, navy)
        elif layer == "boroughs":
            _sld_poly(rule, None, "#232323", 1.2)
        else:
            _sld_poly(rule, None, "#555555", 0.6, dash="4 2")
            _sld_label(rule, "ward_name", 9, "#282828")
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


# --------------------------------------------------------------------------------------------
# Descriptions and writing
# --------------------------------------------------------------------------------------------


def layer_descriptions(build: Build, texts: BuildTexts | None = None) -> dict[str, str]:
    """What each layer holds, with the scenario, the proxies and the sources (plain text)."""
    from canrank.reports.pack import build_texts

    t = texts or build_texts(build)
    sources = "; ".join(
        f"{s['publisher']}: {s['title']} (reference date {s['reference_date']})" for s in t.sources
    )
    tail = (
        f" Scenario {t.scenario}: {t.description}. {t.proxy_sentence()} Sources: {sources}. "
        f"{t.attribution}."
    )
    area = t.area
    return {
        "lsoa": f"The {t.n_lsoas:,} LSOAs of {area} with each indicator, the composite score "
        "(higher = more stressed), its rank (1 = most stressed), decile and CAN; styled in the "
        "map's score classes." + tail,
        "cans": f"The {t.n_cans} Community Action Neighbourhoods with population, boroughs, "
        f"profile and summary measures. {t.status_sentence}" + tail,
        "boroughs": f"Borough boundaries of {area}." + tail,
        "wards": f"Ward boundaries of {area} (names used to name the CANs)." + tail,
    }


def _geometry_columns(con: sqlite3.Connection) -> dict[str, str]:
    rows = con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall()
    return {str(t): str(c) for t, c in rows}


def style_geopackage(build: Build, path: str | Path) -> list[str]:
    """Store QGIS default styles and layer descriptions in a written ``canrank.gpkg``.

    Styles the layers of :data:`STYLED_LAYERS` present in the file; returns their names.
    Running it again replaces canrank's own styles (rows whose owner is ``canrank``) and
    leaves styles a user saved from QGIS alone (theirs stay; canrank's stay the default only if
    the user's are not).
    """
    from canrank.errors import InputError
    from canrank.outputs import FIXED_TIMESTAMP, output_error
    from canrank.reports.pack import build_texts

    path = Path(path)
    if not path.is_file():
        raise InputError("no GeoPackage to style", file=path, hint="write the build first")
    texts = build_texts(build)
    classes = score_classes(build)
    descriptions = layer_descriptions(build, texts)
    try:
        con = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise InputError(
            f"the GeoPackage cannot be opened ({exc})", file=path, hint="rebuild"
        ) from None
    try:
        con.execute("BEGIN")
        geoms = _geometry_columns(con)
        styled = [name for name in STYLED_LAYERS if name in geoms]
        con.execute(LAYER_STYLES_SQL)
        con.execute("DELETE FROM layer_styles WHERE owner = ?", (OWNER,))
        user_defaults = {
            str(r[0])
            for r in con.execute(
                "SELECT f_table_name FROM layer_styles WHERE useAsDefault = 1"
            ).fetchall()
        }
        for name in styled:
            con.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
                "owner, ui, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    "",
                    "",
                    name,
                    geoms[name],
                    f"canrank {name}"[:30],
                    layer_qml(name, classes),
                    layer_sld(name, classes),
                    0 if name in user_defaults else 1,
                    f"canrank default style of {name}, scenario {texts.scenario}",
                    OWNER,
                    None,
                    FIXED_TIMESTAMP,
                ),
            )
        if not con.execute(
            "SELECT 1 FROM gpkg_contents WHERE table_name = 'layer_styles'"
        ).fetchone():
            con.execute(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
                "last_change) VALUES ('layer_styles', 'attributes', 'layer_styles', ?, ?)",
                ("QGIS layer styles (written by canrank)", FIXED_TIMESTAMP),
            )
        for name, text in descriptions.items():
            con.execute(
                "UPDATE gpkg_contents SET description = ? WHERE table_name = ?", (text, name)
            )
        con.execute("COMMIT")
    except sqlite3.Error as exc:
        if con.in_transaction:
            con.execute("ROLLBACK")
        err = OSError(28, str(exc)) if "full" in str(exc).lower() else None
        if err is not None:
            raise output_error(err, path) from None
        raise InputError(
            f"the GeoPackage cannot be styled ({exc})", file=path, hint="rebuild"
        ) from None
    finally:
        con.close()
    return styled
