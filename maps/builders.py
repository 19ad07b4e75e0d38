"""Map builders: village results in, :class:`folium.Map` out. They know nothing of storage or HTTP.

- :func:`region_map`: a city or county: village polygons coloured by verdict with a legend, popups with
  metrics and reasons, search by village name or code, admin boundaries, active 5G sites (clustered,
  then sector wedges coloured by band when zoomed in), the predicted RSRP raster as an overlay, layer
  control and fullscreen.
- :func:`province_map`: cities and counties coloured by 通达率 with drill-down links (``link_template``)
  to their own maps, since some 2万 village polygons do not belong in one page.

Turn a map into HTML with :func:`maps.assets.render_html` (no CDN, optionally one self-contained file).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.plugins import Fullscreen, Search
from folium.template import Template
from folium.utilities import JsCode

from coverage.errors import ConfigError, NotFoundError
from coverage.model.rules import DEFAULT_RULES, RuleSet
from coverage.summary import rate_text, reach_gap, reach_rate, summarize
from maps.assets import VillageAssets
from maps.basemaps import Basemap, add_basemap, get_basemap
from maps.elements import FitView, HtmlControl, PageSetup, ReadyHook, StationLayer, legend_html
from maps.geometry import (
    PRECISION_DEG,
    SIMPLIFY_TOLERANCE_DEG,
    display_geometries,
    display_points,
    feature_collection,
    lonlat_bounds,
)
from maps.raster import rsrp_overlay
from maps.style import (
    BAND_COLORS,
    NO_BASEMAP_BACKGROUND,
    NO_BASEMAP_LAND,
    VILLAGE_CLASSES,
    js_config,
    reach_rate_steps,
    rsrp_steps,
    village_classes,
)

#: Leaflet panes (name, z-index, receives pointer events). Village polygons and sector wedges share
#: Leaflet's ``overlayPane`` (400) so that one canvas dispatches clicks to whichever is on top.
PANES: tuple[tuple[str, int, bool], ...] = (
    ("v5g-land", 250, False),
    ("v5g-raster", 350, False),
    ("v5g-bounds", 450, False),
)
#: Deepest zoom of every map (tile basemaps stop at 18 too).
MAX_ZOOM = 18
#: Sites this close to a region's villages (degrees, about 1 km) are drawn on its map.
STATION_MARGIN_DEG = 0.01
#: Zoom level from which sites are drawn as sector wedges instead of clusters.
WEDGE_ZOOM = 14

_RESULT_COLUMNS = ("code", "name", "township_code", "township_name", "county_code", "county_name",
                   "city_code", "city_name", "verdict", "no_site", "reasons")
#: Popup properties of a village: (property, results column, decimals or None).
_VILLAGE_PROPERTIES: tuple[tuple[str, str, int | None], ...] = (
    ("code", "code", None), ("name", "name", None), ("township", "township_name", None),
    ("county", "county_name", None), ("verdict", "verdict", None), ("p_covered", "p_covered", 2),
    ("confidence", "confidence", None), ("predicted_verdict", "predicted_verdict", None),
    ("measured_verdict", "measured_verdict", None),
    ("verdict_source", "verdict_source", None), ("no_site", "no_site", None), ("reasons", "reasons", None),
    ("sites_inside", "sites_inside", 0), ("nearest_site_m", "nearest_site_m", 0),
    ("nearest_site_id", "nearest_site_id", None), ("good_share", "good_share", 3),
    ("weak_share", "weak_share", 3), ("none_share", "none_share", 3),
    ("committee_rsrp_dbm", "committee_rsrp_dbm", 1), ("committee_sinr_db", "committee_sinr_db", 1),
    ("n_measurements", "n_measurements", 0), ("measured_rsrp_median_dbm", "measured_rsrp_median_dbm", 1),
    ("population", "population", 0),
)
#: The village columns a region map draws (and all a map source reads of each village, with its polygon).
REGION_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys(
    (*_RESULT_COLUMNS, *(column for _, column, _ in _VILLAGE_PROPERTIES), "p_covered")))
#: The columns the province map counts (no village polygon: cities and counties are drawn).
_PROVINCE_COLUMNS = ("city_code", "city_name", "county_code", "county_name", "verdict", "no_site")


class VillageSearch(Search):
    """folium's leaflet-search control matching anywhere in the text (name or 12-digit code)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = new L.Control.Search({
            layer: {{ this.layer.get_name() }},
            propertyName: {{ this.search_label|tojson }},
            initial: false,
            collapsed: {{ this.collapsed|tojson }},
            textPlaceholder: {{ this.placeholder|tojson }},
            textErr: {{ this.not_found|tojson }},
            position: {{ this.position|tojson }},
            marker: false,
            moveToLocation: function (latlng, title, map) {
                map.fitBounds(latlng.layer.getBounds(), {maxZoom: 15});
            }
        });
        {{ this.get_name() }}.on('search:locationfound', function (e) {
            if (e.layer.getPopup()) { e.layer.openPopup(); }
        });
        {{ this._parent.get_name() }}.addControl({{ this.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, layer: folium.GeoJson, *, search_label: str, placeholder: str, not_found: str) -> None:
        super().__init__(layer, search_label=search_label, geom_type="Polygon", placeholder=placeholder,
                         collapsed=False, position="topleft")
        self._name = "VillageSearch"
        self.not_found = not_found


# -- data preparation ---------------------------------------------------------------------------


def _require(results: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in results.columns]
    if missing:
        raise ConfigError(f"village results lack the columns {', '.join(missing)}")
    if results.empty:
        raise NotFoundError("no villages to map")


def property_values(series: pd.Series, decimals: int | None) -> list[Any]:
    """Python values with None for missing, numbers rounded (integers for ``decimals`` 0)."""
    values = series.to_numpy(dtype=object)
    missing = pd.isna(series).to_numpy()
    out: list[Any] = []
    for value, gone in zip(values, missing, strict=True):
        if gone:
            out.append(None)
        elif isinstance(value, bool | np.bool_):
            out.append(bool(value))
        elif decimals is None:
            out.append(value.item() if isinstance(value, np.generic) else value)
        elif decimals == 0:
            out.append(round(float(value)))
        else:
            out.append(round(float(value), decimals))
    return out


def village_properties(results: pd.DataFrame) -> list[dict[str, Any]]:
    """The popup and style properties of each village (``class`` is its legend class)."""
    columns: dict[str, list[Any]] = {}
    for prop, col, decimals in _VILLAGE_PROPERTIES:
        columns[prop] = property_values(results[col], decimals) if col in results.columns else [None] * len(results)
    columns["class"] = village_classes(results["verdict"].to_numpy(), results["no_site"].to_numpy()).tolist()
    columns["search"] = [f"{n} {c}" for n, c in zip(columns["name"], columns["code"], strict=True)]
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def station_data(stations: pd.DataFrame, *, near: np.ndarray, margin_deg: float = STATION_MARGIN_DEG,
                 gcj02: bool = False, precision_deg: float = PRECISION_DEG) -> dict[str, Any] | None:
    """Active 5G (NR) cells within ``margin_deg`` of the polygons ``near`` (WGS84), packed for the page.

    Sites just outside a region serve its border villages, hence the margin. Returns None when there
    are none. Per site: ``lat``, ``lon`` (display coordinates), ``id``; per cell: ``site``, ``az``
    (integer degrees, -1 omnidirectional), ``band``, ``op`` (indexes into ``bands`` and ``operators``).
    """
    lon = stations["lon"].to_numpy(float)
    lat = stations["lat"].to_numpy(float)
    keep = ((stations["status"] == "active") & (stations["rat"] == "NR")).to_numpy()
    tree = shapely.STRtree(np.asarray(near, dtype=object))
    candidates = np.flatnonzero(keep)
    hits, _ = tree.query(shapely.points(lon[candidates], lat[candidates]), predicate="dwithin", distance=margin_deg)
    keep = np.zeros(len(stations), dtype=bool)
    keep[candidates[np.unique(hits)]] = True
    cells = stations[keep]
    if cells.empty:
        return None
    site_idx, site_ids = pd.factorize(cells["site_id"].astype(str))
    first = pd.Series(np.arange(len(cells))).groupby(site_idx).first().to_numpy()
    site_lon, site_lat = display_points(lon[keep][first], lat[keep][first], gcj02=gcj02,
                                        precision_deg=precision_deg)
    band_idx, bands = pd.factorize(cells["band"].astype(str))
    op_idx, operators = pd.factorize(cells["operator"].astype(str))
    azimuth = cells["azimuth_deg"].to_numpy(float)
    az = np.where(np.isnan(azimuth), -1, np.round(np.nan_to_num(azimuth)) % 360).astype(int)
    return {
        "lat": site_lat.tolist(), "lon": site_lon.tolist(), "id": [str(s) for s in site_ids],
        "site": site_idx.tolist(), "az": az.tolist(), "band": band_idx.tolist(), "op": op_idx.tolist(),
        "bands": [str(b) for b in bands], "operators": [str(o) for o in operators],
    }


def _link(template: str | None, *, code: str, level: str, name: str) -> str | None:
    if not template:
        return None
    try:
        return template.format(code=code, level=level, name=name)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"link_template {template!r} cannot be filled: use {{code}}, {{level}}, {{name}} "
                          f"({exc})") from None


# -- map parts ----------------------------------------------------------------------------------


def new_map(bounds: list[list[float]], basemap: Basemap, tianditu_key: str | None,
             config: dict[str, Any]) -> folium.Map:
    """An empty map fitted to ``bounds`` ([[south, west], [north, east]]) with its basemap and page setup."""
    (south, west), (north, east) = bounds
    m = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=9, tiles=None,
                   prefer_canvas=True, control_scale=True, zoom_snap=0.25)
    # folium gives max_zoom to its own tile layer only; marker clustering needs it on the map
    m.options["max_zoom"] = MAX_ZOOM
    VillageAssets().add_to(m)
    PageSetup(config, background=NO_BASEMAP_BACKGROUND if basemap.name == "none" else None).add_to(m)
    add_basemap(m, basemap, tianditu_key=tianditu_key)
    for name, z_index, pointer in PANES:
        folium.map.CustomPane(name, z_index=z_index, pointer_events=pointer).add_to(m)
    FitView(bounds).add_to(m)
    return m


