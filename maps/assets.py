"""Offline-first assets: every script and stylesheet of a map comes from ``maps/static``, never a CDN.

folium references its JavaScript and CSS by CDN URL (``default_js`` / ``default_css`` of the map and of
each plugin). :func:`render_html` swaps every such reference, by its folium resource name, for a file
vendored under ``maps/static/<npm package>/`` (versions and licences in ``maps/static/README.md``),
then either

- inlines the files into the page (``offline=True``): one self-contained HTML file that works from
  ``file://`` with no network; images referenced by the CSS become ``data:`` URIs; or
- links them under ``asset_base`` (``offline=False``): ``"village5g-static"`` next to a written file
  (:func:`write_html` copies the folder there), or the URL where the HTTP API serves :data:`STATIC_DIR`.

A folium resource without a vendored file is an error, and so is any script or stylesheet left pointing
at ``http(s)://`` after rendering: a CDN reference cannot slip into a map unnoticed.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import folium
from branca.element import Element, Figure
from folium.elements import JSCSSMixin

from coverage.errors import ConfigError
from coverage.writers import atomic_write

#: The vendored assets (serve this folder to use ``offline=False`` over HTTP).
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Folder name of the assets written next to an HTML file by :func:`write_html` (``offline=False``).
STATIC_FOLDER_NAME = "village5g-static"


@dataclass(frozen=True)
class Package:
    """One vendored npm package: where its files are under :data:`STATIC_DIR` and its licence."""

    name: str
    version: str
    license: str
    license_file: str


PACKAGES: tuple[Package, ...] = (
    Package("leaflet", "1.9.4", "BSD-2-Clause", "leaflet/LICENSE"),
    Package("leaflet.markercluster", "1.5.3", "MIT", "leaflet.markercluster/MIT-LICENCE.txt"),
    Package("leaflet.fullscreen", "3.0.2", "MIT", "leaflet.fullscreen/LICENSE"),
    Package("leaflet-search", "4.0.0", "MIT", "leaflet-search/license.txt"),
)

#: folium resource name -> vendored file (relative to :data:`STATIC_DIR`); None: not used by our maps
#: and dropped (jQuery, Bootstrap and Awesome Markers serve only folium's ``Popup`` and ``Icon``, which
#: the builders do not use).
RESOURCES: dict[str, str | None] = {
    "leaflet": "leaflet/dist/leaflet.js",
    "leaflet_css": "leaflet/dist/leaflet.css",
    "jquery": None,
    "bootstrap": None,
    "awesome_markers": None,
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers_font_css": None,
    "awesome_markers_css": None,
    "awesome_rotate_css": None,
    "markerclusterjs": "leaflet.markercluster/dist/leaflet.markercluster.js",
    "markerclustercss": "leaflet.markercluster/dist/MarkerCluster.css",
    "markerclusterdefaultcss": "leaflet.markercluster/dist/MarkerCluster.Default.css",
    "Control.Fullscreen.js": "leaflet.fullscreen/Control.FullScreen.js",
    "Control.FullScreen.css": "leaflet.fullscreen/Control.FullScreen.css",
    "Leaflet.Search.js": "leaflet-search/dist/leaflet-search.min.js",
    "Leaflet.Search.css": "leaflet-search/dist/leaflet-search.min.css",
    "village5g.js": "village5g/village5g.js",
    "village5g.css": "village5g/village5g.css",
}

# URLs are first rendered with this prefix, then inlined or rebased.
_MARK = "village5g-asset:"
_SCRIPT_TAG = re.compile(r'<script src="' + re.escape(_MARK) + r'([^"]+)"></script>')
_CSS_TAG = re.compile(r'<link rel="stylesheet" href="' + re.escape(_MARK) + r'([^"]+)"/>')
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^)'"]+)\1\s*\)""")
_EXTERNAL_REF = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]*)""",
                           re.IGNORECASE)
_MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


def asset_url(relative: str) -> str:
    """The placeholder URL of a vendored file; :func:`render_html` inlines or rebases it."""
    return _MARK + relative


class AssetError(ConfigError):
    """A map needs a script or stylesheet that is not vendored under ``maps/static``."""


class VillageAssets(JSCSSMixin):
    """The project's own page script and stylesheet (``static/village5g``), added once per map."""

    def __init__(self) -> None:
        super().__init__()
        self._name = "VillageAssets"
        self.default_js = [("village5g.js", asset_url("village5g/village5g.js"))]
        self.default_css = [("village5g.css", asset_url("village5g/village5g.css"))]


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def _local(resources: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for name, url in resources:
        if url.startswith(_MARK):
            out.append((name, url))
            continue
        if name not in RESOURCES:
            raise AssetError(f"map resource {name!r} ({url}) is not vendored under maps/static: "
                             "add it with its licence and record it in maps/static/README.md")
        path = RESOURCES[name]
        if path is not None:
            out.append((name, _MARK + path))
    return out


def localize(m: folium.Map) -> folium.Map:
    """Point every script and stylesheet of ``m`` and its children at the vendored files (in place).

    Instance lists replace the class-level CDN lists, so other maps in the process are untouched.
    Raises :class:`AssetError` for a folium resource that has no vendored file.
    """
    for element in _walk(m):
        for attr in ("default_js", "default_css"):
            resources = getattr(element, attr, None)
            if resources:
                setattr(element, attr, _local(list(resources)))
    return m


def _asset_path(relative: str) -> Path:
    path = (STATIC_DIR / relative).resolve()
    if STATIC_DIR not in path.parents or not path.is_file():
        raise AssetError(f"vendored asset {relative!r} is missing from {STATIC_DIR}")
    return path


def _data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise AssetError(f"no MIME type known for {path.name}")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def inline_css(relative: str) -> str:
    """A vendored stylesheet with each ``url(...)`` of a local file replaced by a ``data:`` URI."""
    path = _asset_path(relative)
    text = path.read_text(encoding="utf-8")

    def replace(match: re.Match[str]) -> str:
        target = match.group(2).strip()
        if target.startswith(("data:", "#")):
            return match.group(0)
        if re.match(r"^[a-z]+:|^//", target, re.IGNORECASE):
            raise AssetError(f"{relative} refers to the remote resource {target}")
        return f'url("{_data_uri((path.parent / target).resolve())}")'

    return _CSS_URL.sub(replace, text)


def _inline_script(relative: str) -> str:
    code = _asset_path(relative).read_text(encoding="utf-8")
    # a literal "</script" would end the inline element early
    return "<script>\n" + code.replace("</script", "<\\/script") + "\n</script>"


def render_html(m: folium.Map, *, offline: bool = True, asset_base: str = STATIC_FOLDER_NAME) -> str:
    """The complete HTML page of ``m`` with no CDN reference.

    Parameters
    ----------
    m
        A map from the builders (or any folium map whose plugins are vendored).
    offline
        True: inline every script, stylesheet and stylesheet image; the page needs no other file
        and no network (tile basemaps aside). False: link the files under ``asset_base``.
    asset_base
        URL prefix of :data:`STATIC_DIR` when ``offline`` is False: a path relative to the HTML file
        (default, see :func:`write_html`) or an absolute URL path such as ``/maps/static``.

    Raises
    ------
    AssetError
        A resource is not vendored, or a script or stylesheet would still load from the network.
    """
    localize(m)
    # a fresh page each time: a Figure keeps the scripts of earlier renders, so a second render of the
    # same map would add some layers twice
    figure = Figure()
    figure.add_child(m)
    html = figure.render()
    if offline:
        html = _SCRIPT_TAG.sub(lambda mt: _inline_script(mt.group(1)), html)
        html = _CSS_TAG.sub(lambda mt: "<style>\n" + inline_css(mt.group(1)) + "\n</style>", html)
    else:
        base = asset_base.rstrip("/")
        for match in (*_SCRIPT_TAG.finditer(html), *_CSS_TAG.finditer(html)):
            _asset_path(match.group(1))
        html = html.replace(_MARK, base + "/")
    remote = _EXTERNAL_REF.findall(html)
    if remote:
        raise AssetError("the map would load scripts or stylesheets from the network: " + ", ".join(remote))
    if _MARK in html:
        raise AssetError("an asset reference was not resolved (a script or link tag of unexpected form)")
    return html


def write_html(m: folium.Map, path: Path | str, *, offline: bool = True) -> Path:
    """Write ``m`` to ``path``; without ``offline`` also copy the assets to ``<dir>/village5g-static``.

    Returns the path written. Both forms work from ``file://`` without a network (apart from tile
    basemaps); the offline form is one file that can be mailed or copied alone.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = render_html(m, offline=offline, asset_base=STATIC_FOLDER_NAME)
    if not offline:
        shutil.copytree(STATIC_DIR, path.parent / STATIC_FOLDER_NAME, dirs_exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path
