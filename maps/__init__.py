"""Coverage maps (folium): villages by verdict, 5G sites, predicted RSRP and 5G通达率, offline first.

Builders return :class:`folium.Map` objects and know nothing of HTTP; :func:`render_html` turns one
into a page whose every script and stylesheet comes from ``maps/static`` (inlined, or linked under a
base URL). ``maps`` builds on ``coverage``; ``coverage`` never imports ``maps``.
"""

from maps.assets import STATIC_DIR, AssetError, render_html, write_html
from maps.basemaps import BASEMAPS
from maps.build import MapOptions, MapSource, build_map, drill_down_maps
from maps.builders import province_map, region_map

__all__ = [
    "BASEMAPS",
    "STATIC_DIR",
    "AssetError",
    "MapOptions",
    "MapSource",
    "build_map",
    "drill_down_maps",
    "province_map",
    "region_map",
    "render_html",
    "write_html",
]
