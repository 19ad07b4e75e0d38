"""Benchmark: the seed-world analysis against a plain-geopandas buffer/union/overlay, side by side.

Usage::

    python benchmarks/bench_analysis.py [--repeats N] [--quick] [--json FILE]

What runs, each in a fresh subprocess (so that peak memory is that approach's alone):

``village5g analyze_frames``
    :func:`coverage.runs.analysis.analyze_frames` on the village committees in scope, all stations and
    all measurements: rasterise the villages, predict best-server SS-RSRP/SS-SINR at 100 m, decide
    verdicts. Input loading is not timed.
``village5g run_analysis (SQLite)``
    :func:`coverage.runs.analysis.run_analysis` on a seeded SQLite store: the same work plus reading the
    inputs from the database, input fingerprints, publishing the results and writing the GeoTIFF.
``overlay: union, then overlay``
    What a GIS analyst does in plain geopandas: project the active NR stations to the local metric
    CRS, buffer each (site, band) by a per-band radius, union the buffers, intersect the union with
    the village polygons (``geopandas.overlay``), covered share = intersected area / village area,
    verdict ``covered`` when the share >= ``rules.covered_area_share``.
``overlay: overlay pairs, then dissolve``
    The same answer in the other order (intersect villages with every buffer, dissolve per village),
    which can be much faster; speed ratios are printed against both variants.
``baseline: imports + inputs``
    Loads the libraries and the inputs and does nothing else: the memory floor of every row.

Overlay radii: for each NR band, the distance at which the *same* link budget as the prediction
(band-default power, bandwidth, antenna height and gain, the prediction's planning path loss from
:mod:`coverage.model.propagation` for the model of ``ModelParameters``, its other losses and the rule set's
edge margin) gives ``rules.good_rsrp_dbm`` (-105 dBm) at boresight. An overlay cannot see antenna
direction, real per-cell power, interference (SINR), or a weak class, and gives no signal level at all.

Memory: ``peak RSS`` is the largest single process of the child's tree: the child's own high-water
mark (``VmHWM`` of /proc/self/status) or ``ru_maxrss`` of ``RUSAGE_CHILDREN`` (its forked tile
workers), whichever is larger. (``ru_maxrss`` of the child itself, as seen by this parent, is useless:
Linux carries the high-water mark of the forking parent, which holds the whole world, across exec.)
The prediction forks one tile worker per core, so ``tree PSS`` also samples the summed proportional
set size of the child and all its descendants every 0.1 s (pages shared after fork counted once);
``tree RSS`` is the same sum of RSS (shared pages counted in every process: an upper bound).

The world is built once in this process (not timed) and handed to the children as a pickle.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import pickle
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

TARGET_SECONDS = 20.0
TARGET_MEMORY_MB = 2048.0
TARGET_SPEEDUP = 5.0
#: The model's maximum range (RMa LOS validity), used as the station halo around a --quick city.
HALO_M = 10_000.0

APPROACHES: dict[str, str] = {
    "ours": "village5g analyze_frames",
    "run": "village5g run_analysis (SQLite)",
    "overlay_union": "overlay: union, then overlay",
    "overlay_pairs": "overlay: overlay pairs, then dissolve",
    "baseline": "baseline: imports + inputs",
}


# -- the overlay baseline ---------------------------------------------------------------------------


@dataclass
class BandRadius:
    """One band's overlay radius and the link budget behind it."""

    band: str
    freq_mhz: float
    power_dbm: float
    n_rb: int
    gain_dbi: float
    height_m: float
    epre_dbm: float
    max_path_loss_db: float
    radius_m: float


