"""How well can MR grids place a committee point at best? The fused estimate against an oracle, per operator.

The false alarms left with MR (``bench_accuracy.py``, "calibrated + MR") are mostly committee points whose
true SS-RSRP lies within 1-2 dB above the bar and whose estimate falls just below it. This script asks
whether a better estimator could do better with the same MR grids, or whether the grids' own error sets
the floor. On the inputs a full ``bench_accuracy.py`` run saved (``--cache``; run it first), for every
held-out committee pixel and operator:

1. **the product's estimate**: the run's per-operator committee estimate (:mod:`coverage.model.committee_fusion`:
   the model's serving SS-RSRP at the committee pixel plus the prior plus the operator's own kriged
   residual), against the true field (noise-free, outdoors) at the pixel's centre;
2. **the MR grids' own error**: the MR bin on the committee pixel itself (model plus prior plus its
   residual) against the same truth: the error one grid carries (its phones' indoor share and
   building loss, which no other column of the grid statistics states);
3. **an oracle**: the *true* residual at every bin's pixel (true field minus the model there, no noise),
   kriged exactly as the product kriges (same bins, variogram, neighbours) to the committee pixel:
   what the kriging could reach if the grids were exact; and the same true residuals with independent
   noise of the grids' measured error (2.) added: what the kriging reaches with grids as good as these.

If the product's error equals the oracle's with the grids' error, the estimator is at the floor the
data allow, and fewer false alarms need other evidence (a field test at the committee, a drive test).
Both covariances are shown: the run's exponential and a Gaussian of the same sigma and length.

Run: ``python benchmarks/bench_mr_floor.py --seeds 20261126,7`` (a few minutes per world after
``bench_accuracy.py --mr-only``, whose saved inputs it reads from ``--cache``).
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import coverage.runs.compute as compute
from coverage.crs import project_xy, unproject_xy
from coverage.model.fusion import Evidence, Variogram, krige
from coverage.model.predict import predict
from coverage.model.prediction import probe_serving, probe_view
from coverage.model.rules import DEFAULT_RULES
from coverage.model.verdicts import village_raster
from seeds.truth import TRUTH_DAY
from seeds.world import DEFAULT_SEED, METRIC_CRS, build_world

#: Committee points whose true SS-RSRP lies within this many dB of the good bar: where verdicts turn.
NEAR_BAR_DB = 5.0


@dataclass(frozen=True)
class GaussianVariogram(Variogram):
    """The run's variogram with a Gaussian covariance ``sigma^2 exp(-(h / L)^2)`` instead of the exponential."""

    def covariance(self, distance_m: np.ndarray) -> np.ndarray:
        return self.sigma_db**2 * np.exp(-((np.asarray(distance_m, dtype=float) / self.correlation_m) ** 2))


def committee_state(saved: dict[str, Any], workers: int) -> tuple[Any, ...]:
    """The run's state just before the committee estimate (prediction, probes, per-operator bins, ...):
    the "calibrated + MR" analysis of the saved inputs, stopped there (the private step is wrapped only
    here, to read its arguments)."""
    state: dict[str, Any] = {}
    original = compute._committee_operators

    def capture(*args: Any, **kwargs: Any) -> Any:
        state["args"] = pickle.loads(pickle.dumps((args, kwargs)))  # before the step changes the prediction
        return original(*args, **kwargs)

    compute._committee_operators = capture
    try:
        compute.analyze_frames(saved["villages"], saved["stations"], saved["evidence"], rules=DEFAULT_RULES,
                               params=dataclasses.replace(saved["params"], workers=workers), mr=saved["mr"])
    finally:
        compute._committee_operators = original
    return state["args"]


