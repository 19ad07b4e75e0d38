"""Terrain and land cover in the link budget: diffraction, effective antenna height, clutter loss.

Every function is vectorised (numpy, no loop per pixel or per profile point); distances and heights
in metres, frequencies in MHz unless a name says otherwise, losses in dB (positive = loss).

Diffraction
-----------
:func:`knife_edge_loss_db` is J(v) of ITU-R P.526 (eq. 31): 6.9 + 20 log10(sqrt((v - 0.1)^2 + 1) + v
- 0.1) for v > -0.78, else 0. Over a terrain profile the model uses the **Bullington** construction
of ITU-R P.526 (section 4.5.1; the same method as P.1812 and P.452's "delta-Bullington"): one
equivalent knife edge where the steepest ray from the transmitter meets the steepest ray from the
receiver (NLOS), or the intermediate point of largest v (LOS). It is chosen over Deygout because

* it gives **one** v per path, and v scales exactly with sqrt(f): one geometry sweep per site serves
  every band (J(v sqrt(f / 1 GHz)) per band), where Deygout's several edges would need a sweep per band;
* the tx-side steepest slope is a running maximum along a radial, the core of a fast sweep;
* Deygout is known to over-estimate the loss of several close edges, Bullington to under-estimate it
  (P.526 4.5.1 and 4.5.3); the seed world's true field uses Deygout with three edges on a finer
  profile, so the model is measured against a different, more detailed method.

The terrain loss added to the base model (RMa/UMa/Hata, which already contain the loss over smooth
open ground) is the **excess** of the actual profile over a smooth one: Bullington loss of the
profile minus the Bullington loss of the same path over ground running straight from the ground under
the transmitter to the ground under the receiver (P.1812 4.3's "delta" idea, without its spherical-
earth term, which the base model provides), never negative. Flat or evenly sloping ground adds 0 dB.

Fast sweep (:func:`radial_terrain_v`)
    Per site, radials (180 in the prediction: every 2 degrees) sampled at every grid
    pixel out to the cell's radius on the DEM resampled to the prediction grid. The transmitter-side
    slope is a running maximum along each radial (exact). The receiver-side slope (NLOS) and the
    largest v (LOS) need, for every receiver, a maximum over the points before it; the sweep takes it
    over a fixed set of lags (every point within 8 pixels of the receiver, then 8 lags spaced
    geometrically out to the site) plus the transmitter's horizon point, which keeps it O(pixels x 16)
    instead of O(pixels x radius). Missing points can only lower the receiver-side slope, i.e. the sweep may
    under-estimate a loss, never invent one.

Effective antenna height
    :func:`effective_antenna_height_m`: the antenna height above the mean terrain between 0.5 and
    3 km around the site (P.1546's h1 uses 3-15 km along the path; our cells reach 2-10 km, so the
    near ring is what the base model's "height above the surroundings" means), clipped to 10-150 m,
    the RMa validity range.

Clutter at the receiver
-----------------------
:func:`clutter_height_gain_loss_db` is ITU-R P.2108-1 section 3.1 (height-gain terminal correction:
eq. 2a for suburban, urban, trees/forest and dense urban, eq. 2b for water/sea and open/rural).
:func:`terrestrial_clutter_loss_db` is section 3.2 (statistical clutter loss of a terrestrial path,
urban and suburban). Land-cover codes map to P.2108 clutter types through :data:`WORLDCOVER_CLASSES`
(ESA WorldCover 10 m v200 codes) or a user table; each class carries its representative height R,
street width w_s and its own location variability sigma (dB). P.2108 3.1 is published for 0.03-3 GHz;
n78/n79 (3.5 and 4.9 GHz) use it extrapolated (:func:`clutter_height_gain_loss_db` says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import map_coordinates
from scipy.special import ndtri

from coverage.errors import ConfigError, bi

__all__ = [
    "CLUTTER_TYPES",
    "EFFECTIVE_EARTH_RADIUS_M",
    "WORLDCOVER_CLASSES",
    "ClutterClass",
    "bullington_excess_loss_db",
    "bullington_loss_db",
    "bullington_v",
    "class_table",
    "clutter_height_gain_loss_db",
    "clutter_loss_table_db",
    "effective_antenna_height_m",
    "knife_edge_loss_db",
    "radial_terrain_v",
    "sweep_excess_loss_db",
    "terrestrial_clutter_loss_db",
]

FloatArray = NDArray[np.float64]

#: Effective earth radius k a with the median k = 4/3 (ITU-R P.452/P.1812: a_e = 6371 km x k50).
EFFECTIVE_EARTH_RADIUS_M = 6_371_000.0 * 4.0 / 3.0
#: Frequency at which :func:`radial_terrain_v` reports v; J(v sqrt(f / F_REF)) gives any band.
F_REF_MHZ = 1000.0
_C = 299_792_458.0


def knife_edge_loss_db(v: ArrayLike) -> FloatArray:
    """Single knife-edge diffraction loss J(v) of ITU-R P.526 (eq. 31), dB.

    Parameters
    ----------
    v : array_like
        Dimensionless diffraction parameter (P.526 eq. 26: h sqrt(2 / lambda (1/d1 + 1/d2))).

    Returns
    -------
    ndarray
        6.9 + 20 log10(sqrt((v - 0.1)^2 + 1) + v - 0.1) for v > -0.78, else 0 (J(0) = 6.03 dB).
    """
    x = np.asarray(v, dtype=np.float64) - 0.1
    with np.errstate(invalid="ignore"):
        j = 6.9 + 20.0 * np.log10(np.sqrt(x * x + 1.0) + x)
    return np.asarray(np.where(np.asarray(v) > -0.78, j, 0.0), dtype=np.float64)


def _wavelength_m(freq_mhz: ArrayLike) -> FloatArray:
    f = np.asarray(freq_mhz, dtype=np.float64)
    if not np.all(f > 0):
        shown = np.ravel(f)[:3].tolist()
        raise ConfigError(bi(f"频率应为正数，实为 {shown}", f"frequency must be positive; got {shown}"))
    return np.asarray(_C / (f * 1e6))


def bullington_v(distance_m: ArrayLike, heights_m: ArrayLike, h_tx_m: ArrayLike, h_rx_m: ArrayLike,
                 freq_mhz: ArrayLike, *, earth_radius_m: float = EFFECTIVE_EARTH_RADIUS_M) -> FloatArray:
    """Diffraction parameter of the Bullington equivalent edge of terrain profiles (P.526 4.5.1).

    Parameters
    ----------
    distance_m : array_like, shape (..., n)
        Distance of each profile point from the transmitter, m, increasing; the first point is the
        transmitter's ground, the last the receiver's.
    heights_m : array_like, shape (..., n)
        Ground (plus clutter, if wanted) height of each point above a common datum, m.
    h_tx_m, h_rx_m : array_like, shape (...)
        Antenna heights above the datum (ground height plus antenna height), m.
    freq_mhz : array_like, shape (...)
        Frequency, MHz.
    earth_radius_m : float
        Effective earth radius (default 4/3 of 6371 km).

    Returns
    -------
    ndarray, shape (...)
        v_b (NLOS: the edge where the steepest rays from both ends meet) or the largest v of the
        intermediate points (LOS); -inf for a profile without intermediate points.
    """
    d = np.asarray(distance_m, dtype=np.float64)
    h = np.asarray(heights_m, dtype=np.float64)
    d, h = np.broadcast_arrays(d, h)
    hts = np.asarray(h_tx_m, dtype=np.float64)[..., None]
    hrs = np.asarray(h_rx_m, dtype=np.float64)[..., None]
    lam = _wavelength_m(freq_mhz)[..., None]
    total = d[..., -1:] - d[..., :1]
    di = (d - d[..., :1])[..., 1:-1]
    hi = h[..., 1:-1]
    if di.shape[-1] == 0:
        return np.asarray(np.full(np.broadcast_shapes(hts.shape, hrs.shape)[:-1], -np.inf))
    bulge = di * (total - di) / (2.0 * earth_radius_m)
    top = hi + bulge
    s_tim = np.max((top - hts) / di, axis=-1, keepdims=True)
    s_line = (hrs - hts) / total
    v_los = np.max((top - (hts * (total - di) + hrs * di) / total)
                   * np.sqrt(2.0 * total / (lam * di * (total - di))), axis=-1, keepdims=True)
    s_rim = np.max((top - hrs) / (total - di), axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        d_b = np.clip((hrs - hts + s_rim * total) / (s_tim + s_rim), 1e-9 * total, total * (1 - 1e-9))
        v_b = ((hts + s_tim * d_b - (hts * (total - d_b) + hrs * d_b) / total)
               * np.sqrt(2.0 * total / (lam * d_b * (total - d_b))))
    return np.asarray(np.where(s_tim < s_line, v_los, v_b)[..., 0], dtype=np.float64)


def bullington_loss_db(distance_m: ArrayLike, heights_m: ArrayLike, h_tx_m: ArrayLike, h_rx_m: ArrayLike,
                       freq_mhz: ArrayLike, *, earth_radius_m: float = EFFECTIVE_EARTH_RADIUS_M) -> FloatArray:
    """Bullington diffraction loss of terrain profiles, J(v_b) (P.526 4.5.1), dB.

    Arguments as :func:`bullington_v`. A single knife edge gives exactly its P.526 single-edge loss.
    """
    return knife_edge_loss_db(bullington_v(distance_m, heights_m, h_tx_m, h_rx_m, freq_mhz,
                                           earth_radius_m=earth_radius_m))


def bullington_excess_loss_db(distance_m: ArrayLike, heights_m: ArrayLike, h_tx_agl_m: ArrayLike,
                              h_rx_agl_m: ArrayLike, freq_mhz: ArrayLike, *,
                              earth_radius_m: float = EFFECTIVE_EARTH_RADIUS_M) -> FloatArray:
    """Terrain loss the base path-loss model does not contain: the Bullington loss of the profile
    minus that of the same path over ground straight from the transmitter's ground to the receiver's,
    never negative (dB).

    Parameters
    ----------
    distance_m, heights_m : array_like, shape (..., n)
        The profile, as :func:`bullington_v` (ground heights, first and last point under the antennas).
    h_tx_agl_m, h_rx_agl_m : array_like
        Antenna heights above their own ground, m.
    freq_mhz : array_like
        Frequency, MHz.
    """
    d = np.asarray(distance_m, dtype=np.float64)
    h = np.asarray(heights_m, dtype=np.float64)
    d, h = np.broadcast_arrays(d, h)
    z_tx, z_rx = h[..., 0], h[..., -1]
    hts = z_tx + np.asarray(h_tx_agl_m, dtype=np.float64)
    hrs = z_rx + np.asarray(h_rx_agl_m, dtype=np.float64)
    frac = (d - d[..., :1]) / (d[..., -1:] - d[..., :1])
    smooth = z_tx[..., None] + (z_rx - z_tx)[..., None] * frac
    actual = bullington_loss_db(d, h, hts, hrs, freq_mhz, earth_radius_m=earth_radius_m)
    reference = bullington_loss_db(d, smooth, hts, hrs, freq_mhz, earth_radius_m=earth_radius_m)
    return np.asarray(np.maximum(actual - reference, 0.0), dtype=np.float64)


# --------------------------------------------------------------------------------------------------
# the fast sweep


def _lags(radius_px: int) -> NDArray[np.int64]:
    near = np.arange(1, min(radius_px, 8) + 1)
    far = np.round(np.geomspace(10, max(radius_px, 10), 8)).astype(np.int64) if radius_px >= 10 else near[:0]
    return np.unique(np.concatenate([near, far])).astype(np.int64)


def radial_terrain_v(elevation_m: NDArray[np.floating], row: int, col: int, *, h_tx_m: float, h_rx_m: float,
                     radius_px: int, resolution_m: float, n_rays: int = 360,
                     earth_radius_m: float = EFFECTIVE_EARTH_RADIUS_M
                     ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Bullington v at 1 GHz from a site to every pixel of its radials, on a DEM grid.

    Parameters
    ----------
    elevation_m : ndarray (rows, cols)
        Ground elevation on the prediction grid (m; NaN: unknown, read as the site's ground).
    row, col : int
        The site's pixel (points off the grid take the nearest edge's value).
    h_tx_m, h_rx_m : float
        Antenna heights above ground, m.
    radius_px : int
        Radial length, pixels.
    resolution_m : float
        Pixel size, m.
    n_rays : int
        Radials, evenly spaced clockwise from north (360: whole degrees, the prediction's bearings).

    Returns
    -------
    (v_actual, v_smooth) : ndarray (n_rays, radius_px + 1), float32
        v at :data:`F_REF_MHZ` over the actual profile and over the straight ground line between the
        ends (column k: the receiver k pixels out; columns 0 and 1 are -inf, no intermediate point).
        The excess loss at frequency f is max(J(v_a s) - J(v_s s), 0) with s = sqrt(f / F_REF_MHZ)
        (:func:`sweep_excess_loss_db`).
    """
    n = int(radius_px)
    k = np.arange(n + 1, dtype=np.float64)
    bearing = np.radians(np.arange(n_rays) * 360.0 / n_rays)
    rows = row - np.cos(bearing)[:, None] * k[None, :]
    cols = col + np.sin(bearing)[:, None] * k[None, :]
    z = map_coordinates(elevation_m, [rows.ravel(), cols.ravel()], order=1, mode="nearest").reshape(rows.shape)
    z0 = float(z[0, 0]) if np.isfinite(z[0, 0]) else 0.0
    z = np.where(np.isfinite(z), z - z0, 0.0).astype(np.float32)  # heights relative to the site's ground
    v_actual = _sweep_v(z, h_tx_m, h_rx_m, resolution_m, earth_radius_m)
    return v_actual, np.broadcast_to(_smooth_v(n, h_tx_m, h_rx_m, resolution_m, earth_radius_m), v_actual.shape)


