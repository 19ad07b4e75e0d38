"""Map builders on a hand-made world of four square villages (one per legend class) whose answers can
be checked by eye; no browser (see test_maps_browser.py)."""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import typer
from affine import Affine
from folium.plugins import MiniMap
from typer.testing import CliRunner

from api.cli import root
from api.cli.maps import map_command
from coverage.crs import local_metric_crs, wgs84_to_gcj02
from coverage.errors import ConfigError, NotFoundError
from coverage.model.parameters import ModelParameters
from coverage.model.rules import DEFAULT_RULES
from coverage.model.verdicts import REASONS
from coverage.runs.analysis import run_analysis
from coverage.schema import conform
from coverage.store.storage import Store
from maps import STATIC_DIR, AssetError, MapOptions, MapSource, png, province_map, region_map, render_html, write_html
from maps.assets import PACKAGES, RESOURCES
from maps.builders import station_data, village_properties
from maps.geometry import simplify_coverage
from maps.raster import OVERLAY_ALPHA, rsrp_overlay
from maps.style import VILLAGE_CLASSES, hex_rgb, reach_rate_steps, rsrp_steps, step_index, village_class

# -- the hand-made world -------------------------------------------------------------------------

#: Four 0.01-degree squares in a 2 x 2 block (Jiangdu, Yangzhou): west to east, south to north.
SQUARES = (shapely.box(119.40, 32.40, 119.41, 32.41), shapely.box(119.41, 32.40, 119.42, 32.41),
           shapely.box(119.40, 32.41, 119.41, 32.42), shapely.box(119.41, 32.41, 119.42, 32.42))
CODES = ("321012101201", "321012101202", "321012101203", "321012101204")
# verdict, no_site -> legend class covered, weak, uncovered, no_site
VERDICTS = (("covered", False), ("weak", False), ("uncovered", False), ("uncovered", True))
REASON_CODES = ("committee_good;area_good;area_reached", "committee_weak;area_good_short;area_reached",
                "committee_none;area_good_short;area_reached_short",
                "committee_none;area_good_short;area_reached_short;no_site")


def results_frame() -> gpd.GeoDataFrame:
    """Village results as Store.read_results returns them, one village per legend class."""
    n = len(CODES)
    return gpd.GeoDataFrame({
        "code": list(CODES), "name": ["甲村", "乙村", "丙村", "丁村"],
        "township_code": ["321012101"] * n, "township_name": ["某镇"] * n,
        "county_code": ["321012"] * n, "county_name": ["江都区"] * n,
        "city_code": ["3210"] * n, "city_name": ["扬州市"] * n,
        "province_code": ["32"] * n, "province_name": ["江苏省"] * n,
        "committee_lon": [np.nan] * n, "committee_lat": [np.nan] * n,
        "population": pd.array([1200, None, 800, 650], dtype="Int64"),
        "verdict": [v for v, _ in VERDICTS], "predicted_verdict": [v for v, _ in VERDICTS],
        "measured_verdict": [None] * n, "verdict_source": ["predicted"] * n,
        "no_site": [s for _, s in VERDICTS], "reasons": list(REASON_CODES),
        "sites_inside": [2, 1, 0, 0], "nearest_site_m": [0.0, 0.0, 850.4, 4120.7],
        "nearest_site_id": ["S1", "S2", "S1", "S2"],
        "good_share": [0.9, 0.3, 0.0, 0.0], "weak_share": [0.1, 0.6, 0.1, 0.0], "none_share": [0.0, 0.1, 0.9, 1.0],
        "committee_rsrp_dbm": [-92.34, -109.9, np.nan, np.nan], "committee_sinr_db": [8.0, 1.5, np.nan, np.nan],
        "committee_class": ["good", "weak", "none", "none"], "n_measurements": [0, 0, 0, 0],
        "measured_rsrp_median_dbm": [np.nan] * n,
    }, geometry=list(SQUARES), crs="EPSG:4326")