def one_world(seed: int, audit_seed: int, cache: Path, workers: int) -> None:
    path = cache / f"final-inputs-{seed}-{audit_seed}.pickle"
    if not path.is_file():
        raise SystemExit(f"{path} 不存在：先运行 bench_accuracy.py --mr-only（含 MR）以保存输入")
    with path.open("rb") as f:
        saved = pickle.load(f)
    t0 = time.perf_counter()
    (prediction, _posterior, probes, first, prior_at, bins, variogram), kw = committee_state(saved, workers)
    rules, params = kw["rules"], kw["params"]
    field = build_world(seed=seed).true_field
    assert field is not None
    grid = prediction.grid
    rows, cols = probes[0][first:], probes[1][first:]
    x = grid.x0 + (cols + 0.5) * grid.resolution_m
    y = grid.y0 - (rows + 0.5) * grid.resolution_m
    gx, gy = project_xy(*unproject_xy(x, y, grid.crs), METRIC_CRS)
    view = probe_view(prediction, first)
    held = np.asarray(saved["held"], dtype=bool)
    # the model at every bin's pixel, per operator: one prediction with those pixels as probes
    keys = np.unique(np.concatenate([b.row.astype(np.int64) * (1 << 31) + b.col for b in bins.values()]))
    br, bc = keys // (1 << 31), keys % (1 << 31)
    on = (br >= 0) & (br < grid.height) & (bc >= 0) & (bc < grid.width)
    keys, br, bc = keys[on], br[on], bc[on]
    at_bins = predict(saved["stations"], grid, rules=rules, params=params,
                      mask=np.zeros((grid.height, grid.width), dtype=bool), probes=(br, bc))
    bgx, bgy = project_xy(*unproject_xy(grid.x0 + (bc + 0.5) * grid.resolution_m,
                                        grid.y0 - (br + 0.5) * grid.resolution_m, grid.crs), METRIC_CRS)
    codes = saved["villages"]["code"].to_numpy()
    labels = village_raster(saved["villages"], grid.crs, grid.resolution_m, grid=grid).labels
    prior_bins = np.concatenate([[0.0], compute.area_prior(codes, params)])[labels[br, bc]]
    rng = np.random.default_rng(seed)
    print(f"seed {seed}: state and truth ready ({time.perf_counter() - t0:.0f} s); "
          f"{held.sum():,} held-out committees, {len(keys):,} bin pixels")
    frames = []
    for o, name in enumerate(prediction.operators):
        b = bins.get(o)
        if b is None or not len(b):
            continue
        serving = probe_serving(view, np.full(len(x), o, dtype=np.int64), params.selection_offsets)[0]
        base = serving + prior_at[first:]
        true_pix = field.evaluate(gx, gy, name, TRUTH_DAY, vehicle=False)["rsrp"]
        # the bin on the committee pixel itself
        b_key = b.row.astype(np.int64) * (1 << 31) + b.col
        c_key = rows.astype(np.int64) * (1 << 31) + cols
        last = pd.Series(np.arange(len(b)), index=b_key)
        last = last[~last.index.duplicated(keep="last")]  # MR bins follow the drive tests' in the operator's set
        own = last.reindex(c_key).to_numpy()
        own_value = np.where(np.isfinite(own), base + b.residual_db[np.nan_to_num(own).astype(int)], np.nan)
        # the true residual at the bins' pixels
        pos = np.clip(np.searchsorted(keys, b_key), 0, len(keys) - 1)
        found = keys[pos] == b_key
        model_bins = probe_serving(at_bins, np.full(len(keys), o, dtype=np.int64), params.selection_offsets)[0]
        truth_bins = field.evaluate(bgx, bgy, name, TRUTH_DAY, vehicle=False)["rsrp"]
        true_residual = np.where(found, (truth_bins - model_bins - prior_bins)[pos], np.nan)
        frame = {"operator": name, "held": held, "true": true_pix, "own_bin": own_value}
        for label, vg in (("exponential", variogram), ("gaussian", GaussianVariogram(
                variogram.sigma_db, variogram.correlation_m, variogram.nugget_db))):
            mean, sd, _informed = krige(b, x, y, vg)
            frame[f"product {label}"], frame[f"sd {label}"] = base + mean, sd
            ok = np.isfinite(true_residual)
            exact = Evidence(b.row[ok], b.col[ok], b.x[ok], b.y[ok], true_residual[ok], b.n[ok],
                             noise_var=np.full(int(ok.sum()), 0.25))
            frame[f"oracle {label}"] = base + krige(exact, x, y, vg)[0]
        frames.append((pd.DataFrame(frame), b, true_residual, base))
    table = pd.concat([f for f, *_ in frames], ignore_index=True)
    # held out, reached by the operator in the model and in the truth
    table = table[table["held"] & np.isfinite(table["true"]) & (table["true"] > -140.0)
                  & np.isfinite(table["product exponential"])]
    near = np.abs(table["true"] - rules.good_rsrp_dbm) <= NEAR_BAR_DB
    own_err = (table["own_bin"] - table["true"])[near]
    grid_sd = float(own_err.std())
    # the oracle with grids as good as these: the true residuals plus independent noise of the grids' error
    noisy: dict[str, list[pd.Series]] = {"exponential": [], "gaussian": []}
    for _frame, b, true_residual, base in frames:
        ok = np.isfinite(true_residual)
        noise = grid_sd * rng.standard_normal(int(ok.sum()))
        ev = Evidence(b.row[ok], b.col[ok], b.x[ok], b.y[ok], true_residual[ok] + noise, b.n[ok],
                      noise_var=np.full(int(ok.sum()), grid_sd**2))
        for label, vg in (("exponential", variogram), ("gaussian", GaussianVariogram(
                variogram.sigma_db, variogram.correlation_m, variogram.nugget_db))):
            noisy[label].append(pd.Series(base + krige(ev, x, y, vg)[0]))
    for label in noisy:
        table[f"oracle+noise {label}"] = pd.concat(noisy[label], ignore_index=True).loc[table.index].to_numpy()
    print(f"  committee pixels x operators (held out): {len(table):,}; within {NEAR_BAR_DB:g} dB of the bar: "
          f"{int(near.sum()):,}")
    print(f"  one MR grid on the committee pixel against the truth there: error sd {grid_sd:.2f} dB "
          f"(bias {own_err.mean():+.2f}; {own_err.notna().sum():,} with a grid), near the bar")
    print(f"  {'estimate (near the bar)':<34} {'error sd':>9} {'bias':>7} {'stated sd':>10}")
    for label in ("exponential", "gaussian"):
        for name, stated in ((f"product {label}", f"sd {label}"), (f"oracle {label}", None),
                             (f"oracle+noise {label}", None)):
            err = (table[name] - table["true"])[near]
            sd_text = f"{table[stated][near].median():>10.2f}" if stated else f"{'':>10}"
            print(f"  {name:<34} {err.std():>9.2f} {err.mean():>+7.2f} {sd_text}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seeds", default=f"{DEFAULT_SEED},7", help="seed worlds, comma-separated")
    parser.add_argument("--audit-seed", type=int, default=20261201, help="as bench_accuracy.py")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/village5g-accuracy"),
                        help="where bench_accuracy.py saved its inputs")
    parser.add_argument("--workers", type=int, default=0, help="prediction processes (0: one per core)")
    args = parser.parse_args(argv)
    for seed in (int(s) for s in args.seeds.split(",")):
        one_world(seed, args.audit_seed, args.cache, args.workers)


if __name__ == "__main__":
    main(sys.argv[1:])