def outline_layer(frame: gpd.GeoDataFrame, style: dict[str, Any], *, pane: str, tolerance_deg: float,
                   precision_deg: float, gcj02: bool) -> folium.GeoJson | None:
    """Non-interactive polygons (boundaries or land) with one style, simplified as one coverage."""
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if frame.empty:
        return None
    geoms = display_geometries(frame.geometry.values, tolerance_deg=tolerance_deg, precision_deg=precision_deg,
                               gcj02=gcj02)
    props = [{"code": str(c)} for c in frame["code"]]
    return folium.GeoJson(feature_collection(geoms, props), style_function=lambda _f: dict(style),
                          control=False, pane=pane, interactive=False)


def land_layer(divisions: gpd.GeoDataFrame | None, **kwargs: Any) -> folium.GeoJson | None:
    """The cities drawn as land under the villages (for the ``none`` basemap); None without divisions."""
    if divisions is None:
        return None
    cities = divisions[divisions["level"] == "city"]
    style = {"fillColor": NO_BASEMAP_LAND, "fillOpacity": 1.0, "color": "#b9b3a6", "weight": 1.0}
    return outline_layer(cities, style, pane="v5g-land", **kwargs)


def _rate_text(covered: int, villages: int) -> str:
    return rate_text(reach_rate(covered, villages))