def divisions_frame() -> gpd.GeoDataFrame:
    """Province, city, county and township around the block, and a development zone with no polygon."""
    block = shapely.box(119.40, 32.40, 119.42, 32.42)
    rows = [
        ("32", "江苏省", "province", None, shapely.box(119.30, 32.30, 119.52, 32.52)),
        ("3210", "扬州市", "city", "32", shapely.box(119.35, 32.35, 119.47, 32.47)),
        ("321012", "江都区", "county", "3210", block.buffer(0.01, join_style="mitre")),
        ("321071", "扬州经济技术开发区", "county", "3210", None),
        ("321012101", "某镇", "township", "321012", block),
    ]
    return gpd.GeoDataFrame(
        {"code": [r[0] for r in rows], "name": [r[1] for r in rows], "level": [r[2] for r in rows],
         "parent_code": [r[3] for r in rows], "host_code": [None, None, None, "321012", None],
         "synthetic": [False] * len(rows)},
        geometry=[r[4] for r in rows], crs="EPSG:4326")


def stations_frame() -> gpd.GeoDataFrame:
    """S1: two n41 sectors; S2: an omnidirectional n28 cell; S3 planned; S4 far away (both not drawn)."""
    rows = {
        "site_id": ["S1", "S1", "S2", "S3", "S4"], "cell_id": ["S1-1", "S1-2", None, None, None],
        "operator": ["CMCC", "CMCC", "CBN", "CTCC", "CUCC"], "rat": ["NR"] * 5,
        "band": ["n41", "n41", "n28", "n78", "n78"],
        "lon": [119.405, 119.405, 119.415, 119.402, 121.0], "lat": [32.405, 32.405, 32.415, 32.418, 31.0],
        "azimuth_deg": [0.0, 120.4, np.nan, 90.0, 0.0], "status": ["active", "active", "active", "planned", "active"],
    }
    return conform("stations", rows, shapely.points(rows["lon"], rows["lat"]))