@cache
def _smooth_v(n: int, h_tx: float, h_rx: float, res: float, ae: float) -> NDArray[np.float32]:
    """The sweep's v over flat ground (one radial), the same for every site of these heights."""
    v = _sweep_v(np.zeros((1, n + 1), np.float32), h_tx, h_rx, res, ae)
    v.setflags(write=False)
    return v


def _sweep_v(z: NDArray[np.float32], h_tx: float, h_rx: float, res: float, ae: float) -> NDArray[np.float32]:
    """Bullington v (1 GHz) of the profile from the site (ground 0) to each point of each radial."""
    n_rays, m = z.shape
    out = np.full((n_rays, m), -np.inf, dtype=np.float32)
    if m < 3:
        return out
    lam = _C / (F_REF_MHZ * 1e6)
    f32 = np.float32
    d = np.arange(m, dtype=np.float64) * res
    dj = d[2:]
    hts = f32(h_tx)
    hrs = z[:, 2:] + f32(h_rx)  # receivers j = 2 .. m-1
    # transmitter side: the slope to point i on a path of length d_j is a_i + d_j / (2 ae) with
    # a_i = (z_i - hts) / d_i - d_i / (2 ae); its running maximum over i < j is exact
    a = (z[:, 1:-1] - hts) * f32(1.0) / d[1:-1].astype(np.float32) - (d[1:-1] / (2.0 * ae)).astype(np.float32)
    run = np.maximum.accumulate(a, axis=1)
    idx = np.where(a == run, np.arange(1, m - 1, dtype=np.int32)[None, :], 0)
    horizon = np.maximum.accumulate(idx, axis=1)  # index of the tx-side horizon point before each j
    s_tim = run + (dj / (2.0 * ae)).astype(np.float32)
    s_line = (hrs - hts) / dj.astype(np.float32)
    # receiver side and LOS v: maxima over the lags j - i, and over the tx horizon point
    s_rim = np.full((n_rays, m - 2), -np.inf, dtype=np.float32)
    v_los = np.full((n_rays, m - 2), -np.inf, dtype=np.float32)
    for lag in _lags(m - 1):
        if lag > m - 2:
            continue
        first = max(int(lag) + 1, 2)  # first receiver with point i = j - lag >= 1
        dj_l = d[first:]
        di_l = dj_l - lag * res
        bulge = (di_l * lag * res / (2.0 * ae)).astype(np.float32)
        top = z[:, first - lag:m - lag] + bulge
        rx = hrs[:, first - 2:]
        cand = (top - rx) * f32(1.0 / (lag * res))
        np.maximum(s_rim[:, first - 2:], cand, out=s_rim[:, first - 2:])
        w_tx = (lag * res / dj_l).astype(np.float32)
        q = np.sqrt(2.0 * dj_l / (lam * di_l * lag * res)).astype(np.float32)
        cand = (top - hts * w_tx - rx * (1.0 - w_tx)) * q
        np.maximum(v_los[:, first - 2:], cand, out=v_los[:, first - 2:])
    di = horizon * f32(res)
    dtot = dj.astype(np.float32)[None, :]
    top = np.take_along_axis(z[:, :-1], horizon, axis=1) + di * (dtot - di) / f32(2.0 * ae)
    np.maximum(s_rim, (top - hrs) / (dtot - di), out=s_rim)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.maximum(v_los, (top - (hts * (dtot - di) + hrs * di) / dtot)
                   * np.sqrt(2.0 * dtot / (f32(lam) * di * (dtot - di))), out=v_los)
        d_b = np.clip((hrs - hts + s_rim * dtot) / (s_tim + s_rim), 1e-3 * dtot, dtot * f32(1 - 1e-3))
        v_b = ((s_tim * d_b - (hrs - hts) * d_b / dtot) * np.sqrt(2.0 * dtot / (f32(lam) * d_b * (dtot - d_b))))
    out[:, 2:] = np.where(s_tim < s_line, v_los, v_b)
    return out