def _anchor(url: str | None, text: str) -> str:
    """``text`` as an HTML link to ``url`` (plain escaped text without a URL)."""
    if not url:
        return html.escape(text)
    return f'<a href="{html.escape(url)}">{html.escape(text)}</a>'


def _info_html(*, title: str, subtitle: str, villages: int, covered: int, target_rate: float,
               meta: str, parent_link: tuple[str, str] | None,
               children_title: str | None = None,
               children: Sequence[tuple[str, str, int, float, str | None]] = ()) -> str:
    """The info box: name, 通达率, run, the way up and a table of sub-regions (with links when known)."""
    e = html.escape
    parts = []
    if parent_link is not None:
        parts.append(f'<div class="v5g-meta">{_anchor(parent_link[1], "↑ " + parent_link[0])}</div>')
    parts.append(f'<div class="v5g-title">{e(title)} <span class="v5g-sub">{e(subtitle)}</span></div>')
    gap = reach_gap(villages, covered, target_rate)
    parts.append(f'<div class="v5g-rate">5G通达率 reach rate <b>{_rate_text(covered, villages)}</b> '
                 f"({covered:,} / {villages:,}) · 目标 target {target_rate:.0%} · 缺口 gap {gap:,}</div>")
    parts.append(f'<div class="v5g-meta">{e(meta)}</div>')
    if children_title and children:
        rows = "".join(
            f"<tr><td>{_anchor(link, name)}</td>"
            f"<td>{e(code)}</td><td>{n:,}</td><td>{rate:.1%}</td></tr>"
            for name, code, n, rate, link in children
        )
        parts.append(f"<details><summary>{e(children_title)} ({len(children)})</summary>"
                     f"<table>{rows}</table></details>")
    return "".join(parts)