def write_raster(path: Path, value_dbm: float = -80.0) -> Path:
    """A 100 m GeoTIFF in a local TM CRS over the block: ``value_dbm`` in the west half, nodata east."""
    crs = local_metric_crs((119.40, 32.40, 119.42, 32.42))
    from coverage.crs import project_xy

    (x0, x1), (y0, y1) = project_xy([119.395, 119.425], [32.395, 32.425], crs)
    width, height = int((x1 - x0) // 100) + 1, int((y1 - y0) // 100) + 1
    data = np.full((3, height, width), -999.0, dtype=np.float32)
    data[0, :, : width // 2] = value_dbm
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3, dtype="float32",
                       crs=crs.to_wkt(), transform=Affine(100.0, 0, x0, 0, -100.0, y1), nodata=-999.0) as dst:
        dst.write(data)
    return path


def layer(m: folium.Map, prefix: str) -> Any:
    """The child of ``m`` whose layer name starts with ``prefix``."""
    for child in m._children.values():
        if getattr(child, "layer_name", "").startswith(prefix):
            return child
    raise AssertionError(f"no layer {prefix!r}")


def city_map(**kwargs: Any) -> folium.Map:
    options: dict[str, Any] = {"divisions": divisions_frame(), "stations": stations_frame(), "basemap": "none"}
    options.update(kwargs)
    return region_map(results_frame(), level="city", code="3210", **options)


def asset_refs(html: str) -> list[str]:
    """src/href of every script and link tag."""
    return re.findall(r"""<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']*)""", html, re.IGNORECASE)


# -- legend, popups, properties ------------------------------------------------------------------


def test_legend_classes_follow_verdict_with_no_site_winning_unless_covered() -> None:
    assert [village_class(v, s) for v, s in VERDICTS] == ["covered", "weak", "uncovered", "no_site"]
    assert village_class("covered", True) == "covered"
    assert village_class("weak", True) == "no_site"
    assert [c.key for c in VILLAGE_CLASSES] == ["covered", "weak", "uncovered", "no_site"]


def test_city_map_legend_lists_the_four_classes_with_counts() -> None:
    html = render_html(city_map())
    for c in VILLAGE_CLASSES:
        assert re.search(re.escape(c.color) + r".{0,200}" + re.escape(f"{c.label_zh} {c.label_en}")
                         + r".{0,80}>1<", html), c.key
    assert "5G通达率 reach rate" in html and "25.0%" in html  # 1 covered of 4


def test_village_properties_carry_class_metrics_and_reason_codes() -> None:
    props = village_properties(results_frame())
    assert [p["class"] for p in props] == ["covered", "weak", "uncovered", "no_site"]
    first = props[0]
    assert first["reasons"] == REASON_CODES[0]
    assert first["committee_rsrp_dbm"] == -92.3 and first["nearest_site_m"] == 0
    assert first["search"] == "甲村 321012101201"
    assert props[1]["population"] is None and props[2]["committee_rsrp_dbm"] is None
    json.dumps(props, allow_nan=False)  # no NaN reaches the page


def test_popups_show_reasons_with_their_explanations() -> None:
    m = city_map()
    villages = layer(m, "村 villages")
    assert {f["properties"]["reasons"] for f in villages.data["features"]} == set(REASON_CODES)
    html = render_html(m)
    config = json.loads(re.search(r"village5g\.configure\((\{.*?\})\);", html).group(1))
    assert config["reasons"] == REASONS  # the popup script turns each code into this text
    assert "village5g.bindVillage" in html and "villagePopup" in html


def test_search_matches_name_or_code_anywhere() -> None:
    html = render_html(city_map())
    assert "new L.Control.Search(" in html and "initial: false" in html
    assert '"search": "\\u4e01\\u6751 321012101204"' in html or '"search": "丁村 321012101204"' in html


# -- basemaps and the GCJ-02 display shift -------------------------------------------------------


def _village_geoms(m: folium.Map) -> np.ndarray:
    return shapely.normalize(np.array([shapely.geometry.shape(f["geometry"])
                                       for f in layer(m, "村 villages").data["features"]]))


@pytest.mark.parametrize("basemap", ["osm", "none", "tianditu"])
def test_no_shift_except_on_gcj02_basemaps(basemap: str) -> None:
    geoms = _village_geoms(city_map(basemap=basemap, tianditu_key="k123"))
    assert shapely.equals_exact(geoms, shapely.normalize(np.array(SQUARES)), tolerance=1e-9).all()


def test_amap_shifts_villages_stations_and_bounds_to_gcj02() -> None:
    m = city_map(basemap="amap")
    geoms = _village_geoms(m)

    def shift(c: np.ndarray) -> np.ndarray:
        return np.column_stack(wgs84_to_gcj02(c[:, 0], c[:, 1]))

    shifted = shapely.normalize(shapely.transform(np.array(SQUARES), shift))
    assert shapely.equals_exact(geoms, shifted, tolerance=1e-5).all()
    assert not shapely.equals_exact(geoms, shapely.normalize(np.array(SQUARES)), tolerance=1e-3).any()
    stations = json.loads(layer(m, "5G基站").data_json)
    slon, slat = wgs84_to_gcj02(119.405, 32.405)
    assert (stations["lon"][0], stations["lat"][0]) == (round(slon, 5), round(slat, 5))
    assert "autonavi.com" in render_html(m)


def test_tianditu_needs_a_key_and_puts_it_in_the_tile_url() -> None:
    with pytest.raises(ConfigError) as refused:
        city_map(basemap="tianditu")
    assert str(refused.value) == ("天地图底图需要密钥：请用 --tianditu-key KEY 或 VILLAGE5G_TIANDITU_KEY 提供 "
                                  "(the tianditu basemap needs a key: --tianditu-key KEY or VILLAGE5G_TIANDITU_KEY)")
    html = render_html(city_map(basemap="tianditu", tianditu_key="k123"))
    assert "tianditu.gov.cn/vec_w" in html and "tk=k123" in html


def test_unknown_basemap_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="basemap"):
        city_map(basemap="google")


def test_no_basemap_draws_our_own_land_and_no_tiles() -> None:
    html = render_html(city_map(basemap="none"))
    assert "L.tileLayer" not in html
    assert "v5g-land" in html


# -- display geometry -----------------------------------------------------------------------------


def test_coverage_simplification_keeps_shared_borders_shared() -> None:
    # two villages sharing a ragged border of 201 vertices (4 m noise, below the 1e-4 degree tolerance)
    rng = np.random.default_rng(2)
    noise = rng.normal(0.0, 4e-5, 201)
    noise[[0, -1]] = 0.0
    border = np.column_stack([119.41 + noise, np.linspace(32.40, 32.41, 201)])
    west = shapely.Polygon([(119.40, 32.40), *border, (119.40, 32.41)])
    east = shapely.Polygon([(119.42, 32.40), (119.42, 32.41), *border[::-1]])
    both = np.array([west, east])
    assert shapely.coverage_is_valid(both)
    out = simplify_coverage(both, 1e-4)
    assert (shapely.get_num_coordinates(out) < shapely.get_num_coordinates(both) / 3).all()
    assert shapely.coverage_is_valid(out)  # no gap, no overlap: the border is still one line
    shared = shapely.intersection(out[0].boundary, out[1].boundary)
    assert shapely.get_num_coordinates(shared) > 2 and shared.length >= 0.01
    # simplifying each polygon on its own (Douglas-Peucker) opens gaps and overlaps along that border
    assert not shapely.coverage_is_valid(shapely.simplify(both, 1e-4))


