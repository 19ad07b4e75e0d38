"""Synthetic 5G station list: physical sites shared by operators, gNBs, bands and sectors (cells).

Works in the generator's metric CRS; :mod:`seeds.world` converts to WGS84. Radio defaults come from
:data:`coverage.model.bands.BANDS` (the one table of per-band defaults).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from coverage.model.bands import BANDS
from seeds.tessellate import sample_points

#: Operator sets of a physical site (China Tower sharing) and their probability.
SITE_MIXES: tuple[tuple[tuple[str, ...], float], ...] = (
    (("CMCC",), 0.50),
    (("CMCC", "CBN"), 0.13),  # 700 MHz co-build: CMCC and CBN n28 on one tower
    (("CUCC", "CTCC"), 0.10),  # co-build/co-share n78
    (("CTCC",), 0.04),
    (("CUCC",), 0.03),
    (("CMCC", "CUCC", "CTCC"), 0.12),
    (("CMCC", "CUCC", "CTCC", "CBN"), 0.06),
    (("CBN",), 0.02),
)
OPERATOR_ORDER = ("CMCC", "CUCC", "CTCC", "CBN")
BAND_ORDER = ("n28", "n41", "n78", "n79")

FIRST_DATE = np.datetime64("2019-10-31")
LAST_DATE = np.datetime64("2026-10-31")
BAND_START = {"n41": np.datetime64("2019-10-31"), "n78": np.datetime64("2019-10-31"),
              "n28": np.datetime64("2021-03-01"), "n79": np.datetime64("2022-01-01")}

PARAMS: dict[str, Any] = {
    "site_mixes": [{"operators": list(ops), "p": p} for ops, p in SITE_MIXES],
    "sites_per_village_committee_base": 2.0,
    "sites_per_residents_committee_base": 0.85,
    "site_count_gamma_shape": 3.0,
    "county_density_sigma_ln": 0.3,
    "township_density_sigma_ln": 0.25,
    "omni_small_cell_share": {"residents_committee": 0.55, "village_committee": 0.12},
    "radio": {
        "height_m": "BANDS default + site offset N(0, 6) - 3 m per extra operator on the tower "
                    "+ N(0, 1), clipped to 20-50; omni small cells U(15, 25)",
        "tilt_deg": "BANDS default + N(0, 1.5), clipped to 2-10, 0.5 steps; omni 0",
        "power_dbm": "BANDS default + one of -3, -1, 0, 0, 0, +1; omni small cells default - 13",
        "bandwidth_mhz": "BANDS default; 15% of n41 carriers 60 MHz, 20% of n28 20 MHz",
        "azimuth_deg": "site rotation U(0, 120) + operator N(0, 8) + 0/120/240 (two-sector: "
                       "0/180); empty for omni small cells",
    },
    "cmcc_band_mix_rural": {"n41": 0.67, "n28": 0.26, "n41+n28": 0.03, "n79": 0.04},
    "cmcc_band_mix_urban": {"n41": 0.82, "n28": 0.08, "n41+n28": 0.04, "n79": 0.06},
    "cmcc_with_cbn": {"n28": 0.85, "n41+n28": 0.15},
    "cbn_band_mix": {"n28": 0.92, "n79": 0.08},
    "status": {"active": 0.92, "planned": 0.05, "retired": 0.03},
    "activated_on": {"first": str(FIRST_DATE), "last": str(LAST_DATE),
                     "band_start": {k: str(v) for k, v in sorted(BAND_START.items())}},
    "no_site_zones": {"target_vc_share_in_core": 0.03, "radius_km": [8.0, 12.0],
                      "core_margin_km": 3.5, "edge_weight": 4.0, "edge_km": 8.0},
    "sparse_zones": {"target_vc_share": 0.10, "radius_km": [6.0, 9.0],
                     "village_with_one_site_p": 0.06, "bands": ["n41", "n78", "n79"]},
    "two_sector_share": 0.10,
}


@dataclass
class StationPlan:
    """What the station generator needs to know about the villages (metric CRS)."""

    cells: NDArray[np.object_]
    x: NDArray[np.float64]  # committee point
    y: NDArray[np.float64]
    is_vc: NDArray[np.bool_]
    population: NDArray[np.int64]
    county_codes: NDArray[np.str_]
    province: shapely.Geometry
    site_prefix: str = "JS"  # site ids are <prefix>-S<number>: a province's abbreviation keeps them unique
    area_m2: NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        self.area_m2 = shapely.area(self.cells)


@dataclass
class Stations:
    cells: pd.DataFrame  # STATION_COLUMNS (less lon/lat/source) + x, y (metric) + village index
    n_sites: int
    n_gnbs: int
    gnbs_in_vc: int
    nosite_village: NDArray[np.bool_]
    sparse_village: NDArray[np.bool_]
    nosite_zones: NDArray[np.float64]  # (k, 3) x, y, radius (metric)
    sparse_zones: NDArray[np.float64]
    params: dict[str, Any]


def _pick_zones(rng: np.random.Generator, plan: StationPlan, *, radius_km: list[float],
                target: float, margin_km: float, taken: NDArray[np.float64],
                edge_weight: float, edge_km: float, avoid_towns: bool) -> NDArray[np.float64]:
    """Disc zones centred on village committees far from any town centre, favouring the province
    edge (coast, lakes, borders), until the committees within ``radius - margin`` of a centre
    reach ``target`` of all village committees."""
    vc = np.nonzero(plan.is_vc)[0]
    rc = np.nonzero(~plan.is_vc)[0]
    rc_tree = cKDTree(np.column_stack([plan.x[rc], plan.y[rc]]))
    vc_xy = np.column_stack([plan.x[vc], plan.y[vc]])
    vc_tree = cKDTree(vc_xy)
    edge_d = shapely.distance(shapely.boundary(plan.province), shapely.points(vc_xy))
    w = np.where(edge_d < edge_km * 1000.0, edge_weight, 1.0)
    order = rng.choice(len(vc), size=len(vc), replace=False, p=w / w.sum())
    radii = rng.uniform(radius_km[0], radius_km[1], len(vc)) * 1000.0
    zones: list[tuple[float, float, float]] = []
    covered = np.zeros(len(vc), bool)
    need = target * len(vc)
    d_rc, _ = rc_tree.query(vc_xy[order])
    for k, i in enumerate(order):
        if covered.sum() >= need:
            break
        cx, cy = vc_xy[i]
        r = radii[k]
        if avoid_towns and d_rc[k] < r:  # a town centre inside: it would have sites
            continue
        clash = [(cx - zx) ** 2 + (cy - zy) ** 2 < (r + zr + 3000.0) ** 2
                 for zx, zy, zr in [*map(tuple, taken), *zones]]
        if any(clash):
            continue
        zones.append((cx, cy, r))
        inner = max(r - margin_km * 1000.0, 0.0)
        covered[vc_tree.query_ball_point((cx, cy), inner)] = True
    return np.array(zones, dtype=np.float64).reshape(-1, 3)


def _in_zones(x: NDArray[np.float64], y: NDArray[np.float64], zones: NDArray[np.float64]
              ) -> NDArray[np.bool_]:
    inside = np.zeros(len(x), bool)
    for zx, zy, zr in zones:
        inside |= (x - zx) ** 2 + (y - zy) ** 2 < zr**2
    return inside


def _choice(rng: np.random.Generator, labels: list[str], probs: list[float], n: int
            ) -> NDArray[np.str_]:
    p = np.asarray(probs, float)
    return np.asarray(labels)[rng.choice(len(labels), size=n, p=p / p.sum())]


def _dates(rng: np.random.Generator, band: NDArray[np.str_], urban: NDArray[np.bool_]
           ) -> NDArray[np.datetime64]:
    start = np.array([BAND_START[b] for b in band], dtype="datetime64[D]")
    span = (LAST_DATE - start).astype(np.int64)
    early = np.isin(band, ["n41", "n78"])
    a = np.where(early, np.where(urban, 1.3, 1.8), 1.5)
    b = np.where(early, np.where(urban, 3.0, 2.2), 1.8)
    frac = rng.beta(a, b)
    return start + np.floor(frac * span).astype("timedelta64[D]")


def place_stations(plan: StationPlan, rng: np.random.Generator) -> Stations:
    """Generate sites, gNBs and cells for the villages of ``plan``."""
    p = PARAMS
    n_v = len(plan.x)
    is_vc = plan.is_vc

    # Coverage arrangement: empty remote clusters and sparse high-band-only clusters.
    nz = p["no_site_zones"]
    nosite_zones = _pick_zones(rng, plan, radius_km=nz["radius_km"],
                               target=nz["target_vc_share_in_core"], margin_km=nz["core_margin_km"],
                               taken=np.empty((0, 3)), edge_weight=nz["edge_weight"],
                               edge_km=nz["edge_km"], avoid_towns=True)
    sz = p["sparse_zones"]
    sparse_zones = _pick_zones(rng, plan, radius_km=sz["radius_km"], target=sz["target_vc_share"],
                               margin_km=0.0, taken=nosite_zones, edge_weight=1.0, edge_km=0.0,
                               avoid_towns=False)
    # Remote clusters hold only village committees; sparse clusters may hold a small town too.
    nosite = _in_zones(plan.x, plan.y, nosite_zones) & is_vc
    sparse = _in_zones(plan.x, plan.y, sparse_zones) & ~nosite

    # Site counts per village: gamma-Poisson (overdispersed) around a density that varies by county
    # and township (uneven roll-out), by area for village committees and population for urban units.
    counties, c_idx = np.unique(plan.county_codes, return_inverse=True)
    f_c = np.exp(p["county_density_sigma_ln"] * rng.standard_normal(len(counties)))[c_idx]
    f_v = np.exp(p["township_density_sigma_ln"] * rng.standard_normal(n_v))
    vc_area = plan.area_m2[is_vc]
    med = float(np.median(vc_area)) if vc_area.size else 1.0
    lam = np.where(
        is_vc,
        p["sites_per_village_committee_base"] * np.clip((plan.area_m2 / med) ** 0.7, 0.3, 3.0),
        p["sites_per_residents_committee_base"] * np.clip(plan.population / 5500.0, 0.4, 2.5),
    ) * f_c * f_v
    k = p["site_count_gamma_shape"]
    n_sites = rng.poisson(rng.gamma(k, lam / k))
    n_sites[nosite] = 0
    one = rng.random(n_v) < sz["village_with_one_site_p"]
    n_sites[sparse] = np.where(one[sparse], 1, 0)

    v_of_site = np.repeat(np.arange(n_v), n_sites)
    ns = len(v_of_site)
    # A third of village-committee sites stand by the village centre; the rest anywhere inside.
    disc = np.full((ns, 3), np.nan)
    near = is_vc[v_of_site] & (rng.random(ns) < 1 / 3)
    disc[near] = np.column_stack([plan.x[v_of_site[near]], plan.y[v_of_site[near]],
                                  np.full(near.sum(), 400.0)])
    sx, sy = sample_points(rng, plan.cells, v_of_site, disc=disc)
    site_sparse = sparse[v_of_site]
    urban = ~is_vc[v_of_site]

    # Small cells (omni, single operator) and macro sites (operator mix).
    omni_p = np.where(urban, p["omni_small_cell_share"]["residents_committee"],
                      p["omni_small_cell_share"]["village_committee"])
    omni = (rng.random(ns) < omni_p) & ~site_sparse
    mixes = [m for m, _ in SITE_MIXES]
    mix = rng.choice(len(mixes), size=ns, p=np.array([q for _, q in SITE_MIXES]))
    # Small cells: one operator (CMCC n41 or a CUCC/CTCC n78 shared small cell).
    mix[omni] = np.where(rng.random(int(omni.sum())) < 0.6, 0, 2)
    # Sparse clusters: one high-band macro, CMCC n41/n79 or shared n78.
    mix[site_sparse] = np.where(rng.random(int(site_sparse.sum())) < 0.5, 0, 2)

    site_ops = [mixes[m] for m in mix]
    n_ops = np.array([len(o) for o in site_ops])
    g_site = np.repeat(np.arange(ns), n_ops)
    g_op = np.array([op for ops in site_ops for op in ops])
    g_rank = np.concatenate([np.arange(n) for n in n_ops]) if ns else np.empty(0, int)
    ng = len(g_site)
    has_cbn = np.array(["CBN" in o for o in site_ops])[g_site]

    # Bands per gNB.
    g_urban = urban[g_site]
    g_sparse = site_sparse[g_site]
    g_omni = omni[g_site]
    bands = np.full(ng, "", dtype=object)
    cm = g_op == "CMCC"
    rural_mix, urban_mix = p["cmcc_band_mix_rural"], p["cmcc_band_mix_urban"]
    pick_r = _choice(rng, list(rural_mix), list(rural_mix.values()), ng)
    pick_u = _choice(rng, list(urban_mix), list(urban_mix.values()), ng)
    pick_c = _choice(rng, list(p["cmcc_with_cbn"]), list(p["cmcc_with_cbn"].values()), ng)
    bands[cm] = np.where(has_cbn[cm], pick_c[cm], np.where(g_urban[cm], pick_u[cm], pick_r[cm]))
    cb = g_op == "CBN"
    pick_b = _choice(rng, list(p["cbn_band_mix"]), list(p["cbn_band_mix"].values()), ng)
    bands[cb] = pick_b[cb]
    # CBN's n28 rides on CMCC's 700 MHz network when they share the site.
    site_has_cmcc = np.array(["CMCC" in o for o in site_ops], dtype=bool)
    bands[cb & site_has_cmcc[g_site]] = "n28"
    bands[(g_op == "CUCC") | (g_op == "CTCC")] = "n78"
    bands[cm & g_omni] = "n41"
    hb = cm & g_sparse
    bands[hb] = np.where(rng.random(int(hb.sum())) < 0.75, "n41", "n79")

    # gNB attributes.
    status = _choice(rng, list(p["status"]), list(p["status"].values()), ng)
    # Tower height offset per site; operators sharing a tower sit on platforms ~3 m apart.
    mast = 6.0 * rng.standard_normal(ns)
    g_mast = mast[g_site] - 3.0 * g_rank + rng.normal(0.0, 1.0, ng)
    rot = rng.uniform(0.0, 120.0, ns)
    g_rot = rot[g_site] + rng.normal(0.0, 8.0, ng)

    # Expand gNB -> (gNB, band).
    band_lists = [b.split("+") for b in bands]
    nb = np.array([len(b) for b in band_lists])
    gb_g = np.repeat(np.arange(ng), nb)
    gb_band = np.array([b for bl in band_lists for b in bl], dtype=object)
    ngb = len(gb_g)
    d = {b: BANDS[b] for b in BAND_ORDER}
    def_power = np.array([d[b].power_dbm for b in gb_band])
    def_height = np.array([d[b].height_m for b in gb_band])
    def_tilt = np.array([d[b].tilt_deg for b in gb_band])
    def_bw = np.array([d[b].bandwidth_mhz for b in gb_band])
    gb_omni = g_omni[gb_g]
    height = np.where(gb_omni, rng.uniform(15.0, 25.0, ngb),
                      np.clip(def_height + g_mast[gb_g], 20.0, 50.0))
    power = def_power + rng.choice(np.array([-3.0, -1.0, 0.0, 0.0, 0.0, 1.0]), size=ngb)
    power = np.where(gb_omni, def_power - 13.0, power)
    narrow = rng.random(ngb)
    bw = np.where((gb_band == "n41") & (narrow < 0.15), 60.0,
                  np.where((gb_band == "n28") & (narrow < 0.2), 20.0, def_bw))
    act = _dates(rng, gb_band.astype(str), g_urban[gb_g])
    gb_status = status[gb_g]
    act = np.where(gb_status == "planned", np.datetime64("NaT"), act)

    # Expand (gNB, band) -> cells: 3 sectors, 2 for a few road sites, 1 omni.
    two = rng.random(ngb) < p["two_sector_share"]
    n_sec = np.where(gb_omni, 1, np.where(two, 2, 3))
    c_gb = np.repeat(np.arange(ngb), n_sec)
    c_sec = np.concatenate([np.arange(1, n + 1) for n in n_sec]) if ngb else np.empty(0, int)
    c_g = gb_g[c_gb]
    step = np.where(n_sec[c_gb] == 2, 180.0, 120.0)
    az = np.mod(np.round(g_rot[c_g] + (c_sec - 1) * step), 360.0)
    az = np.where(gb_omni[c_gb], np.nan, az)
    c_band = gb_band[c_gb]
    tilt = np.clip(def_tilt[c_gb] + rng.normal(0.0, 1.5, len(c_gb)), 2.0, 10.0)
    tilt = np.where(gb_omni[c_gb], 0.0, np.round(tilt * 2.0) / 2.0)

    # Identifiers: site numbers follow village code order, then placement order.
    site_id = np.char.add(f"{plan.site_prefix}-S", np.char.zfill(np.arange(1, ns + 1).astype(str), 6))
    c_site = g_site[c_g]
    cell_id = pd.Series(site_id[c_site]) + "-" + pd.Series(g_op[c_g]) + "-" + pd.Series(
        c_band.astype(str)) + "-" + pd.Series(c_sec.astype(str))

    cells = pd.DataFrame({
        "site_id": site_id[c_site],
        "cell_id": cell_id.to_numpy(),
        "operator": g_op[c_g],
        "rat": "NR",
        "band": c_band.astype(str),
        "x": sx[c_site],
        "y": sy[c_site],
        "height_m": np.round(height[c_gb], 1).astype(np.float64),
        "azimuth_deg": az.astype(np.float64),
        "tilt_deg": tilt.astype(np.float64),
        "power_dbm": power[c_gb].astype(np.float64),
        "bandwidth_mhz": bw[c_gb].astype(np.float64),
        "status": status[c_g],
        "activated_on": act[c_gb].astype("datetime64[ns]"),
        "village_index": v_of_site[c_site],
    })
    op_rank = {o: i for i, o in enumerate(OPERATOR_ORDER)}
    band_rank = {b: i for i, b in enumerate(BAND_ORDER)}
    order = np.lexsort((c_sec, cells["band"].map(band_rank).to_numpy(),
                        cells["operator"].map(op_rank).to_numpy(), c_site))
    cells = cells.iloc[order].reset_index(drop=True)
    gnbs_in_vc = int(is_vc[v_of_site[g_site]].sum())
    return Stations(cells=cells, n_sites=ns, n_gnbs=ng, gnbs_in_vc=gnbs_in_vc,
                    nosite_village=nosite, sparse_village=sparse, nosite_zones=nosite_zones,
                    sparse_zones=sparse_zones, params=PARAMS)