def _meta(run_id: int | None, rules: RuleSet, villages: int) -> str:
    run = f"run {run_id} · " if run_id is not None else ""
    return f"{run}{rules.label} · {villages:,} village-level units"


def _boundaries(divisions: gpd.GeoDataFrame, results: pd.DataFrame, *, level: str, code: str,
                shape: dict[str, Any]) -> folium.FeatureGroup:
    """The region's outline, its counties (city map) and the townships of its villages, as lines."""
    group = folium.FeatureGroup(name="行政区划 boundaries", overlay=True, show=True)
    townships = divisions[(divisions["level"] == "township")
                          & divisions["code"].isin(set(results["township_code"].astype(str)))]
    layers = [(townships, {"color": "#6b6b6b", "weight": 0.8, "dashArray": "3 3", "fill": False})]
    if level == "city":
        counties = divisions[(divisions["level"] == "county") & (divisions["parent_code"] == code)]
        layers.append((counties, {"color": "#3b3b3b", "weight": 1.8, "fill": False}))
    layers.append((divisions[divisions["code"] == code], {"color": "#111111", "weight": 2.6, "fill": False}))
    for frame, style in layers:
        layer = outline_layer(frame, style, pane="v5g-bounds", **shape)
        if layer is not None:
            layer.add_to(group)
    return group


def _region_info(results: pd.DataFrame, *, level: str, code: str, rules: RuleSet, link_template: str | None,
                 parent_link: tuple[str, str] | None, run_id: int | None) -> HtmlControl:
    """The info box of a city or county map, listing its counties (with links) or townships."""
    name_col = f"{level}_name"
    names = results[name_col].dropna()
    child_level = "county" if level == "city" else "township"
    children: list[tuple[str, str, int, float, str | None]] = []
    for row in summarize(results, level=child_level, target_rate=rules.target_rate).to_dict("records"):
        link = _link(link_template, code=row["code"], level=child_level, name=str(row["name"]))
        children.append((str(row["name"] or row["code"]), str(row["code"]), int(row["villages"]),
                         float(row["reach_rate"]), link if child_level == "county" else None))
    return HtmlControl(_info_html(
        title=str(names.iloc[0]) if len(names) else code, subtitle=f"{level} {code}", villages=len(results),
        covered=int((results["verdict"] == "covered").sum()), target_rate=rules.target_rate,
        meta=_meta(run_id, rules, len(results)), parent_link=parent_link,
        children_title="区县 counties" if level == "city" else "乡镇 townships", children=children,
    ), position="topright", css_class="v5g-box v5g-info")