def test_coordinates_are_rounded_in_the_page() -> None:
    results = results_frame()
    results.loc[0, "geometry"] = shapely.box(119.4000012345, 32.4000098765, 119.41, 32.41)
    m = region_map(results, level="city", code="3210", basemap="none")
    coords = shapely.get_coordinates(_village_geoms(m))
    assert np.all(np.abs(coords * 1e5 - np.round(coords * 1e5)) < 1e-6)


def test_missing_or_empty_geometries_pass_through_simplification() -> None:
    out = simplify_coverage([None, shapely.Polygon(), SQUARES[0]], 1e-4)
    assert out[0] is None and out[1].is_empty and out[2].equals(SQUARES[0])


# -- stations --------------------------------------------------------------------------------------


def test_station_data_packs_active_5g_cells_in_the_area() -> None:
    data = station_data(stations_frame(), near=np.array(SQUARES))
    assert data is not None
    assert data["id"] == ["S1", "S2"]  # planned S3 and far-away S4 left out
    assert data["site"] == [0, 0, 1] and data["az"] == [0, 120, -1]
    assert [data["bands"][b] for b in data["band"]] == ["n41", "n41", "n28"]
    assert station_data(stations_frame(), near=np.array([shapely.box(100.0, 20.0, 100.1, 20.1)])) is None
    near_s2 = station_data(stations_frame(), near=np.array([shapely.box(119.42, 32.41, 119.43, 32.42)]),
                           margin_deg=0.006)
    assert near_s2 is not None and near_s2["id"] == ["S2"]  # 0.005 degrees west of that square


def test_stations_are_on_for_a_county_and_off_for_a_city_by_default() -> None:
    county = region_map(results_frame(), level="county", code="321012", stations=stations_frame(), basemap="none")
    assert layer(county, "5G基站").show and not layer(city_map(), "5G基站").show


# -- raster overlay ----------------------------------------------------------------------------------


