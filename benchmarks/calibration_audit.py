"""Does audit calibration make the prediction closer to the truth? A benchmark on the seed world.

Steps (everything through the public functions the CLI uses):

1. build the seed world and store it in a temporary SQLite database (as ``village5g seed``);
2. analyse it (``run_analysis``, with the GeoTIFF) - the uncalibrated prediction;
3. draw an audit round (Cochran per city, 95 % +- 5 %, p 0.9) and simulate its field tests from the
   world's true field at the committee points (5 test points per village, the best operator at
   each point, outdoors, with the generator's measurement noise; 3 % of villages unreachable and
   replaced by their stratum's first reserve);
4. upload the tests (``upload_results``, as a Chinese-header CSV) and compute the round's
   offsets (``round_report``);
5. apply them to the stations (``apply_calibration``) and predict again;
6. compare both predictions' median SS-RSRP (raster + edge margin) with the noise-free true
   best-operator SS-RSRP at the committee points of held-out villages (not on the audit list).

Run: ``.venv/bin/python benchmarks/calibration_audit.py`` (about 3-4 minutes on 2 cores).
``python benchmarks/calibration_audit.py simulate --db URL --round N -o tests.csv`` only writes
simulated field tests for an existing round of a seeded database (for trying the CLI).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from coverage.analysis import analyze_frames, run_analysis, write_geotiff
from coverage.audit import SamplingPlan
from coverage.audit_calibration import apply_calibration, sample_raster
from coverage.audit_rounds import draw_round, round_report, upload_results
from coverage.audit_store import AuditStore
from coverage.crs import project_xy
from coverage.predict import ModelParameters
from coverage.propagation import edge_margin_db
from coverage.rules import DEFAULT_RULES
from coverage.storage import Store
from seeds.field import FIELD
from seeds.truth import best_operator
from seeds.truth import simulate_field_tests as simulate_tests
from seeds.world import METRIC_CRS, build_world, world_checksums


def _rms(error: np.ndarray) -> float:
    return float(np.sqrt(np.mean(error**2)))


def benchmark(seed: int, audit_seed: int, holdout: int, workers: int) -> None:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="v5g-calibration-") as tmp:
        tmp_path = Path(tmp)
        world = build_world(seed=seed)
        assert world.true_field is not None
        store = Store(f"sqlite:///{tmp_path / 'bench.db'}")
        store.create_schema()
        store.seed(divisions_frame=world.divisions, frames={"villages": world.villages, "stations": world.stations,
                                                            "measurements": world.measurements},
                   fingerprint=world_checksums(world)["all"])
        print(f"seed world {seed} stored ({time.perf_counter() - t0:.0f} s)")
        params = ModelParameters(workers=workers)
        run = run_analysis(store, rules=DEFAULT_RULES, params=params, artifacts_dir=tmp_path / "runs")
        print(f"run {run.run_id}: {run.counts['covered']:,} covered of {run.counts['villages']:,} "
              f"({time.perf_counter() - t0:.0f} s)")

        sample = draw_round(store, SamplingPlan(seed=audit_seed))
        assert sample.round is not None
        tests = simulate_tests(world.true_field, sample.villages, seed=audit_seed)
        csv = tmp_path / "field_tests.csv"
        tests.to_csv(csv, index=False, encoding="utf-8-sig")
        upload_results(store, sample.round, csv)
        report = round_report(store, sample.round)
        offsets = report.offsets
        assert offsets is not None, report.offsets_note
        o = report.overall
        print(f"round {sample.round}: {len(sample.main):,} villages, {len(tests):,} tests; pass rate "
              f"{o.pass_rate:.1%} ({o.low:.1%} - {o.high:.1%}); {offsets.attrs['tests']:,} tests compared "
              f"({time.perf_counter() - t0:.0f} s)")
        pooled = offsets[offsets["city_code"] == "*"]
        print("offsets per band over all cities (dB): " + ", ".join(
            f"{r.band} {r.offset_db:+.2f} (n {r.n_tests}, sd {r.std_db:.1f})" for r in pooled.itertuples()))
        city_rows = offsets[(offsets["city_code"] != "*") & (offsets["band"] != "*") & offsets["usable"]]
        print(f"{len(city_rows)} usable (band, city) offsets (report), range {city_rows['offset_db'].min():+.1f} .. "
              f"{city_rows['offset_db'].max():+.1f} dB")
        for digits, level in ((4, "city"), (6, "county")):
            area = offsets[(offsets["band"] == "*") & (offsets["city_code"].str.len() == digits)]
            print(f"{len(area)} {level} clutter offsets (shrunk), sd {area['offset_db'].std():.2f} dB, range "
                  f"{area['offset_db'].min():+.1f} .. {area['offset_db'].max():+.1f} dB")

        villages = store.read("villages", committees_only=True)
        stations = store.read("stations")
        measurements = store.read("measurements")
        calibrated = apply_calibration(stations, offsets, villages=villages)
        print(f"calibrated {calibrated.attrs['calibration']['cells_changed']:,} cells "
              f"(mean offset {calibrated.attrs['calibration']['mean_offset_db']:+.2f} dB)")
        results, prediction, labels = analyze_frames(villages, calibrated, measurements, rules=DEFAULT_RULES,
                                                     params=params)
        after_tif = tmp_path / "calibrated.tif"
        write_geotiff(prediction, after_tif, mask=labels > 0)
        covered_after = int((results["verdict"] == "covered").sum())
        print(f"calibrated prediction: {covered_after:,} covered of {len(results):,} "
              f"(uncalibrated {run.counts['covered']:,}) ({time.perf_counter() - t0:.0f} s)")

        listed = set(AuditStore(store).read_sample(sample.round).villages["code"])
        pool = villages[~villages["code"].isin(listed)].reset_index(drop=True)
        rng = np.random.default_rng(audit_seed + 1)
        held = pool.iloc[np.sort(rng.choice(len(pool), size=min(holdout, len(pool)), replace=False))]
        lon, lat = held["committee_lon"].to_numpy(float), held["committee_lat"].to_numpy(float)
        x, y = project_xy(lon, lat, METRIC_CRS)
        truth = best_operator(world.true_field, x, y, rng=None)["rsrp"]
        margin = float(edge_margin_db(DEFAULT_RULES.edge_probability, DEFAULT_RULES.shadow_sigma_db))
        before = sample_raster(run.raster_path, lon, lat) + margin  # type: ignore[arg-type]
        after = sample_raster(after_tif, lon, lat) + margin
        ok = np.isfinite(before) & np.isfinite(after) & (truth > FIELD["no_service_rsrp_dbm"])
        e_before, e_after = before[ok] - truth[ok], after[ok] - truth[ok]
        print()
        print(f"held-out villages: {ok.sum():,} of {len(held):,} (committee points with a prediction and "
              "true service; not on the audit list)")
        print("predicted median SS-RSRP (raster + edge margin) minus true best-operator SS-RSRP:")
        print(f"  RMS error before calibration: {_rms(e_before):.2f} dB (mean {e_before.mean():+.2f} dB)")
        print(f"  RMS error after calibration:  {_rms(e_after):.2f} dB (mean {e_after.mean():+.2f} dB)")
        print(f"  reduction: {_rms(e_before) - _rms(e_after):.2f} dB "
              f"({1 - _rms(e_after) / _rms(e_before):.0%})")
        print(f"total {time.perf_counter() - t0:.0f} s")
        store.dispose()


def simulate_only(db: str, round_number: int, output: Path, seed: int, world_seed: int) -> None:
    store = Store(db)
    sample = AuditStore(store).read_sample(round_number)
    world = build_world(seed=world_seed)
    assert world.true_field is not None
    tests = simulate_tests(world.true_field, sample.villages, seed=seed)
    if output.suffix.lower() == ".xlsx":
        tests.to_excel(output, index=False)
    else:
        tests.to_csv(output, index=False, encoding="utf-8-sig")
    store.dispose()
    print(f"wrote {len(tests):,} simulated tests of {tests['村代码'].nunique():,} villages to {output}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--seed", type=int, default=20261126, help="seed world")
    parser.add_argument("--audit-seed", type=int, default=20261201, help="audit sample and field-test seed")
    parser.add_argument("--holdout", type=int, default=3000, help="held-out villages compared")
    parser.add_argument("--workers", type=int, default=0, help="prediction processes (0: one per core)")
    sim = sub.add_parser("simulate", help="only write simulated field tests for a stored round")
    sim.add_argument("--db", required=True)
    sim.add_argument("--round", type=int, required=True)
    sim.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "simulate":
        simulate_only(args.db, args.round, args.output, args.audit_seed, args.seed)
    else:
        benchmark(args.seed, args.audit_seed, args.holdout, args.workers)


if __name__ == "__main__":
    main(sys.argv[1:])
