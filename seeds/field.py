"""The "true" radio field of the seed world and the drive tests sampled from it.

The field deliberately differs from every model the service implements (3GPP TR 38.901 RMa/UMa,
Okumura-Hata), so a calibration has something real to find:

    RSRP = EPRE + G - PL - clutter(county, township) - shadow(x, y) [- vehicle loss] [+ noise]
    EPRE = P_total - 10 log10(12 N_RB)
    PL   = 127 + 33 log10(d3D / 1 km) + 21 log10(f / 2600 MHz) - 9 log10(h_BS / 35 m)
    G    = G_peak - min(A_h + A_v, 25)   A_h = min(12 (phi / 70)^2, 25)
                                         A_v = min(12 ((theta - tilt) / 12)^2, 18)

Single slope (no breakpoint, no LOS/NLOS split), 70 degree beam and 25 dB front-to-back where
TR 38.901 has 65 degrees and 30 dB, an SSB beam-sweep loss of 2 dB on the sector gain, a per-county
clutter offset N(0, 4 dB) plus a per-township N(0, 2 dB), and spatially correlated shadowing (6 dB,
Gaussian correlation with 1/e distance 1 km). Everything here is in the generator's metric CRS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from affine import Affine
from numpy.typing import NDArray
from rasterio.features import rasterize
from scipy.ndimage import gaussian_filter, map_coordinates
from scipy.spatial import cKDTree

from coverage.model.bands import BANDS
from seeds.terrain import SeedTerrain

OPERATORS = ("CMCC", "CUCC", "CTCC", "CBN")
BAND_ORDER = ("n28", "n41", "n78", "n79")

#: N_RB per (bandwidth MHz, SCS kHz), 3GPP TS 38.101-1 Table 5.3.2-1.
N_RB = {(20.0, 15.0): 106, (30.0, 15.0): 160, (40.0, 30.0): 106, (50.0, 30.0): 133,
        (60.0, 30.0): 162, (80.0, 30.0): 217, (100.0, 30.0): 273}

FIELD: dict[str, Any] = {
    "path_loss": {
        "formula": "PL = a + b*log10(d3D/1km) + c*log10(f/2600MHz) - e*log10(h_BS/35m)",
        "a_db": 127.0, "b_db_per_decade": 33.0, "c_db_per_decade": 21.0, "e_db_per_decade": 9.0,
        "min_distance_m": 35.0, "ue_height_m": 1.5,
        "note": "single slope, no breakpoint or LOS/NLOS split; RMa NLOS falls ~38.6 dB/decade "
                "at h_BS 35 m and RMa LOS ~20 then ~40 dB/decade around the breakpoint",
    },
    "antenna": {
        "sector_peak_gain": "BANDS[band].antenna_gain_dbi - 2 dB (SSB beam-sweep loss)",
        "sector_beam_loss_db": 2.0, "omni_gain_dbi": 6.0, "h_beamwidth_deg": 70.0,
        "v_beamwidth_deg": 12.0, "front_to_back_db": 25.0, "vertical_limit_db": 18.0,
    },
    "clutter": {"county_sigma_db": 4.0, "township_sigma_db": 2.0,
                "grid": "township offset at each shadowing grid node (0 outside the province), "
                        "interpolated bilinearly"},
    "shadowing": {"sigma_db": 6.0, "grid_m": 200.0, "correlation_1_over_e_m": 1000.0,
                  "kind": "white noise smoothed by a Gaussian kernel (sigma 500 m), "
                          "sampled bilinearly; common to all links at a location"},
    "vehicle_loss_db": 3.0,
    "measurement_noise": {"rsrp_db": 2.5, "sinr_db": 1.5, "throughput_ln_sigma": 0.25},
    "serving": {"k_nearest_cells": 24, "n28_bias_db": -6.0,
                "note": "best server = max(RSRP + bias); the capacity bands win unless n28 is "
                        "6 dB stronger; only active cells activated on or before the test day"},
    "sinr": {"interference_load": 0.5, "noise_figure_db": 7.0,
             "noise": "-174 dBm/Hz + 10 log10(SCS) + NF per resource element (the same ratio as "
                      "total signal vs -174 + 10 log10(BW) + NF)",
             "interferers": "other cells of the same operator and band among the k nearest"},
    "throughput": {
        "dl": "BW * min(0.75 log2(1+SINR), 7.4) * layers * dl_share * (1-cell_load) * LN noise; "
              "0 below SINR -8 dB",
        "ul": "BW * min(0.7 log2(1+SINR_ul), 5.5) * ul_layers * ul_share * (1-cell_load) * LN "
              "noise; SINR_ul = SINR - 3 - 0.3*max(0, -100-RSRP) (UE power limit); 0 below "
              "-10 dB",
        "layers": {"n28": 2, "n41": 4, "n78": 4, "n79": 4},
        "ul_layers": {"n28": 1, "n41": 2, "n78": 2, "n79": 2},
        "dl_share": {"n28": 1.0, "n41": 0.74, "n78": 0.74, "n79": 0.74},
        "ul_share": {"n28": 1.0, "n41": 0.23, "n78": 0.23, "n79": 0.23},
        "cell_load": [0.2, 0.7], "dl_cap_mbps": 1500.0,
    },
    "no_service_rsrp_dbm": -140.0,
    "quality_thresholds": {"good_rsrp_dbm": -105.0, "good_sinr_db": -3.0, "weak_rsrp_dbm": -115.0},
}


def _db_sum(values_dbm: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.sum(10.0 ** (values_dbm / 10.0), axis=axis))


@dataclass
class TrueField:
    """The true signal field: shadowing grid, clutter offsets and the cells (metric CRS)."""

    x0: float
    y0: float
    res: float
    shadow: NDArray[np.float32]  # dB, positive = extra loss; row = y index, col = x index
    loss: NDArray[np.float32]  # shadow + clutter (dB) on the same grid
    county_codes: NDArray[np.str_]
    county_offset: NDArray[np.float64]
    town_codes: NDArray[np.str_]
    town_offset: NDArray[np.float64]  # county + township offset (dB)
    cells: pd.DataFrame  # active cells with derived radio columns
    trees: dict[str, tuple[cKDTree, NDArray[np.intp]]]
    #: Terrain and land cover (``build_world(terrain=True)``): terrain and clutter losses per link.
    terrain: SeedTerrain | None = None

    @classmethod
    def build(cls, rng: np.random.Generator, *, cells: pd.DataFrame, province: shapely.Geometry,
              towns_cells: NDArray[np.object_], town_codes: NDArray[np.str_],
              county_codes: list[str], terrain: SeedTerrain | None = None) -> TrueField:
        sh = FIELD["shadowing"]
        res = float(sh["grid_m"])
        minx, miny, maxx, maxy = shapely.bounds(province)
        margin = 10_000.0
        x0, y0 = minx - margin, miny - margin
        nx = int(np.ceil((maxx + margin - x0) / res)) + 1
        ny = int(np.ceil((maxy + margin - y0) / res)) + 1
        noise = rng.standard_normal((ny, nx), dtype=np.float32)
        # Gaussian kernel sigma_k gives a Gaussian correlation exp(-r^2 / (4 sigma_k^2)): 1/e at
        # r = 2 sigma_k.
        sigma_px = sh["correlation_1_over_e_m"] / 2.0 / res
        smooth = gaussian_filter(noise, sigma=sigma_px, mode="reflect")
        smooth *= np.float32(sh["sigma_db"] / float(smooth.std(dtype=np.float64)))

        cc = np.asarray(county_codes)
        c_off = FIELD["clutter"]["county_sigma_db"] * rng.standard_normal(len(cc))
        t_county = np.searchsorted(cc, np.array([c[:6] for c in town_codes]))
        t_off = c_off[t_county] + FIELD["clutter"]["township_sigma_db"] * rng.standard_normal(
            len(town_codes))

        act = cells[cells["status"] == "active"].reset_index(drop=True)
        band = act["band"].to_numpy()
        bw = act["bandwidth_mhz"].to_numpy()
        scs = np.array([BANDS[b].scs_khz for b in band])
        n_rb = np.array([N_RB.get((w, s), int(w * 1000 / (12 * s) * 0.92))
                         for w, s in zip(bw, scs, strict=True)])
        omni = act["azimuth_deg"].isna().to_numpy()
        ant = FIELD["antenna"]
        gain = np.where(omni, ant["omni_gain_dbi"],
                        np.array([BANDS[b].antenna_gain_dbi for b in band])
                        - ant["sector_beam_loss_db"])
        derived = pd.DataFrame({
            "operator": act["operator"].to_numpy(),
            "band_idx": np.searchsorted(np.array(BAND_ORDER), band),
            "x": act["x"].to_numpy(), "y": act["y"].to_numpy(),
            "h": act["height_m"].to_numpy(),
            "az": act["azimuth_deg"].to_numpy(),
            "tilt": act["tilt_deg"].to_numpy(),
            "epre": act["power_dbm"].to_numpy() - 10.0 * np.log10(12.0 * n_rb),
            "gain": gain,
            "freq": np.array([BANDS[b].freq_mhz for b in band]),
            "scs_hz": scs * 1000.0,
            "bw": bw,
            "day": act["activated_on"].to_numpy().astype("datetime64[D]").astype(np.int64),
        })
        if terrain is not None:
            xs, ys, hs = (derived[k].to_numpy(float) for k in ("x", "y", "h"))
            derived["h_path"] = terrain.effective_heights(xs, ys, hs)
            derived["terrain_table"] = terrain.tabulate_sites(xs, ys, hs)
        trees: dict[str, tuple[cKDTree, NDArray[np.intp]]] = {}
        for op in OPERATORS:
            idx = np.nonzero(derived["operator"].to_numpy() == op)[0]
            if idx.size:
                trees[op] = (cKDTree(derived[["x", "y"]].to_numpy()[idx]), idx)
        # Clutter on the grid nodes: the offset of the township containing the node, 0 outside
        # the province (sea, neighbours); sampled bilinearly like the shadowing.
        node = Affine(res, 0.0, x0 - res / 2.0, 0.0, res, y0 - res / 2.0)
        label = rasterize(zip(towns_cells, range(1, len(towns_cells) + 1), strict=True),
                          out_shape=(ny, nx), transform=node, fill=0, dtype="int32")
        clutter = np.concatenate([[0.0], t_off]).astype(np.float32)[label]
        return cls(x0=x0, y0=y0, res=res, shadow=smooth, loss=smooth + clutter,
                   county_codes=cc, county_offset=c_off, town_codes=np.asarray(town_codes),
                   town_offset=t_off, cells=derived, trees=trees, terrain=terrain)

    # -- evaluation -----------------------------------------------------------------------------

    def _grid(self, grid: NDArray[np.float32], x: NDArray[np.float64], y: NDArray[np.float64]
              ) -> NDArray[np.float64]:
        col = (x - self.x0) / self.res
        row = (y - self.y0) / self.res
        return map_coordinates(grid, [row, col], order=1, mode="nearest").astype(np.float64)

    def shadow_at(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
        """Shadowing (dB, positive = loss) at metric points, bilinear on the 200 m grid."""
        return self._grid(self.shadow, x, y)

    def location_loss_at(self, x: NDArray[np.float64], y: NDArray[np.float64]
                         ) -> NDArray[np.float64]:
        """Shadowing plus county/township clutter (dB) at metric points, bilinear."""
        return self._grid(self.loss, x, y)

    def evaluate(self, x: NDArray[np.float64], y: NDArray[np.float64], operator: str,
                 day: NDArray[np.datetime64] | np.datetime64, *, vehicle: bool = True,
                 rng: np.random.Generator | None = None) -> dict[str, NDArray[Any]]:
        """Best-server SS-RSRP (dBm), SS-SINR (dB) and serving band index of ``operator`` at
        metric points on ``day``; with ``rng``, measurement noise is added."""
        n = len(x)
        out_rsrp = np.full(n, -np.inf)
        out_sinr = np.full(n, np.nan)
        out_band = np.full(n, -1, np.int64)
        out_bw = np.full(n, np.nan)
        if operator not in self.trees or n == 0:
            return {"rsrp": out_rsrp, "sinr": out_sinr, "band": out_band, "bw": out_bw}
        tree, idx = self.trees[operator]
        k = min(FIELD["serving"]["k_nearest_cells"], len(idx))
        dist, nn = tree.query(np.column_stack([x, y]), k=k)
        dist = dist.reshape(n, k)
        c = idx[nn.reshape(n, k)]
        cl = self.cells
        h = cl["h"].to_numpy()[c]
        d2 = np.maximum(dist, 1.0)
        pl_p = FIELD["path_loss"]
        ue = pl_p["ue_height_m"]
        d3 = np.maximum(np.hypot(d2, h - ue), pl_p["min_distance_m"])
        freq = cl["freq"].to_numpy()[c]
        h_path = h if self.terrain is None else cl["h_path"].to_numpy()[c]
        pl = (pl_p["a_db"] + pl_p["b_db_per_decade"] * np.log10(d3 / 1000.0)
              + pl_p["c_db_per_decade"] * np.log10(freq / 2600.0)
              - pl_p["e_db_per_decade"] * np.log10(h_path / 35.0))
        if self.terrain is not None:
            sx, sy = cl["x"].to_numpy()[c], cl["y"].to_numpy()[c]
            table = cl["terrain_table"].to_numpy()[c]
            pl = pl + self.terrain.terrain_loss_db(table, sx, sy, x[:, None], y[:, None], freq)
            pl = pl + self.terrain.clutter_loss_db(x[:, None], y[:, None], freq)
        ant = FIELD["antenna"]
        dx = x[:, None] - cl["x"].to_numpy()[c]
        dy = y[:, None] - cl["y"].to_numpy()[c]
        bearing = np.degrees(np.arctan2(dx, dy))
        az = cl["az"].to_numpy()[c]
        phi = np.mod(bearing - az + 180.0, 360.0) - 180.0
        a_h = np.where(np.isnan(az), 0.0,
                       np.minimum(12.0 * (phi / ant["h_beamwidth_deg"]) ** 2,
                                  ant["front_to_back_db"]))
        theta = np.degrees(np.arctan2(h - ue, d2))
        a_v = np.minimum(12.0 * ((theta - cl["tilt"].to_numpy()[c]) / ant["v_beamwidth_deg"]) ** 2,
                         ant["vertical_limit_db"])
        g = cl["gain"].to_numpy()[c] - np.minimum(a_h + a_v, ant["front_to_back_db"])
        loc = self.location_loss_at(x, y)
        if vehicle:
            loc = loc + FIELD["vehicle_loss_db"]
        link = cl["epre"].to_numpy()[c] + g - pl - loc[:, None]
        day_i = np.broadcast_to(np.asarray(day, dtype="datetime64[D]").astype(np.int64), (n,))
        on_air = cl["day"].to_numpy()[c] <= day_i[:, None]
        link = np.where(on_air, link, -np.inf)
        band = cl["band_idx"].to_numpy()[c]
        score = link + np.where(band == 0, FIELD["serving"]["n28_bias_db"], 0.0)
        best = np.argmax(score, axis=1)
        rows = np.arange(n)
        s = link[rows, best]
        sb = band[rows, best]
        same = (band == sb[:, None]) & on_air
        same[rows, best] = False
        sinr_p = FIELD["sinr"]
        interf = _db_sum(np.where(same, link, -np.inf)) + 10.0 * np.log10(
            sinr_p["interference_load"])
        scs = cl["scs_hz"].to_numpy()[c][rows, best]
        noise = -174.0 + 10.0 * np.log10(scs) + sinr_p["noise_figure_db"]
        sinr = s - _db_sum(np.stack([interf, noise], axis=1))
        if rng is not None:
            mn = FIELD["measurement_noise"]
            s = s + mn["rsrp_db"] * rng.standard_normal(n)
            sinr = sinr + mn["sinr_db"] * rng.standard_normal(n)
        served = np.isfinite(s)
        out_rsrp[served] = s[served]
        out_sinr[served] = sinr[served]
        out_band[served] = sb[served]
        out_bw[served] = cl["bw"].to_numpy()[c][rows, best][served]
        return {"rsrp": out_rsrp, "sinr": out_sinr, "band": out_band, "bw": out_bw}

    def committee_quality(self, x: NDArray[np.float64], y: NDArray[np.float64],
                          day: str = "2026-10-31") -> dict[str, NDArray[Any]]:
        """True (noise-free, outdoor) quality at points over all operators: ``good`` when some
        operator reaches the good thresholds, ``weak`` when not good but some operator's RSRP is
        above the weak threshold."""
        q = FIELD["quality_thresholds"]
        good = np.zeros(len(x), bool)
        weak_rsrp = np.zeros(len(x), bool)
        best = np.full(len(x), -np.inf)
        for op in OPERATORS:
            r = self.evaluate(x, y, op, np.datetime64(day), vehicle=False)
            good |= (r["rsrp"] >= q["good_rsrp_dbm"]) & (r["sinr"] >= q["good_sinr_db"])
            weak_rsrp |= r["rsrp"] >= q["weak_rsrp_dbm"]
            best = np.maximum(best, r["rsrp"])
        return {"good": good, "weak": ~good & weak_rsrp, "rsrp_best": best}

    def params(self) -> dict[str, Any]:
        """JSON-serialisable description of the field (offsets rounded to 0.001 dB)."""
        out = dict(FIELD)
        out["shadowing"] = dict(FIELD["shadowing"], grid_origin_m=[round(self.x0, 3),
                                                                  round(self.y0, 3)],
                                grid_shape=[int(self.shadow.shape[0]), int(self.shadow.shape[1])])
        out["clutter"] = dict(
            FIELD["clutter"],
            county_offsets_db={str(c): round(float(o), 3)
                               for c, o in zip(self.county_codes, self.county_offset, strict=True)},
            township_offsets_db={str(c): round(float(o), 3)
                                 for c, o in zip(self.town_codes, self.town_offset, strict=True)},
        )
        return out


def throughput(rng: np.random.Generator, sinr: NDArray[np.float64], rsrp: NDArray[np.float64],
               band_idx: NDArray[np.int64], bw_mhz: NDArray[np.float64]
               ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """DL/UL Mbit/s from SINR by a truncated, scaled Shannon mapping with cell load and noise."""
    tp = FIELD["throughput"]
    names = np.array(BAND_ORDER)[np.maximum(band_idx, 0)]
    layers = np.array([tp["layers"][b] for b in names])
    ul_layers = np.array([tp["ul_layers"][b] for b in names])
    dl_share = np.array([tp["dl_share"][b] for b in names])
    ul_share = np.array([tp["ul_share"][b] for b in names])
    n = len(sinr)
    load = rng.uniform(tp["cell_load"][0], tp["cell_load"][1], n)
    ln = FIELD["measurement_noise"]["throughput_ln_sigma"]
    s = np.nan_to_num(sinr, nan=-50.0)
    se_dl = np.minimum(0.75 * np.log2(1.0 + 10.0 ** (s / 10.0)), 7.4)
    se_dl = np.where(s < -8.0, 0.0, se_dl)
    dl = bw_mhz * se_dl * layers * dl_share * (1.0 - load) * np.exp(ln * rng.standard_normal(n))
    s_ul = s - 3.0 - 0.3 * np.maximum(0.0, -100.0 - np.nan_to_num(rsrp, nan=-140.0))
    se_ul = np.minimum(0.7 * np.log2(1.0 + 10.0 ** (s_ul / 10.0)), 5.5)
    se_ul = np.where(s_ul < -10.0, 0.0, se_ul)
    ul = bw_mhz * se_ul * ul_layers * ul_share * (1.0 - load) * np.exp(
        ln * rng.standard_normal(n))
    return np.minimum(dl, tp["dl_cap_mbps"]), ul


ROUTES: dict[str, Any] = {
    "target_samples": 65000,
    "operator_p": {"CMCC": 0.40, "CUCC": 0.20, "CTCC": 0.24, "CBN": 0.16},
    "villages_per_route": [6, 14],
    "neighbours": 10,
    "zone_start_p": 0.2,
    "residents_committee_start_p": 0.2,
    "step_m": [50.0, 100.0],
    "max_samples_per_route": 700,
    "gps_sigma_m": 3.0,
    "detour_sigma": 0.12,
    "speed_m_s": [8.0, 13.0],
    "days": ["2025-01-02", "2026-10-30"],
    "working_hours": [8.5, 17.5],
    "time_note": "Asia/Shanghai local time, naive; Monday-Friday; the whole route inside "
                 "08:30-17:30",
}


@dataclass
class DriveTests:
    frame: pd.DataFrame
    n_routes: int
    params: dict[str, Any]


def drive_tests(rng: np.random.Generator, tfield: TrueField, *, plan: Any,
                nosite: NDArray[np.bool_], sparse: NDArray[np.bool_]) -> DriveTests:
    """Drive-test routes through chains of neighbouring villages, one operator's phone per route,
    a sample every 50-100 m, values from the true field plus measurement noise."""
    r = ROUTES
    xy = np.column_stack([plan.x, plan.y])
    tree = cKDTree(xy)
    is_vc = plan.is_vc
    zone = np.nonzero(nosite | sparse)[0]
    vcs = np.nonzero(is_vc)[0]
    rcs = np.nonzero(~is_vc)[0]
    days = np.arange(np.datetime64(r["days"][0]), np.datetime64(r["days"][1]) + 1)
    days = days[np.is_busday(days)]
    ops = list(r["operator_p"])
    op_p = np.array(list(r["operator_p"].values()))

    xs: list[NDArray[np.float64]] = []
    ys: list[NDArray[np.float64]] = []
    ts: list[NDArray[np.datetime64]] = []
    route_op: list[str] = []
    total = 0
    while total < r["target_samples"]:
        u = rng.random()
        if zone.size and u < r["zone_start_p"]:
            start = int(rng.choice(zone))
        elif u < r["zone_start_p"] + r["residents_committee_start_p"]:
            start = int(rng.choice(rcs))
        else:
            start = int(rng.choice(vcs))
        n_way = int(rng.integers(r["villages_per_route"][0], r["villages_per_route"][1] + 1))
        path = [start]
        for _ in range(n_way - 1):
            _, nb = tree.query(xy[path[-1]], k=r["neighbours"] + 1)
            cand = [int(j) for j in nb if int(j) not in path]
            if not cand:
                break
            path.append(cand[int(rng.integers(len(cand)))])
        pts = xy[path]
        a, b = pts[:-1], pts[1:]
        seg = b - a
        length = np.hypot(seg[:, 0], seg[:, 1])
        perp = np.column_stack([-seg[:, 1], seg[:, 0]]) / np.maximum(length, 1.0)[:, None]
        mid = (a + b) / 2.0 + perp * (r["detour_sigma"] * length * rng.standard_normal(len(a)))[
            :, None]
        verts = np.empty((2 * len(a) + 1, 2))
        verts[0:-1:2] = a
        verts[1::2] = mid
        verts[-1] = b[-1] if len(b) else pts[0]
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(verts, axis=0).T))])
        steps = rng.uniform(r["step_m"][0], r["step_m"][1], r["max_samples_per_route"])
        pos = np.concatenate([[0.0], np.cumsum(steps)])
        pos = pos[pos <= cum[-1]][: r["max_samples_per_route"]]
        if pos.size < 20:
            continue
        px = np.interp(pos, cum, verts[:, 0]) + r["gps_sigma_m"] * rng.standard_normal(pos.size)
        py = np.interp(pos, cum, verts[:, 1]) + r["gps_sigma_m"] * rng.standard_normal(pos.size)
        day = days[int(rng.integers(days.size))]
        speed = rng.uniform(r["speed_m_s"][0], r["speed_m_s"][1])
        gaps = np.diff(pos, prepend=0.0) / (speed * rng.uniform(0.7, 1.3, pos.size))
        secs = np.cumsum(np.maximum(np.round(gaps), 1).astype(np.int64)) - 1
        first, last = (int(3600 * h) for h in r["working_hours"])
        start_s = first + int(rng.integers(0, max(last - first - int(secs[-1]), 1)))
        secs = secs + start_s
        ts.append(day.astype("datetime64[s]") + secs.astype("timedelta64[s]"))
        xs.append(px)
        ys.append(py)
        route_op.append(ops[int(rng.choice(len(ops), p=op_p))])
        total += pos.size

    n_routes = len(xs)
    lens = np.array([len(a) for a in xs])
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    t = np.concatenate(ts)
    route = np.repeat(np.arange(n_routes), lens)
    op = np.repeat(np.array(route_op), lens)
    rsrp = np.full(len(x), -np.inf)
    sinr = np.full(len(x), np.nan)
    band = np.full(len(x), -1, np.int64)
    bw = np.full(len(x), np.nan)
    for o in OPERATORS:
        sel = np.nonzero(op == o)[0]
        if sel.size:
            res = tfield.evaluate(x[sel], y[sel], o, t[sel].astype("datetime64[D]"), rng=rng)
            rsrp[sel], sinr[sel], band[sel] = res["rsrp"], res["sinr"], res["band"]
            bw[sel] = res["bw"]
    floor = FIELD["no_service_rsrp_dbm"]
    rsrp = np.round(rsrp, 1)  # as logged; a sample at or below the floor has no service
    no_service = ~(rsrp > floor)
    dl, ul = throughput(rng, sinr, rsrp, band, np.nan_to_num(bw))
    rsrp = np.where(no_service, floor, rsrp)
    sinr = np.where(no_service, np.nan, np.clip(sinr, -20.0, 35.0))
    dl = np.where(no_service, 0.0, dl)
    ul = np.where(no_service, 0.0, ul)
    band_name = np.array(BAND_ORDER, dtype=object)[np.maximum(band, 0)]
    band_name[no_service] = None
    frame = pd.DataFrame({
        "x": x, "y": y, "measured_at": t.astype("datetime64[ns]"), "operator": op, "rat": "NR",
        "band": band_name, "rsrp_dbm": rsrp, "sinr_db": np.round(sinr, 1),
        "dl_mbps": np.round(dl, 2), "ul_mbps": np.round(ul, 2), "route": route,
    })
    order = np.lexsort((np.arange(len(frame)), frame["measured_at"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    params = dict(r, routes=n_routes, samples=len(frame),
                  no_service_share=round(float(no_service.mean()), 4))
    return DriveTests(frame=frame, n_routes=n_routes, params=params)
