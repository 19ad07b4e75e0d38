"""The seed world's operator MR grid statistics: drawn from the true field with noise, where people are.

One month (:data:`PERIOD`) of 100 m grid statistics per operator, RAT and serving band, as an operator
would hand them to the regulator (``coverage.ingest.mr`` reads them back). Nothing is copied from the field:
every row is the statistics of phones' samples drawn round it.

- **Where**: each village-level unit has :data:`SAMPLES_PER_PERSON` samples a month per inhabitant,
  spread over phone clusters: half round the committee point (村委会), the rest round
  :data:`HAMLETS` settlements drawn inside the village polygon; each cluster scatters its phones
  N(0, :data:`CLUSTER_SIGMA_M`) round it. Operators take :data:`MARKET_SHARE` of the samples.
- **Indoors**: a grid's phones are indoors with probability p_g ~ N(0.8, 0.08) (clipped 0.5-0.95);
  an indoor sample loses L ~ N(m_g, 4 dB) with the grid's mean building loss m_g ~ N(13, 3) dB
  (TR 38.901 7.4.3 low-loss O2I is 10-15 dB in these bands). Every sample also has the phone's
  measurement noise and the spread of the field within the grid (:data:`SAMPLE_SIGMA_DB`).
- **Heard**: a phone reports an NR cell only at or above :data:`HEARD_DBM`; the NR row's samples are
  binomial with the heard probability, its mean RSRP the mean of the heard samples (truncated-normal
  mean, plus the sampling error of that mean), its share the heard samples at or above
  :data:`THRESHOLD_DBM`. No NR row where no sample is heard (nor where the operator has no cell).
- **LTE**: the seed world has no LTE network; every phone of CMCC, CUCC and CTCC camps on its LTE
  anchor (NSA), so the LTE row of a grid carries all its samples; its RSRP is a uniform LTE layer
  (:data:`LTE_LEVEL_DBM` less the location loss and the indoor loss), a placeholder: what matters for
  the evidence is the LTE sample count beside the NR one. CBN (700 MHz SA, no LTE of its own) has NR
  rows only. Grids with fewer than :data:`MIN_SAMPLES` samples of an operator are left out, as
  operators suppress them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.special import ndtr

from coverage.crs import unproject_xy
from seeds.field import BAND_ORDER, FIELD, TrueField, throughput
from seeds.tessellate import sample_points

PERIOD = (np.datetime64("2026-10-01"), np.datetime64("2026-10-31"))
GRID_M = 100.0
SAMPLES_PER_PERSON = 12.0
CLUSTERS = 6
HAMLETS = 3
COMMITTEE_SHARE = 0.5
CLUSTER_SIGMA_M = 80.0
MARKET_SHARE = {"CMCC": 0.56, "CTCC": 0.22, "CUCC": 0.17, "CBN": 0.05}
INDOOR_SHARE = (0.8, 0.08)
INDOOR_LOSS_DB = (13.0, 3.0, 4.0)  # grid mean, its spread between grids, spread of one sample
SAMPLE_SIGMA_DB = float(np.hypot(FIELD["measurement_noise"]["rsrp_db"], 3.0))
HEARD_DBM = -124.0
THRESHOLD_DBM = -105.0
LTE_LEVEL_DBM = -80.0
MIN_SAMPLES = 20
#: Representative SSB NR-ARFCN per (operator, band) and LTE anchor EARFCN per operator.
NR_ARFCN = {"n28": 152650, "n41": 504990, "n78": 627264, "n79": 723360}
LTE_EARFCN = {"CMCC": 38400, "CUCC": 1650, "CTCC": 1825}
SOURCE = "synthetic-seed"
#: Grids drawn at a time by :func:`iter_mr_grids` (about 7 rows and 1 KB of the frame per grid).
CHUNK_GRIDS = 250_000
MR_PARAMS: dict[str, Any] = {
    "period": [str(PERIOD[0]), str(PERIOD[1])], "grid_m": GRID_M, "samples_per_person": SAMPLES_PER_PERSON,
    "clusters": CLUSTERS, "hamlets": HAMLETS, "committee_share": COMMITTEE_SHARE,
    "cluster_sigma_m": CLUSTER_SIGMA_M, "market_share": MARKET_SHARE, "indoor_share": INDOOR_SHARE,
    "indoor_loss_db": INDOOR_LOSS_DB, "sample_sigma_db": SAMPLE_SIGMA_DB, "heard_dbm": HEARD_DBM,
    "threshold_dbm": THRESHOLD_DBM, "lte_level_dbm": LTE_LEVEL_DBM, "min_samples": MIN_SAMPLES,
}


def _truncated(mu: np.ndarray, sigma: np.ndarray, low: float) -> tuple[np.ndarray, np.ndarray]:
    """P(X >= low) and E[X | X >= low] of X ~ N(mu, sigma)."""
    alpha = (low - mu) / sigma
    tail = ndtr(-alpha)
    pdf = np.exp(-0.5 * alpha**2) / np.sqrt(2.0 * np.pi)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = mu + sigma * pdf / np.maximum(tail, 1e-300)
    return tail, np.where(tail > 1e-12, mean, low)


def _evaluate(field: TrueField, x: np.ndarray, y: np.ndarray, operator: str, chunk: int = 20_000
              ) -> dict[str, np.ndarray]:
    """The field's noise-free outdoor values on the period's last day, in chunks (cache-sized arrays)."""
    parts = [field.evaluate(x[i:i + chunk], y[i:i + chunk], operator, PERIOD[1], vehicle=False)
             for i in range(0, len(x), chunk)]
    return {k: np.concatenate([p[k] for p in parts]) for k in ("rsrp", "sinr", "band", "bw")}


def grid_samples(rng: np.random.Generator, villages: gpd.GeoDataFrame, metric_crs: Any) -> pd.DataFrame:
    """Where the phones are: the expected samples of the month (``w``) per 100 m grid (column ``c``, row ``r``
    of ``metric_crs``) of ``villages`` (EPSG:4326 frame with ``population`` and the committee point)."""
    metric = villages.to_crs(metric_crs)
    n = len(villages)
    polys = metric.geometry.to_numpy()
    cx = gpd.GeoSeries(gpd.points_from_xy(villages["committee_lon"], villages["committee_lat"]),
                       crs=villages.crs).to_crs(metric_crs)
    px, py = cx.x.to_numpy(), cx.y.to_numpy()
    hx, hy = sample_points(rng, polys, np.repeat(np.arange(n), HAMLETS))
    # cluster centres: the committee point for COMMITTEE_SHARE of them, hamlets for the rest
    which = rng.random((n, CLUSTERS)) < COMMITTEE_SHARE
    hamlet = rng.integers(0, HAMLETS, (n, CLUSTERS))
    hidx = np.arange(n)[:, None] * HAMLETS + hamlet
    ccx = np.where(which, px[:, None], hx[hidx])
    ccy = np.where(which, py[:, None], hy[hidx])
    # each cluster's phones: 2 positions round it, each carrying an equal part of the cluster's samples
    per = 2
    x = (ccx[:, :, None] + CLUSTER_SIGMA_M * rng.standard_normal((n, CLUSTERS, per))).ravel()
    y = (ccy[:, :, None] + CLUSTER_SIGMA_M * rng.standard_normal((n, CLUSTERS, per))).ravel()
    weight = np.repeat(villages["population"].to_numpy(float) * SAMPLES_PER_PERSON / (CLUSTERS * per), CLUSTERS * per)
    col = np.floor(x / GRID_M).astype(np.int64)
    row = np.floor(y / GRID_M).astype(np.int64)
    return pd.DataFrame({"c": col, "r": row, "w": weight}).groupby(["c", "r"], sort=True)["w"].sum().reset_index()


def draw_grids(rng: np.random.Generator, field: TrueField, grids: pd.DataFrame, metric_crs: Any) -> pd.DataFrame:
    """The MR rows of ``grids`` (:func:`grid_samples`): the phones' samples per operator, indoors or out, heard
    or not, drawn round ``field``'s noise-free outdoor values at the grid centres (see the module docstring)."""
    gx = (grids["c"].to_numpy() + 0.5) * GRID_M
    gy = (grids["r"].to_numpy() + 0.5) * GRID_M
    expected = grids["w"].to_numpy()
    m = len(grids)
    indoor = np.clip(INDOOR_SHARE[0] + INDOOR_SHARE[1] * rng.standard_normal(m), 0.5, 0.95)
    building = INDOOR_LOSS_DB[0] + INDOOR_LOSS_DB[1] * rng.standard_normal(m)
    sigma_in = np.hypot(SAMPLE_SIGMA_DB, INDOOR_LOSS_DB[2])
    location = field.location_loss_at(gx, gy)
    lon, lat = unproject_xy(gx, gy, metric_crs)
    frames = []
    for op, share in MARKET_SHARE.items():
        n_op = rng.poisson(expected * share)
        truth = _evaluate(field, gx, gy, op)
        mu = truth["rsrp"]
        served = np.isfinite(mu)
        mu_s = np.where(served, mu, -300.0)
        tail_out, mean_out = _truncated(mu_s, np.full(m, SAMPLE_SIGMA_DB), HEARD_DBM)
        tail_in, mean_in = _truncated(mu_s - building, np.full(m, sigma_in), HEARD_DBM)
        heard_p = (1.0 - indoor) * tail_out + indoor * tail_in
        n_nr = rng.binomial(n_op, np.clip(heard_p, 0.0, 1.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            w_out = (1.0 - indoor) * tail_out / np.maximum(heard_p, 1e-300)
            mean = w_out * mean_out + (1.0 - w_out) * mean_in
            good_out = ndtr((mu_s - THRESHOLD_DBM) / SAMPLE_SIGMA_DB)
            good_in = ndtr((mu_s - building - THRESHOLD_DBM) / sigma_in)
            good_p = ((1.0 - indoor) * good_out + indoor * good_in) / np.maximum(heard_p, 1e-300)
        spread = np.sqrt(w_out * SAMPLE_SIGMA_DB**2 + (1.0 - w_out) * sigma_in**2)
        mean = mean + spread / np.sqrt(np.maximum(n_nr, 1)) * rng.standard_normal(m)
        good = rng.binomial(n_nr, np.clip(np.nan_to_num(good_p), 0.0, 1.0)) / np.maximum(n_nr, 1)
        sinr = np.clip(truth["sinr"] - 3.0 * indoor + rng.standard_normal(m), -20.0, 35.0)
        band_idx = truth["band"]
        dl, _ul = throughput(rng, sinr, mean, band_idx, np.nan_to_num(truth["bw"]))
        keep = served & (n_nr >= MIN_SAMPLES)
        band = np.array(BAND_ORDER, dtype=object)[np.maximum(band_idx, 0)]
        frames.append(pd.DataFrame({
            "lon": lon[keep], "lat": lat[keep], "operator": op, "rat": "NR", "band": band[keep],
            "arfcn": np.array([NR_ARFCN[b] for b in band[keep]], dtype=float), "samples": n_nr[keep],
            "rsrp_mean_dbm": np.round(mean[keep], 1), "share_good": np.round(good[keep], 4),
            "sinr_mean_db": np.round(sinr[keep], 1), "users": np.maximum(np.round(n_nr[keep] / 40.0), 1),
            "dl_mbps": np.round(dl[keep], 1)}))
        if op in LTE_EARFCN:
            lte = LTE_LEVEL_DBM - location - indoor * building + rng.standard_normal(m)
            lte_good = ndtr((lte - THRESHOLD_DBM) / 6.0)
            keep = n_op >= MIN_SAMPLES
            frames.append(pd.DataFrame({
                "lon": lon[keep], "lat": lat[keep], "operator": op, "rat": "LTE",
                "band": "B39" if op == "CMCC" else "B3", "arfcn": float(LTE_EARFCN[op]), "samples": n_op[keep],
                "rsrp_mean_dbm": np.round(lte[keep], 1), "share_good": np.round(lte_good[keep], 4),
                "sinr_mean_db": np.round(np.clip(12.0 - location[keep] / 2.0, -10.0, 30.0), 1),
                "users": np.maximum(np.round(n_op[keep] / 40.0), 1), "dl_mbps": np.nan}))
    out = pd.concat(frames, ignore_index=True)
    out.insert(2, "grid_m", GRID_M)
    out.insert(3, "period_start", pd.Timestamp(str(PERIOD[0])))
    out.insert(4, "period_end", pd.Timestamp(str(PERIOD[1])))
    out["threshold_dbm"] = THRESHOLD_DBM
    out["source"] = SOURCE
    out["lon"], out["lat"] = np.round(out["lon"], 7), np.round(out["lat"], 7)
    order = ["lon", "lat", "grid_m", "period_start", "period_end", "operator", "rat", "band", "arfcn", "samples",
             "rsrp_mean_dbm", "share_good", "threshold_dbm", "sinr_mean_db", "users", "dl_mbps", "source"]
    return out[order].sort_values(["lat", "lon", "operator", "rat"], kind="stable").reset_index(drop=True)


def mr_grids(rng: np.random.Generator, field: TrueField, villages: gpd.GeoDataFrame, metric_crs: Any
             ) -> pd.DataFrame:
    """A month of MR grid statistics for ``villages`` (EPSG:4326 frame with ``population`` and the
    committee point), in the stored form of :mod:`coverage.ingest.mr` (``lon``/``lat`` the WGS84 grid centre)."""
    return draw_grids(rng, field, grid_samples(rng, villages, metric_crs), metric_crs)


def iter_mr_grids(rng: np.random.Generator, field: TrueField, villages: gpd.GeoDataFrame, metric_crs: Any, *,
                  chunk_grids: int = CHUNK_GRIDS) -> Iterator[pd.DataFrame]:
    """:func:`mr_grids` in chunks of at most ``chunk_grids`` grids (each chunk's rows sorted as
    :func:`mr_grids` sorts them), drawn when asked for: the memory is one chunk's. A grid's rows are all in
    one chunk; with ``chunk_grids`` at least the number of grids the one chunk is :func:`mr_grids`'s frame."""
    grids = grid_samples(rng, villages, metric_crs)
    for start in range(0, len(grids), chunk_grids):
        yield draw_grids(rng, field, grids.iloc[start:start + chunk_grids].reset_index(drop=True), metric_crs)


def world_mr(world: Any, seed: int) -> pd.DataFrame:
    """The MR grid statistics of a built seed world (:func:`seeds.world.build_world`), from the seventh
    stream of the world's seed (the six the world uses are unchanged, so its other frames are too)."""
    from seeds.world import METRIC_CRS

    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(7)[6])
    assert world.true_field is not None
    return mr_grids(rng, world.true_field, world.villages, METRIC_CRS)
