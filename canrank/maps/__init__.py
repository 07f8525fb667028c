"""Maps for consultees: the self-contained interactive page, the side-by-side comparison, and the
static PNG/PDF for reports.

``make_map``/``save_map`` write ``map.html``; ``compare_map`` puts two builds side by side;
``static_map`` draws the CAN map with matplotlib.
"""

from __future__ import annotations

from canrank.maps.assets import AssetsError, load_assets
from canrank.maps.interactive import make_map, map_for_result, save_map
from canrank.maps.payload import class_breaks, prepare

__all__ = [
    "AssetsError",
    "class_breaks",
    "load_assets",
    "make_map",
    "map_for_result",
    "prepare",
    "save_map",
]