def test_rsrp_overlay_colours_by_rule_set_steps_and_leaves_nodata_transparent(tmp_path: Path) -> None:
    raster = write_raster(tmp_path / "prediction.tif", value_dbm=-80.0)
    overlay = rsrp_overlay(raster, (119.40, 32.40, 119.42, 32.42), rules=DEFAULT_RULES)
    assert overlay.bounds == [[32.40, 119.40], [32.42, 119.42]]
    img = png.decode(__import__("base64").b64decode(overlay.url.split(",", 1)[1]))
    assert img.shape == (overlay.height, overlay.width, 4)
    strong = (*hex_rgb(rsrp_steps(DEFAULT_RULES)[0].color), OVERLAY_ALPHA)  # -80 dBm: >= -85
    west, east = img[:, : overlay.width // 3], img[:, -overlay.width // 3:]
    assert (west == strong).all(axis=2).mean() > 0.95
    assert (east[..., 3] == 0).all()


def test_rsrp_overlay_is_clipped_to_the_villages(tmp_path: Path) -> None:
    raster = write_raster(tmp_path / "prediction.tif")
    overlay = rsrp_overlay(raster, (119.39, 32.39, 119.43, 32.43), rules=DEFAULT_RULES, clip=np.array(SQUARES[:1]))
    img = png.decode(__import__("base64").b64decode(overlay.url.split(",", 1)[1]))
    opaque = img[..., 3] > 0
    assert 0.05 < opaque.mean() < 0.12  # one village of 0.01 x 0.01 in a 0.04 x 0.04 degree frame


def test_region_map_adds_the_raster_as_a_hidden_overlay(tmp_path: Path) -> None:
    m = city_map(raster_path=write_raster(tmp_path / "prediction.tif"))
    overlay = layer(m, "预测 RSRP")
    assert not overlay.show and overlay.url.startswith("data:image/png;base64,")
    assert "预测 SS-RSRP" in render_html(m)  # its legend section


# -- province ------------------------------------------------------------------------------------------


def test_province_map_colours_regions_by_reach_rate_and_links_down() -> None:
    m = province_map(results_frame(), divisions=divisions_frame(), basemap="none", link_template="/maps/{level}/{code}")
    cities = layer(m, "地市 cities").data["features"]
    assert len(cities) == 1
    city = cities[0]["properties"]
    assert city["reach_rate"] == 0.25 and city["link"] == "/maps/city/3210" and city["gap_villages"] == 3
    assert city["children"] == [["321012", "江都区", 4, "/maps/county/321012", 0.25]]
    counties = layer(m, "区县 counties")
    assert not counties.show and counties.data["features"][0]["properties"]["link"] == "/maps/county/321012"
    assert "village5g.rateStyle" in render_html(m)


#: 通达率 of the 13 Jiangsu cities in the README's seed-world table (49.4% to 78.7%, all below 90%).
SEED_CITY_RATES = (0.706, 0.679, 0.637, 0.652, 0.726, 0.671, 0.494, 0.661, 0.541, 0.787, 0.708, 0.730, 0.742)


def test_province_colours_spread_over_the_cities_rates_with_the_target_marked() -> None:
    steps = reach_rate_steps(0.9, SEED_CITY_RATES)
    assert steps[0].lower == 0.9 and "target" in steps[0].label and "90%" in steps[0].label
    # the old fixed scale (classes 5 points wide below the target) put all 13 cities under 80%: one red province
    # spread from 49% to 79%: edges 56.5 -> 0.56 (rounded), 0.64, 0.72; 79%-90% below target
    assert [s.lower for s in steps[1:-1]] == pytest.approx([0.79, 0.72, 0.64, 0.56])
    colours = [steps[i].color for i in step_index(np.array(SEED_CITY_RATES), steps)]
    assert len(set(colours)) == 4
    assert colours[6] == colours[8] == steps[-1].color  # 连云港 49.4%, 盐城 54.1%: the lowest class
    assert colours[9] == steps[2].color  # 扬州 78.7%
    # rates at or above the target leave the fixed classes below it
    assert [s.lower for s in reach_rate_steps(0.9, [0.95])] == [s.lower for s in reach_rate_steps(0.9)]


def test_province_legend_marks_the_target_and_says_what_is_counted() -> None:
    html = render_html(province_map(results_frame(), divisions=divisions_frame(), basemap="none"))
    assert "5G通达率 reach rate (目标 target 90%)" in html
    assert "通达率 = 5G通达村 / 行政村 (村委会)" in html


def test_city_legend_reconciles_uncovered_with_the_summary_and_names_grey_units() -> None:
    html = render_html(city_map())
    # results_frame: two uncovered villages, one of them without a site (drawn as 无站址)
    assert "无覆盖 uncovered in the summary: 2 = 1 无覆盖 + 1 of the 无站址 drawn here" in html
    assert "居委会等 other units, not counted" in html
    assert "居委会等" not in render_html(city_map(basemap="osm"))  # no land layer under map tiles


def test_bad_link_template_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="link_template"):
        province_map(results_frame(), divisions=divisions_frame(), link_template="map_{id}.html")


def test_an_empty_region_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        region_map(results_frame().iloc[:0], level="city", code="3210")


# -- assets: offline first --------------------------------------------------------------------------


@pytest.mark.parametrize("basemap", ["none", "osm", "amap"])
@pytest.mark.parametrize("offline", [True, False])
def test_no_cdn_url_in_any_script_or_link_tag(basemap: str, offline: bool) -> None:
    html = render_html(city_map(basemap=basemap), offline=offline)
    refs = asset_refs(html)
    assert not [r for r in refs if "http" in r or r.startswith("//")]
    if offline:
        assert refs == []  # everything inlined
    else:
        assert refs and all(r.startswith("village5g-static/") for r in refs)
        for ref in refs:
            assert (STATIC_DIR / ref.removeprefix("village5g-static/")).is_file(), ref
    assert "$(" not in html and "AwesomeMarkers" not in html  # jQuery and its plugins are not shipped


def test_offline_page_inlines_leaflet_and_its_images() -> None:
    html = render_html(city_map(), offline=True)
    assert "Leaflet 1.9.4" in html
    assert "url(images/" not in html and 'url("data:image/png;base64,' in html
    assert "L.markerClusterGroup" in html and "L.Control.Search" in html


def test_write_html_copies_the_assets_when_not_offline(tmp_path: Path) -> None:
    write_html(city_map(), tmp_path / "city.html", offline=False)
    static = tmp_path / "village5g-static"
    assert (static / "leaflet" / "dist" / "leaflet.js").is_file()
    assert (static / "leaflet" / "LICENSE").is_file()
    single = write_html(city_map(), tmp_path / "single" / "city.html", offline=True)
    assert [p.name for p in single.parent.iterdir()] == ["city.html"]


