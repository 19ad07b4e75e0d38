"""How often is a verdict right? Accuracy against the seed world's truth, held-out villages only.

For each seed world (``--seeds``, default the shipped seed and one other):

1. build the world and store it in a temporary SQLite database (as ``village5g seed``);
2. the truth: every village committee's true verdict (:func:`seeds.truth.true_verdicts`: the true
   field, noise-free and outdoors, on the run's 100 m pixels and at the committee point, operators
   combined as the prediction combines them, the default rule set);
3. the variants, each an analysis of the same stored inputs:

   - ``planning-90``: the planning rule set (10.25 dB margin) as the monitoring verdict, which is
     what the product reported before (drive tests fused as evidence, as the other variants);
   - ``model``: the best estimate (median) of the model alone, no measurements;
   - ``drive tests``: the best estimate with the drive tests fused (kriged residuals);
   - ``calibrated``: after one simulated audit round (Cochran per city, 95 % +- 5 %, simulated by
     :func:`seeds.truth.simulate_field_tests`), a calibration fitted on the drive tests and the
     round's tests (:func:`coverage.audit.rounds.round_calibration`), then the best estimate with
     the calibrated model and all evidence fused;
   - ``calibrated model``: the calibrated model alone (for the RSRP error of the calibration itself);

4. figures on the *held-out* village committees: no drive-test sample inside and not on the audit
   list (main or reserve), so no village is scored on its own measurements.

Printed per variant: agreement with the true verdict, false alarms (flagged weak/uncovered but truly
covered) as a share of the flagged list, misses (said covered, truly not) as a share of the truly
not covered, 通达率 predicted (and expected from ``p_covered``) vs true, SS-RSRP RMSE at committee
points (predicted committee pixel vs true best-operator RSRP at the point), the Brier score of
``p_covered``, and the confident flags (``p_covered <= 0.1``) with their false-alarm share; then the
confusion matrix and a reliability table of the final variant.

Run: ``.venv/bin/python benchmarks/bench_accuracy.py`` (about 10 minutes per world on 2 cores; the
truth is cached under ``--cache``, default ``/tmp/village5g-accuracy``).
``--field-tests 200,400,800`` (on the inputs a full run with MR saved, as ``--final-only``; a few minutes
per world) measures what the next audit round's supplementary villages (``audit sample --uncertain N``)
buy: their field tests simulated from the truth and fused, "calibrated + MR" again per N beside N = 0,
scored on (a) the held-out committees not tested and (b) the list as issued, the held-out committees
plus the tested villages (``--picks all,flagged``: the product's two choices, ``--uncertain-from all``,
p_covered closest to 0.5 among every village, and ``--uncertain-from flagged``, the same among the
flagged villages only; ``--form best,every``: each test point recorded with the strongest operator's
reading only, as the audit round, or with every operator's, with the readings' mean error near the bar).
``python benchmarks/bench_accuracy.py simulate --db URL --round N -o tests.csv`` only writes the
simulated field tests of a stored round of a seeded database (to try ``audit results`` and
``analyze --calibration`` by hand).
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from coverage.audit.results import read_field_tests
from coverage.audit.rounds import (
    audit_evidence,
    draw_round,
    evidence_frame,
    field_test_evidence,
    round_calibration,
    upload_results,
)
from coverage.audit.sampling import SUPPLEMENT, SamplingPlan, sample_list, uncertain_villages
from coverage.audit.store import AuditStore
from coverage.model.calibration import SE_COLUMNS, VALUE_COLUMNS
from coverage.model.parameters import CALIBRATION_KNOTS_M, ModelParameters
from coverage.model.rules import DEFAULT_RULES, PLANNING_RULES
from coverage.runs.analysis import analyze_frames, run_analysis
from coverage.store.storage import Store
from seeds.field import TrueField
from seeds.mr import world_mr
from seeds.truth import simulate_field_tests, true_readings, true_strongest, true_verdicts
from seeds.world import DEFAULT_SEED, build_world, world_checksums

ORDER = ["covered", "weak", "uncovered"]


def metrics(results: pd.DataFrame, truth: pd.DataFrame, held: np.ndarray) -> dict[str, float]:
    """Accuracy figures of ``results`` against ``truth`` (same village order) on ``held`` villages."""
    t = truth["true_verdict"].to_numpy()[held]
    p = results["verdict"].to_numpy()[held]
    prob = results["p_covered"].to_numpy(float)[held]
    flagged = p != "covered"
    not_covered = t != "covered"
    pred = results["committee_rsrp_dbm"].to_numpy(float)[held]
    true = truth["true_committee_rsrp_dbm"].to_numpy(float)[held]
    both = np.isfinite(pred) & np.isfinite(true) & (true > -140.0)
    return {
        "villages": int(held.sum()),
        "agreement": float(np.mean(t == p)),
        "flagged": int(flagged.sum()),
        "false_alarm_share": float(np.mean(t[flagged] == "covered")) if flagged.any() else float("nan"),
        "miss_share": float(np.mean(p[not_covered] == "covered")) if not_covered.any() else float("nan"),
        # the flags a work list would act on first: high confidence, p_covered <= 0.1
        "confident_flags": int((prob <= 0.1).sum()),
        "confident_false_alarm_share": float(np.mean(t[prob <= 0.1] == "covered")) if (prob <= 0.1).any()
        else float("nan"),
        "rate_predicted": float(np.mean(p == "covered")),
        "rate_expected": float(np.mean(prob)),
        "rate_true": float(np.mean(t == "covered")),
        "rsrp_rmse_db": float(np.sqrt(np.mean((pred[both] - true[both]) ** 2))),
        "rsrp_bias_db": float(np.mean(pred[both] - true[both])),
        "brier": float(np.mean((prob - (t == "covered")) ** 2)),
    }


def _line(name: str, m: dict[str, float]) -> str:
    return (f"{name:<18} {m['agreement']:>8.1%} {m['false_alarm_share']:>10.1%} {m['flagged']:>8,} "
            f"{m['miss_share']:>7.1%} {m['rate_predicted']:>8.1%} {m['rate_expected']:>8.1%} {m['rate_true']:>7.1%} "
            f"{m['rate_predicted'] - m['rate_true']:>+7.1%} {m['rsrp_rmse_db']:>7.2f} {m['rsrp_bias_db']:>+6.2f} "
            f"{m['brier']:>6.3f} {m['confident_flags']:>8,} {m['confident_false_alarm_share']:>8.1%}")


def _final_inputs(cache: Path, seed: int, audit_seed: int) -> Path:
    return cache / f"final-inputs-{seed}-{audit_seed}.pickle"


def _load_final(path: Path) -> dict:
    if not path.is_file():
        raise SystemExit(f"{path} 不存在：先完整运行一次本基准（含 MR）以保存输入")
    with path.open("rb") as f:
        return pickle.load(f)


def final_only(seed: int, audit_seed: int, cache: Path, workers: int,
               save: Path | None = None) -> dict[str, dict[str, float]]:
    """Re-run only the "calibrated + MR" analysis on the inputs a full run of this seed saved.

    The fast loop for work on the fusion: the world, its truth, the calibration, the evidence, the MR
    grids and the held-out mask are read back as the last full run (with MR) left them, so a change to
    the analysis is measured in minutes, with the same figures as the full benchmark's last variant.
    """
    path = _final_inputs(cache, seed, audit_seed)
    saved = _load_final(path)
    calibrated = dataclasses.replace(saved["params"], workers=workers)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    results = analyze_frames(saved["villages"], saved["stations"], saved["evidence"], rules=DEFAULT_RULES,
                             params=calibrated, mr=saved["mr"], timings=timings)[0]
    print(f"seed {seed}: calibrated + MR from {path.name}: offset {timings.get('mr_offset_db')} dB; "
          f"analysis {time.perf_counter() - t0:.0f} s (fusion {timings['fusion_s']:.1f} s)")
    return _report(seed, {"calibrated + MR": results}, saved["truth"], saved["held"], save)


#: Supplementary picks ``--field-tests`` measures, the product's two (``audit sample --uncertain N
#: --uncertain-from all|flagged``): ``all``, the villages whose p_covered is closest to 0.5 whatever their
#: verdict, and ``flagged``, the same among the villages the run flags (weak or uncovered) only.
PICKS = ("all", "flagged")
#: Field-test forms ``--form`` measures: ``best``, one row per test point, the operator whose (noisy) reading
#: is the strongest (what the benchmark's audit round records), and ``every``, one row per operator with
#: service at each point (:func:`seeds.truth.simulate_field_tests` ``every_operator``).
FORMS = ("best", "every")
#: Readings whose noise-free value lies within this of the "good" SS-RSRP bar are near the bar (dB).
NEAR_BAR_DB = 3.0
#: The benchmark's audit round is round 1; the supplementary tests belong to the next.
NEXT_ROUND = 2


def field_tests(seed: int, audit_seed: int, cache: Path, workers: int, counts: list[int],
                picks: tuple[str, ...] = PICKS, forms: tuple[str, ...] = ("best",)) -> list[dict[str, object]]:
    """What supplementary field tests buy: "calibrated + MR" again with the next round's tests fused.

    On the inputs a full run saved (as :func:`final_only`): the run's result, then per pick and count N
    the N villages the next round's supplementary list would hold (:func:`coverage.audit.sampling.
    uncertain_villages`, the product's own choice: ``among="flagged"`` for ``audit sample --uncertain-from
    flagged``),
    their field tests simulated from the truth as the benchmark's audit round simulates its own
    (:func:`seeds.truth.simulate_field_tests`: the committee point and 4 points within 300 m, 3% of
    villages unreachable and, with no reserves in the supplement, not tested), read as an upload is
    (:func:`coverage.audit.results.read_field_tests`) and fused as audit evidence in the analysis
    again, with the same calibration (the next run; not re-fitted). Scored twice: (a) the held-out
    committees not tested (the benchmark's definition: nothing scored on its own measurements), and
    (b) the list as issued: the held-out committees plus the tested villages, whose verdicts now
    rest on their own tests. Per form (:data:`FORMS`, the same points and readings): the strongest
    reading of each test point only, or every operator's; and the mean error of the form's readings
    against their noise-free values (:func:`seeds.truth.true_readings`) near the bar.
    """
    saved = _load_final(_final_inputs(cache, seed, audit_seed))
    params = dataclasses.replace(saved["params"], workers=workers)
    villages, stations, truth, held = saved["villages"], saved["stations"], saved["truth"], saved["held"]

    def analyse(evidence: pd.DataFrame) -> pd.DataFrame:
        return analyze_frames(villages, stations, evidence, rules=DEFAULT_RULES, params=params,
                              mr=saved["mr"])[0]

    t0 = time.perf_counter()
    base = analyse(saved["evidence"])
    print(f"seed {seed}: calibrated + MR ({time.perf_counter() - t0:.0f} s); building the world for its true field")
    world = build_world(seed=seed)
    assert world.true_field is not None
    codes = villages["code"].astype(str)
    assert base["code"].astype(str).tolist() == codes.tolist()
    known = set(codes)
    # the run's results as the store reads them back for a sample (the village columns, then the results')
    stored = villages.assign(**{c: base[c].to_numpy() for c in base.columns if c not in villages.columns})
    none = np.zeros(len(held), dtype=bool)
    rows = [_field_row(seed, "-", 0, "-", none, 0, base, truth, held, none)]
    with tempfile.TemporaryDirectory(prefix="v5g-field-tests-") as tmp:
        for pick in picks:
            for n in counts:
                t1 = time.perf_counter()
                index = uncertain_villages(stored, n, among=pick)
                listed = sample_list(stored.iloc[index].reset_index(drop=True), stations,
                                     stratum=np.full(len(index), SUPPLEMENT, dtype=object),
                                     order=np.arange(1, len(index) + 1), reserve=np.zeros(len(index), dtype=bool))
                picked = np.zeros(len(held), dtype=bool)
                picked[index] = True
                for form in forms:
                    tests = simulate_field_tests(world.true_field, listed, seed=audit_seed + NEXT_ROUND,
                                                 every_operator=form == "every")
                    csv = Path(tmp) / f"round-{NEXT_ROUND}-{pick}-{n}-{form}.csv"
                    tests.to_csv(csv, index=False, encoding="utf-8-sig")
                    read = read_field_tests(csv, round_number=NEXT_ROUND, villages=listed, known_codes=known)
                    supplement = evidence_frame([field_test_evidence(read.frame, NEXT_ROUND)])
                    evidence = pd.concat([saved["evidence"], supplement], ignore_index=True)
                    results = analyse(evidence)
                    tested = codes.isin(set(read.frame["village_code"].astype(str))).to_numpy()
                    rows.append(_field_row(seed, pick, n, form, picked, len(read.frame), results, truth, held, tested,
                                           base=base, bias=reading_bias(world.true_field, tests)))
                    print(f"  {pick} {n} {form}: {int(tested.sum()):,} villages tested, {len(read.frame):,} rows "
                          f"({time.perf_counter() - t1:.0f} s)")
    _field_report(rows)
    return rows


def reading_bias(field: TrueField, tests: pd.DataFrame) -> dict[str, float]:
    """Mean errors (dB) of simulated field-test readings near the bar, and their counts.

    ``reading``: each reading with service against its noise-free value (its operator at its point: what
    the fusion compares it with, against its operator's prediction), over the readings whose noise-free
    value lies within :data:`NEAR_BAR_DB` of the "good" SS-RSRP bar. ``point``: each test point's strongest
    reading against the noise-free strongest operator there (what the true verdict uses), over the points
    whose noise-free strongest lies near the bar; the same for both forms, which read the same points.
    """
    bar = DEFAULT_RULES.good_rsrp_dbm
    reading = tests["SS-RSRP(dBm)"].to_numpy(float)
    truth = true_readings(field, tests)
    near = np.isfinite(reading) & (np.abs(truth - bar) <= NEAR_BAR_DB)
    points = tests.assign(r=reading).groupby(["村代码", "测试点经度", "测试点纬度"], sort=False)["r"].max()
    top = true_strongest(field, points.index.get_level_values(1).to_numpy(float),
                         points.index.get_level_values(2).to_numpy(float))
    best = points.to_numpy(float)
    near_point = np.isfinite(best) & (np.abs(top - bar) <= NEAR_BAR_DB)
    return {"reading_db": float(np.mean(reading[near] - truth[near])) if near.any() else float("nan"),
            "readings": int(near.sum()),
            "point_db": float(np.mean(best[near_point] - top[near_point])) if near_point.any() else float("nan"),
            "points": int(near_point.sum())}


def _field_row(seed: int, pick: str, n: int, form: str, picked: np.ndarray, tests: int, results: pd.DataFrame,
               truth: pd.DataFrame, held: np.ndarray, tested: np.ndarray, base: pd.DataFrame | None = None,
               bias: dict[str, float] | None = None) -> dict[str, object]:
    """One N's figures: (a) held-out and not tested, (b) as issued (held-out plus tested)."""
    was = (base if base is not None else results)["verdict"].to_numpy()
    true_covered = truth["true_verdict"].to_numpy() == "covered"
    return {
        "seed": seed, "pick": pick, "n": n, "form": form, "tested": int(tested.sum()), "tests": tests,
        "bias": bias or {"reading_db": float("nan"), "readings": 0, "point_db": float("nan"), "points": 0},
        "picked_flagged": int((picked & (was != "covered")).sum()),
        "picked_false_alarms": int((picked & (was != "covered") & true_covered).sum()),
        "picked_held": int((picked & held).sum()),
        # the tested villages' own verdicts after the tests: still flagged, and of them truly covered
        "tested_flagged": int((tested & (results["verdict"].to_numpy() != "covered")).sum()),
        "tested_false_alarms": int((tested & (results["verdict"].to_numpy() != "covered") & true_covered).sum()),
        # ... and the tested villages truly not covered, of them said covered after their tests (misses)
        "tested_not_covered": int((tested & ~true_covered).sum()),
        "tested_misses": int((tested & ~true_covered & (results["verdict"].to_numpy() == "covered")).sum()),
        "a": metrics(results, truth, held & ~tested), "b": metrics(results, truth, held | tested),
    }


def _field_report(rows: list[dict[str, object]]) -> None:
    print("  (a) held-out committees not tested; (b) the flagged list as issued: held-out committees plus the "
          "tested ones\n  picked: flagged before the tests (of them truly covered); held: picked among the held-out; "
          "after: tested villages flagged after their tests (of them truly covered); missed: tested villages truly "
          "not covered said covered after their tests (of the tested truly not covered)\n"
          "  bias: mean error (dB) of the "
          f"form's readings against their noise-free values within {NEAR_BAR_DB:g} dB of the bar (readings); "
          "point: of each test point's strongest reading against the strongest noise-free operator there")
    print(f"  {'pick':<8} {'N':>5} {'form':<5} {'tested':>6} {'tests':>6} {'picked flagged':>15} {'held':>5} "
          f"{'after':>13} {'missed':>11} {'bias':>15} {'point':>15} | "
          f"{'(a) false al.':>19} {'agree':>6} {'misses':>6} {'error':>6} | "
          f"{'(b) false al.':>19} {'agree':>6} {'misses':>6} {'error':>6}")
    for row in rows:
        bias = row["bias"]
        assert isinstance(bias, dict)
        cells = []
        for key in ("a", "b"):
            m = row[key]
            assert isinstance(m, dict)
            cells.append(f"{m['false_alarm_share']:>7.2%} of {m['flagged']:>7,} {m['agreement']:>6.1%} "
                         f"{m['miss_share']:>6.1%} {m['rate_predicted'] - m['rate_true']:>+6.1%}")
        print(f"  {row['pick']:<8} {row['n']:>5,} {row['form']:<5} {row['tested']:>6,} {row['tests']:>6,} "
              f"{row['picked_flagged']:>7,} ({row['picked_false_alarms']:>5,}) {row['picked_held']:>5,} "
              f"{row['tested_flagged']:>5,} ({row['tested_false_alarms']:>4,}) "
              f"{row['tested_misses']:>4,} ({row['tested_not_covered']:>4,}) "
              f"{bias['reading_db']:>+6.2f} ({bias['readings']:>6,}) "
              f"{bias['point_db']:>+6.2f} ({bias['points']:>6,}) | "
              f"{cells[0]} | {cells[1]}")


def one_world(seed: int, audit_seed: int, cache: Path, workers: int, save: Path | None = None,
              with_mr: bool = True, mr_only: bool = False) -> dict[str, dict[str, float]]:
    t0 = time.perf_counter()
    world = build_world(seed=seed)
    assert world.true_field is not None
    with tempfile.TemporaryDirectory(prefix="v5g-accuracy-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.create_schema()
        store.seed(divisions_frame=world.divisions, frames={"villages": world.villages, "stations": world.stations,
                                                            "measurements": world.measurements},
                   fingerprint=world_checksums(world)["all"])
        villages = store.read("villages", committees_only=True)
        stations = store.read("stations")
        measurements = store.read("measurements")
        cache.mkdir(parents=True, exist_ok=True)
        cached = cache / f"truth-{seed}.parquet"
        if cached.is_file():
            truth = pd.read_parquet(cached)
        else:
            truth = true_verdicts(world.true_field, villages)
            truth.to_parquet(cached)
        assert truth["code"].tolist() == villages["code"].astype(str).tolist()
        print(f"seed {seed}: {len(villages):,} village committees, truth ready ({time.perf_counter() - t0:.0f} s); "
              f"true 通达率 {np.mean(truth['true_verdict'] == 'covered'):.1%}")
        params = ModelParameters(workers=workers)
        variants: dict[str, pd.DataFrame] = {}
        if not mr_only:
            variants["planning-90"] = analyze_frames(villages, stations, measurements, rules=PLANNING_RULES,
                                                     params=params)[0]
            variants["model"] = analyze_frames(villages, stations, None, rules=DEFAULT_RULES, params=params)[0]
        variants["drive tests"] = analyze_frames(villages, stations, measurements, rules=DEFAULT_RULES,
                                                 params=params)[0]
        mr = world_mr(world, seed) if with_mr else None
        if mr is not None:
            timings: dict[str, float] = {}
            variants["drive tests + MR"] = analyze_frames(villages, stations, measurements, rules=DEFAULT_RULES,
                                                          params=params, mr=mr, timings=timings)[0]
            print(f"  {len(mr):,} MR grid rows; MR offset {timings.get('mr_offset_db')} dB fitted on "
                  f"{timings.get('mr_offset_pixels')} pixels with drive tests; fusion {timings['fusion_s']:.1f} s")
        print(f"  variants analysed ({time.perf_counter() - t0:.0f} s)")
        run_analysis(store, rules=DEFAULT_RULES, params=params)
        sample = draw_round(store, SamplingPlan(seed=audit_seed))
        assert sample.round is not None
        tests = simulate_field_tests(world.true_field, sample.villages, seed=audit_seed)
        csv = Path(tmp) / "field_tests.csv"
        tests.to_csv(csv, index=False, encoding="utf-8-sig")
        upload_results(store, sample.round, csv)
        calibration = round_calibration(store, sample.round, params=params, progress=lambda m: print("  " + m))
        for band in calibration.bands.to_dict("records"):
            curve = ", ".join(f"{int(k)} m {band[v]:+.1f} ({band[e]:.1f})"
                              for k, v, e in zip(CALIBRATION_KNOTS_M, VALUE_COLUMNS, SE_COLUMNS, strict=True))
            print(f"  {band['band']} ({band['samples']:,} samples): line {band['intercept_db']:+.2f} dB at 1 km, "
                  f"{band['slope_db_per_decade']:+.2f} dB/decade; correction (se) {curve}")
        calibrated = calibration.parameters(params)
        evidence = pd.concat([measurements, audit_evidence(store)], ignore_index=True)
        t_cal = time.perf_counter()
        variants["calibrated"] = analyze_frames(villages, stations, evidence, rules=DEFAULT_RULES,
                                                params=calibrated)[0]
        print(f"  calibrated: analysis {time.perf_counter() - t_cal:.0f} s")
        if not mr_only:
            variants["calibrated model"] = analyze_frames(villages, stations, None, rules=DEFAULT_RULES,
                                                          params=calibrated)[0]
        if mr is not None:
            timings = {}
            t_mr = time.perf_counter()
            variants["calibrated + MR"] = analyze_frames(villages, stations, evidence, rules=DEFAULT_RULES,
                                                         params=calibrated, mr=mr, timings=timings)[0]
            print(f"  calibrated + MR: offset {timings.get('mr_offset_db')} dB on {timings.get('mr_offset_pixels')} "
                  f"pixels; analysis {time.perf_counter() - t_mr:.0f} s (fusion {timings['fusion_s']:.1f} s)")
        listed = set(AuditStore(store).read_sample(sample.round).villages["code"].astype(str))
        driven = variants["drive tests"]["n_measurements"].to_numpy() > 0
        held = ~driven & ~villages["code"].astype(str).isin(listed).to_numpy()
        store.dispose()
    if mr is not None:  # the inputs of the last variant, for --final-only
        with _final_inputs(cache, seed, audit_seed).open("wb") as f:
            pickle.dump({"villages": villages, "stations": stations, "evidence": evidence, "params": calibrated,
                         "mr": mr, "truth": truth, "held": held}, f, protocol=pickle.HIGHEST_PROTOCOL)
    print(f"  held out: {held.sum():,} of {len(held):,} village committees (no drive-test sample inside, not on "
          f"the audit list) ({time.perf_counter() - t0:.0f} s)")
    return _report(seed, variants, truth, held, save)


def _report(seed: int, variants: dict[str, pd.DataFrame], truth: pd.DataFrame, held: np.ndarray,
            save: Path | None) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    print(f"  {'variant':<18} {'agree':>8} {'false al.':>10} {'flagged':>8} {'misses':>7} {'通达率':>7} "
          f"{'expected':>8} {'true':>7} {'error':>7} {'RMSE':>7} {'bias':>6} {'Brier':>6} {'p<=0.1':>8} "
          f"{'false al.':>8}")
    for name, results in variants.items():
        out[name] = metrics(results, truth, held)
        print("  " + _line(name, out[name]))
    if save is not None:  # for diagnostics: every variant's results beside the truth and the held-out mask
        save.mkdir(parents=True, exist_ok=True)
        for name, results in variants.items():
            results.drop(columns=[c for c in ("geometry",) if c in results]).to_parquet(
                save / f"{seed}-{name.replace(' ', '_')}.parquet")
        truth.assign(held=held).to_parquet(save / f"{seed}-truth.parquet")
    final = variants["calibrated + MR" if "calibrated + MR" in variants else "calibrated"]
    t = pd.Categorical(truth["true_verdict"].to_numpy()[held], categories=ORDER)
    p = pd.Categorical(final["verdict"].to_numpy()[held], categories=ORDER)
    print("  confusion (rows: true, columns: the last calibrated variant):")
    print("  " + pd.crosstab(t, p, dropna=False).to_string().replace("\n", "\n  "))
    prob = final["p_covered"].to_numpy(float)[held]
    covered = truth["true_verdict"].to_numpy()[held] == "covered"
    bins = pd.cut(prob, [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0], include_lowest=True)
    table = pd.DataFrame({"p": prob, "covered": covered}).groupby(bins, observed=True).agg(
        villages=("p", "size"), mean_p=("p", "mean"), truly_covered=("covered", "mean"))
    print("  reliability of p_covered (calibrated variant):")
    print("  " + table.round(3).to_string().replace("\n", "\n  "))
    return out


def simulate_only(db: str, round_number: int, output: Path, seed: int, world_seed: int) -> None:
    """Write the simulated field tests of a stored round (CSV with BOM, or XLSX)."""
    store = Store(db)
    sample = AuditStore(store).read_sample(round_number)
    world = build_world(seed=world_seed)
    assert world.true_field is not None
    tests = simulate_field_tests(world.true_field, sample.villages, seed=seed)
    if output.suffix.lower() == ".xlsx":
        tests.to_excel(output, index=False)
    else:
        tests.to_csv(output, index=False, encoding="utf-8-sig")
    store.dispose()
    print(f"wrote {len(tests):,} simulated tests of {tests['村代码'].nunique():,} villages to {output}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command")
    sim = sub.add_parser("simulate", help="only write simulated field tests for a stored round")
    sim.add_argument("--db", required=True)
    sim.add_argument("--round", type=int, required=True)
    sim.add_argument("--world-seed", type=int, default=DEFAULT_SEED, help="the seed the database was seeded with")
    sim.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--seeds", default=f"{DEFAULT_SEED},7", help="seed worlds, comma-separated")
    parser.add_argument("--audit-seed", type=int, default=20261201, help="audit sample and field-test seed")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/village5g-accuracy"), help="truth cache folder")
    parser.add_argument("--workers", type=int, default=0, help="prediction processes (0: one per core)")
    parser.add_argument("--save", type=Path, default=None, help="also write every variant's results here")
    parser.add_argument("--no-mr", action="store_true", help="leave out the variants with MR grid statistics")
    parser.add_argument("--mr-only", action="store_true",
                        help="only the variants MR changes, and the ones they are compared with (drive tests, "
                             "calibrated): leaves out planning-90, model and calibrated model")
    parser.add_argument("--final-only", action="store_true",
                        help="only re-run \"calibrated + MR\" on the inputs the last full run saved under --cache "
                             "(minutes instead of half an hour; for work on the fusion)")
    parser.add_argument("--field-tests", default=None, metavar="N,N,...",
                        help="on the inputs the last full run saved (as --final-only): the analysis again with "
                             "the simulated field tests of the next round's N supplementary villages fused, "
                             "per N (e.g. 200,400,800), beside N = 0")
    parser.add_argument("--picks", default=",".join(PICKS),
                        help="supplementary picks for --field-tests, the product's --uncertain-from: all "
                             "(p_covered closest to 0.5), flagged (the same among flagged villages only)")
    parser.add_argument("--form", default="best",
                        help="field-test forms for --field-tests: best (one row per test point, the strongest "
                             "operator's reading), every (one row per operator with service at each point)")
    args = parser.parse_args(argv)
    for option, given, allowed in (("--picks", args.picks, PICKS), ("--form", args.form, FORMS)):
        unknown = sorted(set(given.split(",")) - set(allowed))
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)} (use {', '.join(allowed)})")
    if args.command == "simulate":
        simulate_only(args.db, args.round, args.output, args.audit_seed, args.world_seed)
        return
    for seed in (int(s) for s in args.seeds.split(",")):
        if args.field_tests:
            field_tests(seed, args.audit_seed, args.cache, args.workers,
                        [int(n) for n in args.field_tests.split(",")], tuple(args.picks.split(",")),
                        tuple(args.form.split(",")))
            continue
        if args.final_only:
            final_only(seed, args.audit_seed, args.cache, args.workers, args.save)
            continue
        one_world(seed, args.audit_seed, args.cache, args.workers, args.save, with_mr=not args.no_mr,
                  mr_only=args.mr_only)


if __name__ == "__main__":
    main(sys.argv[1:])
