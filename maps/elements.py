"""folium elements of our maps: page set-up, HTML controls (legend, info box), the station layer and
the draw-complete hook. Their JavaScript lives in ``static/village5g/village5g.js``.
"""

from __future__ import annotations

import html
import json
from typing import Any

import folium
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

from maps.assets import asset_url


def script_json(value: Any) -> str:
    """Compact JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


class PageSetup(folium.MacroElement):
    """Hands the colour and label tables to the page script; sets the map's background colour."""

    _template = Template("""
        {% macro header(this, kwargs) %}
        {%- if this.background %}
        <style>#{{ this._parent.get_name() }} { background: {{ this.background }}; }</style>
        {%- endif %}
        {% endmacro %}
        {% macro script(this, kwargs) %}
        village5g.configure({{ this.config_json }});
        {% endmacro %}
    """)

    def __init__(self, config: dict[str, Any], *, background: str | None = None) -> None:
        super().__init__()
        self._name = "PageSetup"
        self.config_json = script_json(config)
        self.background = background


class HtmlControl(folium.MacroElement):
    """A Leaflet control holding fixed HTML (legend, info box); ``html`` must already be escaped."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        village5g.control({{ this._parent.get_name() }}, {{ this.html_json }}, {{ this.position|tojson }},
                          {{ this.css_class|tojson }});
        {% endmacro %}
    """)

    def __init__(self, html_text: str, *, position: str = "bottomright", css_class: str = "v5g-box") -> None:
        super().__init__()
        self._name = "HtmlControl"
        self.html_json = script_json(html_text)
        self.position = position
        self.css_class = css_class


class StationLayer(JSCSSMixin, Layer):
    """Active 5G sites: clustered markers, replaced by sector wedges coloured by band from ``wedge_zoom``.

    ``data`` holds per-site arrays ``lat``, ``lon``, ``id`` and per-cell arrays ``site`` (site index),
    ``az`` (azimuth in degrees, -1 omnidirectional), ``band`` and ``op`` (indexes into ``bands`` and
    ``operators``); see :func:`maps.builders.station_data`. Wedges are built in the browser for the
    visible area only, so a city's ~20,000 cells cost nothing until the user zooms in.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = village5g.stationLayer({{ this._parent.get_name() }},
            {{ this.data_json }}, {{ this.layer_options|tojson }});
        {% endmacro %}
    """)

    def __init__(self, data: dict[str, Any], *, name: str, show: bool = True, wedge_zoom: int = 14) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "StationLayer"
        self.default_js = [("markerclusterjs", asset_url("leaflet.markercluster/dist/leaflet.markercluster.js"))]
        self.default_css = [("markerclustercss", asset_url("leaflet.markercluster/dist/MarkerCluster.css"))]
        self.data_json = script_json(data)
        self.layer_options = {"wedgeZoom": wedge_zoom}


class FitView(folium.MacroElement):
    """Fit the map to ``bounds`` (``[[south, west], [north, east]]``) at once, without an animation.

    folium's ``fit_bounds`` animates from the initial zoom, so the first paint would not be the final
    view (and a screenshot or draw time taken at that point would be of a map still moving).
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.fitBounds({{ this.bounds|tojson }}, {animate: false});
        {% endmacro %}
    """)

    def __init__(self, bounds: list[list[float]]) -> None:
        super().__init__()
        self._name = "FitView"
        self.bounds = bounds


class ReadyHook(folium.MacroElement):
    """Records when the map has drawn (``window.village5gDrawnMs``, ``<html data-v5g-drawn-ms>``).

    Add it last: it resolves ``window.village5gReady`` two animation frames after every layer before it
    was added, which is when Leaflet's canvas renderer has painted them.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        village5g.ready({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self) -> None:
        super().__init__()
        self._name = "ReadyHook"


def legend_html(sections: list[tuple[str, list[tuple[str, str, str | None]]]], *, note: str | None = None) -> str:
    """The legend's HTML: ``sections`` of (title, [(colour, label, count text or None)]), then a
    ``note`` saying what is counted."""
    parts = []
    for title, items in sections:
        rows = "".join(
            f'<div class="v5g-item"><span class="v5g-swatch" style="background:{html.escape(color)}"></span>'
            f"{html.escape(label)}"
            + (f'<span class="v5g-count">{html.escape(count)}</span>' if count is not None else "")
            + "</div>"
            for color, label, count in items
        )
        parts.append(f'<div class="v5g-section"><h4>{html.escape(title)}</h4>{rows}</div>')
    if note:
        parts.append(f'<div class="v5g-note">{html.escape(note)}</div>')
    return "".join(parts)
