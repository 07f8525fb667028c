"""Maps for consultees: the self-contained interactive page, the side-by-side comparison, and the
static PNG/PDF for reports.

Maps take plain tables (the build's ``lsoa`` and ``cans`` frames with geometry in EPSG:27700) and
one :class:`MapSpec`:

- :func:`write_map` writes ``map.html`` (works offline, responsive, accessible);
- :func:`write_compare_map` puts two scenarios side by side, highlighting unmatched CANs;
- :func:`write_static_map` draws the CAN map as PNG and PDF with matplotlib.

Names are loaded lazily (PEP 562) so ``import canrank.maps`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from canrank.maps.assets import AssetsError, load_assets
    from canrank.maps.compare import write_compare_map
    from canrank.maps.interactive import write_map
    from canrank.maps.palettes import check_palette, class_breaks, colours
    from canrank.maps.spec import MapSpec, MeasureInfo, attribution_text
    from canrank.maps.static import write_static_map

_WHERE = {
    "AssetsError": "canrank.maps.assets",
    "load_assets": "canrank.maps.assets",
    "MapSpec": "canrank.maps.spec",
    "MeasureInfo": "canrank.maps.spec",
    "attribution_text": "canrank.maps.spec",
    "check_palette": "canrank.maps.palettes",
    "class_breaks": "canrank.maps.palettes",
    "colours": "canrank.maps.palettes",
    "write_map": "canrank.maps.interactive",
    "write_compare_map": "canrank.maps.compare",
    "write_static_map": "canrank.maps.static",
}

__all__ = [
    "AssetsError",
    "MapSpec",
    "MeasureInfo",
    "attribution_text",
    "check_palette",
    "class_breaks",
    "colours",
    "load_assets",
    "write_compare_map",
    "write_map",
    "write_static_map",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'canrank.maps' has no attribute {name!r}")
