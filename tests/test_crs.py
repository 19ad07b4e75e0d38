"""CRS module: GCJ-02 against published vectors, round-trip accuracy, CRS resolution, local tmerc."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage import crs
from coverage.errors import ConfigError

# Published WGS84 -> GCJ-02 test vectors of googollee/eviltransform (go/transform_test.go and
# python/test.py, identical in both): (wgs_lat, wgs_lng, gcj_lat, gcj_lng). The reference
# implementation uses the same Krasovsky constants; our forward transform reproduces them to the last
# printed digit. (The pair WGS84 (116.397428, 39.90923) often quoted for Tiananmen maps to
# (116.4036716, 39.9106335) with this algorithm; the frequently copied 39.910628 is 0.6 m off.)
EVILTRANSFORM_VECTORS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]

JIANGSU_LON = st.floats(116.3, 121.95, allow_nan=False)
JIANGSU_LAT = st.floats(30.7, 35.2, allow_nan=False)


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Geodesic distance on WGS84 (m)."""
    return float(pyproj.Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)[2])


@pytest.mark.parametrize(("wgs_lat", "wgs_lng", "gcj_lat", "gcj_lng"), EVILTRANSFORM_VECTORS)
def test_forward_matches_published_vectors(
    wgs_lat: float, wgs_lng: float, gcj_lat: float, gcj_lng: float
) -> None:
    lon, lat = crs.wgs84_to_gcj02(wgs_lng, wgs_lat)
    assert isinstance(lon, float) and isinstance(lat, float)
    assert lon == pytest.approx(gcj_lng, abs=1e-9)
    assert lat == pytest.approx(gcj_lat, abs=1e-9)


@pytest.mark.parametrize(("wgs_lat", "wgs_lng", "gcj_lat", "gcj_lng"), EVILTRANSFORM_VECTORS)
def test_inverse_recovers_published_vectors(
    wgs_lat: float, wgs_lng: float, gcj_lat: float, gcj_lng: float
) -> None:
    lon, lat = crs.gcj02_to_wgs84(gcj_lng, gcj_lat)
    # eviltransform's own "exact" inverse only promises 0.5 m; the iteration does far better
    assert _metres(lon, lat, wgs_lng, wgs_lat) < 0.001


def test_vectorised_over_arrays_of_any_shape() -> None:
    lon = np.array([[121.5272106, 113.912316], [116.377817, 119.4]])
    lat = np.array([[31.1774276, 22.543847], [39.911954, 32.4]])
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    assert glon.shape == lon.shape and glat.dtype == np.float64
    for (i, j), value in np.ndenumerate(lon):
        assert (glon[i, j], glat[i, j]) == crs.wgs84_to_gcj02(float(value), float(lat[i, j]))
    wlon, wlat = crs.gcj02_to_wgs84(glon, glat)
    np.testing.assert_allclose(wlon, lon, atol=1e-9)
    np.testing.assert_allclose(wlat, lat, atol=1e-9)


def test_outside_china_gcj_equals_wgs84_and_nan_passes() -> None:
    lon = np.array([2.3522, 139.6917, np.nan, 119.4])  # Paris, Tokyo, missing, Jiangsu
    lat = np.array([48.8566, 35.6895, np.nan, 32.4])
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    assert (glon[:2] == lon[:2]).all() and (glat[:2] == lat[:2]).all()
    assert np.isnan(glon[2]) and np.isnan(glat[2])
    assert glon[3] != lon[3]
    wlon, wlat = crs.gcj02_to_wgs84(lon, lat)
    assert (wlon[:2] == lon[:2]).all() and (wlat[:2] == lat[:2]).all() and np.isnan(wlon[2])


@settings(max_examples=300, deadline=None)
@given(JIANGSU_LON, JIANGSU_LAT)
def test_round_trip_is_below_one_centimetre_in_jiangsu(lon: float, lat: float) -> None:
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = crs.gcj02_to_wgs84(glon, glat)
    assert _metres(lon, lat, back_lon, back_lat) < 0.01


@settings(max_examples=200, deadline=None)
@given(JIANGSU_LON, JIANGSU_LAT)
def test_offset_in_jiangsu_is_a_few_hundred_metres(lon: float, lat: float) -> None:
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    assert 300.0 < _metres(lon, lat, glon, glat) < 700.0


