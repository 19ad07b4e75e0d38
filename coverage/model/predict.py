"""Best-server SS-RSRP / SS-SINR prediction on a raster in a local metric CRS.

How it is computed, and why it is fast enough for a province:

* On a regular grid the path loss from a station to the pixels around it depends only on the pixel
  offset, the frequency and the antenna height. So path loss, vertical antenna attenuation and
  bearing are precomputed once per (frequency, height, tilt) as *kernels* (windows of
  ``(2R+1)^2`` pixels, R the model's maximum useful range), and each cell only gathers its
  horizontal pattern from a 1-degree lookup table and *stamps* its RSRP window onto the grid with a
  running maximum (best server) and a running sum of linear power per band (interference).
  The Python loop is per cell, never per pixel; every cell costs a few numpy operations on its
  window.
* Stations are snapped to the centre of the pixel they stand in (at most half a pixel of error,
  50 m at the default 100 m), and distances below 10 m are clamped by the path-loss model.
* The grid is processed in tiles (default 512 x 512 pixels) so that per-band working arrays stay
  small whatever the province; only the reduced results (best RSRP, its SINR, its cell and the
  coverage class) are kept for the whole grid.
* Each operator is predicted separately (SINR counts only the same operator's cells on the same
  band as interference); the "best of all operators" result keeps, per pixel, the operator with the
  better coverage class, then the higher RSRP: 5G通达 needs any one operator.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from coverage.errors import ConfigError, bi
from coverage.model import antenna, link_budget
from coverage.model import propagation as prop
from coverage.model.bands import BANDS, OMNI_GAIN_DBI, normalize_band
from coverage.model.grid import NODATA, Grid, tile_boxes
from coverage.model.parameters import DEFAULT_PARAMETERS, ModelParameters, band_calibration, calibration_db
from coverage.model.prediction import Prediction, classify
from coverage.model.rules import RuleSet
from coverage.model.terrain import (
    clutter_loss_table_db,
    effective_antenna_height_m,
    radial_terrain_v,
    sweep_excess_loss_db,
)
from coverage.model.terrain_inputs import TerrainLayers
from coverage.processes import forked_pool


def prepare_cells(stations: gpd.GeoDataFrame, grid_crs: pyproj.CRS, *,
                  operators: list[str] | None = None) -> pd.DataFrame:
    """Active NR cells with every radio parameter filled from the band defaults, in metric x/y.

    Missing height, tilt, power and bandwidth come from :data:`coverage.model.bands.BANDS`; a missing
    azimuth means omnidirectional (gain :data:`coverage.model.bands.OMNI_GAIN_DBI`).
    """
    active = stations[(stations["status"] == "active") & (stations["rat"] == "NR")]
    if operators:
        active = active[active["operator"].isin(operators)]
    active = active.reset_index(drop=True)
    stored, stored_index = np.unique(active["band"].to_numpy(dtype=object).astype(str), return_inverse=True)
    band_names = np.array([normalize_band(b) for b in stored], dtype=object)
    if any(n is None for n in band_names):
        raise ConfigError(bi("基站中有没有默认参数的频段：请重新导入这些基站",
                             "stations include a band without defaults; re-ingest them"))
    bands = band_names[stored_index].astype(str)
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", grid_crs, always_xy=True)
    x, y = to_metric.transform(active["lon"].to_numpy(float), active["lat"].to_numpy(float))

    def default(attr: str) -> np.ndarray:
        return np.array([float(getattr(BANDS[b], attr)) for b in band_names], dtype=float)[stored_index]

    def fill(column: str) -> np.ndarray:
        values = active[column].to_numpy(float)
        return np.where(np.isnan(values), default(column), values)

    height = fill("height_m")
    low = np.flatnonzero(~(height > 0))
    if len(low):  # stored before ingest read a 0 as unknown; name the cells, not a bare array
        shown = ", ".join(f"site {active['site_id'].iat[i]} cell {active['cell_id'].iat[i]} "
                          f"({active['operator'].iat[i]} {bands[i]}): {height[i]:g} m" for i in low[:5])
        raise ConfigError(bi(f"天线挂高应大于 0 米：{len(low)} 个小区的挂高不是正数（{shown}）；请重新导入"
                             "（现在挂高 0 按未知读入）",
                             f"height_m must be greater than 0 m; {len(low)} station(s) have no positive "
                             f"antenna height: {shown}; re-ingest them (a height of 0 now reads as unknown)"))
    omni = np.isnan(active["azimuth_deg"].to_numpy(float))
    return pd.DataFrame({
        "station_index": active.index.to_numpy(),
        "site_id": active["site_id"].to_numpy(),
        "cell_id": active["cell_id"].to_numpy(),
        "operator": active["operator"].to_numpy(),
        "band": bands,
        "freq_mhz": default("freq_mhz"),
        "scs_khz": default("scs_khz"),
        "x": x,
        "y": y,
        "height_m": height,
        "tilt_deg": fill("tilt_deg"),
        "power_dbm": fill("power_dbm"),
        "bandwidth_mhz": fill("bandwidth_mhz"),
        "azimuth_deg": np.where(omni, 0.0, np.nan_to_num(active["azimuth_deg"].to_numpy(float)) % 360.0),
        "omni": omni,
        "gain_dbi": np.where(omni, OMNI_GAIN_DBI, default("antenna_gain_dbi")),
        "activated_on": (active["activated_on"].to_numpy() if "activated_on" in active
                         else np.full(len(active), None, dtype=object)),
    })


def _n_rb(cells: pd.DataFrame) -> np.ndarray:
    """Resource blocks per cell: the standard's value at the band's default bandwidth and SCS, else
    the TS 38.101-1 ratio of occupied to channel bandwidth (about 98%) applied to the bandwidth."""
    bw = cells["bandwidth_mhz"].to_numpy(float)
    scs = cells["scs_khz"].to_numpy(float)
    names, index = np.unique(cells["band"].to_numpy(str), return_inverse=True)
    default_bw = np.array([BANDS[b].bandwidth_mhz for b in names], dtype=float)[index]
    default_n = np.array([BANDS[b].n_rb for b in names], dtype=np.int64)[index]
    approx = np.maximum(1, np.floor(bw * 1000.0 * 0.98 / (12.0 * scs))).astype(int)
    return np.where(np.isclose(bw, default_bw), default_n, approx)


def _path_loss(model: str, distance_m: np.ndarray, freq_mhz: float, h_bs_m: float,
               h_ut_m: float) -> np.ndarray:
    """Planning path loss (dB): the NLOS formula of TR 38.901, i.e. max(PL_LOS, PL'_NLOS).

    Coverage is planned on NLOS because the edge margin is computed with the NLOS shadow-fading
    sigma (8 dB): weighting LOS in by its probability would count the same uncertainty twice and,
    averaged in linear power, over-predicts the median by some 17 dB at 1-3 km on the seed world's
    measurements. Okumura-Hata (open area) has no LOS/NLOS split.
    """
    if model == "hata":
        return np.asarray(prop.hata_path_loss(distance_m, freq_mhz, h_bs_m=h_bs_m, h_ut_m=h_ut_m,
                                              environment="open"), dtype=float)
    f_ghz = freq_mhz / 1000.0
    if model == "uma":
        return np.asarray(prop.uma_path_loss(distance_m, f_ghz, los=False, h_bs_m=h_bs_m, h_ut_m=h_ut_m))
    return np.asarray(prop.rma_path_loss(distance_m, f_ghz, los=False, h_bs_m=h_bs_m, h_ut_m=h_ut_m))


@cache
def _offsets(radius_px: int, resolution_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Ground distance (m) and bearing (whole degrees clockwise from north) of a kernel window."""
    d = np.arange(-radius_px, radius_px + 1, dtype=float)
    drow, dcol = np.meshgrid(d, d, indexing="ij")
    distance = np.hypot(drow, dcol) * resolution_m
    bearing = np.rint(np.degrees(np.arctan2(dcol, -drow))).astype(np.int64) % 360
    return distance, bearing


@cache
def _path_loss_kernel(model: str, radius_px: int, resolution_m: float, freq_mhz: float, h_bs_m: float,
                      h_ut_m: float, calibration: tuple[float, ...] = ()) -> np.ndarray:
    """Path loss (dB, float32) over a kernel window, less the calibration term of its band; the
    window of a smaller radius is its centre."""
    distance, _ = _offsets(radius_px, resolution_m)
    loss = _path_loss(model, distance, freq_mhz, h_bs_m, h_ut_m)
    if any(calibration):
        loss = loss - calibration_db(distance, calibration)
    return loss.astype(np.float32)


@cache
def _vertical_kernel(radius_px: int, resolution_m: float, h_bs_m: float, h_ut_m: float,
                     tilt_deg: float) -> np.ndarray:
    """Vertical element attenuation A_V (dB, float32) over a kernel window, for a downtilt."""
    distance, _ = _offsets(radius_px, resolution_m)
    elevation_down = np.degrees(np.arctan2(h_bs_m - h_ut_m, np.maximum(distance, 1.0)))
    return np.asarray(antenna.vertical_attenuation_db(elevation_down - tilt_deg), dtype=np.float32)


@cache
def _horizontal_lut() -> np.ndarray:
    """Horizontal attenuation (dB) for bearing offsets 0..359 degrees."""
    delta = np.arange(360, dtype=float)
    delta = np.where(delta >= 180.0, delta - 360.0, delta)
    return np.asarray(antenna.horizontal_attenuation_db(delta), dtype=np.float32)


@cache
def _horizontal_lut_for(azimuth_deg: int) -> np.ndarray:
    """Attenuation indexed by bearing (whole degrees) for a sector pointing at ``azimuth_deg``."""
    return np.roll(_horizontal_lut(), azimuth_deg)


#: A cell is stamped out to where its boresight RSRP falls this far below the weak threshold.
#: Beyond that it cannot serve, and as interference it cannot change a verdict: "good" needs
#: RSRP >= -105 dBm and SINR >= -3 dB, i.e. interference + noise <= -102 dBm, while a cell under
#: -115 dBm adds at most -118 dBm at 50% load; it takes some 40 of them to cross the bar.
#: (Reported SINR where the server itself is weak is slightly optimistic for the same reason.)
RANGE_MARGIN_DB = 0.0


def max_range_m(cells: pd.DataFrame, params: ModelParameters, rules: RuleSet) -> np.ndarray:
    """Per cell, the distance beyond which even boresight RSRP is :data:`RANGE_MARGIN_DB` under the
    weak threshold, in metres; bounded by the RMa validity range (10 km), at least one pixel."""
    margin = float(link_budget.edge_margin_db(rules.edge_probability, rules.shadow_sigma_db))
    distances = np.geomspace(10.0, 10_000.0, 400)
    names = sorted(set(cells["band"].astype(str)))
    keys = cells[["freq_mhz", "height_m", "power_dbm", "gain_dbi", "n_rb"]].astype(float).assign(
        band=np.searchsorted(names, cells["band"].to_numpy(str)).astype(float))
    # distinct link budgets (a hash group-by: np.unique over rows sorts them, 0.4 s for a province)
    inverse = keys.groupby(list(keys.columns), sort=False).ngroup().to_numpy()
    unique = keys.drop_duplicates().to_numpy(float)
    reach_m = np.empty(len(unique))
    for k, (freq, h_bs, power, gain, n_rb, band) in enumerate(unique):
        pl = (_path_loss(params.model, distances, freq, h_bs, params.h_ut_m)
              - calibration_db(distances, band_calibration(params, names[int(band)])))
        rsrp = link_budget.epre_dbm(power, int(n_rb)) + gain - pl - params.other_losses_db - margin
        reach = distances[rsrp >= rules.weak_rsrp_dbm - RANGE_MARGIN_DB]
        reach_m[k] = float(reach.max()) if reach.size else params.resolution_m
    out = reach_m[inverse.ravel()]
    return np.maximum(out, params.resolution_m)


@dataclass(frozen=True)
class _Cells:
    """Plain arrays of the cells, cheap to pickle to tile workers."""

    row: np.ndarray
    col: np.ndarray
    radius: np.ndarray
    azimuth: np.ndarray
    omni: np.ndarray
    const_db: np.ndarray  # EPRE + max gain - losses - margin
    operator: np.ndarray  # index into operator names
    band: np.ndarray  # index into band names
    freq_mhz: np.ndarray
    height_m: np.ndarray
    tilt_deg: np.ndarray
    n_operators: int
    band_noise_mw: np.ndarray  # noise per resource element, per band (mW)
    calibration: tuple[tuple[float, ...], ...] = ()  # per band: values at CALIBRATION_KNOTS_M (dB)
    selection_offset: np.ndarray | None = None  # per band (dB), for choosing the serving layer
    operator_names: tuple[str, ...] = ()
    band_names: tuple[str, ...] = ()
    #: With terrain: per cell its site (a distinct pixel and mast height) and per site its pixel, mast
    #: height above its own ground (m), largest radius (pixels) and frequencies (MHz).
    site: np.ndarray | None = None
    site_row: np.ndarray | None = None
    site_col: np.ndarray | None = None
    site_mast_m: np.ndarray | None = None
    site_radius: np.ndarray | None = None
    site_freqs: tuple[tuple[float, ...], ...] = ()


#: Probe pixels (rows, columns) whose per-operator values a prediction reports, or None.
_Probes = tuple[np.ndarray, np.ndarray] | None
_TILE_CONTEXT: tuple[_Cells, ModelParameters, RuleSet, float, _Probes, TerrainLayers | None] | None = None
#: A tile's probes: their indices, and per operator and band the best RSRP, its cell and its SS-SINR.
_ProbeValues = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _init_worker(context: tuple[_Cells, ModelParameters, RuleSet, float, _Probes, TerrainLayers | None]) -> None:
    global _TILE_CONTEXT
    _TILE_CONTEXT = context


def _tile_task(bounds: tuple[int, int, int, int]
               ) -> tuple[tuple[int, int, int, int], tuple[np.ndarray, ...], _ProbeValues | None]:
    assert _TILE_CONTEXT is not None
    cells, params, rules, resolution, probes, terrain = _TILE_CONTEXT
    r0, c0, r1, c1 = bounds
    tile_probes = None
    if probes is not None:
        inside = np.flatnonzero((probes[0] >= r0) & (probes[0] < r1) & (probes[1] >= c0) & (probes[1] < c1))
        tile_probes = (inside, probes[0][inside] - r0, probes[1][inside] - c0)
    arrays, probe_values = _predict_tile(cells, params, rules, resolution, *bounds, probes=tile_probes,
                                         terrain=terrain)
    return bounds, arrays, probe_values


def empty_band_layer(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An empty (operator, band) layer: best RSRP (-inf), its cell (-1) and linear power sum (0)."""
    return (np.full(shape, -np.inf, dtype=np.float32), np.full(shape, -1, dtype=np.int32),
            np.zeros(shape, dtype=np.float32))


def stamp_cells(cells: _Cells, indices: np.ndarray, params: ModelParameters, resolution: float,
                t_row: int, t_col: int, b_rsrp: np.ndarray, b_cell: np.ndarray, b_sum: np.ndarray, *,
                terrain_loss: Callable[[int], tuple[np.ndarray, int] | None] | None = None) -> None:
    """Stamp ``cells[indices]`` (one operator and band), in that order, onto a layer in place.

    The layer covers rows ``t_row:t_row + h`` and columns ``t_col:t_col + w`` of the grid:
    ``b_rsrp`` keeps the running maximum (the earlier cell wins a tie), ``b_cell`` its cell index
    and ``b_sum`` the running float32 sum of linear power (mW), added cell by cell, so that a layer
    extended by more cells later equals the layer stamped with all of them at once, bit for bit.
    ``terrain_loss(i)``: cell i's terrain loss on its radials (dB, ``(RADIALS * (R + 1),)`` by radial
    and pixels of distance, :class:`_TileTerrain`) and R, or None where the ground is flat.
    """
    h, w = b_rsrp.shape
    rad = cells.radius
    big = kernel_radius(rad)
    _, bearing = _offsets(big, resolution)
    ln10_10 = np.float32(np.log(10.0) / 10.0)
    max_attenuation = np.float32(-antenna.MAX_ATTENUATION_DB)
    for i in indices:
        r = int(rad[i])
        wr0, wc0 = int(cells.row[i]) - r - t_row, int(cells.col[i]) - r - t_col
        kr0, kc0 = max(0, -wr0), max(0, -wc0)
        kr1, kc1 = min(2 * r + 1, h - wr0), min(2 * r + 1, w - wc0)
        if kr0 >= kr1 or kc0 >= kc1:
            continue
        # the window of radius r is the centre of the shared kernels of radius big
        ks = (slice(big - r + kr0, big - r + kr1), slice(big - r + kc0, big - r + kc1))
        ts = (slice(wr0 + kr0, wr0 + kr1), slice(wc0 + kc0, wc0 + kc1))
        cal = cells.calibration[cells.band[i]] if cells.calibration else ()
        pl = _path_loss_kernel(params.model, big, resolution, float(cells.freq_mhz[i]),
                               float(cells.height_m[i]), params.h_ut_m, cal)
        stamp = _vertical_kernel(big, resolution, float(cells.height_m[i]), params.h_ut_m,
                                 float(cells.tilt_deg[i]))[ks]
        if not cells.omni[i]:
            stamp = stamp + _horizontal_lut_for(int(cells.azimuth[i])).take(bearing[ks])
            np.maximum(stamp, max_attenuation, out=stamp)
        stamp = stamp - pl[ks]
        if terrain_loss is not None:
            polar = terrain_loss(int(i))
            if polar is not None:
                stamp -= polar[0].take(_polar_index(big, resolution, polar[1])[ks])
        stamp += cells.const_db[i]
        sub = b_rsrp[ts]
        better = stamp > sub
        np.maximum(sub, stamp, out=sub)
        np.putmask(b_cell[ts], better, i)
        stamp *= ln10_10
        b_sum[ts] += np.exp(stamp)


#: Radials of a site's terrain sweep (every 2 degrees: 1.7 pixels apart at 50 pixels out).
RADIALS = 180


@cache
def _polar_index(radius_px: int, resolution_m: float, radial_px: int) -> np.ndarray:
    """Index of each kernel pixel in a radial table ``(RADIALS, radial_px + 1)``: the nearest radial to
    its bearing (whole degrees), whole pixels of distance (beyond ``radial_px``: its last column)."""
    distance, bearing = _offsets(radius_px, resolution_m)
    ray = np.rint(bearing * (RADIALS / 360.0)).astype(np.int64) % RADIALS
    step = np.minimum(np.rint(distance / resolution_m).astype(np.int64), radial_px)
    return (ray * (radial_px + 1) + step).astype(np.intp)


class _TileTerrain:
    """A tile's terrain: each site's radial terrain loss per frequency (computed once per tile, when
    a cell of the site is first stamped) and the receivers' clutter loss per frequency."""

    def __init__(self, cells: _Cells, layers: TerrainLayers, resolution: float, h_ut_m: float,
                 t_row: int, t_col: int, shape: tuple[int, int]) -> None:
        self.cells, self.layers, self.resolution, self.h_ut_m = cells, layers, resolution, h_ut_m
        self.window = (t_row + layers.pad, t_col + layers.pad, shape)
        self.tables: dict[tuple[int, float], tuple[np.ndarray, int] | None] = {}
        self.clutter: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def loss(self, i: int) -> tuple[np.ndarray, int] | None:
        """Cell i's radial terrain loss table (float16 dB) and its radius, None on flat ground."""
        cells = self.cells
        assert cells.site is not None
        site = int(cells.site[i])
        key = (site, float(cells.freq_mhz[i]))
        if key not in self.tables:
            self._sweep(site)
        return self.tables[key]

    def _sweep(self, site: int) -> None:
        cells, layers = self.cells, self.layers
        assert cells.site_row is not None and cells.site_col is not None and cells.site_radius is not None
        assert cells.site_mast_m is not None
        freqs = cells.site_freqs[site]
        elevation = layers.elevation_m
        radius = int(cells.site_radius[site])
        row, col = int(cells.site_row[site]) + layers.pad, int(cells.site_col[site]) + layers.pad
        r0, c0 = max(row - radius - 1, 0), max(col - radius - 1, 0)
        window = None if elevation is None else elevation[r0:row + radius + 2, c0:col + radius + 2]
        flat = True
        if window is not None and window.size:
            with np.errstate(invalid="ignore"):
                relief = float(np.nanmax(window) - np.nanmin(window)) if np.isfinite(window).any() else 0.0
            flat = relief < layers.flat_relief_m
        if flat or window is None:
            for f in freqs:
                self.tables[(site, f)] = None
            return
        v_a, v_s = radial_terrain_v(window, row - r0, col - c0, h_tx_m=float(cells.site_mast_m[site]),
                                    h_rx_m=self.h_ut_m, radius_px=radius, resolution_m=self.resolution,
                                    n_rays=RADIALS)
        for f in freqs:
            self.tables[(site, f)] = (sweep_excess_loss_db(v_a, v_s, f).astype(np.float16).ravel(), radius)

    def apply_clutter(self, freq_mhz: float, b_rsrp: np.ndarray, b_sum: np.ndarray) -> None:
        """Subtract the receivers' clutter loss at ``freq_mhz`` from a band layer of the tile."""
        if self.layers.landcover is None:
            return
        if freq_mhz not in self.clutter:  # the same for every operator's layer of the band
            r, c, (h, w) = self.window
            loss_by_code, _sigma = clutter_loss_table_db(freq_mhz, self.h_ut_m, self.layers.classes)
            loss = loss_by_code[self.layers.landcover[r:r + h, c:c + w]]
            self.clutter[freq_mhz] = (loss, np.exp(loss * np.float32(-np.log(10.0) / 10.0)))
        loss, factor = self.clutter[freq_mhz]
        b_rsrp -= loss
        b_sum *= factor


def kernel_radius(radius_px: np.ndarray) -> int:
    """Radius (pixels) of the shared kernels for cells of these radii: the largest, rounded up to
    32 pixels, so that runs over parts of an area (partitions) mostly reuse one set of cached kernels."""
    return int(-(-int(radius_px.max()) // 32) * 32) if len(radius_px) else 0


def band_sinr(b_rsrp: np.ndarray, reached: np.ndarray, b_sum: np.ndarray, load: float,
              noise_mw: float) -> np.ndarray:
    """SS-SINR (dB, float32) of the best server of a layer: the other cells' power at ``load`` plus
    noise per resource element as interference; -inf where no cell reaches.

    Only the reached pixels are computed (in the sparse west most of a tile is out of every cell's
    reach); each value is the same arithmetic on the same inputs as over the whole layer."""
    out = np.full(b_rsrp.shape, -np.inf, dtype=np.float32)
    signal = np.exp(b_rsrp[reached].astype(np.float64) * np.log(10.0) / 10.0)
    interference = load * np.maximum(b_sum[reached] - signal, 0.0)
    with np.errstate(divide="ignore"):
        out[reached] = (10.0 * np.log10(signal / (interference + noise_mw))).astype(np.float32)
    return out


def _predict_tile(cells: _Cells, params: ModelParameters, rules: RuleSet, resolution: float,
                  t_row: int, t_col: int, r1: int, c1: int, *,
                  probes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                  terrain: TerrainLayers | None = None
                  ) -> tuple[tuple[np.ndarray, ...], _ProbeValues | None]:
    """Best-of-operators RSRP, SINR, class, cell and operator of rows t_row:r1, columns t_col:c1, and
    each probe's (``(index, row, col)`` in the tile) per-operator RSRP and serving cell."""
    h, w = r1 - t_row, c1 - t_col
    tile_terrain = None if terrain is None else _TileTerrain(cells, terrain, resolution, params.h_ut_m,
                                                             t_row, t_col, (h, w))
    terrain_loss = (tile_terrain.loss if tile_terrain is not None and terrain is not None
                    and terrain.elevation_m is not None and cells.site is not None else None)
    best_rsrp = np.full((h, w), NODATA, dtype=np.float32)
    best_sinr = np.full((h, w), NODATA, dtype=np.float32)
    best_class = np.zeros((h, w), dtype=np.uint8)
    best_cell = np.full((h, w), -1, dtype=np.int32)
    best_operator = np.full((h, w), -1, dtype=np.int8)
    row, col, rad = cells.row, cells.col, cells.radius
    near = np.flatnonzero((row + rad >= t_row) & (row - rad < r1) & (col + rad >= t_col) & (col - rad < c1))
    probe_values = None
    if probes is not None:
        n_ops = max(cells.n_operators, 1)
        n_bands = max(len(cells.band_names), 1)
        probe_values = (probes[0], np.full((len(probes[0]), n_ops, n_bands), -np.inf, dtype=np.float32),
                        np.full((len(probes[0]), n_ops, n_bands), -1, dtype=np.int32),
                        np.full((len(probes[0]), n_ops, n_bands), -np.inf, dtype=np.float32))
    for op in np.unique(cells.operator[near]):
        op_cells = near[cells.operator[near] == op]
        op_rsrp = np.full((h, w), -np.inf, dtype=np.float32)
        op_sinr = np.full((h, w), -np.inf, dtype=np.float32)
        op_cell = np.full((h, w), -1, dtype=np.int32)
        op_score = np.full((h, w), -np.inf, dtype=np.float32)  # RSRP + the band's selection offset
        for band in np.unique(cells.band[op_cells]):
            b_rsrp, b_cell, b_sum = empty_band_layer((h, w))
            in_band = op_cells[cells.band[op_cells] == band]
            stamp_cells(cells, in_band, params, resolution, t_row, t_col, b_rsrp, b_cell, b_sum,
                        terrain_loss=terrain_loss)
            if tile_terrain is not None:
                tile_terrain.apply_clutter(float(cells.freq_mhz[in_band[0]]), b_rsrp, b_sum)
            b_sinr = band_sinr(b_rsrp, b_cell >= 0, b_sum, params.load, float(cells.band_noise_mw[band]))
            b_score = b_rsrp + (cells.selection_offset[band] if cells.selection_offset is not None else np.float32(0))
            if probe_values is not None and probes is not None:
                probe_values[1][:, op, band] = b_rsrp[probes[1], probes[2]]
                probe_values[2][:, op, band] = b_cell[probes[1], probes[2]]
                probe_values[3][:, op, band] = b_sinr[probes[1], probes[2]]
            take = b_score > op_score
            op_score[take] = b_score[take]
            op_rsrp[take] = b_rsrp[take]
            op_sinr[take] = b_sinr[take]
            op_cell[take] = b_cell[take]
        op_class = classify(op_rsrp, op_sinr, rules)
        take = (op_cell >= 0) & ((op_class > best_class) | ((op_class == best_class) & (op_rsrp > best_rsrp)))
        best_class[take] = op_class[take]
        best_rsrp[take] = op_rsrp[take]
        best_sinr[take] = op_sinr[take]
        best_cell[take] = op_cell[take]
        best_operator[take] = op
    return (best_rsrp, best_sinr, best_class, best_cell, best_operator), probe_values


def compile_cells(stations: gpd.GeoDataFrame, grid: Grid, *, rules: RuleSet, params: ModelParameters,
                  operators: list[str] | None = None, terrain: TerrainLayers | None = None
                  ) -> tuple[pd.DataFrame, _Cells]:
    """The active NR cells of ``stations`` ready for stamping on ``grid``: the frame of
    :func:`prepare_cells` with pixel, radius and link-budget columns, and its plain arrays.

    Operators and bands are indexed in sorted order of their names (the order the prediction
    combines them in). With ``terrain`` holding a DEM, ``height_m`` (the path loss's and the vertical
    pattern's) is the effective height over the surrounding terrain
    (:func:`coverage.model.terrain.effective_antenna_height_m`) and ``mast_height_m`` the height above the
    site's own ground, which the terrain sweep uses.
    """
    cells = prepare_cells(stations, grid.crs, operators=operators)
    elevation = None if terrain is None else terrain.elevation_m
    if elevation is not None:
        row, col = grid.pixel_of(cells["x"].to_numpy(), cells["y"].to_numpy())
        cells["mast_height_m"] = cells["height_m"].round()
        assert terrain is not None
        cells["height_m"] = effective_antenna_height_m(elevation, row + terrain.pad, col + terrain.pad,
                                                       cells["height_m"].to_numpy(float),
                                                       resolution_m=grid.resolution_m)
    cells["n_rb"] = _n_rb(cells)
    margin = float(link_budget.edge_margin_db(rules.edge_probability, rules.shadow_sigma_db))
    cells["epre_dbm"] = np.asarray(link_budget.epre_dbm(cells["power_dbm"].to_numpy(float),
                                                 cells["n_rb"].to_numpy(int)), dtype=float)
    # kernels are cached by height, tilt and radius: whole metres, whole degrees and radii rounded
    # up to a multiple of 4 pixels keep the number of distinct kernels in the hundreds
    cells["height_m"] = cells["height_m"].round()
    cells["tilt_deg"] = cells["tilt_deg"].round()
    radius = np.ceil(max_range_m(cells, params, rules) / grid.resolution_m / 4.0) * 4.0
    cells["radius_px"] = radius.astype(int)
    cells["row"], cells["col"] = grid.pixel_of(cells["x"].to_numpy(), cells["y"].to_numpy())
    operator_names = sorted(cells["operator"].unique().tolist())
    band_names = sorted(cells["band"].unique().tolist())
    sites: dict[str, object] = {}
    if elevation is not None or (terrain is not None and terrain.landcover is not None):
        keys = cells[["row", "col"]].assign(mast=cells.get("mast_height_m", cells["height_m"]))
        site = keys.groupby(["row", "col", "mast"], sort=False).ngroup().to_numpy()
        first = pd.Series(np.arange(len(cells))).groupby(site).first().to_numpy()
        freqs = pd.Series(cells["freq_mhz"].to_numpy(float)).groupby(site).unique()
        sites = {"site": site, "site_row": keys["row"].to_numpy()[first], "site_col": keys["col"].to_numpy()[first],
                 "site_mast_m": keys["mast"].to_numpy(float)[first],
                 "site_radius": pd.Series(cells["radius_px"].to_numpy()).groupby(site).max().to_numpy(),
                 "site_freqs": tuple(tuple(float(f) for f in v) for v in freqs.to_numpy())}
    arrays = _Cells(
        row=cells["row"].to_numpy(), col=cells["col"].to_numpy(), radius=cells["radius_px"].to_numpy(),
        azimuth=np.rint(cells["azimuth_deg"].to_numpy()).astype(np.int64) % 360,
        omni=cells["omni"].to_numpy(bool),
        const_db=(cells["epre_dbm"] + cells["gain_dbi"] - params.other_losses_db - margin
                  ).to_numpy(np.float32),
        operator=np.searchsorted(operator_names, cells["operator"].to_numpy(str)),
        band=np.searchsorted(band_names, cells["band"].to_numpy(str)),
        freq_mhz=cells["freq_mhz"].to_numpy(float),
        height_m=cells["height_m"].to_numpy(float),
        tilt_deg=cells["tilt_deg"].to_numpy(float),
        n_operators=len(operator_names),
        band_noise_mw=10.0 ** (np.array([float(link_budget.noise_per_re_dbm(BANDS[b].scs_khz, params.noise_figure_db))
                                          for b in band_names]) / 10.0),
        calibration=tuple(band_calibration(params, b) for b in band_names),
        selection_offset=np.array([dict(params.selection_offsets).get(b, 0.0) for b in band_names], dtype=np.float32),
        operator_names=tuple(operator_names),
        band_names=tuple(band_names),
        **sites,  # type: ignore[arg-type]
    )
    return cells, arrays


def predict(stations: gpd.GeoDataFrame, grid: Grid, *, rules: RuleSet,
            params: ModelParameters = DEFAULT_PARAMETERS, operators: list[str] | None = None,
            mask: np.ndarray | None = None, probes: tuple[np.ndarray, np.ndarray] | None = None,
            progress: Callable[[str], None] | None = None, terrain: TerrainLayers | None = None) -> Prediction:
    """Predict best-server SS-RSRP and SS-SINR on ``grid`` from the active NR cells of ``stations``.

    Parameters
    ----------
    stations
        Canonical station frame (EPSG:4326); only ``status == "active"`` NR cells count.
    grid
        Raster in a metric CRS (see :func:`make_grid`).
    rules
        Thresholds for the coverage class, edge probability and shadowing sigma for the margin.
    params
        Propagation parameters; ``params.workers`` processes compute tiles in parallel.
    operators
        Restrict to these operators (default: all).
    mask
        Optional boolean ``(height, width)``: only the pixels in the boxes of :func:`tile_boxes`
        (each tile cropped to its True pixels) are computed.
    probes
        Optional pixel rows and columns (e.g. of measurements) whose per-operator best SS-RSRP, serving
        cell and SS-SINR per band are reported in ``probe_band_rsrp`` / ``probe_band_cell`` /
        ``probe_band_sinr``; they are added to ``mask``.
    terrain
        Optional DEM and land cover on ``grid`` and its halo (:func:`coverage.model.terrain_inputs.read_layers`):
        effective antenna heights, terrain diffraction over each site's radials (Bullington excess over
        smooth ground, :mod:`coverage.model.terrain`) and the receivers' clutter loss per land-cover class.
        None (the default): flat ground and no land cover, the model without terrain.

    Returns
    -------
    Prediction
        RSRP (dBm) includes the edge margin ``z_p * sigma``; SINR (dB) is per resource element at
        ``params.load``. Results do not depend on the tile size or the number of workers.
    """
    cells, arrays = compile_cells(stations, grid, rules=rules, params=params, operators=operators,
                                  terrain=terrain)

    shape = (grid.height, grid.width)
    out: tuple[np.ndarray, ...] = (
        np.full(shape, NODATA, dtype=np.float32), np.full(shape, NODATA, dtype=np.float32),
        np.zeros(shape, dtype=np.uint8), np.full(shape, -1, dtype=np.int32), np.full(shape, -1, dtype=np.int8),
    )
    probe_on = None
    if probes is not None:
        prow, pcol = np.asarray(probes[0], dtype=np.int64), np.asarray(probes[1], dtype=np.int64)
        probe_on = (prow >= 0) & (prow < grid.height) & (pcol >= 0) & (pcol < grid.width)
        if mask is not None:
            mask = mask.copy()
            mask[prow[probe_on], pcol[probe_on]] = True
    tiles = tile_boxes(shape, params.tile_px, mask)
    context = (arrays, params, rules, grid.resolution_m,
               None if probe_on is None else (prow[probe_on], pcol[probe_on]), terrain)
    # kernels are built once here, so forked workers share them instead of rebuilding each
    big = kernel_radius(arrays.radius)
    for freq, h_bs, band in np.unique(np.column_stack([arrays.freq_mhz, arrays.height_m, arrays.band]), axis=0):
        cal = arrays.calibration[int(band)] if arrays.calibration else ()
        _path_loss_kernel(params.model, big, grid.resolution_m, float(freq), float(h_bs), params.h_ut_m, cal)
    for h_bs, tilt in np.unique(np.column_stack([arrays.height_m, arrays.tilt_deg]), axis=0):
        _vertical_kernel(big, grid.resolution_m, float(h_bs), params.h_ut_m, float(tilt))
    workers = params.workers or os.cpu_count() or 1
    if workers > 1 and len(tiles) > 1:
        # fork shares the read-only cell arrays; the pool lives only for this call
        with forked_pool(min(workers, len(tiles)), _init_worker, (context,)) as pool:
            results = list(pool.map(_tile_task, tiles))
    else:
        _init_worker(context)
        results = [_tile_task(t) for t in tiles]
    n_ops = max(arrays.n_operators, 1)
    probe_band = probe_cell = probe_sinr = None
    if probe_on is not None:
        on_index = np.flatnonzero(probe_on)
        shape_p = (len(probe_on), n_ops, max(len(arrays.band_names), 1))
        probe_band = np.full(shape_p, np.nan, dtype=np.float32)
        probe_cell = np.full(shape_p, -1, dtype=np.int32)
        probe_band[on_index] = -np.inf
        probe_sinr = probe_band.copy()
    for (r0, c0, r1, c1), arrays_out, probe_values in results:
        for target, part in zip(out, arrays_out, strict=True):
            target[r0:r1, c0:c1] = part
        if probe_values is not None and probe_cell is not None and probe_band is not None and probe_sinr is not None:
            idx = on_index[probe_values[0]]
            probe_band[idx], probe_cell[idx], probe_sinr[idx] = probe_values[1], probe_values[2], probe_values[3]
    if progress:
        progress(bi(f"已预测小区 {len(cells):,} 个，{grid.width} x {grid.height} 像素，分 {len(tiles)} 块",
                    f"predicted {len(cells):,} cells on {grid.width} x {grid.height} pixels in {len(tiles)} tiles"))
    rsrp, sinr, coverage_class, cell, operator = out
    return Prediction(grid, rsrp, sinr, coverage_class, cell, operator, list(arrays.operator_names), cells,
                      probe_band_rsrp=probe_band, probe_band_cell=probe_cell, probe_band_sinr=probe_sinr,
                      band_names=list(arrays.band_names))


