"""Fill-in (补盲) site planning: greedy maximum coverage over candidate locations, and what-if runs.

A *candidate site* is a location with a band, an operator and the standard configuration
:data:`SECTOR_AZIMUTHS` (three sectors at 0/120/240 degrees) with height, downtilt, power,
bandwidth and antenna gain from the per-band table :data:`coverage.model.bands.BANDS` (n41: 35 m, 6
degrees, 53 dBm, 100 MHz, 24 dBi). It is placed at the centre of the prediction pixel of its
location, where the model puts any station anyway, so the planned coordinates survive a CSV round
trip into the same pixel.

Exactness. The plan evaluates a candidate with the prediction's own arithmetic
(:func:`coverage.model.predict.stamp_cells`, :func:`coverage.model.predict.band_sinr`): the state keeps, for
the planned operator and band, the per-pixel best RSRP and the float32 running sum of linear power
of the existing cells; the operator's other bands and the other operators are fixed. A candidate's
three sectors are stamped onto a copy of its window of that state, the window's coverage classes
are recomputed (new server, and the interference it adds to the existing servers), and every
village touching the window gets its shares, committee-point class and verdict recomputed with the
analysis' own rule (:func:`coverage.model.verdicts.decide_predicted`). Added after the existing stations, in rank
order, the planned sites therefore give a re-run of the analysis exactly the covered count the plan
reports; villages whose verdict comes from measurements do not change.

Greedy: each round picks the candidate with the largest net gain in covered villages (covered by
the pick minus covered ones it loses through interference), ties to the earlier candidate. After
a pick only candidates whose window meets the changed pixels, or a village whose counts changed,
are evaluated again; the others' gains cannot have changed, so the result is the plain greedy's.
Planning stops early when no candidate gains a village.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.crs import in_china, local_metric_crs, project_xy, unproject_xy
from coverage.errors import (
    NO_PUBLISHED_RUN_ANALYZE,
    NO_VILLAGES,
    ConfigError,
    NotFoundError,
    Problem,
    ValidationError,
    Village5gError,
    bi,
)
from coverage.ingest.messages import outside_china
from coverage.model import link_budget
from coverage.model.bands import BANDS, NR_BANDS, normalize_band
from coverage.model.grid import NODATA, Grid, tile_boxes
from coverage.model.parameters import ModelParameters
from coverage.model.predict import band_sinr, compile_cells, empty_band_layer, predict, stamp_cells
from coverage.model.prediction import GOOD, NO_SIGNAL, WEAK, Prediction, classify
from coverage.model.rules import RuleSet
from coverage.model.verdicts import committee_points, decide_predicted, village_metrics, village_raster
from coverage.processes import forked_pool
from coverage.runs.analysis import analyze_frames
from coverage.schema import conform
from coverage.store.storage import Store
from coverage.summary import reach_rate

#: Sector azimuths (degrees clockwise from north) of a planned site.
SECTOR_AZIMUTHS = (0.0, 120.0, 240.0)
#: Operators a planned site may belong to.
OPERATORS = ("CMCC", "CUCC", "CTCC", "CBN")
#: Grids smaller than this (pixels) compute the planned operator's layers in this process: in a server
#: (other threads running) the pool's workers come from the fork server and take seconds to start,
#: 7-8 s of a plan that took 0.2 s on a 9 km test world.
MIN_POOL_PIXELS = 250_000


@dataclass
class Plan:
    """A ranked plan and the situation before it.

    ``sites`` has one row per planned site in rank order: ``rank``, ``site_id``, ``candidate_id``,
    ``lon``, ``lat`` (WGS84, pixel centre), ``band``, ``operator``, ``gained`` (net covered villages
    this pick adds), ``villages_gained`` / ``villages_lost`` (``;``-separated codes), ``covered`` and
    ``reach_rate`` (cumulative, 0-1, over ``villages``), with ``region_*`` columns when a region
    was given; geometry points in EPSG:4326.
    """

    sites: gpd.GeoDataFrame
    villages: int
    covered_before: int
    region: str | None = None
    region_villages: int = 0
    region_covered_before: int = 0
    candidates: int = 0
    evaluations: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)


def site_stations(lon: np.ndarray, lat: np.ndarray, site_ids: list[str], *, band: str,
                  operator: str) -> gpd.GeoDataFrame:
    """Canonical stations frame of planned sites: three active NR sectors each, band defaults.

    Radio parameters are written out from :data:`coverage.model.bands.BANDS` so the file documents them.
    """
    d = BANDS[band]
    n = len(site_ids)
    k = len(SECTOR_AZIMUTHS)
    rows = {
        "site_id": np.repeat(site_ids, k).tolist(),
        "cell_id": [f"{s}-{j + 1}" for s in site_ids for j in range(k)],
        "operator": [operator] * (n * k), "rat": ["NR"] * (n * k), "band": [band] * (n * k),
        "lon": np.repeat(np.asarray(lon, float), k), "lat": np.repeat(np.asarray(lat, float), k),
        "height_m": [d.height_m] * (n * k), "azimuth_deg": list(SECTOR_AZIMUTHS) * n,
        "tilt_deg": [d.tilt_deg] * (n * k), "power_dbm": [d.power_dbm] * (n * k),
        "bandwidth_mhz": [d.bandwidth_mhz] * (n * k), "status": ["active"] * (n * k),
        "source": ["plan"] * (n * k),
    }
    return conform("stations", rows, shapely.points(rows["lon"], rows["lat"]))


def plan_stations(plan: Plan) -> gpd.GeoDataFrame:
    """The planned sites of ``plan`` as a canonical stations frame (for ingest or ``--add-sites``)."""
    s = plan.sites
    if s.empty:
        return site_stations(np.array([]), np.array([]), [], band="n41", operator="CMCC")
    return site_stations(s["lon"].to_numpy(float), s["lat"].to_numpy(float), s["site_id"].tolist(),
                         band=str(s["band"].iloc[0]), operator=str(s["operator"].iloc[0]))


def default_candidates(villages: gpd.GeoDataFrame, verdicts: pd.Series) -> pd.DataFrame:
    """Committee (or representative) points of the villages not covered: ``candidate_id``, lon, lat."""
    points = committee_points(villages)
    keep = (verdicts.to_numpy() != "covered")
    pts = points[keep]
    return pd.DataFrame({"candidate_id": villages["code"].to_numpy()[keep],
                         "lon": shapely.get_x(pts), "lat": shapely.get_y(pts)})


def _check_options(band: str, operator: str, n_sites: int) -> tuple[str, str]:
    name = normalize_band(band)
    if name is None or BANDS[name].rat != "NR":
        raise ConfigError(f"频段 {band!r}：请在 NR 频段上规划（{'、'.join(NR_BANDS)}） "
                          f"(band {band!r}: plan on an NR band ({', '.join(NR_BANDS)}))")
    op = operator.upper()
    if op not in OPERATORS:
        raise ConfigError(f"运营商 {operator!r}：请用 {'、'.join(OPERATORS)} 之一 "
                          f"(operator {operator!r}: use one of {', '.join(OPERATORS)})")
    if n_sites < 1:
        raise ConfigError("--sites 应不小于 1 (--sites must be at least 1)")
    return name, op


_LAYERS_CONTEXT: tuple[Any, str, RuleSet, ModelParameters, Grid] | None = None


def _init_layers(context: tuple[Any, str, RuleSet, ModelParameters, Grid]) -> None:
    global _LAYERS_CONTEXT
    _LAYERS_CONTEXT = context


def _layers_task(rows: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """The planned operator's layers on grid rows ``rows[0]:rows[1]``: the planned band's best RSRP,
    reach and power sum, and the best selection score (RSRP + the band's selection offset) and the class
    of that band among its bands before and after it in name order."""
    assert _LAYERS_CONTEXT is not None
    cells, band, rules, params, grid = _LAYERS_CONTEXT
    r0, r1 = rows
    shape = (r1 - r0, grid.width)
    r_before = np.full(shape, -np.inf, dtype=np.float32)
    c_before = np.zeros(shape, dtype=np.uint8)
    r_after = np.full(shape, -np.inf, dtype=np.float32)
    c_after = np.zeros(shape, dtype=np.uint8)
    s_rsrp, s_cell, s_sum = empty_band_layer(shape)
    if cells is not None:
        for b, name in enumerate(cells.band_names):
            idx = np.flatnonzero(cells.band == b)
            if name == band:
                stamp_cells(cells, idx, params, grid.resolution_m, r0, 0, s_rsrp, s_cell, s_sum)
                continue
            rsrp, cell, total = empty_band_layer(shape)
            stamp_cells(cells, idx, params, grid.resolution_m, r0, 0, rsrp, cell, total)
            cls = classify(rsrp, band_sinr(rsrp, cell >= 0, total, params.load, float(cells.band_noise_mw[b])),
                           rules)
            r_acc, c_acc = (r_before, c_before) if name < band else (r_after, c_after)
            score = rsrp + np.float32(dict(params.selection_offsets).get(name, 0.0))
            take = score > r_acc
            r_acc[take] = score[take]
            c_acc[take] = cls[take]
    return s_rsrp, s_cell >= 0, s_sum, r_before, c_before, r_after, c_after


class _State:
    """Per-pixel state of the network for one planned operator and band, and per-village counts."""

    def __init__(self, villages: gpd.GeoDataFrame, stations: gpd.GeoDataFrame,
                 measurements: gpd.GeoDataFrame | None, *, band: str, operator: str, rules: RuleSet,
                 params: ModelParameters, say: Callable[[str], None]) -> None:
        self.rules, self.params = rules, params
        raster = village_raster(villages, local_metric_crs(villages), params.resolution_m)
        self.grid = grid = raster.grid
        self.labels = labels = raster.labels
        shape = (grid.height, grid.width)
        # the prediction computes only its boxes (tiles cropped to village and committee pixels):
        # pixels outside them stay without signal
        self.live = np.zeros(shape, dtype=bool)
        for r0, c0, r1, c1 in tile_boxes(shape, params.tile_px, raster.mask):
            self.live[r0:r1, c0:c1] = True
        nr_active = (stations["status"] == "active") & (stations["rat"] == "NR")
        mine = nr_active & (stations["operator"] == operator)
        say(bi(f"栅格 {grid.width} x {grid.height}；预测其他运营商",
               f"grid {grid.width} x {grid.height}; predicting the other operators"))
        other_stations = stations[~(stations["operator"] == operator)]
        if (nr_active & ~mine).any():
            self.other_class = predict(other_stations, grid, rules=rules, params=params,
                                       mask=raster.mask).coverage_class
        else:
            self.other_class = np.zeros(shape, dtype=np.uint8)
        # the planned operator, band by band in name order (the prediction's order)
        say(bi(f"叠加 {operator} 小区 {int(mine.sum()):,} 个", f"stamping {int(mine.sum()):,} {operator} cells"))
        self.noise_mw = band_noise_mw(band, params)
        self.selection_offset = np.float32(dict(params.selection_offsets).get(band, 0.0))
        cells = compile_cells(stations[mine], grid, rules=rules, params=params)[1] if mine.any() else None
        # row bands computed in forked workers (per-pixel results do not depend on the split)
        step = max(1, -(-grid.height // (params.workers or os.cpu_count() or 1)))
        bands = [(r, min(r + step, grid.height)) for r in range(0, grid.height, step)]
        context = (cells, band, rules, params, grid)
        if len(bands) > 1 and cells is not None and grid.height * grid.width >= MIN_POOL_PIXELS:
            with forked_pool(len(bands), _init_layers, (context,)) as pool:
                parts = list(pool.map(_layers_task, bands))
        else:
            _init_layers(context)
            parts = [_layers_task(b) for b in bands]
        (self.s_rsrp, self.s_reached, self.s_sum, self.r_before, self.c_before, self.r_after,
         self.c_after) = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
        del parts
        self.coverage_class = self._combine(self.s_rsrp, self.s_reached, self.s_sum, (slice(None), slice(None)))

        # village counts and verdicts, with the analysis' own verdict code (only the coverage class
        # decides a verdict; the RSRP/SINR arrays here are placeholders)
        nodata = np.full(shape, NODATA, dtype=np.float32)
        prediction = Prediction(grid, nodata, nodata, self.coverage_class, np.full(shape, -1, dtype=np.int32),
                                np.full(shape, -1, dtype=np.int8), [], pd.DataFrame())
        results = village_metrics(villages, stations, prediction, rules=rules, measurements=measurements,
                                  raster=raster)
        self.codes = villages["code"].to_numpy()
        self.verdict = results["verdict"].to_numpy(dtype=object)
        self.measured = (results["verdict_source"] == "measured").to_numpy()
        n = len(villages)
        flat = labels.ravel()
        inside = flat > 0
        cls = self.coverage_class.ravel()[inside]
        lab = flat[inside]
        self.pixels = np.bincount(lab, minlength=n + 1)[1:].astype(float)
        self.good_px = np.bincount(lab, weights=(cls == GOOD), minlength=n + 1)[1:]
        self.weak_px = np.bincount(lab, weights=(cls == WEAK), minlength=n + 1)[1:]
        prow, pcol = raster.row, raster.col
        self.on_grid = (prow >= 0) & (prow < grid.height) & (pcol >= 0) & (pcol < grid.width)
        self.prow, self.pcol = np.clip(prow, 0, grid.height - 1), np.clip(pcol, 0, grid.width - 1)
        self.c_class = np.where(self.on_grid, self.coverage_class[self.prow, self.pcol], NO_SIGNAL).astype(np.uint8)
        # pixel bounding box of each village (its pixels and its committee pixel)
        rows, cols = np.divmod(np.flatnonzero(inside), grid.width)
        big = np.iinfo(np.int64).max
        self.v_r0 = np.full(n, big)
        self.v_c0 = np.full(n, big)
        self.v_r1 = np.full(n, -1)
        self.v_c1 = np.full(n, -1)
        np.minimum.at(self.v_r0, lab - 1, rows)
        np.minimum.at(self.v_c0, lab - 1, cols)
        np.maximum.at(self.v_r1, lab - 1, rows)
        np.maximum.at(self.v_c1, lab - 1, cols)
        self.v_r0 = np.minimum(self.v_r0, self.prow)
        self.v_c0 = np.minimum(self.v_c0, self.pcol)
        self.v_r1 = np.maximum(self.v_r1, self.prow)
        self.v_c1 = np.maximum(self.v_c1, self.pcol)

    def _combine(self, s_rsrp: np.ndarray, s_reached: np.ndarray, s_sum: np.ndarray,
                 win: tuple[slice, slice]) -> np.ndarray:
        """Best-of-operators coverage class of window ``win`` given the planned band's layer there."""
        sinr = band_sinr(s_rsrp, s_reached, s_sum, self.params.load, self.noise_mw)
        k_cls = classify(s_rsrp, sinr, self.rules)
        r_b = self.r_before[win]
        s_score = s_rsrp + self.selection_offset
        take_k = s_score > r_b
        cur_r = np.where(take_k, s_score, r_b)
        cur_c = np.where(take_k, k_cls, self.c_before[win])
        op_cls = np.where(self.r_after[win] > cur_r, self.c_after[win], cur_c)
        return np.where(self.live[win], np.maximum(self.other_class[win], op_cls), NO_SIGNAL).astype(np.uint8)

    def verdicts_of(self, idx: np.ndarray, good_px: np.ndarray, weak_px: np.ndarray,
                    c_class: np.ndarray) -> np.ndarray:
        """Verdicts of villages ``idx`` given their new pixel counts and committee classes."""
        pixels = self.pixels[idx]
        tiny = pixels == 0
        pixels = np.where(tiny, 1.0, pixels)
        good = np.where(tiny, (c_class == GOOD).astype(float), good_px) / pixels
        weak = np.where(tiny, (c_class == WEAK).astype(float), weak_px) / pixels
        predicted, _ = decide_predicted(c_class, good, good + weak, self.rules)
        return np.where(self.measured[idx], self.verdict[idx], predicted.astype(object))


@dataclass
class _Outcome:
    """What adding one candidate does: new window arrays and the villages whose verdict changes."""

    gain: float
    win: tuple[slice, slice]
    s_rsrp: np.ndarray
    s_reached: np.ndarray
    s_sum: np.ndarray
    new_class: np.ndarray
    touched: np.ndarray
    good_px: np.ndarray
    weak_px: np.ndarray
    c_class: np.ndarray
    verdict: np.ndarray


_GAIN: Callable[[int], float] | None = None


def _gains_task(indices: range) -> list[float]:
    assert _GAIN is not None
    return [_GAIN(i) for i in indices]


def _initial_gains(gain: Callable[[int], float], n: int, workers: int) -> np.ndarray:
    """Every candidate's gain, in forked workers that share the state (read-only) with the parent."""
    global _GAIN
    _GAIN = gain
    try:
        if workers < 2 or n < 2 * workers:
            return np.array(_gains_task(range(n)), dtype=float)
        step = -(-n // (4 * workers))
        chunks = [range(i, min(i + step, n)) for i in range(0, n, step)]
        with forked_pool(workers, require_fork=True) as pool:  # the gain closure lives in this memory
            return np.array([g for part in pool.map(_gains_task, chunks) for g in part], dtype=float)
    finally:
        _GAIN = None


def plan_sites(villages: gpd.GeoDataFrame, stations: gpd.GeoDataFrame,
               measurements: gpd.GeoDataFrame | None, *, n_sites: int, rules: RuleSet,
               params: ModelParameters, band: str = "n41", operator: str = "CMCC",
               candidates: pd.DataFrame | None = None, region: str | None = None,
               progress: Callable[[str], None] | None = None, reevaluate_all: bool = False) -> Plan:
    """Choose up to ``n_sites`` new sites that bring the most villages to ``covered``.

    Parameters
    ----------
    villages, stations, measurements
        Canonical frames (EPSG:4326), as the analysis reads them; ``villages`` is the scope.
    n_sites
        Sites to plan; fewer are returned when no candidate gains a village any more.
    rules, params
        The analysis' rule set and model parameters (thresholds, margin, resolution, load).
    band, operator
        Band (an NR band of :data:`coverage.model.bands.BANDS`) and operator of the planned sites.
    candidates
        ``lon``, ``lat`` (WGS84) and optionally ``candidate_id``; default: the committee points of
        the villages not covered (:func:`default_candidates`). Candidates sharing a pixel count once.
    region
        A division code prefix (city ``3201``, county ``320115``, ...): gains are counted in the
        region's villages only and default candidates come from it; the whole province is still
        modelled, so interference across the region's border is included.
    reevaluate_all
        Evaluate every remaining candidate again after each pick (textbook greedy); the result is
        the same, only slower. For benchmarks.

    Returns
    -------
    Plan
    """
    band, operator = _check_options(band, operator, n_sites)
    say = progress or (lambda _m: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if region is not None and not (villages["code"].astype(str).str.startswith(region)).any():
        raise ConfigError(f"区域 {region}：范围内没有代码以它开头的行政村 "
                          f"(region {region!r}: no village in scope has a code starting with it)")
    state = _State(villages, stations, measurements, band=band, operator=operator, rules=rules,
                   params=params, say=say)
    grid = state.grid
    timings["state_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    in_region = (np.ones(len(villages), dtype=bool) if region is None
                 else villages["code"].astype(str).str.startswith(region).to_numpy())
    weight = in_region.astype(float)
    if candidates is None:
        chosen = villages[in_region]
        candidates = default_candidates(chosen, pd.Series(state.verdict[in_region]))
    elif "candidate_id" not in candidates:
        candidates = candidates.assign(candidate_id=[f"C{i + 1}" for i in range(len(candidates))])
    # snap to pixel centres; candidates off the grid cannot serve any village of the scope
    x, y = project_xy(candidates["lon"].to_numpy(float), candidates["lat"].to_numpy(float), grid.crs)
    row, col = grid.pixel_of(x, y)
    on = (row >= 0) & (row < grid.height) & (col >= 0) & (col < grid.width)
    cand = pd.DataFrame({"candidate_id": candidates["candidate_id"].astype(str).to_numpy()[on],
                         "row": row[on], "col": col[on]}).drop_duplicates(["row", "col"]).reset_index(drop=True)
    cx = grid.x0 + (cand["col"].to_numpy() + 0.5) * grid.resolution_m
    cy = grid.y0 - (cand["row"].to_numpy() + 0.5) * grid.resolution_m
    lon, lat = unproject_xy(cx, cy, grid.crs)
    probe = site_stations(lon, lat, [f"C{i}" for i in range(len(cand))], band=band, operator=operator)
    n_cand = len(cand)
    k = len(SECTOR_AZIMUTHS)
    _, cells = compile_cells(probe, grid, rules=rules, params=params)
    radius = int(cells.radius[0]) if n_cand else 0
    crow, ccol = cand["row"].to_numpy(), cand["col"].to_numpy()
    w_r0, w_r1 = np.maximum(crow - radius, 0), np.minimum(crow + radius + 1, grid.height)
    w_c0, w_c1 = np.maximum(ccol - radius, 0), np.minimum(ccol + radius + 1, grid.width)

    def evaluate(i: int) -> _Outcome:
        win = (slice(int(w_r0[i]), int(w_r1[i])), slice(int(w_c0[i]), int(w_c1[i])))
        s_rsrp, s_sum = state.s_rsrp[win].copy(), state.s_sum[win].copy()
        cell = np.full(s_rsrp.shape, -1, dtype=np.int32)
        stamp_cells(cells, np.arange(k * i, k * i + k), params, grid.resolution_m, int(w_r0[i]), int(w_c0[i]),
                    s_rsrp, cell, s_sum)
        s_reached = state.s_reached[win] | (cell >= 0)
        new = state._combine(s_rsrp, s_reached, s_sum, win)
        old = state.coverage_class[win]
        lab = state.labels[win]
        changed = (new != old) & (lab > 0)
        lab_c = lab[changed] - 1
        touched_px = np.unique(lab_c)
        cp_in = np.flatnonzero(state.on_grid & (state.prow >= win[0].start) & (state.prow < win[0].stop)
                               & (state.pcol >= win[1].start) & (state.pcol < win[1].stop))
        cp_new = new[state.prow[cp_in] - win[0].start, state.pcol[cp_in] - win[1].start]
        cp_changed = cp_in[cp_new != state.c_class[cp_in]]
        touched = np.union1d(touched_px, cp_changed).astype(np.int64)
        n = len(state.pixels)
        d_good = np.bincount(lab_c, weights=(new[changed] == GOOD).astype(float)
                             - (old[changed] == GOOD), minlength=n)[touched]
        d_weak = np.bincount(lab_c, weights=(new[changed] == WEAK).astype(float)
                             - (old[changed] == WEAK), minlength=n)[touched]
        good_px = state.good_px[touched] + d_good
        weak_px = state.weak_px[touched] + d_weak
        c_class = state.c_class[touched].copy()
        at = np.isin(cp_in, touched)
        pos = np.searchsorted(touched, cp_in[at])
        c_class[pos] = cp_new[at]
        verdict = state.verdicts_of(touched, good_px, weak_px, c_class)
        gain = float(((verdict == "covered").astype(float) - (state.verdict[touched] == "covered"))
                     @ weight[touched])
        return _Outcome(gain, win, s_rsrp, s_reached, s_sum, new, touched, good_px, weak_px, c_class, verdict)

    gains = _initial_gains(lambda i: evaluate(i).gain, n_cand, params.workers or os.cpu_count() or 1)
    evaluations = n_cand
    timings["initial_s"] = time.perf_counter() - t
    say(bi(f"已评估候选站址 {n_cand:,} 个", f"evaluated {n_cand:,} candidate sites"))
    covered = int((state.verdict == "covered").sum())
    region_covered = int(((state.verdict == "covered") & in_region).sum())
    plan = Plan(sites=gpd.GeoDataFrame(), villages=len(villages), covered_before=covered, region=region,
                region_villages=int(in_region.sum()), region_covered_before=region_covered, candidates=n_cand)
    rows: list[dict[str, object]] = []
    used = np.zeros(n_cand, dtype=bool)
    for rank in range(1, n_sites + 1):
        masked = np.where(used, -np.inf, gains)
        if not n_cand or masked.max() <= 0:
            say(bi(f"选出 {rank - 1} 个站址后，再无候选能使行政村增加 5G通达",
                   f"no candidate gains a village after {rank - 1} sites"))
            break
        best = int(np.argmax(masked))  # first of the ties: the earlier candidate
        out = evaluate(best)
        used[best] = True
        st = state
        st.s_rsrp[out.win], st.s_reached[out.win], st.s_sum[out.win] = out.s_rsrp, out.s_reached, out.s_sum
        st.coverage_class[out.win] = out.new_class
        before = st.verdict[out.touched].copy()
        st.good_px[out.touched], st.weak_px[out.touched] = out.good_px, out.weak_px
        st.c_class[out.touched] = out.c_class
        st.verdict[out.touched] = out.verdict
        won = out.touched[(out.verdict == "covered") & (before != "covered")]
        lost = out.touched[(out.verdict != "covered") & (before == "covered")]
        covered += len(won) - len(lost)
        region_covered += int(in_region[won].sum() - in_region[lost].sum())
        row_out: dict[str, object] = {
            "rank": rank, "site_id": f"PLAN-{rank:03d}", "candidate_id": cand["candidate_id"].iloc[best],
            "lon": float(lon[best]), "lat": float(lat[best]), "band": band, "operator": operator,
            "gained": len(won) - len(lost), "villages_gained": ";".join(st.codes[won].astype(str)),
            "villages_lost": ";".join(st.codes[lost].astype(str)), "covered": covered,
            "villages": len(villages), "reach_rate": reach_rate(covered, len(villages)),
        }
        if region is not None:
            row_out.update(region_gained=int(in_region[won].sum() - in_region[lost].sum()),
                           region_covered=region_covered, region_villages=int(in_region.sum()),
                           region_reach_rate=reach_rate(region_covered, int(in_region.sum())))
        rows.append(row_out)
        # candidates whose window meets the pick's window or a village whose counts changed
        boxes = [(out.win[0].start, out.win[0].stop - 1, out.win[1].start, out.win[1].stop - 1)]
        boxes += list(zip(st.v_r0[out.touched], st.v_r1[out.touched], st.v_c0[out.touched],
                          st.v_c1[out.touched], strict=True))
        stale = np.zeros(n_cand, dtype=bool)
        for r0, r1, c0, c1 in boxes:
            stale |= (w_r0 <= r1) & (w_r1 > r0) & (w_c0 <= c1) & (w_c1 > c0)
        if reevaluate_all:
            stale[:] = True
        stale &= ~used
        for i in np.flatnonzero(stale):
            gains[i] = evaluate(int(i)).gain
        evaluations += int(stale.sum()) + 1
    timings["greedy_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    columns = ["rank", "site_id", "candidate_id", "lon", "lat", "band", "operator", "gained", "villages_gained",
               "villages_lost", "covered", "villages", "reach_rate"]
    if region is not None:
        columns += ["region_gained", "region_covered", "region_villages", "region_reach_rate"]
    frame = pd.DataFrame(rows, columns=columns)
    plan.sites = gpd.GeoDataFrame(frame, geometry=shapely.points(frame["lon"].to_numpy(float),
                                                                 frame["lat"].to_numpy(float)), crs="EPSG:4326")
    plan.evaluations = evaluations
    plan.timings_s = timings
    return plan


def band_noise_mw(band: str, params: ModelParameters) -> float:
    """Noise per resource element (mW) of ``band``, with the prediction's arithmetic."""
    noise_dbm = np.array([float(link_budget.noise_per_re_dbm(BANDS[band].scs_khz, params.noise_figure_db))])
    return float((10.0 ** (noise_dbm / 10.0))[0])


def what_if(villages: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, measurements: gpd.GeoDataFrame | None,
            added: gpd.GeoDataFrame, baseline: pd.DataFrame, *, rules: RuleSet, params: ModelParameters,
            operators: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate proposed stations without storing them.

    ``added`` is appended after ``stations`` and the analysis is computed in memory; the result is
    compared with ``baseline`` (a run's results with ``code`` and ``verdict``).

    Returns
    -------
    (all_results, changed)
        The what-if results of every village, and the villages whose verdict differs from the
        baseline: ``code``, ``name``, ``city_name``, ``county_name``, ``township_name``,
        ``verdict_before``, ``verdict_after``, ``committee_rsrp_dbm``, ``good_share``.
    """
    combined = pd.concat([stations, added], ignore_index=True)
    combined = gpd.GeoDataFrame(combined, geometry="geometry", crs="EPSG:4326")
    results, _, _ = analyze_frames(villages, combined, measurements, rules=rules, params=params,
                                   operators=operators)
    before = baseline.set_index("code")["verdict"]
    merged = results.merge(villages[["code", "name", "city_name", "county_name", "township_name"]], on="code")
    merged["verdict_before"] = merged["code"].map(before).astype(object)
    changed = merged[merged["verdict_before"] != merged["verdict"]]
    changed = changed.rename(columns={"verdict": "verdict_after"})[
        ["code", "name", "city_name", "county_name", "township_name", "verdict_before", "verdict_after",
         "committee_rsrp_dbm", "good_share"]].reset_index(drop=True)
    return results, changed


def run_settings(store: Store) -> tuple[int, RuleSet, ModelParameters, str, list[str] | None]:
    """Latest published run id, its rule set, parameters, scope and operators."""
    run_id = store.latest_run_id()
    if run_id is None:
        raise NotFoundError(NO_PUBLISHED_RUN_ANALYZE)
    record = store.read_run(run_id)
    rules = RuleSet(**record["rules"])
    known = {f.name for f in fields(ModelParameters)}
    params = ModelParameters(**{k: v for k, v in record["parameters"].items() if k in known})
    inputs = record["inputs"] or {}
    operators = inputs.get("operators")
    return (run_id, rules, params, str(inputs.get("scope", "committees")),
            None if operators in (None, "all") else list(operators))


def read_scope(store: Store, scope: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Stored villages of ``scope`` (``committees`` or ``all``), stations and measurements."""
    villages = store.read("villages", committees_only=(scope == "committees"))
    if villages.empty:
        raise Village5gError(NO_VILLAGES)
    return villages, store.read("stations"), store.read("measurements")


def what_if_store(store: Store, added: gpd.GeoDataFrame, *, region: str | None = None
                  ) -> tuple[int, pd.DataFrame, dict[str, int]]:
    """What-if against the latest published run, with that run's rules, parameters, scope and operators.

    Nothing is written: the stored stations and the published run stay as they are.
    Returns the run id compared with, the changed villages (see :func:`what_if`) and the covered
    counts ``before`` / ``after`` and ``villages``; with ``region`` (a division code prefix) of
    that region's villages only.
    """
    run_id, rules, params, scope, operators = run_settings(store)
    villages, stations, measurements = read_scope(store, scope)
    baseline = store.read_results(run_id)
    results, changed = what_if(villages, stations, measurements, added, baseline, rules=rules, params=params,
                               operators=operators)
    if region is not None:
        results = results[results["code"].astype(str).str.startswith(region)]
        baseline = baseline[baseline["code"].astype(str).str.startswith(region)]
        changed = changed[changed["code"].astype(str).str.startswith(region)]
    counts = {"villages": len(results), "before": int((baseline["verdict"] == "covered").sum()),
              "after": int((results["verdict"] == "covered").sum())}
    return run_id, changed, counts


_LON = ("lon", "longitude", "lng", "x", "经度")
_LAT = ("lat", "latitude", "y", "纬度")
_ID = ("candidate_id", "site_id", "id", "name", "站址编号", "站址名称")


def read_candidates(path: str | Path) -> pd.DataFrame:
    """Candidate locations from a CSV (UTF-8 or GBK), XLSX, GeoJSON or GeoPackage file, in WGS84.

    Tables need longitude and latitude columns (``lon``/``lat``, ``longitude``/``latitude``,
    ``经度``/``纬度``); an id column (``candidate_id``, ``site_id``, ``id``, ``name``, ``站址编号``) is
    optional. Vector files use their point geometry (reprojected to WGS84). Raises
    :class:`ValidationError` naming the file, the row and the problem.
    """
    path = Path(path)
    file = path.name
    if not path.is_file():
        raise ValidationError([Problem(file, None, None, bi("文件不存在", "file not found"))])
    suffix = path.suffix.lower()
    try:
        if suffix in (".geojson", ".json", ".gpkg", ".shp"):
            gdf = gpd.read_file(path)
            if gdf.crs is not None:
                gdf = gdf.to_crs("EPSG:4326")
            if not (gdf.geom_type == "Point").all():
                bad = int(np.flatnonzero((gdf.geom_type != "Point").to_numpy())[0]) + 1
                raise ValidationError([Problem(file, bad, "geometry",
                                               bi("候选站址应为点", "candidates must be points"))])
            table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
            table["lon"], table["lat"] = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
        elif suffix == ".csv":
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = raw.decode("gbk")
            table = pd.read_csv(io.StringIO(text), dtype=str)
        elif suffix == ".xlsx":
            table = pd.read_excel(path, dtype=str)
        else:
            raise ValidationError([Problem(file, None, None, bi(
                f"不支持的文件类型 {suffix!r}；应为 .csv、.xlsx、.geojson 或 .gpkg",
                f"unsupported file type {suffix!r}; use .csv, .xlsx, .geojson or .gpkg"))])
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValidationError([Problem(file, None, None, bi("无法读取", f"cannot read: {exc}"))]) from None
    lookup = {str(c).strip().lower(): c for c in table.columns}

    def column(names: tuple[str, ...]) -> str | None:
        return next((lookup[n] for n in names if n in lookup), None)

    lon_col, lat_col, id_col = column(_LON), column(_LAT), column(_ID)
    if lon_col is None or lat_col is None:
        raise ValidationError([Problem(file, None, "lon/lat", bi(
            "缺少经度和纬度列（lon、lat 或 经度、纬度）", "needs longitude and latitude columns (lon, lat)"))])
    lon = pd.to_numeric(table[lon_col], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(table[lat_col], errors="coerce").to_numpy(float)
    problems = []
    for i in np.flatnonzero(np.isnan(lon) | np.isnan(lat)):
        problems.append(Problem(file, int(i) + 1, "lon/lat", bi("经纬度缺失或不是数字", "missing or not a number")))
    outside = ~np.isnan(lon) & ~np.isnan(lat) & ~in_china(lon, lat)
    for i in np.flatnonzero(outside):
        problems.append(Problem(file, int(i) + 1, "lon/lat", outside_china(
            f"({lon[i]}, {lat[i]})", f"({lon[i]}, {lat[i]}) is not in China (swapped or projected coordinates?)",
            "（经纬度颠倒或是投影坐标？）")))
    if problems:
        raise ValidationError(problems)
    ids = (table[id_col].astype(str).to_numpy() if id_col is not None
           else np.array([f"C{i + 1}" for i in range(len(table))]))
    return pd.DataFrame({"candidate_id": ids, "lon": lon, "lat": lat})