def sweep_excess_loss_db(v_actual: NDArray[np.floating], v_smooth: NDArray[np.floating], freq_mhz: float
                         ) -> FloatArray:
    """Terrain excess loss (dB, >= 0) at ``freq_mhz`` from the v tables of :func:`radial_terrain_v`."""
    s = np.sqrt(freq_mhz / F_REF_MHZ)
    return np.asarray(np.maximum(knife_edge_loss_db(v_actual * s) - knife_edge_loss_db(v_smooth * s), 0.0))


def effective_antenna_height_m(elevation_m: NDArray[np.floating], row: ArrayLike, col: ArrayLike,
                               h_agl_m: ArrayLike, *, resolution_m: float, inner_m: float = 500.0,
                               outer_m: float = 3000.0) -> FloatArray:
    """Antenna height above the mean terrain of the ring ``inner_m``-``outer_m`` around each site.

    Parameters
    ----------
    elevation_m : ndarray (rows, cols)
        Ground elevation on a grid of ``resolution_m`` (NaN: unknown, ignored).
    row, col : array_like of int
        The sites' pixels.
    h_agl_m : array_like
        Antenna heights above their own ground, m.

    Returns
    -------
    ndarray
        h_agl + z(site) - mean z(ring), clipped to 10-150 m (RMa's validity range). A site on a hill
        gets a taller effective mast, one in a valley a shorter one; without a ring mean (all NaN)
        the height is h_agl.
    """
    r = np.atleast_1d(np.asarray(row, dtype=np.int64))
    c = np.atleast_1d(np.asarray(col, dtype=np.int64))
    h = np.broadcast_to(np.asarray(h_agl_m, dtype=np.float64), r.shape)
    n = int(np.ceil(outer_m / resolution_m))
    off = np.arange(-n, n + 1)
    dr, dc = np.meshgrid(off, off, indexing="ij")
    dist = np.hypot(dr, dc) * resolution_m
    ring = (dist >= inner_m) & (dist <= outer_m)
    dr, dc = dr[ring], dc[ring]
    rows, cols = elevation_m.shape
    out = np.empty(len(r))
    for start in range(0, len(r), 256):  # bounded memory: 256 sites x ring pixels at once
        rr = r[start:start + 256, None] + dr[None, :]
        cc = c[start:start + 256, None] + dc[None, :]
        inside = (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)
        z = np.where(inside, elevation_m[np.clip(rr, 0, rows - 1), np.clip(cc, 0, cols - 1)], np.nan)
        with np.errstate(invalid="ignore"):
            count = np.sum(np.isfinite(z), axis=1)
            mean = np.where(count > 0, np.nansum(z, axis=1) / np.maximum(count, 1), np.nan)
        rs, cs = np.clip(r[start:start + 256], 0, rows - 1), np.clip(c[start:start + 256], 0, cols - 1)
        z_site = elevation_m[rs, cs].astype(np.float64)
        lift = np.where(np.isfinite(mean) & np.isfinite(z_site), z_site - mean, 0.0)
        out[start:start + 256] = h[start:start + 256] + lift
    return np.asarray(np.clip(out, 10.0, 150.0).reshape(np.shape(np.asarray(row))), dtype=np.float64)