def overlay_radii(rules: Any, params: Any) -> dict[str, BandRadius]:
    """Per NR band, the distance where band-default boresight SS-RSRP falls to ``rules.good_rsrp_dbm``.

    RSRP(d) = EPRE + G_max - PL(d) - other losses - z_p * sigma, the prediction's budget without the
    antenna pattern (boresight), with the prediction's own planning path loss (the TR 38.901 model of
    ``params.model`` from :mod:`coverage.model.propagation`, as :mod:`coverage.model.predict` applies it), so the
    radii follow any change of the model. Capped at 10 km (the RMa validity range), as the prediction is.
    """
    from coverage.model import link_budget
    from coverage.model.bands import BANDS, NR_BANDS
    from coverage.model.predict import _path_loss  # the one planning path loss of the prediction

    margin = float(link_budget.edge_margin_db(rules.edge_probability, rules.shadow_sigma_db))
    distances = np.geomspace(10.0, 10_000.0, 4001)
    out: dict[str, BandRadius] = {}
    for name in NR_BANDS:
        b = BANDS[name]
        epre = float(link_budget.epre_dbm(b.power_dbm, b.n_rb))
        budget = epre + b.antenna_gain_dbi - params.other_losses_db - margin - rules.good_rsrp_dbm
        pl = np.asarray(_path_loss(params.model, distances, b.freq_mhz, b.height_m, params.h_ut_m), dtype=float)
        ok = pl <= budget  # path loss grows with distance
        radius = float(distances[ok].max()) if ok.any() else 10.0
        out[name] = BandRadius(name, b.freq_mhz, b.power_dbm, b.n_rb, b.antenna_gain_dbi, b.height_m,
                               epre, budget, radius)
    return out


def overlay_shares(villages: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, radii: dict[str, float], *,
                   variant: str) -> np.ndarray:
    """Share (0-1) of each village's area inside the union of the station buffers.

    ``variant`` ``union``: buffer, union (``shapely.union_all``), explode, ``geopandas.overlay`` with
    the villages, sum the pieces per village. ``pairs``: ``geopandas.overlay`` of the villages with
    every buffer, then ``dissolve`` per village (the union inside each village).
    """
    import shapely

    from coverage.crs import local_metric_crs, to_metric
    from coverage.model.bands import normalize_band

    crs = local_metric_crs(villages)
    metric = to_metric(villages[["code", "geometry"]], crs)
    active = stations[(stations["status"] == "active") & (stations["rat"] == "NR")].copy()
    active["band"] = active["band"].map(normalize_band)
    # the sectors of a site share its point: one buffer per site and band is the same union
    sites = to_metric(active.drop_duplicates(["site_id", "band"])[["site_id", "band", "geometry"]], crs)
    buffers = gpd.GeoDataFrame(
        {"band": sites["band"].to_numpy()},
        geometry=sites.geometry.buffer(sites["band"].map(radii).to_numpy(float)).to_numpy(), crs=crs)
    if variant == "union":
        union = shapely.union_all(buffers.geometry.to_numpy())
        parts = gpd.GeoDataFrame(geometry=shapely.get_parts(union), crs=crs)
        pieces = gpd.overlay(metric, parts, how="intersection", keep_geom_type=True)
        covered = pieces.assign(area=pieces.area).groupby("code")["area"].sum()
    elif variant == "pairs":
        pieces = gpd.overlay(metric, buffers[["geometry"]], how="intersection", keep_geom_type=True)
        dissolved = pieces[["code", "geometry"]].dissolve("code")
        covered = dissolved.area
    else:
        raise ValueError(f"unknown overlay variant {variant!r}")
    covered_m2 = covered.reindex(metric["code"].to_numpy(), fill_value=0.0).to_numpy(float)
    return np.clip(covered_m2 / metric.area.to_numpy(float), 0.0, 1.0)


# -- children -----------------------------------------------------------------------------------------


