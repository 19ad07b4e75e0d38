"""Map of a fill-in site plan: planned sites as numbered markers with popups, over the villages
they bring to covered (green) or lose through interference (red). One offline HTML file."""

from __future__ import annotations

import html
from pathlib import Path

import folium
import geopandas as gpd

from maps.assets import write_html


def plan_map(sites: gpd.GeoDataFrame, villages: gpd.GeoDataFrame, path: Path | str) -> Path:
    """Write the plan map of ``sites`` (a :class:`coverage.planning.sites.Plan` table) to ``path``.

    ``villages`` (EPSG:4326, with ``code`` and ``name``) supplies the outlines of the villages each
    site gains or loses. The file works without a network (assets inlined, no tile basemap).
    """
    bounds = villages.total_bounds if sites.empty else sites.total_bounds
    m = folium.Map(location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2], zoom_start=10,
                   tiles=None, control_scale=True)
    by_code = villages.set_index("code")
    for kind, column, colour in (("gained", "villages_gained", "#1a9641"), ("lost", "villages_lost", "#d7191c")):
        codes = [c for text in sites[column] for c in str(text).split(";") if c and c in by_code.index]
        if codes:
            chosen = by_code.loc[codes, ["name", "geometry"]].reset_index()
            folium.GeoJson(chosen.to_json(ensure_ascii=False), name=f"villages {kind}",
                           style_function=lambda _f, c=colour: {"color": c, "fillColor": c, "fillOpacity": 0.35,
                                                                "weight": 1.5},
                           tooltip=folium.GeoJsonTooltip(["code", "name"])).add_to(m)
    layer = folium.FeatureGroup(name="planned sites").add_to(m)
    for row in sites.itertuples():
        popup = (f"<b>#{row.rank} {html.escape(str(row.site_id))}</b><br>{row.operator} {row.band}<br>"
                 f"{row.lon:.6f}, {row.lat:.6f}<br>+{row.gained} covered villages: "
                 f"{html.escape(str(row.villages_gained).replace(';', ', '))}<br>"
                 f"cumulative 通达率 {row.reach_rate:.2%}")
        folium.Marker([row.lat, row.lon], popup=folium.Popup(popup, max_width=320),
                      tooltip=f"#{row.rank} {row.site_id}",
                      icon=folium.DivIcon(html=f'<div style="background:#2b83ba;color:#fff;border-radius:9px;'
                                               f'width:18px;text-align:center;font:11px sans-serif">{row.rank}</div>')
                      ).add_to(layer)
    if not sites.empty:
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    folium.LayerControl().add_to(m)
    return write_html(m, path, offline=True)