# --------------------------------------------------------------------------------------------------
# clutter


#: P.2108-1 Table 3 clutter types: representative height R (m), street width w_s (m), the equation.
CLUTTER_TYPES: dict[str, tuple[float, float, str]] = {
    "water_sea": (10.0, 27.0, "2b"),
    "open_rural": (10.0, 27.0, "2b"),
    "suburban": (10.0, 27.0, "2a"),
    "urban_trees_forest": (15.0, 15.0, "2a"),
    "dense_urban": (20.0, 15.0, "2a"),
}


@dataclass(frozen=True)
class ClutterClass:
    """A land-cover class as the model sees it.

    Attributes
    ----------
    name
        What the class is (e.g. ``tree cover``).
    clutter_type
        A key of :data:`CLUTTER_TYPES`, or ``"none"`` (no clutter loss: bare ground, grass, crops
        lower than the terminal).
    height_m
        Representative clutter height R (m) for P.2108 3.1.
    sigma_db
        Location variability of the class (dB): the spread of the clutter loss between places of the
        class, added to the location effect's sigma where the class lies.
    """

    name: str
    clutter_type: str
    height_m: float
    sigma_db: float


#: ESA WorldCover 10 m v200 codes -> clutter classes. Heights: P.2108's defaults, lowered where the
#: class is lower than P.2108's "open/rural" 10 m (cropland, grass: the receiver stands in the open);
#: sigmas: P.2108 3.2's 4-6 dB for built-up and trees, 2-3 dB for open classes (assumptions).
WORLDCOVER_CLASSES: dict[int, ClutterClass] = {
    10: ClutterClass("tree cover", "urban_trees_forest", 15.0, 6.0),
    20: ClutterClass("shrubland", "suburban", 4.0, 4.0),
    30: ClutterClass("grassland", "none", 0.0, 2.0),
    40: ClutterClass("cropland (paddy)", "none", 0.0, 2.0),
    50: ClutterClass("built-up (village)", "suburban", 10.0, 5.0),
    60: ClutterClass("bare / sparse vegetation", "none", 0.0, 2.0),
    70: ClutterClass("snow and ice", "none", 0.0, 2.0),
    80: ClutterClass("permanent water bodies", "none", 0.0, 2.0),
    90: ClutterClass("herbaceous wetland", "none", 0.0, 2.0),
    95: ClutterClass("mangroves", "urban_trees_forest", 10.0, 6.0),
    100: ClutterClass("moss and lichen", "none", 0.0, 2.0),
}