# --- resolve_crs --------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "name", "is_gcj02"), [
    ("wgs84", "EPSG:4326", False),
    ("WGS-84", "EPSG:4326", False),
    ("EPSG:4326", "EPSG:4326", False),
    (4326, "EPSG:4326", False),
    ("cgcs2000", "EPSG:4490", False),
    ("CGCS2000", "EPSG:4490", False),
    ("gcj02", "gcj02", True),
    ("GCJ-02", "gcj02", True),
    ("EPSG:4549", "EPSG:4549", False),
    ("4549", "EPSG:4549", False),
    (pyproj.CRS.from_epsg(4547), "EPSG:4547", False),
])
def test_resolve_crs(spec: object, name: str, is_gcj02: bool) -> None:
    resolved = crs.resolve_crs(spec)
    assert resolved.name == name
    assert resolved.is_gcj02 is is_gcj02
    assert (resolved.crs is None) is is_gcj02
    assert resolved.is_geographic is (name != "EPSG:4549" and name != "EPSG:4547")


def test_resolve_crs_accepts_proj_strings() -> None:
    resolved = crs.resolve_crs("+proj=tmerc +lon_0=120 +k=1 +x_0=500000 +ellps=GRS80 +units=m")
    assert resolved.crs is not None and resolved.crs.is_projected and not resolved.is_gcj02


@pytest.mark.parametrize("spec", ["mars", "EPSG:999999", "", "bd09", None, True])
def test_resolve_crs_rejects_unknown(spec: object) -> None:
    with pytest.raises(ConfigError):
        crs.resolve_crs(spec)


def test_epsg_4547_and_4549_are_the_gauss_kruger_zones_we_think() -> None:
    assert pyproj.CRS.from_epsg(4547).name == "CGCS2000 / 3-degree Gauss-Kruger CM 114E"
    assert pyproj.CRS.from_epsg(4549).name == "CGCS2000 / 3-degree Gauss-Kruger CM 120E"


# --- to_wgs84 ----------------------------------------------------------------------------------


def _villages(crs_: object = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": ["甲", "乙"]},
                            geometry=[shapely.box(119.40, 32.40, 119.41, 32.41),
                                      shapely.MultiPolygon([shapely.box(119.41, 32.40, 119.42, 32.41),
                                                            shapely.box(119.43, 32.40, 119.435, 32.405)])],
                            crs=crs_)


def test_cgcs2000_is_taken_over_number_for_number() -> None:
    source = _villages("EPSG:4490")
    out = crs.to_wgs84(source)
    assert out.crs == "EPSG:4326"
    assert shapely.equals_exact(out.geometry.values, source.geometry.values, tolerance=0).all()
    # and pyproj agrees: its CGCS2000 -> WGS84 is a null ("ballpark") transformation
    via_pyproj = source.to_crs(4326).geometry.values
    assert shapely.equals_exact(via_pyproj, out.geometry.values, tolerance=1e-12).all()


def test_gcj02_frame_is_shifted_vertex_by_vertex() -> None:
    truth = _villages()
    shifted = truth.copy()
    shifted["geometry"] = shapely.transform(truth.geometry.values,
                                            lambda c: np.column_stack(crs.wgs84_to_gcj02(c[:, 0], c[:, 1])))
    assert shapely.hausdorff_distance(shifted.geometry.values[0], truth.geometry.values[0]) > 0.003
    out = crs.to_wgs84(shifted.set_crs(None, allow_override=True), "gcj02")
    assert out.crs == "EPSG:4326" and list(out["name"]) == ["甲", "乙"]
    assert shapely.equals_exact(out.geometry.values, truth.geometry.values, tolerance=1e-9).all()
    assert out.geometry.values[1].geom_type == "MultiPolygon"


def test_projected_frame_goes_through_pyproj() -> None:
    truth = _villages()
    out = crs.to_wgs84(truth.to_crs("EPSG:4549"))
    assert shapely.equals_exact(out.geometry.values, truth.geometry.values, tolerance=1e-9).all()
    out = crs.to_wgs84(gpd.GeoSeries(truth.to_crs(4549).geometry.values), "EPSG:4549")
    assert isinstance(out, gpd.GeoSeries)
    assert shapely.equals_exact(out.values, truth.geometry.values, tolerance=1e-9).all()


def test_to_wgs84_without_any_crs_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no CRS"):
        crs.to_wgs84(_villages(None))


def test_transform_xy_handles_nan_and_every_kind_of_source() -> None:
    lon, lat = crs.transform_xy([443551.1906539167, np.nan], [3586366.9364601094, 1.0], "EPSG:4549")
    assert lon[0] == pytest.approx(119.4, abs=1e-9) and lat[0] == pytest.approx(32.4, abs=1e-9)
    assert np.isnan(lon[1]) and np.isnan(lat[1])
    glon, glat = crs.wgs84_to_gcj02(119.4, 32.4)
    lon, lat = crs.transform_xy([glon], [glat], "gcj02")
    assert lon[0] == pytest.approx(119.4, abs=1e-10) and lat[0] == pytest.approx(32.4, abs=1e-10)