def _child(approach: str, workdir: Path, out: Path) -> None:
    """Run one approach once; write seconds and a few result columns to ``out`` (JSON + pickle)."""
    from coverage.model.parameters import ModelParameters
    from coverage.model.rules import DEFAULT_RULES
    from coverage.runs.analysis import analyze_frames, run_analysis
    from coverage.store.storage import Store

    config = json.loads((workdir / "config.json").read_text())
    params = ModelParameters(resolution_m=config["resolution_m"], workers=config["workers"])
    report: dict[str, Any] = {"approach": approach}
    frame: pd.DataFrame | None = None
    if approach == "run":
        store = Store(config["db_url"])
        t0 = time.perf_counter()
        result = run_analysis(store, rules=DEFAULT_RULES, params=params, scope="committees",
                              artifacts_dir=workdir / "artifacts")
        report["seconds"] = time.perf_counter() - t0
        report["stages"] = result.timings_s
        store.dispose()
        frame = result.results[["code", "verdict", "predicted_verdict"]]
    else:
        with (workdir / "inputs.pkl").open("rb") as f:
            inputs = pickle.load(f)
        villages, stations, measurements = inputs["villages"], inputs["stations"], inputs["measurements"]
        t0 = time.perf_counter()
        if approach == "ours":
            stages: dict[str, float] = {}
            results, prediction, labels = analyze_frames(villages, stations, measurements, rules=DEFAULT_RULES,
                                                         params=params, timings=stages)
            report["seconds"] = time.perf_counter() - t0
            inside = labels > 0
            strong = inside & (prediction.rsrp_dbm >= DEFAULT_RULES.good_rsrp_dbm)
            report["village_px"] = int(inside.sum())
            report["strong_px"] = int(strong.sum())
            report["interference_limited_px"] = int((strong & (prediction.sinr_db < DEFAULT_RULES.good_sinr_db)).sum())
            report["stages"] = stages
            report["grid"] = [prediction.grid.width, prediction.grid.height]
            report["cells"] = len(prediction.cells)
            frame = results[["code", "verdict", "predicted_verdict", "measured_verdict", "good_share",
                             "weak_share", "committee_class", "committee_rsrp_dbm", "committee_sinr_db"]]
        elif approach.startswith("overlay_"):
            share = overlay_shares(villages, stations, config["radii"], variant=approach.split("_", 1)[1])
            report["seconds"] = time.perf_counter() - t0
            covered = share >= DEFAULT_RULES.covered_area_share
            frame = pd.DataFrame({"code": villages["code"].to_numpy(), "overlay_share": share,
                                  "overlay_verdict": np.where(covered, "covered", "uncovered")})
        elif approach == "baseline":
            report["seconds"] = time.perf_counter() - t0
        else:
            raise SystemExit(f"unknown approach {approach}")
    report["self_vmhwm_mb"] = _vmhwm_mb()
    report["children_maxrss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / _MAXRSS_PER_MB
    out.with_suffix(".json").write_text(json.dumps(report))
    if frame is not None:
        frame.to_pickle(out.with_suffix(".pkl"))


#: ``ru_maxrss`` units per MiB: KiB on Linux, bytes on macOS.
_MAXRSS_PER_MB = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0


def _vmhwm_mb() -> float:
    """This process's own peak RSS (MiB): VmHWM, which starts afresh at exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    # no /proc (macOS): ru_maxrss of a process started by exec is its own
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / _MAXRSS_PER_MB


# -- measuring a child --------------------------------------------------------------------------------


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (from /proc/*/stat parent ids)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def _rss_pss_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class _TreeSampler(threading.Thread):
    """Peaks of the summed RSS and PSS of a process tree, sampled every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss_kb = self.peak_pss_kb = 0
        self.max_processes = 0
        self._stop_event = threading.Event()
        self.available = Path("/proc/self/smaps_rollup").exists()

    def run(self) -> None:
        while self.available and not self._stop_event.is_set():
            pids = _descendants(self.pid)
            self.max_processes = max(self.max_processes, len(pids))
            sizes = [_rss_pss_kb(p) for p in pids]
            self.peak_rss_kb = max(self.peak_rss_kb, sum(r for r, _ in sizes))
            self.peak_pss_kb = max(self.peak_pss_kb, sum(p for _, p in sizes))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


@dataclass
class Measurement:
    approach: str
    seconds: float
    peak_rss_mb: float
    tree_pss_mb: float | None
    tree_rss_mb: float | None
    processes: int
    load_1min: float
    report: dict[str, Any] = field(default_factory=dict)


def _measure(approach: str, workdir: Path, repeat: int) -> Measurement:
    out = workdir / f"{approach}-{repeat}"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", approach,
                             "--workdir", str(workdir), "--out", str(out)])
    sampler = _TreeSampler(proc.pid)
    sampler.start()
    proc.wait()
    sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{APPROACHES[approach]} failed (exit code {proc.returncode})")
    report = json.loads(out.with_suffix(".json").read_text())
    peak = max(float(report["self_vmhwm_mb"]), float(report["children_maxrss_mb"]))
    return Measurement(approach, float(report["seconds"]), peak,
                       sampler.peak_pss_kb / 1024.0 if sampler.available else None,
                       sampler.peak_rss_kb / 1024.0 if sampler.available else None,
                       sampler.max_processes, os.getloadavg()[0], report)