def class_table(table: dict[int, ClutterClass] | None = None) -> dict[int, ClutterClass]:
    """A checked land-cover table (default :data:`WORLDCOVER_CLASSES`): codes 1-255, known clutter
    types, heights >= 0 and sigmas 0-20 dB; raises :class:`ConfigError` naming the bad code."""
    out = dict(WORLDCOVER_CLASSES if table is None else table)
    for code, cls in out.items():
        if not 1 <= int(code) <= 255:
            raise ConfigError(bi(f"地物类型代码 {code}：代码应为 1-255（0 表示无数据）",
                                 f"land-cover code {code}: codes are 1-255 (0 is nodata)"))
        if cls.clutter_type != "none" and cls.clutter_type not in CLUTTER_TYPES:
            raise ConfigError(bi(f"地物类型代码 {code}：无法识别的地物损耗类型 {cls.clutter_type!r}；应为 none、"
                                 f"{'、'.join(CLUTTER_TYPES)} 之一",
                                 f"land-cover code {code}: unknown clutter type {cls.clutter_type!r}; "
                                 f"one of none, {', '.join(CLUTTER_TYPES)}"))
        if not cls.height_m >= 0 or not 0 <= cls.sigma_db <= 20:
            raise ConfigError(bi(f"地物类型代码 {code}：高度应不小于 0 米，标准差应在 0-20 dB 之间",
                                 f"land-cover code {code}: height must be >= 0 m and sigma 0-20 dB"))
    return out


