"""The seed world's terrain (opt-in: ``build_world(terrain=True)``, ``village5g seed --terrain``).

A synthetic DEM and land cover with Jiangsu-like relief, and the true field's terrain and clutter
losses, computed by a more detailed method than the service's model (:mod:`coverage.model.terrain`),
so that the model is measured against something it does not simply copy.

DEM (90 m, SRTM-like, in :data:`seeds.world.METRIC_CRS`)
    A plain of 2-9 m varying over tens of kilometres (no site sees 3 m of relief on it), lakes (太湖,
    洪泽湖, 高邮湖, 骆马湖) at 3 m and the Yangtze at 2 m, and the hills: 云台山 and 锦屏山 (连云港),
    the hills round 徐州, 紫金山, 老山 and 牛首山 (南京), the 宁镇 range and 茅山 (镇江) and the
    hills south of 宜兴: anisotropic Gaussian ridges with smoothed-noise sub-peaks and valleys. The
    hills' places and heights are approximate; their shapes are invented.
Land cover (ESA WorldCover codes)
    Water (80) on lakes and river, tree cover (10) on the hills above 25 m, shrubland (20) on their
    lower slopes, built-up (50) within 150 m of every village's centre, cropland / paddy (40)
    elsewhere.
True terrain loss (per link)
    Deygout with three edges (ITU-R P.526: L = J(v_p) + T (J(v_t) + J(v_r) + C), T = 1 -
    exp(-J(v_p)/6), C = 10 + 0.04 D km) on 50 m profiles sampled bilinearly from the 90 m DEM
    (the model: Bullington, one edge, on the DEM averaged to 100 m pixels), as the excess over the
    same construction on flat ground; tabulated per hilly site on 90 radials (4 degrees) every 100 m
    out to 6 km (beyond: the 6 km value). A site is hilly when the DEM varies by 3 m or more within
    6 km of it; elsewhere the truth has no terrain loss. The path loss uses an effective height
    above the mean ground of a 4 km square round the site (the model: a 0.5-3 km ring).
True clutter loss (per receiver)
    P.2108 3.1 at the place's class with its representative height varying from place to place
    (log-normal, 30 %, correlated over about 300 m) where the model uses one height per class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import rasterio
import shapely
from affine import Affine
from numpy.typing import NDArray
from rasterio.features import rasterize
from scipy.ndimage import gaussian_filter, map_coordinates, uniform_filter, zoom

from coverage.crs import project_xy

DEM_RES_M = 90.0
MARGIN_M = 12_000.0
#: (name, lon, lat, peak m, half-length km, half-width km, azimuth of the long axis, degrees)
HILLS: tuple[tuple[str, float, float, float, float, float, float], ...] = (
    ("云台山", 119.33, 34.66, 600.0, 7.0, 3.0, 45.0),
    ("锦屏山", 119.12, 34.54, 280.0, 5.0, 2.5, 30.0),
    ("徐州东部山丘", 117.30, 34.25, 240.0, 12.0, 5.0, 40.0),
    ("徐州北部山丘", 117.15, 34.40, 200.0, 9.0, 4.0, 60.0),
    ("紫金山", 118.85, 32.07, 440.0, 4.0, 2.5, 80.0),
    ("老山", 118.58, 32.10, 420.0, 7.0, 3.0, 65.0),
    ("牛首山", 118.74, 31.91, 250.0, 4.0, 3.0, 10.0),
    ("宁镇山脉", 119.20, 32.13, 320.0, 16.0, 4.0, 80.0),
    ("茅山", 119.33, 31.78, 370.0, 4.0, 9.0, 10.0),
    ("宜兴南部山区", 119.72, 31.22, 560.0, 9.0, 6.0, 60.0),
)
#: (name, lon, lat, semi-axis east km, semi-axis north km)
LAKES = (("太湖", 120.22, 31.22, 28.0, 30.0), ("洪泽湖", 118.70, 33.30, 20.0, 22.0),
         ("高邮湖", 119.30, 32.85, 9.0, 17.0), ("骆马湖", 118.20, 34.10, 9.0, 11.0))
YANGTZE = ((118.35, 31.70), (118.62, 31.98), (118.80, 32.12), (119.05, 32.25), (119.45, 32.24),
           (119.90, 32.02), (120.40, 31.95), (120.90, 31.80), (121.40, 31.55))
LC_TREE, LC_SHRUB, LC_CROP, LC_BUILT, LC_WATER = 10, 20, 40, 50, 80
#: Representative clutter height (m), street width (m) and P.2108 equation of the classes the truth sees.
TRUE_CLUTTER = {LC_TREE: (15.0, 15.0, "2a"), LC_SHRUB: (4.0, 27.0, "2a"), LC_BUILT: (10.0, 27.0, "2a")}
#: The truth's radial tables: rays, step between receivers (m), reach (m), profile step (m).
RAYS, RX_STEP_M, REACH_M, PROFILE_STEP_M = 90, 100.0, 6000.0, 50.0
HILLY_RELIEF_M = 3.0
EARTH_RADIUS_M = 6_371_000.0 * 4.0 / 3.0


def knife_edge_db(v: NDArray[Any]) -> NDArray[np.float64]:
    """J(v) of ITU-R P.526 eq. 31 (0 for v <= -0.78)."""
    x = np.asarray(v, dtype=np.float64) - 0.1
    with np.errstate(invalid="ignore"):
        j = 6.9 + 20.0 * np.log10(np.sqrt(x * x + 1.0) + x)
    return np.where(np.asarray(v) > -0.78, j, 0.0)


@dataclass
class SeedTerrain:
    """The DEM (m) and land cover (codes) on a north-up grid of the metric CRS, and the true losses."""

    x0: float
    y0: float
    res: float
    elevation: NDArray[np.float32]
    landcover: NDArray[np.uint8]
    crs: pyproj.CRS
    clutter_height_factor: NDArray[np.float32]
    # the truth's per-site tables (filled by :meth:`tabulate_sites`)
    site_keys: dict[tuple[float, float, float], int] | None = None
    site_v: NDArray[np.float16] | None = None  # (sites, 3, RAYS, n_rx): v_p, v_t, v_r at 1 GHz
    flat_v: NDArray[np.float64] | None = None  # (sites, 3, n_rx) on flat ground

    # -- building ----------------------------------------------------------------------------------

    @classmethod
    def build(cls, rng: np.random.Generator, *, bounds_m: tuple[float, float, float, float], crs: pyproj.CRS,
              village_xy: NDArray[np.float64]) -> SeedTerrain:
        res = DEM_RES_M
        minx, miny, maxx, maxy = bounds_m
        x0 = np.floor((minx - MARGIN_M) / res) * res
        y0 = np.ceil((maxy + MARGIN_M) / res) * res
        width = int(np.ceil((maxx + MARGIN_M - x0) / res))
        height = int(np.ceil((y0 - (miny - MARGIN_M)) / res))
        # the plain: 2-9 m, varying over ~50 km (bicubic zoom of a 20 km lattice)
        coarse = rng.standard_normal((height * int(res) // 20_000 + 3, width * int(res) // 20_000 + 3))
        plain = zoom(coarse, (height / coarse.shape[0], width / coarse.shape[1]), order=3)[:height, :width]
        z = (5.5 + 0.5 * plain).astype(np.float32)
        hill = np.zeros((height, width), np.float32)
        for _name, lon, lat, peak, half_len, half_wid, azimuth in HILLS:
            hx, hy = project_xy(np.array([lon]), np.array([lat]), crs)
            reach = 3.5 * max(half_len, half_wid) * 1000.0
            c0 = max(int((hx[0] - reach - x0) / res), 0)
            c1 = min(int((hx[0] + reach - x0) / res) + 1, width)
            r0 = max(int((y0 - hy[0] - reach) / res), 0)
            r1 = min(int((y0 - hy[0] + reach) / res) + 1, height)
            if c0 >= c1 or r0 >= r1:
                continue
            xs = x0 + (np.arange(c0, c1) + 0.5) * res - hx[0]
            ys = y0 - (np.arange(r0, r1) + 0.5) * res - hy[0]
            gx, gy = np.meshgrid(xs, ys)
            a = np.radians(azimuth)
            along = gx * np.sin(a) + gy * np.cos(a)
            across = gx * np.cos(a) - gy * np.sin(a)
            shape = np.exp(-0.5 * ((along / (half_len * 1000.0)) ** 2 + (across / (half_wid * 1000.0)) ** 2))
            rough = gaussian_filter(rng.standard_normal(shape.shape), 4.0) * 8.0
            rough += gaussian_filter(rng.standard_normal(shape.shape), 12.0) * 14.0
            relief = peak * shape * np.clip(0.8 + 0.5 * rough, 0.15, 1.6)
            hill[r0:r1, c0:c1] = np.maximum(hill[r0:r1, c0:c1], relief.astype(np.float32))
        z += hill
        transform = Affine(res, 0.0, x0, 0.0, -res, y0)
        water_shapes = []
        for _name, lon, lat, ax, ay in LAKES:
            lx, ly = project_xy(np.array([lon]), np.array([lat]), crs)
            circle = shapely.Point(lx[0], ly[0]).buffer(1.0, 64)
            water_shapes.append(shapely.affinity.scale(circle, ax * 1000.0, ay * 1000.0))
        rx, ry = project_xy(np.array([p[0] for p in YANGTZE]), np.array([p[1] for p in YANGTZE]), crs)
        water_shapes.append(shapely.LineString(np.column_stack([rx, ry])).buffer(1500.0))
        water = rasterize([(g, 1) for g in water_shapes], out_shape=(height, width), transform=transform,
                          fill=0, dtype="uint8").astype(bool)
        z = np.where(water & (hill < 5.0), z - hill - np.float32(1.0), z)  # water 1 m below its plain
        lc = np.full((height, width), LC_CROP, np.uint8)
        lc[hill > 8.0] = LC_SHRUB
        lc[hill > 25.0] = LC_TREE
        built = shapely.buffer(shapely.points(village_xy), 150.0, quad_segs=8)
        is_built = rasterize([(g, 1) for g in built], out_shape=(height, width), transform=transform, fill=0,
                             dtype="uint8").astype(bool)
        lc[is_built] = LC_BUILT
        lc[water & (hill < 5.0)] = LC_WATER
        factor = gaussian_filter(rng.standard_normal((height, width), dtype=np.float32), 2.0)
        factor = np.exp(0.3 * factor / max(float(factor.std()), 1e-6)).astype(np.float32)
        return cls(x0=float(x0), y0=float(y0), res=res, elevation=z, landcover=lc, crs=crs,
                   clutter_height_factor=factor)

    def write(self, folder: Path) -> tuple[Path, Path]:
        """The DEM (float32, m) and land cover (uint8) as tiled, compressed GeoTIFFs in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        transform = Affine(self.res, 0.0, self.x0, 0.0, -self.res, self.y0)
        paths = (folder / "seed_dem.tif", folder / "seed_landcover.tif")
        for path, data, nodata in ((paths[0], self.elevation, -9999.0), (paths[1], self.landcover, 0)):
            with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                               dtype=str(data.dtype), crs=self.crs.to_wkt(), transform=transform, nodata=nodata,
                               compress="deflate", tiled=True, blockxsize=512, blockysize=512) as dst:
                dst.write(data, 1)
        return paths

    # -- sampling --------------------------------------------------------------------------------

    def _rc(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[Any], NDArray[Any]]:
        return (self.y0 - y) / self.res - 0.5, (x - self.x0) / self.res - 0.5

    def elevation_at(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
        """Ground height (m), bilinear."""
        r, c = self._rc(np.asarray(x, float), np.asarray(y, float))
        return map_coordinates(self.elevation, [r.ravel(), c.ravel()], order=1, mode="nearest").reshape(r.shape)

    def landcover_at(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[Any], NDArray[Any]]:
        """Land-cover code and clutter-height factor at points (nearest pixel)."""
        r, c = self._rc(np.asarray(x, float), np.asarray(y, float))
        ri = np.clip(np.rint(r).astype(np.int64), 0, self.elevation.shape[0] - 1)
        ci = np.clip(np.rint(c).astype(np.int64), 0, self.elevation.shape[1] - 1)
        return self.landcover[ri, ci], self.clutter_height_factor[ri, ci]

    def effective_heights(self, x: NDArray[np.float64], y: NDArray[np.float64], h: NDArray[np.float64]
                          ) -> NDArray[np.float64]:
        """Antenna heights above the mean ground of a 4 km square round each site, 10-200 m."""
        size = round(4000.0 / self.res) | 1
        mean = uniform_filter(self.elevation, size=size, mode="nearest")
        r, c = self._rc(x, y)
        around = map_coordinates(mean, [r, c], order=1, mode="nearest")
        return np.clip(h + self.elevation_at(x, y) - around, 10.0, 200.0)

    # -- the true terrain loss ---------------------------------------------------------------------

    def tabulate_sites(self, x: NDArray[np.float64], y: NDArray[np.float64], h: NDArray[np.float64]
                       ) -> NDArray[np.int64]:
        """Deygout v tables of every hilly site (distinct x, y, mast height) of the cells; returns each
        cell's table index (-1: not hilly)."""
        keys: dict[tuple[float, float, float], int] = {}
        n_rx = int(REACH_M / RX_STEP_M) + 1
        size = round(2 * REACH_M / self.res) | 1
        from scipy.ndimage import maximum_filter, minimum_filter

        relief = maximum_filter(self.elevation, size=size) - minimum_filter(self.elevation, size=size)
        sites, inverse = np.unique(np.column_stack([x, y, h]), axis=0, return_inverse=True)
        r, c = self._rc(sites[:, 0], sites[:, 1])
        hilly = map_coordinates(relief, [r, c], order=0, mode="nearest") >= HILLY_RELIEF_M
        chosen = sites[hilly]
        tables = np.zeros((len(chosen), 3, RAYS, n_rx), np.float16)
        flat = np.zeros((len(chosen), 3, n_rx))
        for k, (sx, sy, sh) in enumerate(chosen):
            keys[(float(sx), float(sy), float(sh))] = k
            tables[k] = self._deygout_site(sx, sy, sh, flat=False).astype(np.float16)
            flat[k] = self._deygout_site(sx, sy, sh, flat=True)[:, 0, :]
        self.site_keys, self.site_v, self.flat_v = keys, tables, flat
        table_of_site = np.full(len(sites), -1, np.int64)
        table_of_site[np.flatnonzero(hilly)] = np.arange(len(chosen))
        return table_of_site[np.ravel(inverse)]

    def _deygout_site(self, sx: float, sy: float, mast: float, *, flat: bool) -> NDArray[np.float64]:
        n_rx = int(REACH_M / RX_STEP_M) + 1
        per = int(RX_STEP_M / PROFILE_STEP_M)
        n_pts = (n_rx - 1) * per + 1
        rays = 1 if flat else RAYS
        ang = np.radians(np.arange(rays) * 360.0 / RAYS)
        dist = np.arange(n_pts) * PROFILE_STEP_M
        z0 = float(self.elevation_at(np.array([sx]), np.array([sy]))[0])
        if flat:
            z = np.zeros((1, n_pts), np.float32)
        else:
            px = sx + np.sin(ang)[:, None] * dist[None, :]
            py = sy + np.cos(ang)[:, None] * dist[None, :]
            z = (self.elevation_at(px, py) - z0).astype(np.float32)
        lam = 0.299792458  # at 1 GHz
        out = np.full((3, rays, n_rx), -np.inf)
        e_idx = np.arange(1, n_rx) * per  # profile index of each receiver
        i = np.arange(n_pts)
        d_i = dist[None, None, :].astype(np.float32)
        d_e = dist[e_idx][None, :, None].astype(np.float32)
        valid = (i[None, None, :] > 0) & (i[None, None, :] < e_idx[None, :, None])
        h_t = mast
        h_r = z[:, e_idx][:, :, None] + 1.5

        def v_of(top: NDArray[Any], a_d: Any, a_h: Any, b_d: Any, b_h: Any, mask: NDArray[Any]) -> NDArray[Any]:
            """v of points (d_i, top) against the line (a_d, a_h)-(b_d, b_h); -inf off ``mask``."""
            span = b_d - a_d
            x1, x2 = d_i - a_d, b_d - d_i
            with np.errstate(divide="ignore", invalid="ignore"):
                v = (top + x1 * x2 * np.float32(0.5 / EARTH_RADIUS_M) - a_h - (b_h - a_h) * (x1 / span))
                v *= np.sqrt(np.float32(2.0 / lam) * span / (x1 * x2))
            v = np.broadcast_to(v, np.broadcast_shapes(v.shape, mask.shape)).copy() if v.shape != mask.shape else v
            v[~np.broadcast_to(mask, v.shape)] = -np.inf
            return v

        top = z[:, None, :]
        v_main = v_of(top, 0.0, h_t, d_e, h_r, valid)
        p = np.argmax(v_main, axis=2)
        v_p = np.take_along_axis(v_main, p[..., None], axis=2)[..., 0]
        d_p = dist.astype(np.float32)[p][..., None]
        z_p = np.take_along_axis(np.broadcast_to(top, v_main.shape), p[..., None], axis=2)
        tx_side = valid & (i[None, None, :] < p[..., None])
        rx_side = valid & (i[None, None, :] > p[..., None])
        v_t = v_of(top, 0.0, h_t, d_p, z_p, tx_side).max(axis=2)
        v_r = v_of(top, d_p, z_p, d_e, h_r, rx_side).max(axis=2)
        out[0, :, 1:], out[1, :, 1:], out[2, :, 1:] = v_p, v_t, v_r
        return out

    def terrain_loss_db(self, table: NDArray[np.int64], site_x: NDArray[np.float64], site_y: NDArray[np.float64],
                        x: NDArray[np.float64], y: NDArray[np.float64], freq_mhz: NDArray[np.float64]
                        ) -> NDArray[np.float64]:
        """True terrain loss (dB) of links from sites (their table index, -1 not hilly, and position;
        arrays of one shape) to points (broadcast against them)."""
        out = np.zeros(np.broadcast_shapes(site_x.shape, x.shape))
        if not self.site_keys or self.site_v is None or self.flat_v is None:
            return out
        idx, dx, dy = np.broadcast_arrays(table, x - site_x, y - site_y)
        on = idx >= 0
        if not on.any():
            return out
        k = idx[on]
        d = np.hypot(dx[on], dy[on])
        ray = np.rint(np.degrees(np.arctan2(dx[on], dy[on])) % 360.0 / (360.0 / RAYS)).astype(np.int64) % RAYS
        step = np.clip(np.rint(d / RX_STEP_M).astype(np.int64), 0, self.site_v.shape[3] - 1)
        s = np.sqrt(np.broadcast_to(freq_mhz, out.shape)[on] / 1000.0)
        v = self.site_v[k, :, ray, step].astype(np.float64) * s[:, None]
        v0 = self.flat_v[k, :, step] * s[:, None]
        total = np.where(d >= 2 * RX_STEP_M, _deygout(v, d) - _deygout(v0, d), 0.0)
        out[on] = np.maximum(total, 0.0)
        return out

    def clutter_loss_db(self, x: NDArray[np.float64], y: NDArray[np.float64], freq_mhz: NDArray[np.float64]
                        ) -> NDArray[np.float64]:
        """True clutter loss (dB) at receivers 1.5 m high; ``freq_mhz`` broadcast against the points."""
        code, factor = self.landcover_at(x, y)
        out = np.zeros(np.broadcast_shapes(np.shape(code), np.shape(freq_mhz)))
        f_ghz = np.broadcast_to(np.asarray(freq_mhz, float) / 1000.0, out.shape)
        for cls, (height, ws, _eq) in TRUE_CLUTTER.items():
            here = np.broadcast_to(code == cls, out.shape)
            if not here.any():
                continue
            r = np.broadcast_to(height * factor.astype(np.float64), out.shape)[here]
            h_dif = np.maximum(r - 1.5, 0.0)
            theta = np.degrees(np.arctan(h_dif / ws))
            loss = knife_edge_db(0.342 * np.sqrt(f_ghz[here]) * np.sqrt(h_dif * theta)) - 6.03
            out[here] = np.where(r > 1.5, np.maximum(loss, 0.0), 0.0)
        return out

    def params(self) -> dict[str, Any]:
        """JSON-serialisable description."""
        return {"dem_resolution_m": self.res, "shape": list(self.elevation.shape),
                "hills": [{"name": h[0], "lon": h[1], "lat": h[2], "peak_m": h[3]} for h in HILLS],
                "lakes": [lk[0] for lk in LAKES],
                "method": "Deygout 3 edges, 50 m profiles, 90 radials x 100 m to 6 km",
                "hilly_sites": 0 if self.site_keys is None else len(self.site_keys),
                "clutter": {str(k): {"height_m": v[0], "street_width_m": v[1]} for k, v in TRUE_CLUTTER.items()}}


def _deygout(v: NDArray[np.float64], d_m: NDArray[np.float64]) -> NDArray[np.float64]:
    """P.526 three-edge Deygout loss from v_p, v_t, v_r (columns of ``v``)."""
    j_p = knife_edge_db(v[:, 0])
    t = 1.0 - np.exp(-j_p / 6.0)
    extra = knife_edge_db(np.nan_to_num(v[:, 1], neginf=-9.0)) + knife_edge_db(np.nan_to_num(v[:, 2], neginf=-9.0))
    c = 10.0 + 0.04 * d_m / 1000.0
    return np.where(j_p > 0, j_p + t * (extra + c), 0.0)