# -- preparing the inputs -----------------------------------------------------------------------------


def _prepare(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    from coverage.crs import local_metric_crs, project_xy
    from coverage.model.parameters import ModelParameters
    from coverage.model.rules import DEFAULT_RULES
    from coverage.schema import is_village_committee
    from coverage.store.storage import Store
    from seeds.world import build_world

    t0 = time.perf_counter()
    world = build_world(seed=args.seed)
    build_s = time.perf_counter() - t0
    villages, stations, measurements = world.villages, world.stations, world.measurements
    if args.quick:
        villages = villages[villages["city_code"] == args.city].reset_index(drop=True)
        if villages.empty:
            raise SystemExit(f"no villages in city {args.city}")
        # stations and samples within the model's range of the city's bounding box
        crs = local_metric_crs(villages)
        x0, y0, x1, y1 = villages.to_crs(crs).total_bounds
        for name in ("stations", "measurements"):
            frame = stations if name == "stations" else measurements
            x, y = project_xy(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float), crs)
            keep = (x >= x0 - HALO_M) & (x <= x1 + HALO_M) & (y >= y0 - HALO_M) & (y <= y1 + HALO_M)
            if name == "stations":
                stations = frame[keep].reset_index(drop=True)
            else:
                measurements = frame[keep].reset_index(drop=True)
    scope = villages[villages["code"].map(is_village_committee)].reset_index(drop=True)
    with (workdir / "inputs.pkl").open("wb") as f:
        pickle.dump({"villages": scope, "stations": stations, "measurements": measurements}, f,
                    protocol=pickle.HIGHEST_PROTOCOL)

    db_url = f"sqlite:///{workdir / 'bench.db'}"
    t0 = time.perf_counter()
    store = Store(db_url)
    store.create_schema()
    store.seed(divisions_frame=world.divisions,
               frames={"villages": villages, "stations": stations, "measurements": measurements},
               fingerprint=f"bench-seed-{args.seed}")
    store.dispose()
    seed_s = time.perf_counter() - t0

    params = ModelParameters(resolution_m=args.resolution, workers=args.workers)
    radii = overlay_radii(DEFAULT_RULES, params)
    config = {"db_url": db_url, "resolution_m": args.resolution, "workers": args.workers,
              "radii": {b: r.radius_m for b, r in radii.items()}}
    (workdir / "config.json").write_text(json.dumps(config))
    active = stations[(stations["status"] == "active") & (stations["rat"] == "NR")]
    return {
        "build_s": build_s, "seed_s": seed_s, "radii": radii,
        "villages_units": len(villages), "villages_scope": len(scope),
        "cells_active_nr": len(active), "sites_bands": len(active.drop_duplicates(["site_id", "band"])),
        "stations": len(stations), "measurements": len(measurements),
    }