def clutter_height_gain_loss_db(freq_ghz: ArrayLike, h_m: ArrayLike, clutter_height_m: ArrayLike,
                                street_width_m: ArrayLike, equation: str) -> FloatArray:
    """Clutter loss at a terminal, ITU-R P.2108-1 section 3.1 (height-gain terminal correction), dB.

    Parameters
    ----------
    freq_ghz : array_like
        Frequency, GHz; published for 0.03-3 GHz, used extrapolated above (n78, n79).
    h_m : array_like
        Terminal antenna height above ground, m (> 0).
    clutter_height_m, street_width_m : array_like
        Representative clutter height R and street width w_s, m (:data:`CLUTTER_TYPES`).
    equation : {"2a", "2b"}
        2a: J(v) - 6.03 with v = 0.342 sqrt(f) sqrt((R - h) theta_clut) (suburban, urban,
        trees/forest, dense urban); 2b: -K_h2 log10(h / R), K_h2 = 21.8 + 6.2 log10(f) (water/sea,
        open/rural).

    Returns
    -------
    ndarray
        A_h, dB; 0 where h >= R.
    """
    f = np.asarray(freq_ghz, dtype=np.float64)
    h = np.asarray(h_m, dtype=np.float64)
    r = np.asarray(clutter_height_m, dtype=np.float64)
    ws = np.asarray(street_width_m, dtype=np.float64)
    if not np.all(h > 0) or not np.all(f > 0):
        raise ConfigError(bi("P.2108 3.1 需要正的频率和终端高度",
                             "P.2108 3.1 needs a positive frequency and terminal height"))
    h_dif = np.maximum(r - h, 0.0)
    if equation == "2a":
        theta = np.degrees(np.arctan(h_dif / ws))
        loss = knife_edge_loss_db(0.342 * np.sqrt(f) * np.sqrt(h_dif * theta)) - 6.03
    elif equation == "2b":
        with np.errstate(divide="ignore"):
            loss = -(21.8 + 6.2 * np.log10(f)) * np.log10(h / np.where(r > 0, r, h))
    else:
        raise ConfigError(bi(f"P.2108 3.1 的公式应为 2a 或 2b，实为 {equation!r}",
                             f"P.2108 3.1 equation must be 2a or 2b; got {equation!r}"))
    return np.asarray(np.where(h < r, loss, 0.0), dtype=np.float64)


