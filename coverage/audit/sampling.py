"""Audit sampling (抽查): fair, reproducible, stratified sample lists of villages for field tests.

The sampling unit is the village. Strata are cities (default) or city x verdict. The size of each
stratum's sample comes from Cochran's formula with the finite-population correction,

    n0 = z^2 p (1 - p) / e^2,      n = n0 / (1 + (n0 - 1) / N),   rounded up,

(z the two-sided normal quantile of the confidence, p the expected pass rate, e the margin of
error, N the stratum's population), or from a fixed rate with a minimum, ``max(ceil(rate N), min)``;
never more than the villages available.

Selection is without replacement from a numpy ``Generator`` seeded by ``SeedSequence([seed, h])``
where ``h`` is a stable hash of the stratum key: each stratum has its own independent stream, so
the same request (run, parameters, seed, exclusions) always gives the same list, and adding or
dropping one stratum does not change the others. Within a stratum the eligible villages are put
in code order and permuted; the first ``n`` of the permutation are the sample, the next ``r`` the
ordered reserve list (use reserves in order when a village cannot be reached). Villages sampled in
the last K rounds can be excluded; they still count in the stratum's population N (weights and the
finite-population correction describe the stratum, not what is left of it).

Sample lists carry, per village: round, stratum, order, reserve flag, codes and names down to the
township, the committee point (村委会) in WGS84 and in GCJ-02 (for Chinese navigation apps), the
run's verdict, the nearest active 5G site and its distance from the committee point, and the
predicted SS-RSRP/SS-SINR at the committee point. :func:`coverage.audit.lists.write_sample` writes them as CSV (UTF-8
with BOM), XLSX (one printable sheet per city), KML (one folder per stratum) and GeoJSON.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.stats import norm

from coverage import crs as crs_mod
from coverage.errors import ConfigError, Village5gError, bi
from coverage.model.verdicts import VERDICTS, committee_points

__all__ = [
    "POPULATIONS",
    "SAMPLE_COLUMNS",
    "STRATA_MODES",
    "SUPPLEMENT",
    "UNCERTAIN_FROM",
    "Sample",
    "SamplingPlan",
    "cochran_size",
    "draw_sample",
    "rate_size",
    "reserve_size",
    "sample_list",
    "stratum_keys",
    "stratum_rng",
    "stratum_size",
    "text_or_none",
    "uncertain_villages",
    "z_value",
]

#: Ways to form strata.
STRATA_MODES = ("city", "city-verdict")
#: Population filters: every village of the run, or only those the run gives this verdict
#: (``covered`` verifies the run's 5G通达 claims).
POPULATIONS = ("all", *VERDICTS)
#: The Chinese of a population's verdict, for messages.
_POPULATION_NAMES = {"covered": "5G通达的", "weak": "弱覆盖的", "uncovered": "无覆盖的"}

#: Columns of a sample list, in order (geometry, the committee point, last).
#: Stratum of the supplementary villages chosen where verdicts are most uncertain (``uncertain``).
SUPPLEMENT = "uncertain"
#: Where the supplementary villages are chosen: among every village of the run, or among the villages it
#: flags (verdict weak or uncovered: not ``covered``), which field teams verify before a site is built.
UNCERTAIN_FROM = ("all", "flagged")

SAMPLE_COLUMNS = (
    "round", "stratum", "order", "reserve", "code", "name", "township_code", "township_name",
    "county_code", "county_name", "city_code", "city_name", "point_lon", "point_lat", "point_source",
    "gcj02_lon", "gcj02_lat", "verdict", "p_covered", "nearest_site_id", "nearest_site_m", "predicted_rsrp_dbm",
    "predicted_sinr_db",
)


# ============================================================================================
# Sample sizes
# ============================================================================================


def z_value(confidence: float) -> float:
    """Two-sided standard-normal quantile of ``confidence`` (0.95 -> 1.959964)."""
    if not 0.0 < confidence < 1.0:
        raise ConfigError(bi(f"置信度应在 0 与 1 之间（不含端点），实为 {confidence}",
                             f"confidence must be between 0 and 1 (exclusive), got {confidence}"))
    return float(norm.ppf(0.5 + confidence / 2.0))


def _ceil(value: float) -> int:
    # rounding first keeps 122.0000000001 (floating-point noise) from becoming 123
    return math.ceil(round(value, 9))


#: Smallest margin of error: 0.1 percentage points already asks for every village of a city;
#: far smaller margins only underflow ``e^2``.
MIN_MARGIN = 0.001


def cochran_size(population: int, *, confidence: float = 0.95, margin: float = 0.05,
                 expected_pass: float = 0.9) -> int:
    """Sample size for a proportion with finite-population correction (Cochran 1977, eq. 4.2).

    Parameters
    ----------
    population : int
        Villages in the stratum, N (>= 0).
    confidence : float, keyword-only
        Two-sided confidence level, e.g. 0.95 (z = 1.96).
    margin : float, keyword-only
        Margin of error e, as a proportion (0.05 = 5 percentage points).
    expected_pass : float, keyword-only
        Expected pass rate p (0-1); 0.5 is the most conservative choice.

    Returns
    -------
    int
        ``ceil(n0 / (1 + (n0 - 1) / N))`` with ``n0 = z^2 p (1 - p) / e^2``, at most N; 0 for N = 0.
        Example: N = 1000, 95 %, e = 0.05, p = 0.9 gives n0 = 138.3 and n = 122.
    """
    if population < 0:
        raise ConfigError(bi("总体数不能为负数", "population must not be negative"))
    if not MIN_MARGIN <= margin < 1.0:
        raise ConfigError(bi(f"允许误差应不小于 {MIN_MARGIN} 且小于 1，实为 {margin}",
                             f"margin must be at least {MIN_MARGIN} and below 1, got {margin}"))
    if not 0.0 <= expected_pass <= 1.0:
        raise ConfigError(bi(f"预期合格率应在 0 到 1 之间，实为 {expected_pass}",
                             f"expected_pass must be between 0 and 1, got {expected_pass}"))
    if population == 0:
        return 0
    z = z_value(confidence)
    n0 = z * z * expected_pass * (1.0 - expected_pass) / (margin * margin)
    n = n0 / (1.0 + (n0 - 1.0) / population)
    return min(population, max(1, _ceil(n)))


def rate_size(population: int, *, rate: float, minimum: int = 0) -> int:
    """Sample size ``max(ceil(rate * N), minimum)``, at most N.

    Parameters
    ----------
    population : int
        Villages in the stratum, N.
    rate : float
        Share of the stratum to sample (0-1], e.g. 0.05 for 5 %.
    minimum : int
        Smallest sample per stratum (a small stratum gets at least this many, or all of it).
    """
    if population < 0:
        raise ConfigError(bi("总体数不能为负数", "population must not be negative"))
    if not 0.0 < rate <= 1.0:
        raise ConfigError(bi(f"抽样比例应大于 0 且不大于 1，实为 {rate}", f"rate must be in (0, 1], got {rate}"))
    if minimum < 0:
        raise ConfigError(bi("每层最少抽样数不能为负数", "minimum must not be negative"))
    return min(population, max(_ceil(rate * population), minimum))


# ============================================================================================
# The plan
# ============================================================================================


@dataclass(frozen=True)
class SamplingPlan:
    """Everything that determines a sample list (stored with the round).

    Attributes
    ----------
    strata : {"city", "city-verdict"}
        Stratify by city, or by city and the run's verdict.
    confidence, margin, expected_pass
        Cochran's formula: two-sided confidence level, margin of error (proportion) and expected
        pass rate. Ignored when ``rate`` is set.
    rate, minimum
        A fixed sampling rate (0-1] per stratum with a minimum count, instead of Cochran's formula.
    reserve_share, reserve_min
        Reserve villages per stratum: ``max(ceil(reserve_share * n), reserve_min)``, as far as the
        stratum has villages left.
    exclude_rounds
        Leave out villages sampled in the last K rounds (on a main list or tested there).
    population : {"all", "covered", "weak", "uncovered"}
        Which villages of the run form the population (``covered`` checks the run's claims).
    cities
        City codes to restrict the sample to (empty: every city of the run).
    seed
        Seed of the random selection; the same seed and plan give the same list.
    uncertain
        Supplementary villages to add beyond the random sample: those (not already listed, not
        excluded) whose ``p_covered`` is closest to 0.5, where a field test changes most verdicts.
        They form the stratum :data:`SUPPLEMENT` and are left out of the pass-rate estimate, which
        rests on the random sample alone (a targeted choice would bias it); their tests still serve
        as evidence and calibration.
    uncertain_from : {"all", "flagged"}
        Where the supplementary villages are chosen: among every village (``all``), or among the
        villages the run flags only (``flagged``: verdict weak or uncovered), so field tests verify
        the flagged list before money goes to build a site. The supplement comes from the plan's
        population (``covered`` leaves none flagged: refused); fewer flagged villages than
        ``uncertain`` give a shorter supplement.
    """

    strata: str = "city"
    confidence: float = 0.95
    margin: float = 0.05
    expected_pass: float = 0.9
    rate: float | None = None
    minimum: int = 0
    reserve_share: float = 0.2
    reserve_min: int = 2
    exclude_rounds: int = 0
    population: str = "all"
    cities: tuple[str, ...] = ()
    seed: int = 0
    uncertain: int = 0
    uncertain_from: str = "all"

    def __post_init__(self) -> None:
        problems = []
        if self.strata not in STRATA_MODES:
            problems.append(_strata_problem())
        if self.population not in POPULATIONS:
            problems.append(bi(f"抽样总体 population 应为 {'、'.join(POPULATIONS)} 之一",
                               f"population must be one of {', '.join(POPULATIONS)}"))
        if not 0.0 < self.confidence < 1.0:
            problems.append(bi("置信度应在 0 与 1 之间（不含端点）", "confidence must be between 0 and 1 (exclusive)"))
        if not MIN_MARGIN <= self.margin < 1.0:
            problems.append(bi(f"允许误差应不小于 {MIN_MARGIN} 且小于 1",
                               f"margin must be at least {MIN_MARGIN} and below 1"))
        if not 0.0 <= self.expected_pass <= 1.0:
            problems.append(bi("预期合格率应在 0 到 1 之间", "expected_pass must be between 0 and 1"))
        if self.rate is not None and not 0.0 < self.rate <= 1.0:
            problems.append(bi("抽样比例应大于 0 且不大于 1", "rate must be in (0, 1]"))
        if self.minimum < 0 or self.reserve_min < 0 or self.exclude_rounds < 0 or self.uncertain < 0:
            problems.append(bi("minimum、reserve_min、exclude_rounds 和 uncertain 不能为负数",
                               "minimum, reserve_min, exclude_rounds and uncertain must not be negative"))
        if not 0.0 <= self.reserve_share <= 1.0:
            problems.append(bi("备选比例应在 0 到 1 之间", "reserve_share must be between 0 and 1"))
        if not 0 <= self.seed < 2**63:
            problems.append(bi("随机种子应在 0 到 2^63 - 1 之间", "seed must be between 0 and 2^63 - 1"))
        if self.uncertain and self.uncertain_from == "flagged" and self.population == "covered":
            problems.append("抽样范围为 5G通达的村时没有标记村可补充：补充村范围请用 all "
                            "(population covered leaves no flagged village to supplement: use uncertain_from all)")
        if self.uncertain_from not in UNCERTAIN_FROM:
            problems.append(f"补充村范围 uncertain_from 应为 {' 或 '.join(UNCERTAIN_FROM)}，而非 "
                            f"{self.uncertain_from!r} (uncertain_from must be {' or '.join(UNCERTAIN_FROM)}, "
                            f"not {self.uncertain_from!r})")
        if problems:
            raise ConfigError("抽样方案 (sampling plan)：" + "；".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable values (``cities`` as a list)."""
        out = asdict(self)
        out["cities"] = list(self.cities)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamplingPlan:
        """The plan stored with a round (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["cities"] = tuple(values.get("cities") or ())
        return cls(**values)

    @property
    def method(self) -> str:
        """``"cochran"`` or ``"rate"``."""
        return "cochran" if self.rate is None else "rate"


def stratum_size(population: int, plan: SamplingPlan) -> int:
    """Sample size of a stratum of ``population`` villages under ``plan`` (before exclusions)."""
    if plan.rate is not None:
        return rate_size(population, rate=plan.rate, minimum=plan.minimum)
    return cochran_size(population, confidence=plan.confidence, margin=plan.margin,
                        expected_pass=plan.expected_pass)


def reserve_size(sample_size: int, plan: SamplingPlan) -> int:
    """Reserve villages for a stratum sample of ``sample_size``: ``max(ceil(share n), min)``."""
    if sample_size == 0:
        return 0
    return max(_ceil(plan.reserve_share * sample_size), plan.reserve_min)


def stratum_rng(seed: int, stratum: str) -> np.random.Generator:
    """The independent random stream of one stratum: ``SeedSequence([seed, sha256(stratum)[:8]])``.

    The stratum key is hashed with SHA-256 (not Python's salted ``hash``), so the stream is the
    same on every machine and in every process.
    """
    key = int.from_bytes(hashlib.sha256(stratum.encode("utf-8")).digest()[:8], "big")
    return np.random.default_rng(np.random.SeedSequence([int(seed), key]))


# ============================================================================================
# Drawing a sample
# ============================================================================================


@dataclass
class Sample:
    """A drawn sample: its list, the strata table and what produced it.

    Attributes
    ----------
    villages : geopandas.GeoDataFrame
        The sample list, columns :data:`SAMPLE_COLUMNS` (``round`` empty until stored), geometry
        the committee point (EPSG:4326), ordered by stratum, then order.
    strata : pandas.DataFrame
        One row per stratum: ``stratum, city_code, city_name, verdict`` (None for city strata),
        ``population`` (N, villages of the stratum), ``excluded`` (left out as recently sampled),
        ``eligible``, ``required`` (the formula's n for N), ``sample`` (n actually drawn, less than
        ``required`` only when too few villages were eligible), ``reserve``.
    plan : SamplingPlan
    run_id : int or None
        The analysis run sampled.
    excluded_rounds : list of int
        The rounds whose villages were excluded.
    round : int or None
        The round number once stored.
    """

    villages: gpd.GeoDataFrame
    strata: pd.DataFrame
    plan: SamplingPlan
    run_id: int | None = None
    excluded_rounds: list[int] = field(default_factory=list)
    round: int | None = None

    @property
    def main(self) -> gpd.GeoDataFrame:
        """The sample proper (no reserves)."""
        return self.villages[~self.villages["reserve"].astype(bool)]


def _check_results(results: pd.DataFrame) -> None:
    needed = ["code", "name", "township_code", "county_code", "city_code", "verdict", "committee_lon",
              "committee_lat", "committee_rsrp_dbm", "committee_sinr_db"]
    missing = [c for c in needed if c not in results.columns]
    if missing:
        raise ValueError(f"village results lack columns: {', '.join(missing)}")


def _strata_problem() -> str:
    return bi(f"分层方式 strata 应为 {'、'.join(STRATA_MODES)} 之一",
              f"strata must be one of {', '.join(STRATA_MODES)}")


def stratum_keys(results: pd.DataFrame, mode: str) -> np.ndarray:
    """Stratum key of each village: the city code (``"3201"``) or city/verdict (``"3201/covered"``)."""
    if mode not in STRATA_MODES:
        raise ConfigError(_strata_problem())
    city = results["city_code"].astype(str).to_numpy()
    if mode == "city":
        return city.astype(object)
    verdict = results["verdict"].astype(str).to_numpy()
    return np.array([f"{c}/{v}" for c, v in zip(city, verdict, strict=True)], dtype=object)


def draw_sample(results: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, plan: SamplingPlan, *,
                excluded: Iterable[str] = (), run_id: int | None = None,
                excluded_rounds: Iterable[int] = ()) -> Sample:
    """Draw the stratified sample of ``plan`` from a run's village results.

    Parameters
    ----------
    results : geopandas.GeoDataFrame
        Village results as :meth:`coverage.store.storage.Store.read_results` returns them (EPSG:4326).
    stations : geopandas.GeoDataFrame
        Canonical stations; the active NR sites give each village its nearest site and distance
        from the committee point.
    plan : SamplingPlan
        Strata, sizes, population filter and seed.
    excluded : iterable of str, keyword-only
        Village codes to leave out (sampled in recent rounds).
    run_id : int, optional
        The run the results come from (recorded with the sample).
    excluded_rounds : iterable of int, optional
        The rounds ``excluded`` comes from (recorded with the sample).

    Returns
    -------
    Sample
        The list and the strata table. The same inputs always give the same list.

    Raises
    ------
    Village5gError
        When the population filter leaves no village.
    """
    _check_results(results)
    frame = results
    if plan.cities:
        frame = frame[frame["city_code"].astype(str).isin(plan.cities)]
    if plan.population != "all":
        frame = frame[frame["verdict"] == plan.population]
    if frame.empty:
        where = f" in {', '.join(plan.cities)}" if plan.cities else ""
        where_zh = f"地市 {'、'.join(plan.cities)} 中" if plan.cities else ""
        which = "" if plan.population == "all" else _POPULATION_NAMES.get(plan.population, plan.population)
        raise Village5gError(f"这些结果中{where_zh}没有{which}行政村，无可抽取 "
                             f"(no {plan.population} villages{where} in these results: nothing to sample)")
    frame = frame.sort_values("code", kind="stable").reset_index(drop=True)
    keys = stratum_keys(frame, plan.strata)
    skip = set(excluded)
    is_excluded = frame["code"].astype(str).isin(skip).to_numpy()

    chosen: list[np.ndarray] = []
    order: list[np.ndarray] = []
    reserve: list[np.ndarray] = []
    strata_rows = []
    for key in sorted(set(keys.tolist())):
        members = np.flatnonzero(keys == key)
        eligible = members[~is_excluded[members]]
        population = len(members)
        required = stratum_size(population, plan)
        n = min(required, len(eligible))
        r = min(reserve_size(n, plan), len(eligible) - n)
        perm = stratum_rng(plan.seed, key).permutation(len(eligible))[: n + r]
        chosen.append(eligible[perm])
        order.append(np.arange(1, n + r + 1))
        reserve.append(np.arange(n + r) >= n)
        first = members[0]
        strata_rows.append({
            "stratum": key, "city_code": str(frame.at[first, "city_code"]),
            "city_name": text_or_none(frame.at[first, "city_name"]) if "city_name" in frame else None,
            "verdict": str(frame.at[first, "verdict"]) if plan.strata == "city-verdict" else None,
            "population": population, "excluded": population - len(eligible), "eligible": len(eligible),
            "required": required, "sample": n, "reserve": r,
        })
    index = np.concatenate(chosen) if chosen else np.array([], dtype=np.int64)
    stratum_of = keys[index]
    orders = np.concatenate(order) if order else np.array([], dtype=np.int64)
    reserves = np.concatenate(reserve) if reserve else np.array([], dtype=bool)
    if plan.uncertain:
        extra = uncertain_villages(frame, plan.uncertain, exclude=np.union1d(index, np.flatnonzero(is_excluded)),
                                   among=plan.uncertain_from)
        index = np.concatenate([index, extra])
        stratum_of = np.concatenate([stratum_of, np.full(len(extra), SUPPLEMENT, dtype=object)])
        orders = np.concatenate([orders, np.arange(1, len(extra) + 1)])
        reserves = np.concatenate([reserves, np.zeros(len(extra), dtype=bool)])
    picked = frame.iloc[index].reset_index(drop=True)
    strata = pd.DataFrame(strata_rows, columns=["stratum", "city_code", "city_name", "verdict", "population",
                                                "excluded", "eligible", "required", "sample", "reserve"])
    villages = sample_list(picked, stations, stratum=stratum_of, order=orders, reserve=reserves)
    return Sample(villages=villages, strata=strata, plan=plan, run_id=run_id,
                  excluded_rounds=sorted(set(int(r) for r in excluded_rounds)))


def uncertain_villages(results: pd.DataFrame, count: int, *, exclude: np.ndarray | None = None,
                       among: str = "all") -> np.ndarray:
    """Row positions of the ``count`` villages of ``results`` whose ``p_covered`` is closest to 0.5.

    Parameters
    ----------
    results : pandas.DataFrame
        Village results with ``code``, ``verdict`` and ``p_covered`` (0-1).
    count : int
        Villages wanted; fewer come back when fewer are eligible.
    exclude : numpy.ndarray of int, keyword-only, optional
        Row positions to leave out (already listed, or sampled in recent rounds).
    among : {"all", "flagged"}, keyword-only
        Choose among every village, or among the flagged ones only (verdict not ``covered``:
        weak or uncovered).

    Returns
    -------
    numpy.ndarray of int64
        Positions ordered by ``|p_covered - 0.5|``, ties by smaller code first; villages without a
        probability are never chosen (none at all without the column).
    """
    if among not in UNCERTAIN_FROM:
        raise ConfigError(f"补充村范围应为 {' 或 '.join(UNCERTAIN_FROM)}，而非 {among!r} "
                          f"(among must be {' or '.join(UNCERTAIN_FROM)}, not {among!r})")
    if "p_covered" not in results or count <= 0:
        return np.array([], dtype=np.int64)
    p = pd.to_numeric(results["p_covered"], errors="coerce").to_numpy(float)
    distance = np.abs(p - 0.5)
    if exclude is not None:
        distance[np.asarray(exclude, dtype=np.int64)] = np.nan
    if among == "flagged":
        distance[(results["verdict"].astype(str) == "covered").to_numpy()] = np.nan
    candidates = np.flatnonzero(~np.isnan(distance))
    ranked = candidates[np.lexsort((results["code"].astype(str).to_numpy()[candidates], distance[candidates]))]
    return ranked[:count].astype(np.int64)


def text_or_none(value: Any) -> str | None:
    """A cell as text, or None when it is missing (None, NaN, NA)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def sample_list(picked: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, *, stratum: np.ndarray,
                order: np.ndarray, reserve: np.ndarray, round_number: int | None = None) -> gpd.GeoDataFrame:
    """The sample-list columns (:data:`SAMPLE_COLUMNS`) for chosen village results.

    ``point_lon/point_lat`` are the committee point, or a representative point inside the polygon
    when it is unknown (``point_source`` says which); ``gcj02_lon/lat`` the same point in GCJ-02
    for Chinese navigation apps (degrees, 6 decimals, about 0.1 m). ``nearest_site_m`` is the
    distance (m) from that point to the nearest active NR site of any operator.
    """
    n = len(picked)
    points = committee_points(picked) if n else np.array([], dtype=object)
    known = ~(picked["committee_lon"].isna() | picked["committee_lat"].isna()).to_numpy()
    lon = shapely.get_x(points).astype(float) if n else np.array([], dtype=float)
    lat = shapely.get_y(points).astype(float) if n else np.array([], dtype=float)
    g_lon, g_lat = crs_mod.wgs84_to_gcj02(lon, lat)
    site_id, site_m = _nearest_sites(lon, lat, stations)
    out = pd.DataFrame({
        "round": pd.array([round_number] * n, dtype="Int64"),
        "stratum": pd.Series(stratum, dtype="str"),
        "order": np.asarray(order, dtype=np.int64),
        "reserve": np.asarray(reserve, dtype=bool),
    })
    for col in ("code", "name", "township_code", "township_name", "county_code", "county_name", "city_code",
                "city_name"):
        out[col] = pd.Series(picked[col].to_numpy() if col in picked else [None] * n, dtype="str")
    out["point_lon"] = np.round(lon, 6)
    out["point_lat"] = np.round(lat, 6)
    out["point_source"] = pd.Series(np.where(known, "committee", "representative"), dtype="str")
    out["gcj02_lon"] = np.round(np.asarray(g_lon, dtype=float), 6)
    out["gcj02_lat"] = np.round(np.asarray(g_lat, dtype=float), 6)
    out["verdict"] = pd.Series(picked["verdict"].to_numpy(), dtype="str")
    out["p_covered"] = (np.round(pd.to_numeric(picked["p_covered"], errors="coerce").to_numpy(float), 4)
                        if "p_covered" in picked else np.full(n, np.nan))
    out["nearest_site_id"] = pd.Series(site_id, dtype="str")
    out["nearest_site_m"] = np.round(site_m, 1)
    out["predicted_rsrp_dbm"] = np.round(picked["committee_rsrp_dbm"].to_numpy(float), 1)
    out["predicted_sinr_db"] = np.round(picked["committee_sinr_db"].to_numpy(float), 1)
    frame = gpd.GeoDataFrame(out, geometry=shapely.points(out["point_lon"], out["point_lat"]) if n else [],
                             crs="EPSG:4326")
    frame = frame.sort_values(["stratum", "order"], kind="stable").reset_index(drop=True)
    return frame


def _nearest_sites(lon: np.ndarray, lat: np.ndarray, stations: gpd.GeoDataFrame
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest active NR site (id) and its distance (m) from each point, in a local metric CRS."""
    n = len(lon)
    ids = np.full(n, None, dtype=object)
    dist = np.full(n, np.nan)
    if n == 0 or stations is None or stations.empty:
        return ids, dist
    active = stations[(stations["status"] == "active") & (stations["rat"] == "NR")]
    sites = active.drop_duplicates("site_id")
    if sites.empty:
        return ids, dist
    metric = crs_mod.local_metric_crs((float(np.min(lon)), float(np.min(lat)), float(np.max(lon)),
                                       float(np.max(lat))))
    px, py = crs_mod.project_xy(lon, lat, metric)
    sx, sy = crs_mod.project_xy(sites["lon"].to_numpy(float), sites["lat"].to_numpy(float), metric)
    tree = shapely.STRtree(shapely.points(sx, sy))
    src, tgt = tree.query_nearest(shapely.points(px, py), all_matches=False)
    dist[src] = np.hypot(px[src] - sx[tgt], py[src] - sy[tgt])
    ids[src] = sites["site_id"].to_numpy()[tgt]
    return ids, dist


# ============================================================================================
# Writing sample lists
# ============================================================================================