def test_a_plugin_without_vendored_files_is_refused() -> None:
    m = city_map()
    MiniMap().add_to(m)
    with pytest.raises(AssetError, match="not vendored"):
        render_html(m)


def test_rendering_twice_gives_the_same_page() -> None:
    m = city_map()
    first, second = render_html(m), render_html(m, offline=False, asset_base="/maps/static")
    assert render_html(m).count(".addTo(") == first.count(".addTo(")  # no layer added twice
    assert '<script src="/maps/static/leaflet/dist/leaflet.js">' in second


def test_other_maps_keep_folium_defaults() -> None:
    render_html(city_map())
    assert folium.Map.default_js[0][1].startswith("https://")  # instance lists only, no global change


def test_vendored_packages_have_licences_readme_rows_and_safe_scripts() -> None:
    readme = (STATIC_DIR / "README.md").read_text(encoding="utf-8")
    for package in PACKAGES:
        assert (STATIC_DIR / package.license_file).is_file(), package.name
        assert f"| {package.name} | {package.version} | {package.license}" in readme
    for path in (p for p in RESOURCES.values() if p is not None):
        text = (STATIC_DIR / path).read_text(encoding="utf-8")
        assert "</script" not in text.lower() and "</style" not in text.lower(), path


# -- PNG -----------------------------------------------------------------------------------------------


def _png_rgb(rows: np.ndarray, filters: list[int]) -> bytes:
    """An RGB PNG of ``rows`` (h, w, 3) written with the given filter type per row (PNG spec 9.2)."""
    h, w, _ = rows.shape
    flat = rows.reshape(h, w * 3).astype(int)
    out = bytearray()
    for y, kind in enumerate(filters):
        cur, prev = flat[y], flat[y - 1] if y else np.zeros(w * 3, dtype=int)
        left = np.concatenate([[0, 0, 0], cur[:-3]])
        upleft = np.concatenate([[0, 0, 0], prev[:-3]])
        if kind == 0:
            pred = np.zeros_like(cur)
        elif kind == 1:
            pred = left
        elif kind == 2:
            pred = prev
        elif kind == 3:
            pred = (left + prev) // 2
        else:
            p = left + prev - upleft
            pa, pb, pc = abs(p - left), abs(p - prev), abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        out += bytes([kind]) + bytes(((cur - pred) % 256).astype(np.uint8))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(out))) + chunk(b"IEND", b""))


def test_png_decoder_undoes_every_filter() -> None:
    rng = np.random.default_rng(7)
    rows = rng.integers(0, 256, size=(10, 9, 3), dtype=np.uint8)
    img = png.decode(_png_rgb(rows, [0, 1, 2, 3, 4, 4, 3, 2, 1, 0]))
    np.testing.assert_array_equal(img[..., :3], rows)
    assert (img[..., 3] == 255).all()


def test_palette_png_round_trip() -> None:
    index = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    palette = [(0, 0, 0, 0), (255, 0, 0, 200), (0, 128, 255, 255)]
    img = png.decode(png.encode_indexed(index, palette))
    np.testing.assert_array_equal(img, np.array(palette, dtype=np.uint8)[index])


# -- from a store, through the CLI ---------------------------------------------------------------------