def terrestrial_clutter_loss_db(freq_ghz: ArrayLike, distance_km: ArrayLike,
                                location_percent: ArrayLike = 50.0) -> FloatArray:
    """Statistical clutter loss of a terrestrial path, ITU-R P.2108-1 section 3.2, dB.

    Parameters
    ----------
    freq_ghz : array_like
        Frequency, GHz, 0.5-67.
    distance_km : array_like
        Path length, km (>= 0.25).
    location_percent : array_like
        Percentage of locations p, 0-100 exclusive (50: the median).

    Returns
    -------
    ndarray
        L_ctt = -5 log10(10^(-0.2 L_l) + 10^(-0.2 L_s)) - sigma_cb Q^-1(p/100), not more than its
        value at 2 km (eq. 6); L_l = -2 log10(10^(-5 log10 f - 12.5) + 10^(-16.5)) (sigma 4 dB),
        L_s = 32.98 + 23.9 log10 d + 3 log10 f (sigma 6 dB).
    """
    f = np.asarray(freq_ghz, dtype=np.float64)
    d = np.asarray(distance_km, dtype=np.float64)
    p = np.asarray(location_percent, dtype=np.float64)
    if not (np.all((f >= 0.5) & (f <= 67.0)) and np.all(d >= 0.25) and np.all((p > 0) & (p < 100))):
        raise ConfigError(bi("P.2108 3.2 只适用于 0.5-67 GHz、不短于 0.25 公里的路径和 0 < p < 100",
                             "P.2108 3.2 is defined for 0.5-67 GHz, paths of at least 0.25 km and 0 < p < 100"))

    def at(dist: FloatArray) -> FloatArray:
        l_l = -2.0 * np.log10(10.0 ** (-5.0 * np.log10(f) - 12.5) + 10.0 ** -16.5)
        l_s = 32.98 + 23.9 * np.log10(dist) + 3.0 * np.log10(f)
        w_l, w_s = 10.0 ** (-0.2 * l_l), 10.0 ** (-0.2 * l_s)
        sigma = np.sqrt((16.0 * w_l + 36.0 * w_s) / (w_l + w_s))
        # Q^-1(p) = -Phi^-1(p): the loss exceeded at p % of locations
        return np.asarray(-5.0 * np.log10(w_l + w_s) + sigma * ndtri(p / 100.0))

    return np.asarray(np.minimum(at(d), at(np.asarray(2.0))), dtype=np.float64)


def clutter_loss_table_db(freq_mhz: float, h_ut_m: float, table: dict[int, ClutterClass] | None = None
                          ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Per land-cover code 0-255, the receiver's clutter loss (dB) at ``freq_mhz`` and the class's
    sigma (dB); codes not in the table (and 0, nodata) get 0 dB and sigma 0."""
    classes = class_table(table)
    loss = np.zeros(256, dtype=np.float32)
    sigma = np.zeros(256, dtype=np.float32)
    for code, cls in classes.items():
        sigma[code] = cls.sigma_db
        if cls.clutter_type == "none" or cls.height_m <= h_ut_m:
            continue
        _r, ws, eq = CLUTTER_TYPES[cls.clutter_type]
        loss[code] = float(clutter_height_gain_loss_db(freq_mhz / 1000.0, h_ut_m, cls.height_m, ws, eq))
    return loss, sigma
