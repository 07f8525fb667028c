"""The HTML page around the map data: one fixed skeleton, data only as escaped JSON.

No template engine and no generated JavaScript: the page is a constant skeleton, the title
(``html.escape``), JSON data blocks (:func:`~canrank.maps.payload.script_json`, which escapes
``<``, ``>``, ``&`` and U+2028/9) and the inlined Leaflet and canrank script and style sheet.
Everything the reader sees is built by the script with ``textContent``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from canrank.maps.assets import load_assets
from canrank.maps.payload import script_json

__all__ = ["Page", "check_offline", "render_page"]


@dataclass(frozen=True)
class Page:
    """A rendered map page (``text`` is the whole HTML document)."""

    text: str

    def save(self, path: Path) -> None:
        """Write the page as UTF-8 with LF line ends."""
        check_offline(self.text)
        Path(path).write_text(self.text, encoding="utf-8", newline="\n")


def _script_text(js: str) -> str:
    """Script text that cannot end its ``<script>`` element early."""
    return re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE)


def _style_text(css: str) -> str:
    return re.sub(r"</(style)", r"<\\/\1", css, flags=re.IGNORECASE)


def render_page(title: str, geometry: dict[str, Any], views: Sequence[dict[str, Any]]) -> Page:
    """The whole page: one map per view, side by side when there are two."""
    assets = load_assets()
    maps = [
        {
            "el": f"canrank-map-{j + 1}",
            "view": f"canrank-view-{j + 1}",
            "text": f"canrank-text-{j + 1}",
        }
        for j in range(len(views))
    ]
    config = {"geometry": "canrank-geometry", "maps": maps}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="canrank">',
        f"<title>{html.escape(title, quote=True)}</title>",
        f"<style>{_style_text(assets.leaflet_css)}\n{_style_text(assets.canrank_css)}</style>",
        "</head>",
        '<body class="canrank-body">',
        '<a class="canrank-skip" href="#canrank-text">Skip to the text version: '
        "about this map and the list of CANs</a>",
        f'<main class="canrank-layout canrank-layout-{len(views)}">',
        *(f'<div class="canrank-map" id="{m["el"]}"></div>' for m in maps),
        "</main>",
        '<div class="canrank-text" id="canrank-text">',
        *(f'<div id="{m["text"]}"></div>' for m in maps),
        "</div>",
        '<noscript><p class="canrank-text">This map needs JavaScript to draw; the same data '
        "are in lsoa.csv and cans.csv next to this file.</p></noscript>",
        f'<script type="application/json" id="canrank-geometry">{script_json(geometry)}</script>',
        *(
            f'<script type="application/json" id="{m["view"]}">{script_json(v)}</script>'
            for m, v in zip(maps, views, strict=True)
        ),
        f'<script type="application/json" id="canrank-page">{script_json(config)}</script>',
        f"<script>{_script_text(assets.leaflet_js)}</script>",
        f"<script>{_script_text(assets.canrank_js)}</script>",
        "</body>",
        "</html>",
        "",
    ]
    return Page("\n".join(parts))


_EXTERNAL = re.compile(
    r"<(?:script|img|iframe)\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//|"
    r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//|@import\s+url\(\s*[\"']?(?:https?:)?//",
    re.IGNORECASE,
)


def check_offline(page: str) -> None:
    """Raise if the page would load a script, style sheet or image from the network."""
    match = _EXTERNAL.search(page)
    if match:
        raise RuntimeError(f"map page references an external asset: {match.group(0)[:80]!r}")