# -- builders -----------------------------------------------------------------------------------


def region_map(results: gpd.GeoDataFrame, *, level: str, code: str, divisions: gpd.GeoDataFrame | None = None,
               stations: pd.DataFrame | None = None, raster_path: Path | str | None = None,
               rules: RuleSet = DEFAULT_RULES, basemap: str = "osm", tianditu_key: str | None = None,
               link_template: str | None = None, parent_link: tuple[str, str] | None = None,
               run_id: int | None = None, show_stations: bool | None = None,
               tolerance_deg: float = SIMPLIFY_TOLERANCE_DEG, precision_deg: float = PRECISION_DEG) -> folium.Map:
    """The map of one city or county.

    Parameters
    ----------
    results
        Village results of the region, as :func:`coverage.store.results_query.query_villages` returns
        them (at least the :data:`REGION_COLUMNS`); EPSG:4326.
    level, code
        ``"city"`` (4-digit code) or ``"county"`` (6-digit code).
    divisions
        The division reference (:meth:`~coverage.store.storage.Store.read_divisions`); draws the boundaries of
        the region, its counties and townships, and (basemap ``none``) the land of every city.
    stations
        Stored stations; the active 5G cells in the region are drawn.
    raster_path
        The run's prediction GeoTIFF: a toggleable RSRP overlay (off when the page opens).
    rules
        The run's rule set: the reach-rate target and the RSRP colour edges.
    basemap, tianditu_key
        ``osm``, ``tianditu`` (needs the key), ``amap`` (features shifted to GCJ-02 for display) or ``none``.
    link_template
        Links from the sub-region table to their maps, e.g. ``"map_{code}.html"`` or
        ``"/maps/{level}/{code}"`` (fields ``code``, ``level``, ``name``); no links when None.
    parent_link
        ``(label, url)`` of the map one level up, shown above the title.
    run_id
        Shown in the info box.
    show_stations
        Whether the station layer is on when the page opens (default: on for a county, off for a city).
    tolerance_deg, precision_deg
        Display simplification tolerance and coordinate rounding, in degrees.

    Raises
    ------
    NotFoundError
        ``results`` is empty.
    ConfigError
        Unknown level or basemap, Tianditu without a key, columns missing.
    """
    if level not in ("city", "county"):
        raise ConfigError(f"a region map is of a city or a county, not {level!r}")
    _require(results, _RESULT_COLUMNS)
    base = get_basemap(basemap)
    gcj02 = base.gcj02
    shape: dict[str, Any] = {"tolerance_deg": tolerance_deg, "precision_deg": precision_deg, "gcj02": gcj02}

    geoms = display_geometries(results.geometry.values, **shape)
    villages_fc = feature_collection(geoms, village_properties(results))
    bounds = lonlat_bounds(geoms)
    m = new_map(bounds, base, tianditu_key, js_config())

    if base.name == "none":
        land = land_layer(divisions, **shape)
        if land is not None:
            land.add_to(m)

    overlay = None
    if raster_path is not None:
        (south, west), (north, east) = bounds
        overlay = rsrp_overlay(raster_path, (west, south, east, north), rules=rules, gcj02=gcj02, clip=geoms)
        folium.raster_layers.ImageOverlay(
            overlay.url, overlay.bounds, name="预测 RSRP predicted SS-RSRP", show=False, overlay=True,
            pane="v5g-raster", interactive=False,
        ).add_to(m)

    villages = folium.GeoJson(villages_fc, name=f"村 villages ({len(villages_fc['features']):,})",
                              style=JsCode("village5g.villageStyle"),
                              on_each_feature=JsCode("village5g.bindVillage"))
    villages.add_to(m)

    if divisions is not None:
        _boundaries(divisions, results, level=level, code=code, shape=shape).add_to(m)

    station_pack = None
    if stations is not None and len(stations):
        station_pack = station_data(stations, near=results.geometry.values, gcj02=gcj02,
                                    precision_deg=precision_deg)
        if station_pack is not None:
            show = (level == "county") if show_stations is None else show_stations
            StationLayer(station_pack, name=f"5G基站 sites ({len(station_pack['id']):,})", show=show,
                         wedge_zoom=WEDGE_ZOOM).add_to(m)

    _region_info(results, level=level, code=code, rules=rules, link_template=link_template,
                 parent_link=parent_link, run_id=run_id).add_to(m)

    classes = village_classes(results["verdict"].to_numpy(), results["no_site"].to_numpy())
    counts = {c.key: int((classes == c.key).sum()) for c in VILLAGE_CLASSES}
    items: list[tuple[str, str, str | None]] = [
        (c.color, f"{c.label_zh} {c.label_en}" + _CLASS_NOTES.get(c.key, ""), f"{counts[c.key]:,}")
        for c in VILLAGE_CLASSES]
    if base.name == "none":
        items.append((NO_BASEMAP_LAND, "居委会等 other units, not counted", None))
    sections: list[tuple[str, list[tuple[str, str, str | None]]]] = [("村 villages", items)]
    uncovered_total = int((results["verdict"] == "uncovered").sum())
    note = (f"无覆盖 uncovered in the summary: {uncovered_total:,} = {counts['uncovered']:,} 无覆盖 + "
            f"{uncovered_total - counts['uncovered']:,} of the 无站址 drawn here (the others are 弱覆盖 weak "
            "without a site). Only village committees (村委会) are coloured.")
    if station_pack is not None:
        bands = [b for b in BAND_COLORS if b in station_pack["bands"]] + ["other"] * any(
            b not in BAND_COLORS for b in station_pack["bands"])
        sections.append((f"扇区 sectors (zoom ≥ {WEDGE_ZOOM})", [(BAND_COLORS[b], b, None) for b in bands]))
    if overlay is not None:
        sections.append(("预测 SS-RSRP", [(s.color, s.label, None) for s in rsrp_steps(rules)]))
    HtmlControl(legend_html(sections, note=note), position="bottomright", css_class="v5g-box v5g-legend").add_to(m)

    VillageSearch(villages, search_label="search", placeholder="村名或代码 village name or code",
                  not_found="没有找到 not found").add_to(m)
    Fullscreen(position="topleft", title="全屏 full screen", title_cancel="退出全屏 exit full screen").add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    ReadyHook().add_to(m)
    return m


