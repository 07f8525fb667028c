"""Leaflet's JavaScript and CSS from one pinned source, inlined so a map needs no network.

The only source is the PyPI package ``django-js-lib-leaflet`` 1.9.4.1 (Leaflet 1.9.4 as plain
files; nothing of Django is imported), pinned in ``pyproject.toml``. Its files are checked
against SHA-256 digests, so ``map.html`` has the same bytes on every machine; a different or
missing Leaflet is an :class:`AssetsError` saying what to install.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from canrank.errors import ConfigError

__all__ = [
    "LEAFLET_SHA256",
    "LEAFLET_VERSION",
    "AssetsError",
    "MapAssets",
    "find_leaflet",
    "load_assets",
]

LEAFLET_VERSION = "1.9.4"
#: SHA-256 of the pinned files (django-js-lib-leaflet 1.9.4.1, static/js_lib_leaflet/).
LEAFLET_SHA256 = {
    "leaflet.js": "db49d009c841f5ca34a888c96511ae936fd9f5533e90d8b2c4d57596f4e5641a",
    "leaflet.css": "a7837102824184820dfa198d1ebcd109ff6d0ff9a2672a074b9a1b4d147d04c6",
}
_INSTALL_HINT = "pip install django-js-lib-leaflet==1.9.4.1 (Leaflet 1.9.4 as plain files)"


class AssetsError(ConfigError):
    """The pinned Leaflet is not installed, so a self-contained map cannot be written."""


@dataclass(frozen=True)
class MapAssets:
    """The inline text of every script and style sheet a canrank map needs, and where from."""

    leaflet_js: str
    leaflet_css: str
    canrank_js: str
    canrank_css: str
    origin: str


def _package_folder() -> Path | None:
    # find_spec locates the package without importing it (its __init__ would want Django).
    spec = importlib.util.find_spec("js_lib_leaflet")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "js_lib_leaflet"


def find_leaflet(folder: Path | None = None) -> Path:
    """The folder of the pinned Leaflet files, checked byte for byte."""
    folder = folder if folder is not None else _package_folder()
    if folder is None:
        raise AssetsError(
            "Leaflet is not installed, so the map cannot be made self-contained",
            hint=_INSTALL_HINT,
        )
    for name, digest in LEAFLET_SHA256.items():
        path = folder / name
        if not path.is_file():
            raise AssetsError(f"{name} is missing", file=path, hint=_INSTALL_HINT)
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise AssetsError(
                f"{name} is not the pinned Leaflet {LEAFLET_VERSION}",
                file=path,
                hint=_INSTALL_HINT,
            )
    return folder


def _inline_images(css: str, folder: Path) -> str:
    """Replace ``url(images/x.png)`` with data URIs so Leaflet's icons work offline."""

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
    folder = find_leaflet()
    js = (folder / "leaflet.js").read_text(encoding="utf-8")
    # Source-map comments would make DevTools fetch a file next to the page.
    js = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", js)
    css = re.sub(r"/\*# sourceMappingURL=\S+ \*/", "", (folder / "leaflet.css").read_text("utf-8"))
    return MapAssets(
        leaflet_js=js,
        leaflet_css=_inline_images(css, folder),
        canrank_js=_own("canrank-map.js"),
        canrank_css=_own("canrank-map.css"),
        origin=f"django-js-lib-leaflet (Leaflet {LEAFLET_VERSION})",
    )
