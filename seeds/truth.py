"""The seed world's truth as the product would state it: true village verdicts, and field tests.

:func:`true_verdicts` gives every village the verdict the project's rule would give it if the
prediction were perfect: the true field (:class:`seeds.field.TrueField`) evaluated noise-free and
outdoors at the centre of each of the run's pixels (rasterised villages on the run's grid, as
:func:`coverage.model.verdicts.village_raster`) and at the committee point itself, each operator
classified by the rule set's thresholds, operators combined per pixel by the best class (5G通达
needs any one operator), then :func:`coverage.model.verdicts.decide_predicted`. This is the yardstick
of ``benchmarks/bench_accuracy.py``; nothing here changes the field.

:func:`simulate_field_tests` plays an audit team: tests at and around the committee points of a
round's list with every operator's phone, outdoors, with the generator's measurement noise, recording
the strongest reading at each point (or, ``every_operator``, every operator's); :func:`true_readings`
gives the noise-free value of each recorded reading.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage.crs import local_metric_crs, project_xy, unproject_xy
from coverage.model.prediction import GOOD, NO_SIGNAL, WEAK
from coverage.model.rules import DEFAULT_RULES, RuleSet
from coverage.model.verdicts import committee_points, decide_predicted, village_raster
from seeds.field import BAND_ORDER, FIELD, OPERATORS, TrueField, throughput
from seeds.world import METRIC_CRS

#: The day the truth is evaluated on (every active cell of the seed world is on air by then).
TRUTH_DAY = np.datetime64("2026-10-31")
#: Points evaluated at once (memory: ~24 cells x a dozen float64 arrays each).
CHUNK = 250_000
TEST_DAY = np.datetime64("2026-11-16")
TESTERS = ("张伟", "王芳", "李强", "刘洋", "陈静", "杨磊")
OPERATOR_ZH = {"CMCC": "中国移动", "CUCC": "中国联通", "CTCC": "中国电信", "CBN": "中国广电"}


def true_classes(field: TrueField, x: np.ndarray, y: np.ndarray, rules: RuleSet = DEFAULT_RULES
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Best class over operators (uint8 GOOD/WEAK/NO_SIGNAL) and the best SS-RSRP (dBm) at points of
    the generator's metric CRS, noise-free and outdoors."""
    cls = np.zeros(len(x), dtype=np.uint8)
    best = np.full(len(x), -np.inf)
    for start in range(0, len(x), CHUNK):
        sl = slice(start, start + CHUNK)
        for op in OPERATORS:
            r = field.evaluate(x[sl], y[sl], op, TRUTH_DAY, vehicle=False)
            with np.errstate(invalid="ignore"):
                good = (r["rsrp"] >= rules.good_rsrp_dbm) & (r["sinr"] >= rules.good_sinr_db)
            op_cls = np.where(good, GOOD, np.where(r["rsrp"] >= rules.weak_rsrp_dbm, WEAK, NO_SIGNAL))
            cls[sl] = np.maximum(cls[sl], op_cls)
            best[sl] = np.maximum(best[sl], r["rsrp"])
    return cls, best


def true_verdicts(field: TrueField, villages: gpd.GeoDataFrame, *, resolution_m: float = 100.0,
                  rules: RuleSet = DEFAULT_RULES) -> pd.DataFrame:
    """The true verdict of every village (EPSG:4326 frame, run order): ``code``, ``true_verdict``,
    ``true_good_share``, ``true_committee_class`` (0/1/2) and ``true_committee_rsrp_dbm``."""
    crs = local_metric_crs(villages)
    raster = village_raster(villages, crs, resolution_m)
    grid, n = raster.grid, len(villages)
    rows, cols = np.nonzero(raster.labels > 0)
    lab = raster.labels[rows, cols].astype(np.int64) - 1
    lon, lat = unproject_xy(grid.x0 + (cols + 0.5) * resolution_m, grid.y0 - (rows + 0.5) * resolution_m, crs)
    gx, gy = project_xy(lon, lat, METRIC_CRS)
    cls, _ = true_classes(field, gx, gy, rules)
    pixels = np.bincount(lab, minlength=n).astype(float)
    good = np.bincount(lab, weights=cls == GOOD, minlength=n)
    weak = np.bincount(lab, weights=cls == WEAK, minlength=n)
    points = committee_points(villages)
    px, py = project_xy(np.array([p.x for p in points]), np.array([p.y for p in points]), METRIC_CRS)
    c_cls, c_rsrp = true_classes(field, px, py, rules)
    tiny = pixels == 0
    pixels = np.where(tiny, 1.0, pixels)
    good = np.where(tiny, (c_cls == GOOD).astype(float), good)
    weak = np.where(tiny, (c_cls == WEAK).astype(float), weak)
    verdict, _ = decide_predicted(c_cls, good / pixels, (good + weak) / pixels, rules)
    return pd.DataFrame({"code": villages["code"].astype(str).to_numpy(), "true_verdict": verdict,
                         "true_good_share": good / pixels, "true_committee_class": c_cls,
                         "true_committee_rsrp_dbm": np.where(np.isfinite(c_rsrp), c_rsrp, np.nan)})