#: What each village class of the legend counts (no-site villages are drawn apart from the uncovered).
_CLASS_NOTES = {"uncovered": " (site near)"}


def province_map(results: pd.DataFrame, *, divisions: gpd.GeoDataFrame, rules: RuleSet = DEFAULT_RULES,
                 basemap: str = "osm", tianditu_key: str | None = None,
                 link_template: str | None = "map_{code}.html", run_id: int | None = None,
                 tolerance_deg: float = SIMPLIFY_TOLERANCE_DEG, precision_deg: float = PRECISION_DEG) -> folium.Map:
    """The province: cities (and, as a second layer, counties) coloured by 5G通达率, with drill-down.

    Village polygons are not drawn: each city and county links to its own map through
    ``link_template`` (fields ``code``, ``level``, ``name``; e.g. ``"map_{code}.html"`` for files
    written side by side, ``"/maps/{level}/{code}"`` for the HTTP API). Counties without a polygon of
    their own (development zones drawn inside a host county) appear in their city's popup.
    ``results`` are the villages without geometry (:func:`coverage.store.results_query.result_rows`;
    a GeoDataFrame does too). Other parameters as for :func:`region_map`.
    """
    _require(results, _PROVINCE_COLUMNS)
    base = get_basemap(basemap)
    shape: dict[str, Any] = {"tolerance_deg": tolerance_deg, "precision_deg": precision_deg, "gcj02": base.gcj02}
    target = rules.target_rate
    city_stats = summarize(results, level="city", target_rate=target)
    county_stats = summarize(results, level="county", target_rate=target)

    def features(level: str, stats: pd.DataFrame) -> dict[str, Any]:
        polys = divisions[(divisions["level"] == level) & divisions.geometry.notna()]
        joined = polys[["code", "geometry"]].merge(stats, on="code", how="inner")
        if joined.empty:
            return {"type": "FeatureCollection", "features": []}
        geoms = display_geometries(joined.geometry.values, **shape)
        props = []
        for row in pd.DataFrame(joined.drop(columns="geometry")).to_dict("records"):
            code = str(row["code"])
            prop: dict[str, Any] = {
                "code": code, "name": str(row["name"] or code), "level": level,
                **{k: int(row[k]) for k in ("villages", "covered", "weak", "uncovered", "no_site", "gap_villages")},
                "reach_rate": round(float(row["reach_rate"]), 4),
                "link": _link(link_template, code=code, level=level, name=str(row["name"])),
            }
            if level == "city":
                prop["children"] = [
                    [str(c["code"]), str(c["name"] or c["code"]), int(c["villages"]),
                     _link(link_template, code=str(c["code"]), level="county", name=str(c["name"])),
                     round(float(c["reach_rate"]), 4)]
                    for c in county_stats[county_stats["code"].str.startswith(code)].to_dict("records")
                ]
            props.append(prop)
        return feature_collection(geoms, props)

    cities_fc = features("city", city_stats)
    counties_fc = features("county", county_stats)
    if not cities_fc["features"]:
        raise NotFoundError("no city polygons in the division reference match these results")
    bounds = lonlat_bounds(display_geometries(
        divisions[divisions["level"] == "city"].geometry.dropna().values, tolerance_deg=0.0, gcj02=base.gcj02))
    # the colours spread over the cities' own rates (the layer shown first); counties share them
    rates = city_stats["reach_rate"].to_numpy(dtype=float)
    m = new_map(bounds, base, tianditu_key, js_config(target_rate=target, rates=rates))
    if base.name == "none":
        land = land_layer(divisions, **shape)
        if land is not None:
            land.add_to(m)
    folium.GeoJson(counties_fc, name="区县 counties", show=False, style=JsCode("village5g.rateStyle"),
                   on_each_feature=JsCode("village5g.bindRegion")).add_to(m)
    folium.GeoJson(cities_fc, name="地市 cities", style=JsCode("village5g.rateStyle"),
                   on_each_feature=JsCode("village5g.bindRegion")).add_to(m)

    province = results["province_name"].dropna() if "province_name" in results.columns else pd.Series([])
    covered = int((results["verdict"] == "covered").sum())
    children = [
        (str(r["name"] or r["code"]), str(r["code"]), int(r["villages"]), float(r["reach_rate"]),
         _link(link_template, code=str(r["code"]), level="city", name=str(r["name"])))
        for r in city_stats.to_dict("records")
    ]
    HtmlControl(_info_html(
        title=str(province.iloc[0]) if len(province) else "province", subtitle="province",
        villages=len(results), covered=covered, target_rate=target, meta=_meta(run_id, rules, len(results)),
        parent_link=None, children_title="地市 cities", children=children,
    ), position="topright", css_class="v5g-box v5g-info").add_to(m)
    HtmlControl(legend_html([(
        f"5G通达率 reach rate (目标 target {target:.0%})",
        [(s.color, s.label, None) for s in reach_rate_steps(target, rates)],
    )], note="通达率 = 5G通达村 / 行政村 (村委会); classes below the target spread over the cities' rates. "
             "covered village committees / all village committees."), position="bottomright",
        css_class="v5g-box v5g-legend").add_to(m)
    Fullscreen(position="topleft", title="全屏 full screen", title_cancel="退出全屏 exit full screen").add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    ReadyHook().add_to(m)
    return m