# --- local metric CRS --------------------------------------------------------------------------


def test_local_metric_crs_is_tmerc_on_the_rounded_central_meridian() -> None:
    metric = crs.local_metric_crs((116.3, 30.7, 121.95, 35.2))  # Jiangsu: centre 119.125
    assert metric.is_projected and metric.to_epsg() != 3857
    operation = metric.coordinate_operation
    assert operation is not None and operation.method_name == "Transverse Mercator"
    params = {p.name: p.value for p in operation.params}
    assert params["Longitude of natural origin"] == 119
    assert params["Scale factor at natural origin"] == 1
    assert params["False easting"] == 500000
    assert metric.axis_info[0].unit_name == "metre"
    assert _central_meridian(crs.local_metric_crs(_villages())) == 119  # data centre 119.4175
    assert _central_meridian(crs.local_metric_crs((120.6, 31.0, 121.0, 31.5))) == 121  # Suzhou east


def _central_meridian(metric: pyproj.CRS) -> float:
    operation = metric.coordinate_operation
    assert operation is not None
    return float(next(p.value for p in operation.params if p.name == "Longitude of natural origin"))


def test_local_metric_distances_and_areas_match_the_geodesic_truth() -> None:
    villages = _villages()
    metric = crs.to_metric(villages)
    # 0.01 degree of longitude at 32.40 N
    a = shapely.Point(119.40, 32.40)
    b = shapely.Point(119.41, 32.40)
    pts = crs.to_metric(gpd.GeoSeries([a, b], crs=4326), metric.crs)
    # 0.4 degree east of the 119 E meridian the scale error is (0.4 * pi/180 * cos 32.4)^2 / 2 = 1.7e-5
    truth = _metres(119.40, 32.40, 119.41, 32.40)
    assert pts.iloc[0].distance(pts.iloc[1]) == pytest.approx(truth * (1 + 1.74e-5), rel=1e-6)
    geod_area = abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(villages.geometry.iloc[0])[0])
    assert metric.geometry.iloc[0].area == pytest.approx(geod_area, rel=1e-4)
    assert math.isclose(metric.geometry.iloc[0].area, 1_041_000, rel_tol=0.01)  # ~0.94 km x 1.11 km


def test_to_lonlat_and_project_xy_round_trip() -> None:
    villages = _villages()
    back = crs.to_lonlat(crs.to_metric(villages))
    assert shapely.equals_exact(back.geometry.values, villages.geometry.values, tolerance=1e-9).all()
    metric = crs.local_metric_crs((119.4, 32.4, 119.44, 32.41))
    x, y = crs.project_xy([119.4, 119.44], [32.4, 32.41], metric)
    assert x[0] == pytest.approx(500000 + (119.4 - 119) * 94_000, rel=0.01)
    lon, lat = crs.unproject_xy(x, y, metric)
    np.testing.assert_allclose(lon, [119.4, 119.44], atol=1e-10)
    np.testing.assert_allclose(lat, [32.4, 32.41], atol=1e-10)


@pytest.mark.parametrize("bad", [(np.nan, 0.0, 1.0, 1.0), (500000.0, 3500000.0, 510000.0, 3510000.0)])
def test_local_metric_crs_rejects_empty_or_projected_bounds(bad: tuple[float, float, float, float]) -> None:
    with pytest.raises(ConfigError):
        crs.local_metric_crs(bad)


def test_china_checks() -> None:
    assert crs.in_china([119.4, 2.35, 32.4], [32.4, 48.85, 119.4]).tolist() == [True, False, False]
    assert crs.looks_projected([119.4, 443551.0], [32.4, 3586366.0]).tolist() == [False, True]
    assert crs.CHINA_BOUNDS == (73.3, 3.8, 135.1, 53.6)


def test_same_coordinates_sees_through_naming() -> None:
    gk120 = crs.resolve_crs("EPSG:4549")
    twin = crs.resolve_crs("+proj=tmerc +lat_0=0 +lon_0=120 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m")
    assert crs.same_coordinates(gk120, twin) and crs.same_coordinates(twin, gk120)
    assert not crs.same_coordinates(gk120, crs.resolve_crs("EPSG:4548"))  # CM 117E
    assert crs.same_coordinates(crs.resolve_crs("wgs84"), crs.resolve_crs("cgcs2000"))
    assert not crs.same_coordinates(crs.resolve_crs("wgs84"), crs.resolve_crs("gcj02"))
    assert not crs.same_coordinates(crs.resolve_crs("wgs84"), gk120)
    assert crs.same_coordinates(crs.resolve_crs("gcj02"), crs.resolve_crs("GCJ-02"))