# -- the report ---------------------------------------------------------------------------------------


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _compare(workdir: Path, overlay: str) -> dict[str, Any]:
    from coverage.model.rules import DEFAULT_RULES

    good_rsrp = DEFAULT_RULES.good_rsrp_dbm
    ours = pd.read_pickle(workdir / "ours-0.pkl")
    other = pd.read_pickle(workdir / f"{overlay}-0.pkl")
    both = ours.merge(other, on="code", how="inner", validate="one_to_one")
    assert len(both) == len(ours) == len(other)
    ours_cov = both["predicted_verdict"] == "covered"
    ov_cov = both["overlay_verdict"] == "covered"
    weak = both["predicted_verdict"] == "weak"
    sinr_limited = ov_cov & (both["committee_class"] != "good") & (both["committee_rsrp_dbm"] >= good_rsrp)
    return {
        "villages": len(both),
        "agree": int((ours_cov == ov_cov).sum()),
        "both_covered": int((ours_cov & ov_cov).sum()),
        "both_not_covered": int((~ours_cov & ~ov_cov).sum()),
        "ours_only_covered": int((ours_cov & ~ov_cov).sum()),
        "overlay_only_covered": int((~ours_cov & ov_cov).sum()),
        "ours_weak": int(weak.sum()),
        "ours_weak_overlay_covered": int((weak & ov_cov).sum()),
        "ours_uncovered": int((both["predicted_verdict"] == "uncovered").sum()),
        "overlay_covered_sinr_limited": int(sinr_limited.sum()),
        "share_mad": float((both["good_share"] - both["overlay_share"]).abs().median()),
        "share_mean_abs_diff": float((both["good_share"] - both["overlay_share"]).abs().mean()),
        "ours_measured": int(both["measured_verdict"].notna().sum()),
        "ours_final_covered": int((both["verdict"] == "covered").sum()),
    }


