"""The map of an audit round (抽查): the sampled villages for the inspection team's route and results.

Each village of the list is a marker at its committee point (村委会), coloured by its field outcome
(passed, failed, not yet tested; :data:`maps.style.AUDIT_CLASSES`); reserves not used yet are grey and
smaller, a tested reserve keeps a dashed ring. Popups give the order (``Rk`` for the k-th reserve of a
stratum), stratum, codes, the run's verdict and predicted SS-RSRP/SINR, the nearest site and its
distance, the GCJ-02 point for navigation apps and the measured medians. The villages' polygons are
outlined; layer control, legend, info box and the offline assets are those of the other maps.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.map import Layer
from folium.plugins import Fullscreen
from folium.template import Template

from coverage.audit.outcomes import PassRule
from coverage.audit.rounds import in_regions, round_outcomes
from coverage.audit.sampling import Sample
from coverage.errors import NotFoundError
from coverage.store.storage import Store
from maps.basemaps import get_basemap
from maps.build import MapOptions
from maps.builders import land_layer, new_map, outline_layer, property_values
from maps.elements import HtmlControl, ReadyHook, legend_html, script_json
from maps.geometry import PRECISION_DEG, SIMPLIFY_TOLERANCE_DEG, display_points, lonlat_bounds
from maps.style import AUDIT_CLASSES, js_config

#: Margin around the sample points when no polygons bound the view (degrees, about 1 km).
POINT_MARGIN_DEG = 0.01

#: Popup properties of a sample point: (property, column of the list or the outcomes, decimals or None).
_POINT_PROPERTIES: tuple[tuple[str, str, int | None], ...] = (
    ("code", "code", None), ("name", "name", None), ("stratum", "stratum", None), ("order", "order", 0),
    ("reserve", "reserve", None), ("township", "township_name", None), ("county", "county_name", None),
    ("verdict", "verdict", None), ("p_covered", "p_covered", 2), ("predicted_rsrp_dbm", "predicted_rsrp_dbm", 1),
    ("predicted_sinr_db", "predicted_sinr_db", 1), ("nearest_site_id", "nearest_site_id", None),
    ("nearest_site_m", "nearest_site_m", 0), ("gcj02_lon", "gcj02_lon", 6), ("gcj02_lat", "gcj02_lat", 6),
    ("n_tests", "n_tests", 0), ("n_pass", "n_pass", 0), ("rsrp_median_dbm", "rsrp_median_dbm", 1),
    ("sinr_median_db", "sinr_median_db", 1), ("dl_median_mbps", "dl_median_mbps", 0),
    ("ul_median_mbps", "ul_median_mbps", 0),
)


class AuditLayer(Layer):
    """The sample points as a Leaflet GeoJSON layer styled and bound by ``village5g.auditLayer``."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = village5g.auditLayer({{ this.data_json }});
        {% endmacro %}
    """)

    def __init__(self, data: dict[str, Any], *, name: str) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "AuditLayer"
        self.data_json = script_json(data)


def point_classes(outcomes: pd.DataFrame) -> np.ndarray:
    """The class of each listed village: ``pass``/``fail`` when tested, else ``reserve`` or ``untested``."""
    tested = outcomes["tested"].astype(bool).to_numpy()
    passed = outcomes["passed"].fillna(False).astype(bool).to_numpy()
    reserve = outcomes["reserve"].astype(bool).to_numpy()
    return np.where(tested, np.where(passed, "pass", "fail"), np.where(reserve, "reserve", "untested")).astype(object)


def order_labels(villages: pd.DataFrame, strata: pd.DataFrame) -> list[str]:
    """``"7"`` for the 7th village of a stratum's sample, ``"R2"`` for its 2nd reserve."""
    size = dict(zip(strata["stratum"].astype(str), strata["sample"].astype(int), strict=True))
    return [f"R{int(o) - size.get(str(s), 0)}" if bool(r) else str(int(o))
            for s, o, r in zip(villages["stratum"], villages["order"], villages["reserve"], strict=True)]


