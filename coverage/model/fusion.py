"""Evidence fusion: measurements correct the prediction around them (simple kriging of residuals).

The prediction is a median; the truth at a place differs from it by a *location effect* (shadowing
and clutter that the model does not see), common to every operator's links at that place. A
measured sample of operator ``o`` at point ``x`` sees that effect plus measurement noise:

    r = (measured SS-RSRP + declared loss) - predicted SS-RSRP of operator o at x      (dB)

where the declared loss (``loss_db`` of the measurement, e.g. 3-9 dB inside a car) turns the
sample into its outdoor equivalent at 1.5 m. Residuals are averaged per pixel ("bins": mean and
count) and interpolated by *simple kriging* with an exponential covariance

    C(h) = sigma^2 exp(-h / L)            (sigma: location variability, L: correlation length)

and a nugget tau^2 / n_i per bin (tau: the noise of one sample). Simple kriging has a known mean,
the run's prior (0, or the calibration's area offsets), so far from data the posterior returns to
the prior and its standard deviation to sigma; at a bin it tends to the bin's mean (less the
nugget's share). The posterior mean is added to the best-of-operators SS-RSRP and SS-SINR of each
pixel (the location effect moves the serving signal, and in noise-limited rural cells the SINR with
it), and the posterior standard deviation is what the village probabilities use.

Why not gstools or pykrige: both solve one global system (O(n^3) in the samples) or loop in Python
per target; a province has tens of thousands of bins and millions of pixels. Here each target pixel
uses its ``k`` nearest bins within ``3 L`` (where the covariance has fallen to 5 %), and all
targets' ``k x k`` systems are solved at once with ``numpy.linalg.solve``. The variogram itself is
fitted by :func:`fit_variogram` (binned semivariances, weighted least squares with scipy).

Samples count only for the RAT they measure: LTE samples never enter (the prediction is of NR).
Samples without service are not residuals (their level is unknown) and are left out here; they
still count in a village's measured statistics. A sample measured before the cell predicted to
serve it was activated describes an older network and is left out as well.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.ndimage import distance_transform_edt
from scipy.optimize import least_squares
from scipy.spatial import cKDTree

from coverage.model.grid import NODATA, Grid
from coverage.model.parameters import ModelParameters
from coverage.model.prediction import Prediction, pixel_noise_mw, probe_serving, shifted_sinr_db
from coverage.model.verdicts import NO_SERVICE_RSRP_DBM

__all__ = [
    "NO_SERVICE_RSRP_DBM",
    "Evidence",
    "Posterior",
    "Variogram",
    "apply_effect",
    "combine_evidence",
    "evidence_reach_m",
    "evidence_residuals",
    "fit_variogram",
    "fuse",
    "krige",
    "near_mask",
    "residual_bins",
]

#: The least noise of one sample (dB): a phone's SS-RSRP is reported in 1 dB steps and averages fast
#: fading over a few hundred milliseconds; a fit that finds less is fitting the field, not the noise.
MIN_NUGGET_DB = 1.0
#: Neighbouring bins each kriged pixel uses (the nearer bins screen the farther ones).
NEIGHBOURS = 16
#: Further neighbours queried so that ties at the k-th distance are broken the same way everywhere.
TIE_SPARE = 8
#: Targets solved at once (memory: NEIGHBOURS^2 * 8 bytes each).
CHUNK = 20_000


@dataclass(frozen=True)
class Variogram:
    """Exponential covariance of the location effect, with a per-sample nugget.

    Attributes
    ----------
    sigma_db
        Location variability (standard deviation of the effect, dB): the sill's square root.
    correlation_m
        Correlation length ``L`` (m): the covariance is ``sigma^2 exp(-h / L)``.
    nugget_db
        Standard deviation of one sample about the local effect (measurement noise, fast fading), dB.
    """

    sigma_db: float
    correlation_m: float
    nugget_db: float

    @property
    def radius_m(self) -> float:
        """How far a bin informs a pixel: 3 L (the covariance is down to 5 %)."""
        return 3.0 * self.correlation_m

    def covariance(self, distance_m: np.ndarray) -> np.ndarray:
        """``sigma^2 exp(-h / L)`` (dB^2)."""
        return self.sigma_db**2 * np.exp(-np.asarray(distance_m, dtype=float) / self.correlation_m)


@dataclass
class Evidence:
    """Residual bins on a grid: pixel row/column, centre x/y (metric), mean residual (dB), samples."""

    row: np.ndarray
    col: np.ndarray
    x: np.ndarray
    y: np.ndarray
    residual_db: np.ndarray
    n: np.ndarray
    #: Noise variance of each bin's mean (dB^2); None: the variogram's ``nugget^2 / n`` (measurements).
    #: Sources with their own error model (MR grids, :mod:`coverage.model.mr_evidence`) set it.
    noise_var: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.row)

    def with_noise(self, nugget_db: float) -> Evidence:
        """These bins with ``noise_var`` filled in (``nugget^2 / n`` where it was not set)."""
        if self.noise_var is not None:
            return self
        return Evidence(self.row, self.col, self.x, self.y, self.residual_db, self.n,
                        noise_var=nugget_db**2 / np.maximum(self.n.astype(float), 1.0))


def combine_evidence(parts: list[Evidence], nugget_db: float) -> Evidence:
    """Bins of several sources as one set for :func:`krige`, each with its noise variance."""
    parts = [p.with_noise(nugget_db) for p in parts if len(p)]
    if not parts:
        z = np.zeros(0)
        return Evidence(z.astype(np.int64), z.astype(np.int64), z, z, z, z.astype(np.int64))
    if len(parts) == 1:
        return parts[0]
    row, col, x, y, residual, n = (np.concatenate([getattr(p, name) for p in parts])
                                   for name in ("row", "col", "x", "y", "residual_db", "n"))
    return Evidence(row, col, x, y, residual, n,
                    noise_var=np.concatenate([p.noise_var for p in parts if p.noise_var is not None]))


@dataclass
class Posterior:
    """Posterior location effect on a grid: mean (dB, 0 where no data informs) and standard deviation
    (dB, the prior sigma where no data informs), float32 ``(height, width)``; ``informed`` marks pixels
    within reach of a bin."""

    mean_db: np.ndarray
    sd_db: np.ndarray
    informed: np.ndarray


def evidence_reach_m(params: ModelParameters) -> float:
    """How far (m) from a pixel the measurements that can move it lie: the kriging radius 3 L plus two
    pixels (a bin's samples share one pixel). Partitioned runs read measurements this far round a
    partition, and stations this much farther, so their results equal a single run's."""
    return 3.0 * params.correlation_m + 2.0 * params.resolution_m


def evidence_residuals(measurements: pd.DataFrame, prediction: Prediction, rows: np.ndarray, cols: np.ndarray,
                       *, prior_db: np.ndarray | None = None,
                       selection_offsets: tuple[tuple[str, float], ...] = ()) -> tuple[pd.DataFrame, Evidence]:
    """Residuals of the NR samples with service against their operator's prediction, and their bins.

    Parameters
    ----------
    measurements
        Canonical measurements (``operator``, ``rat``, ``rsrp_dbm``, optional ``loss_db`` and
        ``measured_at``), in the order of ``rows``/``cols``: the pixels they were probed at
        (``prediction`` must come from :func:`coverage.model.predict.predict` with those probes). A sample
        measured before the predicted server's ``activated_on`` is dropped.
    prior_db
        Prior mean of the location effect per sample (the calibration's area offsets), subtracted.
    selection_offsets
        How the serving band is chosen (:attr:`coverage.model.predict.ModelParameters.selection_offsets`).

    Returns
    -------
    (samples, bins)
        ``samples``: one row per usable sample with ``residual_db``, ``band`` and ``distance_m`` of
        the predicted server (what a calibration fits); ``bins``: :class:`Evidence`.
    """
    n = len(measurements)
    empty = pd.DataFrame({"index": np.zeros(0, int), "residual_db": np.zeros(0), "band": np.zeros(0, str),
                          "distance_m": np.zeros(0), "operator": np.zeros(0, str), "x": np.zeros(0),
                          "y": np.zeros(0)})
    if n == 0 or prediction.probe_band_rsrp is None:
        return empty, residual_bins(empty, prediction.grid)
    ops = {name: i for i, name in enumerate(prediction.operators)}
    op_index = np.array([ops.get(str(o), -1) for o in measurements["operator"].to_numpy()], dtype=np.int64)
    rat = measurements["rat"].to_numpy(dtype=object) if "rat" in measurements else np.full(n, "NR", object)
    rsrp = measurements["rsrp_dbm"].to_numpy(float)
    loss = (measurements["loss_db"].to_numpy(float) if "loss_db" in measurements else np.zeros(n))
    loss = np.nan_to_num(loss, nan=0.0)
    predicted, cell, _band = probe_serving(prediction, op_index, selection_offsets)
    usable = ((rat == "NR") & (op_index >= 0) & np.isfinite(rsrp) & (rsrp > NO_SERVICE_RSRP_DBM)
              & np.isfinite(predicted) & (predicted > NODATA) & (cell >= 0))
    cells = prediction.cells
    if "activated_on" in cells and "measured_at" in measurements and usable.any():
        activated = pd.to_datetime(pd.Series(cells["activated_on"].to_numpy()[np.maximum(cell, 0)]), errors="coerce")
        measured = pd.to_datetime(measurements["measured_at"], errors="coerce").reset_index(drop=True)
        older = (measured.notna() & activated.notna() & (measured.dt.normalize() < activated)).to_numpy()
        usable &= ~older
    idx = np.flatnonzero(usable)
    residual = rsrp[idx] + loss[idx] - predicted[idx]
    if prior_db is not None:
        residual = residual - np.asarray(prior_db, dtype=float)[idx]
    grid = prediction.grid
    px = grid.x0 + (cols[idx] + 0.5) * grid.resolution_m
    py = grid.y0 - (rows[idx] + 0.5) * grid.resolution_m
    c = cell[idx]
    samples = pd.DataFrame({
        "index": idx, "residual_db": residual, "band": cells["band"].to_numpy()[c].astype(str),
        "distance_m": np.hypot(cells["x"].to_numpy()[c] - px, cells["y"].to_numpy()[c] - py),
        "operator": measurements["operator"].to_numpy()[idx].astype(str), "x": px, "y": py,
        "row": rows[idx], "col": cols[idx],
    })
    return samples, residual_bins(samples, grid)


def residual_bins(samples: pd.DataFrame, grid: Grid) -> Evidence:
    """Per-pixel bins (mean residual and count) of residual samples with ``row``, ``col``, ``residual_db``."""
    if samples.empty:
        z = np.zeros(0)
        return Evidence(z.astype(np.int64), z.astype(np.int64), z, z, z, z.astype(np.int64))
    g = samples.groupby(["row", "col"], sort=True)["residual_db"].agg(["mean", "size"]).reset_index()
    row, col = g["row"].to_numpy(np.int64), g["col"].to_numpy(np.int64)
    return Evidence(row, col, grid.x0 + (col + 0.5) * grid.resolution_m, grid.y0 - (row + 0.5) * grid.resolution_m,
                    g["mean"].to_numpy(float), g["size"].to_numpy(np.int64))


def fit_variogram(bins: Evidence, *, prior: Variogram, max_lag_m: float = 5000.0, lags: int = 20,
                  max_bins: int = 4000, rng: np.random.Generator | None = None) -> Variogram:
    """Fit sigma, L and the sample nugget to the empirical semivariogram of the bins.

    Pairs of bins closer than ``max_lag_m`` (at most ``max_bins`` bins, drawn with ``rng``) are
    grouped by distance; each group's mean of ``(r_i - r_j)^2 / 2`` is fitted, weighted by its pair
    count, with ``gamma(h) = tau^2 (1/n_i + 1/n_j) / 2 + sigma^2 (1 - exp(-h / L))`` (``tau`` at least
    :data:`MIN_NUGGET_DB`). With fewer than 30 bins the prior is returned unchanged.
    """
    if len(bins) < 30:
        return prior
    rng = rng or np.random.default_rng(0)
    pick = np.arange(len(bins)) if len(bins) <= max_bins else np.sort(rng.choice(len(bins), max_bins, replace=False))
    xy = np.column_stack([bins.x[pick], bins.y[pick]])
    pairs = cKDTree(xy).query_pairs(max_lag_m, output_type="ndarray")
    if len(pairs) < 100:
        return prior
    i, j = pairs[:, 0], pairs[:, 1]
    h = np.hypot(*(xy[i] - xy[j]).T)
    r, n = bins.residual_db[pick], bins.n[pick].astype(float)
    semi = 0.5 * (r[i] - r[j]) ** 2
    inv_n = 0.5 * (1.0 / n[i] + 1.0 / n[j])
    edges = np.linspace(0.0, max_lag_m, lags + 1)
    which = np.clip(np.digitize(h, edges) - 1, 0, lags - 1)
    count = np.bincount(which, minlength=lags)
    ok = count >= 10
    gamma = np.bincount(which, weights=semi, minlength=lags)[ok] / count[ok]
    hbar = np.bincount(which, weights=h, minlength=lags)[ok] / count[ok]
    nbar = np.bincount(which, weights=inv_n, minlength=lags)[ok] / count[ok]
    weight = np.sqrt(count[ok])

    def model(p: np.ndarray) -> np.ndarray:
        tau2, sigma2, length = p
        return tau2 * nbar + sigma2 * (1.0 - np.exp(-hbar / length))

    p0 = np.array([prior.nugget_db**2, prior.sigma_db**2, max(prior.correlation_m, 200.0)])
    fit = least_squares(lambda p: (model(p) - gamma) * weight, p0,
                        bounds=([MIN_NUGGET_DB**2, 0.01, 50.0], [400.0, 900.0, 20_000.0]))
    tau2, sigma2, length = fit.x
    return Variogram(sigma_db=float(np.sqrt(sigma2)), correlation_m=float(length), nugget_db=float(np.sqrt(tau2)))


def krige(bins: Evidence, x: np.ndarray, y: np.ndarray, variogram: Variogram, *, neighbours: int = NEIGHBOURS
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simple kriging (mean 0) of the bins' residuals at metric points.

    Returns the posterior mean (dB), standard deviation (dB) and whether any bin lay within
    :attr:`Variogram.radius_m` (elsewhere the mean is 0 and the deviation ``sigma``).
    """
    m = len(x)
    mean = np.zeros(m)
    sd = np.full(m, variogram.sigma_db)
    informed = np.zeros(m, dtype=bool)
    if len(bins) == 0 or m == 0:
        return mean, sd, informed
    k = min(neighbours, len(bins))
    extra = min(k + TIE_SPARE, len(bins))
    # bins on a pixel lattice are often equally far: the k nearest are chosen by distance, then by the
    # bins' pixel (global), not by their order here, so a partition picks what a whole run picks
    rank = np.lexsort((bins.col, bins.row)).argsort()
    tree = cKDTree(np.column_stack([bins.x, bins.y]))
    sill = variogram.sigma_db**2
    noise = (bins.noise_var if bins.noise_var is not None
             else variogram.nugget_db**2 / np.maximum(bins.n.astype(float), 1.0))
    bxy = np.column_stack([bins.x, bins.y])
    for start in range(0, m, CHUNK):
        stop = min(start + CHUNK, m)
        dist, nb = tree.query(np.column_stack([x[start:stop], y[start:stop]]), k=extra,
                              distance_upper_bound=variogram.radius_m)
        dist, nb = dist.reshape(stop - start, extra), nb.reshape(stop - start, extra)
        tie_rank = np.where(nb < len(bins), rank[np.minimum(nb, len(bins) - 1)], len(bins))
        order = np.lexsort((tie_rank, np.round(dist, 3)), axis=1)[:, :k]
        dist, nb = np.take_along_axis(dist, order, axis=1), np.take_along_axis(nb, order, axis=1)
        present = np.isfinite(dist)
        has = present.any(axis=1)
        if not has.any():
            continue
        dist, nb, present = dist[has], nb[has], present[has]
        safe = np.where(present, nb, 0)
        px, py = bxy[safe, 0], bxy[safe, 1]
        dx = px[:, :, None] - px[:, None, :]
        dy = py[:, :, None] - py[:, None, :]
        cov = variogram.covariance(np.sqrt(dx * dx + dy * dy))
        weight = present.astype(float)
        cov *= weight[:, :, None] * weight[:, None, :]  # absent neighbours: rows and columns of 0 ...
        cov[:, np.arange(k), np.arange(k)] += np.where(present, noise[safe], 1.0)  # ... and 1 on the diagonal
        c0 = variogram.covariance(np.where(present, dist, 0.0)) * weight
        w = np.linalg.solve(cov, c0[:, :, None])[:, :, 0]
        target = np.flatnonzero(has) + start
        mean[target] = np.sum(w * np.where(present, bins.residual_db[safe], 0.0), axis=1)
        sd[target] = np.sqrt(np.maximum(sill - np.sum(w * c0, axis=1), 0.0))
        informed[target] = True
    return mean, sd, informed


def _within(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], resolution_m: float, reach_m: float
            ) -> np.ndarray:
    """Pixels whose distance to the nearest of the pixels (``rows``, ``cols``), times ``resolution_m``, is at most
    ``reach_m``: ``distance_transform_edt(seeds) * resolution_m <= reach_m`` with those pixels the seeds, the
    same pixels. Where the seeds are few for the grid (a partition of large villages: most of its pixels far
    from any MR grid), the union of the discs round them is stamped instead of transforming the whole grid."""
    radius = int(np.floor(reach_m / resolution_m))
    dr, dc = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disc = np.sqrt((dr * dr + dc * dc).astype(np.float64)) * resolution_m <= reach_m
    dr, dc = dr[disc], dc[disc]
    pixels = np.unique(rows.astype(np.int64) * shape[1] + cols)
    if len(pixels) * len(dr) > shape[0] * shape[1]:  # dense seeds: one pass over the grid is cheaper
        seeds = np.ones(shape, dtype=bool)
        seeds.flat[pixels] = False
        return np.asarray(distance_transform_edt(seeds) * resolution_m <= reach_m)
    out = np.zeros(shape, dtype=bool)
    r0, c0 = np.divmod(pixels, shape[1])
    for a, b in zip(dr.tolist(), dc.tolist(), strict=True):
        r, c = r0 + a, c0 + b
        inside = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
        out[r[inside], c[inside]] = True
    return out


def near_mask(rows: np.ndarray, cols: np.ndarray, mask: np.ndarray, reach_px: int, *, cell_px: int = 4
              ) -> np.ndarray:
    """Whether a True pixel of ``mask`` may lie within ``reach_px`` pixels of each pixel (``rows``, ``cols``;
    they may lie off the grid): True where some True pixel lies in a cell of ``cell_px`` x ``cell_px``
    pixels that the square of half-side ``reach_px`` round the pixel touches. A superset of the pixels
    within ``reach_px`` of the mask in distance (and within ``reach_px + cell_px - 1`` of it along rows and
    along columns), from one pass over the mask: evidence it leaves out lies beyond the kriging radius of
    every pixel :func:`fuse` estimates, so it is never a neighbour there."""
    height, width = mask.shape
    if height == 0 or width == 0:
        return np.zeros(len(rows), dtype=bool)
    cells = np.logical_or.reduceat(np.logical_or.reduceat(mask, np.arange(0, height, cell_px), axis=0),
                                   np.arange(0, width, cell_px), axis=1)
    table = np.zeros((cells.shape[0] + 1, cells.shape[1] + 1), dtype=np.int64)
    np.cumsum(np.cumsum(cells, axis=0, dtype=np.int64), axis=1, out=table[1:, 1:])
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    r0, r1 = np.clip(rows - reach_px, 0, height), np.clip(rows + reach_px + 1, 0, height)
    c0, c1 = np.clip(cols - reach_px, 0, width), np.clip(cols + reach_px + 1, 0, width)
    on = (r1 > r0) & (c1 > c0)  # the square touches the grid
    r0, c0 = r0 // cell_px, c0 // cell_px
    r1, c1 = np.maximum((r1 - 1) // cell_px + 1, r0), np.maximum((c1 - 1) // cell_px + 1, c0)
    return np.asarray(on & (table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0] > 0))


def fuse(bins: Evidence, grid: Grid, mask: np.ndarray, variogram: Variogram, *, block_px: int = 1,
         neighbours: int = NEIGHBOURS) -> Posterior:
    """The posterior location effect on ``grid``'s ``mask`` pixels within reach of the bins, each kriged from
    its ``neighbours`` nearest bins.

    ``block_px`` > 1 krige once per block of ``block_px x block_px`` pixels (at the block's centre,
    blocks on the global lattice of pixel multiples, so partitions agree) and give the value to the
    block's pixels: dense evidence (MR grids reach every village pixel) costs ``block_px^2`` times less,
    at the price of values constant over 200 m blocks (the location effect's correlation length is
    about 1 km once calibrated)."""
    shape = (grid.height, grid.width)
    mean = np.zeros(shape, dtype=np.float32)
    sd = np.full(shape, variogram.sigma_db, dtype=np.float32)
    informed = np.zeros(shape, dtype=bool)
    if len(bins) == 0:
        return Posterior(mean, sd, informed)
    # candidate pixels: mask pixels within the kriging radius of a bin (a dilation of the bins' pixels)
    on = (bins.row >= 0) & (bins.row < grid.height) & (bins.col >= 0) & (bins.col < grid.width)
    if not on.any():
        return Posterior(mean, sd, informed)
    # pixel distance to the nearest bin pixel, plus a pixel's diagonal for bins off their centre
    near = mask & _within(bins.row[on], bins.col[on], shape, grid.resolution_m,
                          variogram.radius_m + grid.resolution_m)
    rows, cols = np.nonzero(near)
    if block_px > 1:
        res = grid.resolution_m
        # blocks of the global lattice: absolute pixel indices from the grid's origin in metres
        abs_col = cols + round(grid.x0 / res)
        abs_row = rows + round(-grid.y0 / res)
        bc, br = np.floor_divide(abs_col, block_px), np.floor_divide(abs_row, block_px)
        key = br.astype(np.int64) * (1 << 31) + bc
        uniq, inverse = np.unique(key, return_inverse=True)
        ub_row, ub_col = np.floor_divide(uniq, 1 << 31), np.mod(uniq, 1 << 31)
        bx = (ub_col * block_px + block_px / 2.0).astype(np.float64) * res
        by = -(ub_row * block_px + block_px / 2.0).astype(np.float64) * res
        m, s, inf = krige(bins, bx, by, variogram, neighbours=neighbours)
        m, s, inf = m[inverse], s[inverse], inf[inverse]
    else:
        x = grid.x0 + (cols + 0.5) * grid.resolution_m
        y = grid.y0 - (rows + 0.5) * grid.resolution_m
        m, s, inf = krige(bins, x, y, variogram, neighbours=neighbours)
    mean[rows, cols], sd[rows, cols], informed[rows, cols] = m, s, inf
    return Posterior(mean, sd, informed)


def apply_effect(prediction: Prediction, effect_db: np.ndarray, *, noise_figure_db: float,
                 rules_classify: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """Add a location effect (dB, per pixel) to ``prediction`` in place: SS-RSRP moves by it; SS-SINR
    as the same effect on every link at the place moves it (signal and interference alike, the noise
    not): ``SINR' = S g / (I g + N)`` with ``g = 10^(effect/10)``; the class is recomputed."""
    reached = prediction.rsrp_dbm > NODATA
    if not reached.any() or not np.any(effect_db[reached]):
        return
    rows, cols = np.nonzero(reached & (effect_db != 0))
    e = effect_db[rows, cols].astype(float)
    s_dbm = prediction.rsrp_dbm[rows, cols].astype(float)
    n_mw = pixel_noise_mw(prediction, prediction.cell[rows, cols], noise_figure_db)
    new_sinr = shifted_sinr_db(s_dbm, prediction.sinr_db[rows, cols], n_mw, e)
    prediction.rsrp_dbm[rows, cols] = (s_dbm + e).astype(np.float32)
    prediction.sinr_db[rows, cols] = new_sinr.astype(np.float32)
    prediction.coverage_class[rows, cols] = rules_classify(prediction.rsrp_dbm[rows, cols],
                                                           prediction.sinr_db[rows, cols])
