"""Terrain and land cover: accuracy on hilly counties and the cost of a 30 m DEM.

1. Build the seed world with terrain (``build_world(terrain=True)``: a synthetic DEM and land cover,
   and a true field whose terrain and clutter losses come from Deygout over 50 m profiles and
   place-to-place clutter heights, :mod:`seeds.terrain`), write its rasters (90 m DEM, land cover)
   and a 30 m DEM resampled from it (bilinear, written block by block).
2. Hilly counties: those with at least ``--hilly-share`` of their village committees on ground that
   varies by 20 m or more within 3 km (on the DEM).
3. The truth of their village committees (:func:`seeds.truth.true_verdicts`) and the model alone (no
   measurements: the model's own error) without terrain, with the DEM and land cover, and with the DEM
   only, then calibrated on the world's drive tests (band terms, area and, with land cover, class
   offsets; :func:`coverage.model.calibration.fit_calibration`), flat and with terrain; printed:
   SS-RSRP RMSE and bias at committee points (predicted committee pixel against the true
   best-operator RSRP at the point) and verdict agreement.
4. Time: the analysis of every village committee of the province (model alone, single process, all
   cores) without terrain and with the 30 m DEM and the land cover; the ratio is the figure.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_terrain.py [--cache /tmp/world-terrain.pkl]`` (about
15-25 minutes on a busy 2-core machine; ``--skip-time`` leaves out step 4; ``--cache`` keeps the world).
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from scipy.ndimage import maximum_filter, minimum_filter

from coverage.model.calibration import CalibrationRefused, fit_calibration
from coverage.model.predict import ModelParameters
from coverage.model.rules import DEFAULT_RULES
from coverage.model.terrain_inputs import TerrainSource
from coverage.runs.compute import analyze_frames
from coverage.schema import is_village_committee
from seeds.truth import true_verdicts
from seeds.world import DEFAULT_SEED, METRIC_CRS, build_world


def resample_dem(src_path: Path, out_path: Path, resolution_m: float) -> Path:
    """``src_path`` resampled (bilinear) to ``resolution_m``, written in 2048-row blocks."""
    with rasterio.open(src_path) as src:
        scale = src.transform.a / resolution_m
        width, height = int(src.width * scale), int(src.height * scale)
        transform = Affine(resolution_m, 0.0, src.transform.c, 0.0, -resolution_m, src.transform.f)
        profile = {"driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": "float32",
                   "crs": src.crs, "transform": transform, "nodata": -9999.0, "compress": "deflate",
                   "tiled": True, "blockxsize": 512, "blockysize": 512}
        with WarpedVRT(src, crs=src.crs, transform=transform, width=width, height=height,
                       resampling=Resampling.bilinear) as vrt, rasterio.open(out_path, "w", **profile) as dst:
            for r0 in range(0, height, 2048):
                window = Window(0, r0, width, min(2048, height - r0))
                dst.write(vrt.read(1, window=window), 1, window=window)
    return out_path


def scores(results: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    merged = results[["code", "verdict", "committee_rsrp_dbm"]].merge(truth, on="code")
    pred = merged["committee_rsrp_dbm"].to_numpy(float)
    true = merged["true_committee_rsrp_dbm"].to_numpy(float)
    both = np.isfinite(pred) & np.isfinite(true) & (pred > -900)
    return {"villages": len(merged), "agreement": float(np.mean(merged["verdict"] == merged["true_verdict"])),
            "rmse": float(np.sqrt(np.mean((pred[both] - true[both]) ** 2))),
            "bias": float(np.mean(pred[both] - true[both])), "scored": int(both.sum()),
            "covered": float(np.mean(merged["verdict"] == "covered")),
            "true_covered": float(np.mean(merged["true_verdict"] == "covered"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--hilly-share", type=float, default=0.3)
    parser.add_argument("--skip-time", action="store_true")
    parser.add_argument("--only-time", action="store_true", help="step 4 only")
    parser.add_argument("--cache", type=Path, default=None,
                        help="a pickle of the world with terrain: read when it exists, else written")
    args = parser.parse_args()
    t0 = time.perf_counter()
    if args.cache is not None and args.cache.exists():
        with open(args.cache, "rb") as fh:
            world = pickle.load(fh)
    else:
        world = build_world(seed=args.seed, terrain=True)
        if args.cache is not None:
            with open(args.cache, "wb") as fh:
                pickle.dump(world, fh)
    assert world.terrain is not None and world.true_field is not None
    print(f"world with terrain built in {time.perf_counter() - t0:.0f} s "
          f"({world.truth['terrain']['hilly_sites']:,} hilly sites tabulated by the truth)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        # with --cache the rasters are kept beside it too (the 30 m DEM takes a minute to write)
        folder = Path(tmp) if args.cache is None else args.cache.with_suffix(".rasters")
        folder.mkdir(exist_ok=True)
        dem90, landcover = folder / "seed_dem.tif", folder / "seed_landcover.tif"
        if not (dem90.exists() and landcover.exists()):
            dem90, landcover = world.terrain.write(folder)
        t = time.perf_counter()
        dem30 = folder / "dem30.tif"
        if not dem30.exists():
            resample_dem(dem90, folder / "dem30.part.tif", 30.0).rename(dem30)
        with rasterio.open(dem30) as src:
            print(f"30 m DEM: {src.width:,} x {src.height:,} pixels, {dem30.stat().st_size / 1e6:.0f} MB, "
                  f"written in {time.perf_counter() - t:.0f} s", flush=True)

        pairs = zip(world.villages["code"], world.villages["name"], strict=True)
        is_vc = [is_village_committee(code, name) for code, name in pairs]
        committees = world.villages[np.array(is_vc, bool)].reset_index(drop=True)
        # hilly: 20 m of relief within 3 km of the village's centre
        tr = world.terrain
        size = int(6000 / tr.res) | 1
        relief = maximum_filter(tr.elevation, size=size) - minimum_filter(tr.elevation, size=size)
        centre = committees.to_crs(METRIC_CRS).geometry.representative_point()
        r = np.clip(((tr.y0 - centre.y.to_numpy()) / tr.res).astype(int), 0, relief.shape[0] - 1)
        c = np.clip(((centre.x.to_numpy() - tr.x0) / tr.res).astype(int), 0, relief.shape[1] - 1)
        hilly_village = relief[r, c] >= 20.0
        share = pd.Series(hilly_village).groupby(committees["county_code"].to_numpy()).mean()
        counties = sorted(share[share >= args.hilly_share].index)
        names = committees.drop_duplicates("county_code").set_index("county_code")["county_name"]
        print(f"hilly counties ({len(counties)}): " + ", ".join(f"{names[k]} {share[k]:.0%}" for k in counties),
              flush=True)
        hilly = committees[committees["county_code"].isin(counties)].reset_index(drop=True)
        if args.only_time:
            hilly = hilly.iloc[:0]
        t = time.perf_counter()
        truth = true_verdicts(world.true_field, hilly) if len(hilly) else None
        print(f"truth of {len(hilly):,} village committees in {time.perf_counter() - t:.0f} s", flush=True)
        params = ModelParameters(resolution_m=100.0)
        variants = {
            "flat (today's model)": None,
            "DEM 90 m + land cover": TerrainSource(dem_path=dem90, landcover_path=landcover),
            "DEM 30 m + land cover": TerrainSource(dem_path=dem30, landcover_path=landcover),
            "DEM 30 m only": TerrainSource(dem_path=dem30),
            "land cover only": TerrainSource(landcover_path=landcover),
        }
        print(f"\n  {'variant':<24} {'agree':>7} {'RMSE dB':>8} {'bias dB':>8} {'covered':>8} {'true':>6} "
              f"{'time s':>7}")
        for name, source in variants.items() if truth is not None else ():
            t = time.perf_counter()
            results, _p, _l = analyze_frames(hilly, world.stations, None, rules=DEFAULT_RULES, params=params,
                                             terrain=source)
            s = scores(results, truth)
            print(f"  {name:<24} {s['agreement']:>7.1%} {s['rmse']:>8.2f} {s['bias']:>+8.2f} {s['covered']:>8.1%} "
                  f"{s['true_covered']:>6.1%} {time.perf_counter() - t:>7.1f}", flush=True)
        if truth is not None:
            # calibrated on the world's drive tests (in a car, as stored), then the model alone again
            for name, source in (("calibrated, flat", None),
                                 ("calibrated, DEM + land cover", variants["DEM 90 m + land cover"])):
                t = time.perf_counter()
                try:
                    fitted = fit_calibration(hilly, world.stations, world.measurements, rules=DEFAULT_RULES,
                                             params=params, terrain=source)
                except CalibrationRefused as exc:
                    print(f"  {name:<24} refused: {exc}", flush=True)
                    continue
                results, _p, _l = analyze_frames(hilly, world.stations, None, rules=DEFAULT_RULES,
                                                 params=fitted.parameters(params), terrain=source)
                s = scores(results, truth)
                print(f"  {name:<24} {s['agreement']:>7.1%} {s['rmse']:>8.2f} {s['bias']:>+8.2f} "
                      f"{s['covered']:>8.1%} {s['true_covered']:>6.1%} {time.perf_counter() - t:>7.1f}"
                      + (f"  classes {dict(fitted.classes)}" if fitted.classes else ""), flush=True)
        if args.skip_time:
            return
        print("\nprovince (all village committees, model alone, one process on all cores):", flush=True)
        timings = {}
        for name, source in (("flat", None), ("DEM 30 m + land cover", TerrainSource(dem_path=dem30,
                                                                                      landcover_path=landcover))):
            t = time.perf_counter()
            steps: dict[str, float] = {}
            analyze_frames(committees, world.stations, None, rules=DEFAULT_RULES, params=params, terrain=source,
                           timings=steps)
            timings[name] = time.perf_counter() - t
            print(f"  {name:<24} {timings[name]:>7.1f} s (predict {steps.get('predict_s', 0):.1f} s, "
                  f"terrain read {steps.get('terrain_read_s', 0):.1f} s)", flush=True)
        print(f"  ratio {timings['DEM 30 m + land cover'] / timings['flat']:.2f}x (target within 3x)")


if __name__ == "__main__":
    main()