def audit_points(sample: Sample, outcomes: pd.DataFrame, *, gcj02: bool = False,
                 precision_deg: float = PRECISION_DEG) -> dict[str, Any]:
    """The sample list as a GeoJSON FeatureCollection of committee points with popup properties.

    ``outcomes`` is :func:`coverage.audit.outcomes.village_outcomes` of the list, row for row.
    """
    villages = sample.villages.reset_index(drop=True)
    joined = pd.concat([pd.DataFrame(villages.drop(columns="geometry")),
                        outcomes.reset_index(drop=True).drop(columns=[c for c in outcomes.columns
                                                                      if c in villages.columns])], axis=1)
    columns = {prop: property_values(joined[col], decimals) for prop, col, decimals in _POINT_PROPERTIES}
    columns["class"] = point_classes(outcomes).tolist()
    columns["label"] = order_labels(villages, sample.strata)
    names = list(columns)
    lon, lat = display_points(villages["point_lon"].to_numpy(float), villages["point_lat"].to_numpy(float),
                              gcj02=gcj02, precision_deg=precision_deg)
    features = [
        {"type": "Feature", "properties": dict(zip(names, values, strict=True)),
         "geometry": {"type": "Point", "coordinates": [float(x), float(y)]}}
        for values, x, y in zip(zip(*columns.values(), strict=True), lon, lat, strict=True)
        if np.isfinite(x) and np.isfinite(y)
    ]
    return {"type": "FeatureCollection", "features": features}


def _info(sample: Sample, classes: np.ndarray, title: str | None) -> str:
    plan = sample.plan
    design = (f"Cochran {plan.confidence:.0%} ± {plan.margin:.0%}, p {plan.expected_pass:g}" if plan.rate is None
              else f"rate {plan.rate:g}, min {plan.minimum}")
    counts = {c.key: int((classes == c.key).sum()) for c in AUDIT_CLASSES}
    tested = counts["pass"] + counts["fail"]
    share = f"{counts['pass'] / tested:.1%}" if tested else "–"
    head = title or (f"第{sample.round}轮抽查 audit round {sample.round}" if sample.round is not None else "抽查 audit")
    e = html.escape
    return (f'<div class="v5g-title">{e(head)}</div>'
            f'<div class="v5g-rate">通过 passed <b>{counts["pass"]:,}</b> / 已测 tested {tested:,} ({share} of '
            f"the villages tested, unweighted; the report has the stratified estimate)</div>"
            f'<div class="v5g-meta">run {e(str(sample.run_id))} · seed {plan.seed} · strata {e(plan.strata)} · '
            f"{e(design)} · {len(sample.strata)} {'stratum' if len(sample.strata) == 1 else 'strata'} · "
            f"{len(classes):,} villages listed</div>")


def _division_lines(divisions: gpd.GeoDataFrame, villages: pd.DataFrame, shape: dict[str, Any]
                    ) -> folium.FeatureGroup:
    """The outlines of the sample's counties and cities."""
    group = folium.FeatureGroup(name="行政区划 boundaries", overlay=True, show=True)
    for level, width in (("county", 1.2), ("city", 2.4)):
        codes = set(villages[f"{level}_code"].astype(str))
        frame = divisions[(divisions["level"] == level) & divisions["code"].isin(codes)]
        layer = outline_layer(frame, {"color": "#3b3b3b", "weight": width, "fill": False}, pane="v5g-bounds",
                               **shape)
        if layer is not None:
            layer.add_to(group)
    return group