def _print_report(info: dict[str, Any], rows: dict[str, list[Measurement]], args: argparse.Namespace,
                  workdir: Path) -> dict[str, Any]:
    def med(name: str, attr: str) -> float | None:
        return _median([getattr(m, attr) for m in rows.get(name, [])])

    overlays = [a for a in ("overlay_union", "overlay_pairs") if a in rows]
    fastest: str = min(overlays, key=lambda a: med(a, "seconds") or math.inf) if overlays else ""
    ours_s = med("ours", "seconds")

    def speedup(overlay: str, seconds: float | None) -> float | None:
        reference = med(overlay, "seconds") if overlay in rows else None
        return reference / seconds if reference and seconds else None

    def x(value: float | None) -> str:
        return f"{value:.1f}x" if value is not None else ""

    print()
    print(f"{'approach':40s} {'median s':>9s} {'runs (s)':>20s} {'peak RSS MB':>12s} {'tree PSS MB':>12s} "
          f"{'tree RSS MB':>12s} {'vs union':>9s} {'vs fastest':>11s}")
    summary: dict[str, Any] = {}
    for name, ms in rows.items():
        secs = [m.seconds for m in ms]
        s = _median(list(secs))
        vs_union = speedup("overlay_union", s) if name != "baseline" else None
        vs_fastest = speedup(fastest, s) if name != "baseline" else None
        runs = ", ".join(f"{v:.1f}" for v in secs)
        print(f"{APPROACHES[name]:40s} {_fmt(s, '9.2f')} {runs:>20s} {_fmt(med(name, 'peak_rss_mb'), '12.0f')} "
              f"{_fmt(med(name, 'tree_pss_mb'), '12.0f')} {_fmt(med(name, 'tree_rss_mb'), '12.0f')} "
              f"{x(vs_union):>9s} {x(vs_fastest):>11s}")
        summary[name] = {"label": APPROACHES[name], "seconds": secs, "median_s": s,
                         "peak_rss_mb": [m.peak_rss_mb for m in ms], "tree_pss_mb": [m.tree_pss_mb for m in ms],
                         "tree_rss_mb": [m.tree_rss_mb for m in ms],
                         "processes": max(m.processes for m in ms), "load_1min": [m.load_1min for m in ms],
                         "speedup_vs_union_overlay": vs_union, "speedup_vs_fastest_overlay": vs_fastest}
    print("  (vs union: median seconds of the issue's overlay, buffer -> union -> intersect, over the row's;")
    print("   vs fastest: the same against the faster of the two overlay variants)")

    for name in ("ours", "run"):
        if name in rows:
            stages = {k: round(_median([m.report["stages"].get(k) for m in rows[name]]) or 0.0, 2)
                      for k in rows[name][0].report["stages"]}
            print(f"  stages of {APPROACHES[name]} (median s): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
            summary[name]["stages_median_s"] = stages
    if "ours" in rows:
        rep = rows["ours"][0].report
        print(f"  grid {rep['grid'][0]} x {rep['grid'][1]} pixels at {args.resolution:g} m, "
              f"{rep['cells']:,} active NR cells")

    comparison = _compare(workdir, fastest) if fastest and "ours" in rows else None
    if comparison:
        c = comparison
        print()
        print(f"verdicts, village5g predicted vs {APPROACHES[fastest]}  (covered / not covered, "
              f"{c['villages']:,} villages):")
        print(f"  agree on {c['agree']:,} ({c['agree'] / c['villages']:.1%}): {c['both_covered']:,} covered by "
              f"both, {c['both_not_covered']:,} covered by neither")
        print(f"  covered only by village5g: {c['ours_only_covered']:,}; covered only by the overlay: "
              f"{c['overlay_only_covered']:,}")
        print(f"  |good share - overlay share| per village: median {c['share_mad']:.3f}, "
              f"mean {c['share_mean_abs_diff']:.3f}")
        print("what the overlay cannot tell:")
        print("  - no SS-RSRP or SS-SINR value anywhere (village5g: per pixel, at every committee point, "
              "and a GeoTIFF)")
        print(f"  - no weak class: {c['ours_weak']:,} villages are weak (弱覆盖) in village5g; the overlay calls "
              f"{c['ours_weak_overlay_covered']:,} of them covered and the rest uncovered")
        rep = rows["ours"][0].report
        print(f"  - no interference (SS-SINR): {rep['interference_limited_px']:,} of the {rep['strong_px']:,} village "
              f"pixels with SS-RSRP >= -105 dBm ({rep['interference_limited_px'] / max(rep['strong_px'], 1):.1%}) "
              "fail the SINR bar; at committee points this decides "
              f"{c['overlay_covered_sinr_limited']:,} of the villages the overlay calls covered")
        print("  - no antenna direction, real per-cell power/height or edge-probability per pixel "
              "(one radius per band)")
        print(f"  - no measured evidence: village5g lets {c['ours_measured']:,} villages' drive tests decide "
              f"({c['ours_final_covered']:,} covered after measurements)")
        summary["comparison"] = {"overlay": fastest, **c}

    print()
    checks: dict[str, Any] = {}
    if "ours" in rows:
        ours_mem = max(v for v in (med("ours", "peak_rss_mb"), med("ours", "tree_pss_mb")) if v is not None)
        run_s = med("run", "seconds")
        vs_union, vs_fastest = speedup("overlay_union", ours_s), speedup(fastest, ours_s)
        checks = {
            "analyze_frames_s": ours_s, "run_analysis_s": run_s, "peak_mb": ours_mem,
            "speedup_vs_union_overlay": vs_union, "speedup_vs_fastest_overlay": vs_fastest,
            "under_20_s": bool(ours_s is not None and ours_s < TARGET_SECONDS),
            "run_under_20_s": bool(run_s is not None and run_s < TARGET_SECONDS),
            "under_2_gb": bool(ours_mem < TARGET_MEMORY_MB),
            "at_least_5x_vs_union": bool(vs_union is not None and vs_union >= TARGET_SPEEDUP),
            "at_least_5x_vs_fastest": bool(vs_fastest is not None and vs_fastest >= TARGET_SPEEDUP),
        }
        scope = "the whole seed world" if not args.quick else f"city {args.city} only (--quick)"
        print(f"targets ({scope}; the targets are for the whole world):")
        print(f"  analyze_frames {_fmt(ours_s, '.1f')} s < {TARGET_SECONDS:g} s: "
              f"{'yes' if checks['under_20_s'] else 'NO'}; run_analysis (SQLite, GeoTIFF) {_fmt(run_s, '.1f')} s"
              f" < {TARGET_SECONDS:g} s: {'yes' if checks['run_under_20_s'] else 'NO'}")
        print(f"  peak memory {ours_mem:.0f} MB < {TARGET_MEMORY_MB:.0f} MB: {'yes' if checks['under_2_gb'] else 'NO'}")
        print(f"  analyze_frames vs the issue's overlay (buffer, union, intersect): {_fmt(vs_union, '.1f')}x, "
              f">= {TARGET_SPEEDUP:g}x: {'yes' if checks['at_least_5x_vs_union'] else 'NO'}; vs the faster overlay "
              f"variant: {_fmt(vs_fastest, '.1f')}x, >= {TARGET_SPEEDUP:g}x: "
              f"{'yes' if checks['at_least_5x_vs_fastest'] else 'NO'}")
    summary["targets"] = checks
    return summary


def _print_run(m: Measurement, i: int, n: int) -> None:
    print(f"  {APPROACHES[m.approach]:40s} run {i}/{n}: {m.seconds:7.2f} s, peak RSS {m.peak_rss_mb:6.0f} MB, "
          f"tree PSS {_fmt(m.tree_pss_mb, '6.0f')} MB, load {m.load_1min:.2f}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs per approach (median reported; default 3)")
    parser.add_argument("--quick", action="store_true", help="one city only (see --city) for a fast check")
    parser.add_argument("--city", default="3210", help="city code of --quick (default 3210 扬州)")
    parser.add_argument("--resolution", type=float, default=100.0, help="pixel size in metres (default 100)")
    parser.add_argument("--workers", type=int, default=0, help="prediction processes (0: one per core)")
    parser.add_argument("--seed", type=int, default=None, help="seed-world seed (default: the world's)")
    parser.add_argument("--overlay", choices=("both", "union", "pairs"), default="both",
                        help="overlay variants to run (default both)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--child", choices=tuple(APPROACHES), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.workdir, args.out)
        return
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.seed is None:
        from seeds.world import DEFAULT_SEED

        args.seed = DEFAULT_SEED

    import geopandas
    import shapely

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"village5g analysis benchmark, {dt.datetime.now():%Y-%m-%d %H:%M}")
    print(f"machine: {os.cpu_count()} cores ({affinity} usable), {platform.machine()}, "
          f"Python {platform.python_version()}, numpy {np.__version__}, shapely {shapely.__version__} "
          f"(GEOS {shapely.geos_version_string}), geopandas {geopandas.__version__}")
    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")

    with tempfile.TemporaryDirectory(prefix="village5g-bench-") as tmp:
        workdir = Path(tmp)
        info = _prepare(workdir, args)
        scope = f"city {args.city}" if args.quick else "Jiangsu"
        print(f"seed world ({scope}): {info['villages_units']:,} village-level units, "
              f"{info['villages_scope']:,} village committees in scope, {info['stations']:,} cells "
              f"({info['cells_active_nr']:,} active NR, {info['sites_bands']:,} site x band buffers), "
              f"{info['measurements']:,} measurements; built in {info['build_s']:.1f} s and seeded into SQLite "
              f"in {info['seed_s']:.1f} s (not timed)")
        print("overlay radii (band defaults; boresight SS-RSRP = -105 dBm with the prediction's budget, "
              "10.25 dB edge margin):")
        for r in info["radii"].values():
            print(f"  {r.band:4s} {r.freq_mhz:6.0f} MHz  {r.power_dbm:.0f} dBm / {r.n_rb} RB -> EPRE "
                  f"{r.epre_dbm:5.1f} dBm, gain {r.gain_dbi:.0f} dBi, h {r.height_m:.0f} m, max PL "
                  f"{r.max_path_loss_db:5.1f} dB -> radius {r.radius_m:,.0f} m")

        order = ["ours", "run"]
        order += {"both": ["overlay_union", "overlay_pairs"], "union": ["overlay_union"],
                  "pairs": ["overlay_pairs"]}[args.overlay]
        # rounds interleave the approaches, so that a busy spell on a shared machine hits all of them
        rows: dict[str, list[Measurement]] = {"baseline": [_measure("baseline", workdir, 0)]}
        _print_run(rows["baseline"][0], 1, 1)
        for i in range(args.repeats):
            for name in order:
                m = _measure(name, workdir, i)
                rows.setdefault(name, []).append(m)
                _print_run(m, i + 1, args.repeats)
        summary = _print_report(info, rows, args, workdir)
    print(f"load average at end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.json:
        info["radii"] = {b: asdict(r) for b, r in info["radii"].items()}
        payload = {"date": dt.datetime.now().isoformat(timespec="seconds"), "cores": os.cpu_count(),
                   "quick": args.quick, "repeats": args.repeats, "inputs": info, "results": summary}
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=float))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
