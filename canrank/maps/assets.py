"""Leaflet's JavaScript and CSS, found on this machine and inlined so a map needs no network.

Leaflet comes from a package registry, never from files committed here. Locations tried in
order: ``$CANRANK_ASSETS`` (a folder with ``leaflet.js`` and ``leaflet.css``), the PyPI package
``django-js-lib-leaflet`` (Leaflet 1.9.4 as plain files, no Django needed to read them), Debian's
``libjs-leaflet`` (``/usr/share/javascript/leaflet``) and npm's ``leaflet``
(``node_modules/leaflet/dist``). Without any of them the map is not written: a map that silently
needs a CDN is what this module exists to prevent, so :class:`AssetsError` says what to install.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from canrank.errors import ConfigError

__all__ = ["AssetsError", "MapAssets", "find_leaflet", "load_assets"]

_INSTALL_HINT = (
    "pip install django-js-lib-leaflet (Leaflet as plain files; no Django needed), or "
    "apt-get install libjs-leaflet, or npm install leaflet, or set CANRANK_ASSETS to a folder "
    "holding leaflet.js and leaflet.css"
)


class AssetsError(ConfigError):
    """Leaflet's files are not installed, so a self-contained map cannot be written."""


@dataclass(frozen=True)
class MapAssets:
    """The inline text of every script and style sheet a canrank map needs, and where from."""

    leaflet_js: str
    leaflet_css: str
    canrank_js: str
    canrank_css: str
    origin: str


def _candidates() -> list[tuple[str, Path]]:
    """Folders that may hold leaflet.js and leaflet.css, most specific first."""
    out: list[tuple[str, Path]] = []
    env = os.environ.get("CANRANK_ASSETS")
    if env:
        out.append(("CANRANK_ASSETS", Path(env)))
    # find_spec locates the package without importing it (its __init__ would want Django).
    spec = importlib.util.find_spec("js_lib_leaflet")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            out.append(("pip django-js-lib-leaflet", Path(loc) / "static" / "js_lib_leaflet"))
    out.append(("apt libjs-leaflet", Path("/usr/share/javascript/leaflet")))
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        out.append(("npm leaflet", base / "node_modules" / "leaflet" / "dist"))
    return out


def find_leaflet() -> tuple[str, Path]:
    """The first folder with both Leaflet files, and a label saying which install it is."""
    tried = []
    for origin, folder in _candidates():
        if (folder / "leaflet.js").is_file() and (folder / "leaflet.css").is_file():
            return origin, folder
        tried.append(str(folder))
    raise AssetsError(
        "Leaflet (leaflet.js, leaflet.css) is not installed, so the map cannot be made "
        f"self-contained; looked in {', '.join(tried)}",
        hint=_INSTALL_HINT,
    )


def _inline_images(css: str, folder: Path) -> str:
    """Replace ``url(images/x.png)`` with data URIs so the layer-control icon works offline."""

    def repl(match: re.Match[str]) -> str:
        path = folder / match.group(1)
        if not path.is_file():
            return "none"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    return re.sub(r"url\((images/[\w.-]+\.png)\)", repl, css)


def _own(name: str) -> str:
    return resources.files("canrank").joinpath("data", name).read_text(encoding="utf-8")


@cache
def load_assets() -> MapAssets:
    """Read Leaflet and canrank's own map script and style sheet (cached per process)."""
    origin, folder = find_leaflet()
    js = (folder / "leaflet.js").read_text(encoding="utf-8")
    # Source-map comments would make DevTools fetch a file next to the page.
    js = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", js)
    css = re.sub(r"/\*# sourceMappingURL=\S+ \*/", "", (folder / "leaflet.css").read_text("utf-8"))
    return MapAssets(
        leaflet_js=js,
        leaflet_css=_inline_images(css, folder),
        canrank_js=_own("canrank-map.js"),
        canrank_css=_own("canrank-map.css"),
        origin=f"{origin}: {folder}",
    )
