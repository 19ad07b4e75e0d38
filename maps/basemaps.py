"""Basemaps: OpenStreetMap, Tianditu (天地图, needs a key), AMap (高德, GCJ-02) or none.

Our data are WGS84. Tianditu's ``_w`` layers are CGCS2000, which matches WGS84 to well under a pixel,
so nothing is shifted for it. AMap tiles are drawn in GCJ-02: on that basemap every feature is shifted
to GCJ-02 for display only (:attr:`Basemap.gcj02`); stored data never change. ``none`` draws no tiles at
all: our own division polygons are the land, so the map works with no network.
"""

from __future__ import annotations

from dataclasses import dataclass

import folium

from coverage.errors import ConfigError, bi


@dataclass(frozen=True)
class Basemap:
    """A tile basemap (or none).

    Attributes
    ----------
    name
        ``osm``, ``tianditu``, ``amap`` or ``none``.
    gcj02
        The tiles are in GCJ-02: features must be shifted from WGS84 for display.
    online
        Tiles come from a server on the internet.
    """

    name: str
    label: str
    gcj02: bool
    online: bool


BASEMAPS: dict[str, Basemap] = {
    "osm": Basemap("osm", "OpenStreetMap", gcj02=False, online=True),
    "tianditu": Basemap("tianditu", "天地图 Tianditu", gcj02=False, online=True),
    "amap": Basemap("amap", "高德 AMap (GCJ-02)", gcj02=True, online=True),
    "none": Basemap("none", "none (our boundaries only)", gcj02=False, online=False),
}

_OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_OSM_ATTR = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
_TIANDITU_URL = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                 "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
                 "&TILECOL={x}&tk={key}")
_TIANDITU_ATTR = '&copy; <a href="https://www.tianditu.gov.cn/">天地图</a>'
_AMAP_URL = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
_AMAP_ATTR = '&copy; <a href="https://www.amap.com/">高德地图</a> (GCJ-02)'


def get_basemap(name: str) -> Basemap:
    """The basemap called ``name``; :class:`ConfigError` for an unknown name."""
    try:
        return BASEMAPS[name]
    except KeyError:
        raise ConfigError(bi(f"未知底图 {name!r}：应为 {'、'.join(BASEMAPS)} 之一",
                             f"unknown basemap {name!r}; use one of {', '.join(BASEMAPS)}")) from None


def _needs_key(chinese: str, english: str) -> str:
    """The refusal of the Tianditu basemap without a key, naming where to give one."""
    return bi(f"天地图底图需要密钥：请用 {chinese} 提供", f"the tianditu basemap needs a key: {english}")


def add_basemap(m: folium.Map, basemap: Basemap, *, tianditu_key: str | None = None) -> None:
    """Add the tile layers of ``basemap`` to ``m`` (nothing for ``none``).

    Raises :class:`ConfigError` for Tianditu without a key.
    """
    if basemap.name == "osm":
        folium.TileLayer(_OSM_URL, attr=_OSM_ATTR, name=basemap.label, max_zoom=19).add_to(m)
    elif basemap.name == "tianditu":
        key = (tianditu_key or "").strip()
        if not key:
            raise ConfigError(_needs_key("--tianditu-key KEY 或 VILLAGE5G_TIANDITU_KEY",
                                         "--tianditu-key KEY or VILLAGE5G_TIANDITU_KEY"))
        folium.TileLayer(_TIANDITU_URL.replace("{layer}", "vec").replace("{key}", key), attr=_TIANDITU_ATTR,
                         name=basemap.label, subdomains="01234567", max_zoom=18).add_to(m)
        folium.TileLayer(_TIANDITU_URL.replace("{layer}", "cva").replace("{key}", key), attr=_TIANDITU_ATTR,
                         name="天地图注记 labels", overlay=True, subdomains="01234567", max_zoom=18).add_to(m)
    elif basemap.name == "amap":
        folium.TileLayer(_AMAP_URL, attr=_AMAP_ATTR, name=basemap.label, subdomains="1234",
                         max_zoom=18).add_to(m)


def raster_sources(basemap: Basemap, *, tianditu_key: str | None = None) -> list[dict[str, object]]:
    """The basemap as MapLibre raster sources (``tiles`` with the subdomains spelled out), bottom first.

    The same tile servers as :func:`add_basemap`; empty for ``none``. Raises :class:`ConfigError` for
    Tianditu without a key.
    """
    def spell(url: str, subdomains: str) -> list[str]:
        return [url.replace("{s}", s) for s in subdomains] if "{s}" in url else [url]

    if basemap.name == "osm":
        return [{"tiles": spell(_OSM_URL, ""), "attribution": _OSM_ATTR, "maxzoom": 19}]
    if basemap.name == "tianditu":
        key = (tianditu_key or "").strip()
        if not key:
            raise ConfigError(_needs_key("VILLAGE5G_TIANDITU_KEY", "VILLAGE5G_TIANDITU_KEY"))
        return [{"tiles": spell(_TIANDITU_URL.replace("{layer}", layer).replace("{key}", key), "01234567"),
                 "attribution": _TIANDITU_ATTR, "maxzoom": 18} for layer in ("vec", "cva")]
    if basemap.name == "amap":
        return [{"tiles": spell(_AMAP_URL, "1234"), "attribution": _AMAP_ATTR, "maxzoom": 18}]
    return []