def audit_map(sample: Sample, outcomes: pd.DataFrame, *, polygons: gpd.GeoDataFrame | None = None,
              divisions: gpd.GeoDataFrame | None = None,
              basemap: str = "osm", tianditu_key: str | None = None, title: str | None = None,
              tolerance_deg: float = SIMPLIFY_TOLERANCE_DEG, precision_deg: float = PRECISION_DEG) -> folium.Map:
    """The map of an audit round's sample list.

    Parameters
    ----------
    sample : Sample
        The round (:meth:`coverage.audit.store.AuditStore.read_sample`), perhaps cut to a region.
    outcomes : pandas.DataFrame
        :func:`coverage.audit.outcomes.village_outcomes` of ``sample.villages``, row for row.
    polygons : geopandas.GeoDataFrame, optional
        Village polygons (``code`` and geometry, EPSG:4326) to outline.
    divisions : geopandas.GeoDataFrame, optional
        The division reference: the boundaries of the sample's cities and counties (and, basemap
        ``none``, the land of every city).
    basemap, tianditu_key
        As for :func:`maps.builders.region_map` (``amap`` shifts everything to GCJ-02 for display).
    title : str, optional
        Heading of the info box (default: the round number).
    tolerance_deg, precision_deg
        Display simplification of the outlines and coordinate rounding, in degrees.

    Raises
    ------
    NotFoundError
        The list is empty.
    """
    if sample.villages.empty:
        raise NotFoundError("此抽查轮次没有可绘制的行政村 (the audit round has no villages to map)")
    base = get_basemap(basemap)
    points = audit_points(sample, outcomes, gcj02=base.gcj02, precision_deg=precision_deg)
    coords = np.array([f["geometry"]["coordinates"] for f in points["features"]], dtype=float).reshape(-1, 2)
    extent = [shapely.box(*(coords.min(axis=0) - POINT_MARGIN_DEG), *(coords.max(axis=0) + POINT_MARGIN_DEG))]
    shape: dict[str, Any] = {"tolerance_deg": tolerance_deg, "precision_deg": precision_deg, "gcj02": base.gcj02}
    outline = None
    n_polygons = len(polygons) if polygons is not None else 0
    if polygons is not None and n_polygons:
        outline = outline_layer(polygons, {"color": "#37474f", "weight": 1.4, "fill": True, "fillOpacity": 0.06,
                                            "fillColor": "#37474f"}, pane="v5g-bounds", **shape)
    config = js_config()
    config["auditClasses"] = {c.key: {"color": c.color, "zh": c.label_zh, "en": c.label_en} for c in AUDIT_CLASSES}
    m = new_map(lonlat_bounds(np.array(extent, dtype=object)), base, tianditu_key, config)
    if divisions is not None:
        land = land_layer(divisions, **shape) if base.name == "none" else None
        if land is not None:
            land.add_to(m)
        _division_lines(divisions, sample.villages, shape).add_to(m)
    if outline is not None:
        group = folium.FeatureGroup(name=f"村界 village outlines ({n_polygons:,})", overlay=True, show=True)
        outline.add_to(group)
        group.add_to(m)
    AuditLayer(points, name=f"抽查村 sampled villages ({len(points['features']):,})").add_to(m)
    classes = point_classes(outcomes)
    HtmlControl(_info(sample, classes, title), position="topright", css_class="v5g-box v5g-info").add_to(m)
    items: list[tuple[str, str, str | None]] = [
        (c.color, f"{c.label_zh} {c.label_en}", f"{int((classes == c.key).sum()):,}") for c in AUDIT_CLASSES]
    sections: list[tuple[str, list[tuple[str, str, str | None]]]] = [("抽查 audit sample", items)]
    if outline is not None:
        sections.append(("村界 outlines", [("#37474f", "抽查村 sampled village", None)]))
    HtmlControl(legend_html(sections), position="bottomright", css_class="v5g-box v5g-legend").add_to(m)
    Fullscreen(position="topleft", title="全屏 full screen", title_cancel="退出全屏 exit full screen").add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    ReadyHook().add_to(m)
    return m


def build_audit_map(store: Store, round_number: int, *, city: str | None = None, regions: Sequence[str] = (),
                    rule: PassRule | None = None, options: MapOptions | None = None) -> folium.Map:
    """The map of a stored round (its list inside ``regions`` and, when given, ``city``, a city code).

    Outcomes follow ``rule`` (default :class:`~coverage.audit.outcomes.PassRule`). Raises
    :class:`~coverage.errors.NotFoundError` for an unknown round or a region without its villages.
    """
    options = options or MapOptions()
    sample, outcomes = round_outcomes(store, round_number, rule=rule, regions=regions)
    if city:
        keep = sample.villages["code"].astype(str).str.startswith(city).to_numpy()
        sample, outcomes = in_regions(sample, (city,)), outcomes[keep].reset_index(drop=True)
    if sample.villages.empty:
        raise NotFoundError(f"抽查轮次 {round_number} 在该区域内没有行政村 "
                            f"(audit round {round_number} has no villages there)")
    codes = set(sample.villages["code"].astype(str))
    polygons = pd.concat([store.read("villages", city_code=c) for c in sorted(set(sample.villages["city_code"]))])
    polygons = polygons[polygons["code"].astype(str).isin(codes)]
    return audit_map(sample, outcomes, polygons=gpd.GeoDataFrame(polygons, geometry="geometry", crs="EPSG:4326"),
                     divisions=store.read_divisions(), basemap=options.basemap, tianditu_key=options.tianditu_key)