def operator_readings(field: TrueField, x: np.ndarray, y: np.ndarray, *, rng: np.random.Generator | None
                      ) -> dict[str, dict[str, np.ndarray]]:
    """Every operator's serving values at metric points (outdoors, on the test day; noise with ``rng``,
    drawn operator by operator in :data:`seeds.field.OPERATORS` order)."""
    return {op: field.evaluate(x, y, op, TEST_DAY, vehicle=False, rng=rng) for op in OPERATORS}


def strongest(readings: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The strongest operator's values per point of :func:`operator_readings` (the first on a tie)."""
    best: dict[str, np.ndarray] = {}
    for op, r in readings.items():
        if not best:
            best = {k: v.copy() for k, v in r.items()}
            best["operator"] = np.full(len(r["rsrp"]), op, dtype=object)
            continue
        take = r["rsrp"] > best["rsrp"]
        for k in ("rsrp", "sinr", "band", "bw"):
            best[k][take] = r[k][take]
        best["operator"][take] = op
    return best


def best_operator(field: TrueField, x: np.ndarray, y: np.ndarray, *, rng: np.random.Generator | None
                  ) -> dict[str, np.ndarray]:
    """The strongest operator's serving values at metric points (outdoors; noise with ``rng``)."""
    return strongest(operator_readings(field, x, y, rng=rng))


def _every_operator(readings: dict[str, dict[str, np.ndarray]], best: dict[str, np.ndarray]
                    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rows of every operator with service at each point (point by point, operators in order); a point
    where none has service keeps one row, the strongest operator's (no service)."""
    ops = list(readings)
    served = np.column_stack([np.round(readings[op]["rsrp"], 1) > FIELD["no_service_rsrp_dbm"] for op in ops])
    strongest_op = np.equal(np.array(ops, dtype=object)[None, :], best["operator"][:, None])
    nobody = ~np.asarray(served.any(axis=1), dtype=bool)
    keep = served | (nobody[:, None] & strongest_op)
    point, j = np.nonzero(keep)
    vals = {k: np.column_stack([readings[op][k] for op in ops])[point, j] for k in ("rsrp", "sinr", "band", "bw")}
    vals["operator"] = np.array(ops, dtype=object)[j]
    return point, vals


def simulate_field_tests(field: TrueField, villages: pd.DataFrame, *, seed: int, points_per_village: int = 5,
                         unreachable: float = 0.03, every_operator: bool = False) -> pd.DataFrame:
    """Field tests of a round's list as a team would record them (Chinese headers, one row per test).

    ``villages`` is the round's list (``code``, ``name``, ``stratum``, ``reserve``, ``order``,
    ``point_lon``, ``point_lat``). Main villages are tested; a share ``unreachable`` is skipped and the
    stratum's next reserve is tested instead. Test points: the committee point and
    ``points_per_village - 1`` points within 300 m of it. Each operator's phone reads the point with
    its own measurement noise; by default only the strongest *reading* is recorded (one row per
    point: a team that writes down the best phone), with ``every_operator`` one row per operator with
    service there (the same points and readings, the point's coordinates and time on each row; a
    point where no operator has service keeps one row without service).
    """
    rng = np.random.default_rng(seed)
    main = villages[~villages["reserve"].astype(bool)]
    skipped = rng.random(len(main)) < unreachable
    chosen = [main[~skipped]]
    for stratum, part in main[skipped].groupby("stratum"):
        reserves = villages[(villages["stratum"] == stratum) & villages["reserve"].astype(bool)].sort_values("order")
        chosen.append(reserves.head(len(part)))
    visit = pd.concat(chosen).reset_index(drop=True)
    k = points_per_village
    cx, cy = project_xy(visit["point_lon"].to_numpy(float), visit["point_lat"].to_numpy(float), METRIC_CRS)
    radius = 300.0 * np.sqrt(rng.random((len(visit), k)))
    angle = 2 * np.pi * rng.random((len(visit), k))
    radius[:, 0] = 0.0
    x = (cx[:, None] + radius * np.sin(angle)).ravel()
    y = (cy[:, None] + radius * np.cos(angle)).ravel()
    readings = operator_readings(field, x, y, rng=rng)
    best = strongest(readings)
    point, vals = _every_operator(readings, best) if every_operator else (np.arange(len(x)), best)
    rsrp = np.round(vals["rsrp"], 1)
    served = rsrp > FIELD["no_service_rsrp_dbm"]
    band_idx = np.where(vals["band"] >= 0, vals["band"], 0)
    dl, ul = throughput(rng, vals["sinr"], rsrp, band_idx, np.nan_to_num(vals["bw"]))
    lon, lat = unproject_xy(x, y, METRIC_CRS)
    village = point // k
    codes = visit["code"].to_numpy()[village]
    names = visit["name"].to_numpy()[village]
    day_offset = rng.integers(0, 5, len(visit))[village]
    start = rng.integers(9 * 3600, 16 * 3600, len(visit))[village] + (point % k) * 600
    stamps = (TEST_DAY + day_offset.astype("timedelta64[D]")).astype("datetime64[s]") + start.astype("timedelta64[s]")
    band_name = np.array(BAND_ORDER, dtype=object)[band_idx]
    shown = served & (rng.random(len(point)) < 0.5)  # half the phones show the serving band
    return pd.DataFrame({
        "村代码": codes, "村名称": names,
        "测试点经度": np.round(lon[point], 6), "测试点纬度": np.round(lat[point], 6),
        "测试时间": pd.to_datetime(stamps).strftime("%Y-%m-%d %H:%M:%S"),
        "运营商": [OPERATOR_ZH[o] for o in vals["operator"]],
        "频段": [b if s else None for b, s in zip(band_name, shown, strict=True)],
        "SS-RSRP(dBm)": np.where(served, rsrp, np.nan),
        "SS-SINR(dB)": np.where(served, np.round(np.clip(vals["sinr"], -20, 35), 1), np.nan),
        "下载速率(Mbps)": np.where(served, np.round(dl, 1), 0.0),
        "上传速率(Mbps)": np.where(served, np.round(ul, 1), 0.0),
        "测试人": rng.choice(TESTERS, len(visit))[village],
        "备注": None,
    })


def true_strongest(field: TrueField, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Noise-free SS-RSRP (dBm, outdoors, on the test day) of the strongest operator at WGS84 points: what
    the best of a test point's readings measures."""
    x, y = project_xy(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), METRIC_CRS)
    return strongest(operator_readings(field, x, y, rng=None))["rsrp"]


def true_readings(field: TrueField, tests: pd.DataFrame) -> np.ndarray:
    """Noise-free SS-RSRP (dBm, outdoors, on the test day) of each row's operator at its test point, for
    rows as :func:`simulate_field_tests` writes them (-inf where the operator has no cell on air)."""
    lon = tests["测试点经度"].to_numpy(float)
    lat = tests["测试点纬度"].to_numpy(float)
    x, y = project_xy(lon, lat, METRIC_CRS)
    code = {zh: op for op, zh in OPERATOR_ZH.items()}
    ops = np.array([code[o] for o in tests["运营商"]], dtype=object)
    out = np.full(len(tests), np.nan)
    for op in OPERATORS:
        rows = ops == op
        out[rows] = field.evaluate(x[rows], y[rows], op, TEST_DAY, vehicle=False)["rsrp"]
    return out