#: A site 0.0095 degree east of the block's edge: inside the 0.01-degree margin of STATION_MARGIN_DEG.
MARGIN_SITE = {"site_id": ["S5"], "operator": ["CMCC"], "rat": ["NR"], "band": ["n41"], "lon": [119.4295],
               "lat": [32.41], "status": ["active"]}


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The hand-made world stored and analysed (with a prediction raster), and S5: a site east of the
    block, outside its envelope but within the margin a map draws sites in."""
    folder = tmp_path_factory.mktemp("maps-store")
    url = f"sqlite:///{folder / 'maps.db'}"
    store = Store(url)
    store.create_schema()
    villages = results_frame()
    stations = pd.concat([pd.DataFrame(stations_frame().drop(columns="geometry")), pd.DataFrame(MARGIN_SITE)],
                         ignore_index=True)
    village_cols = [c for c in ("code", "name", "township_code", "township_name", "county_code", "county_name",
                                "city_code", "city_name", "province_code", "province_name")]
    frames = {"villages": conform("villages", villages[village_cols], villages.geometry.values),
              "stations": conform("stations", stations, shapely.points(stations["lon"], stations["lat"])),
              "measurements": conform("measurements", {}, [])}
    store.seed(divisions_frame=divisions_frame(), frames=frames, fingerprint="test")  # type: ignore[arg-type]
    run_analysis(store, rules=DEFAULT_RULES, params=ModelParameters(workers=1), scope="all",
                 artifacts_dir=folder / "runs")
    store.dispose()
    return url


def test_map_source_builds_every_level_of_a_run(small_store: str) -> None:
    store = Store(small_store)
    source = MapSource.load(store)
    assert source.raster_path is not None and source.raster_path.is_file()
    assert source.regions("city") == [("3210", "扬州市")]
    assert layer(source.region(city="扬州"), "预测 RSRP")
    assert layer(source.region(county="321012"), "村 villages")
    assert layer(source.province(), "地市 cities")
    with pytest.raises(NotFoundError):
        source.region(city="9999")
    store.dispose()


def numbered(page: str) -> str:
    """A page with folium's random element ids numbered in order of appearance (pages drawn from the
    same data then compare equal)."""
    ids: dict[str, str] = {}
    return re.sub(r"[0-9a-f]{32}", lambda hit: ids.setdefault(hit.group(0), f"id{len(ids)}"), page)


def drawn_from_the_whole_run(store: Store, level: str, code: str | None) -> folium.Map:
    """A map as the maps drew it before they read through the SQL layer: the whole run, every division
    and every station read, the region kept in memory, then the same builder."""
    results, source = store.read_results(), MapSource.load(store)
    divisions = store.read_divisions()
    if code is None:
        return province_map(results, divisions=divisions, rules=source.rules, basemap="none", link_template=None,
                            run_id=source.run_id)
    return region_map(results[(results[f"{level}_code"] == code).to_numpy()].copy(), level=level, code=code,
                      divisions=divisions, stations=store.read("stations"), raster_path=source.raster_path,
                      rules=source.rules, basemap="none", run_id=source.run_id)


@pytest.mark.parametrize(("level", "code"), [("county", "321012"), ("city", "3210"), ("province", None)])
def test_maps_read_in_sql_draw_the_pages_the_whole_run_drew(small_store: str, level: str, code: str | None) -> None:
    store = Store(small_store)
    source, options = MapSource.load(store), MapOptions(basemap="none")
    after = source.province(options) if code is None else source.region(**{level: code}, options=options)
    before = drawn_from_the_whole_run(store, level, code)
    store.dispose()
    assert numbered(render_html(after)) == numbered(render_html(before))
    if code is not None:  # the sites are read by envelope in SQL: the one just outside it is still drawn
        assert json.loads(layer(after, "5G基站").data_json)["id"] == ["S1", "S2", "S5"]


def _cli_app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(root._global)
    app.command("map")(map_command)
    return app


@pytest.mark.parametrize("args", [["--city", "3210", "--basemap", "osm", "--assets-folder"],
                                  ["--county", "江都区"], []])
def test_cli_writes_a_map(small_store: str, tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "map.html"
    result = CliRunner().invoke(_cli_app(), ["--db", small_store, "map", *args, "-o", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "village5g.ready(" in html
    assert not [r for r in asset_refs(html) if "http" in r]
    # by default one self-contained file on our own boundaries, like the demo's: it survives being mailed
    assert (tmp_path / "village5g-static").is_dir() == ("--assets-folder" in args)
    assert ("tile.openstreetmap.org" in html) == ("osm" in args)


def test_cli_drill_down_writes_linked_maps(small_store: str, tmp_path: Path) -> None:
    out = tmp_path / "province.html"
    result = CliRunner().invoke(_cli_app(), ["--db", small_store, "map", "--drill-down", "--basemap", "none",
                                             "--offline", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("*.html")) == ["map_3210.html", "map_321012.html", "province.html"]
    assert "map_3210.html" in out.read_text(encoding="utf-8")
    county = (tmp_path / "map_321012.html").read_text(encoding="utf-8")
    assert "↑ 扬州市" in county and "map_3210.html" in county  # the way up


def test_cli_refuses_drill_down_with_a_region(small_store: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(_cli_app(), ["--db", small_store, "map", "--drill-down", "--city", "3210",
                                             "-o", str(tmp_path / "x.html")])
    assert result.exit_code != 0
