"""Radio propagation: path loss (RMa, UMa, Okumura-Hata, free space) and line-of-sight probability.

Every function is vectorised: arguments may be scalars or numpy arrays and are broadcast against
each other; results are float64 (or bool) ndarrays of the broadcast shape, 0-d for all-scalar
arguments (``float()`` them). Distances are 2-D ground distances in metres, heights in metres above
local ground, angles in degrees, levels in dB/dBm.

Models
------
RMa (default, rural macro)
    3GPP TR 38.901 Table 7.4.1-1. PL1/PL2 with the breakpoint d_BP = 2*pi*h_BS*h_UT*f/c, where the
    standard fixes c = 3.0e8 m/s; NLOS = max(PL_RMa-LOS, PL'_RMa-NLOS). One deliberate detail: the
    table switches from PL1 to PL2 at d_2D = d_BP while both formulas use d_3D, which leaves a step
    of up to 0.04 dB at the breakpoint (up or, with tall buildings, down). We switch where
    d_3D = d_BP instead, where PL1(d_3D) = PL1(d_BP) = PL2, so the curve is continuous and
    non-decreasing. The two readings differ only for 2-D distances less than
    (h_BS - h_UT)^2 / (2 d_BP) below d_BP (0.15 m for 35 m / 1.5 m at 3.5 GHz, 0.7 m at 773 MHz),
    by at most that step; every published test vector is unaffected.
UMa (town centres)
    TR 38.901 Table 7.4.1-1 with effective heights h'_BS = h_BS - h_E, h'_UT = h_UT - h_E and
    d'_BP = 4*h'_BS*h'_UT*f/c. The table draws h_E = 1 m with probability 1/(1 + C(d_2D, h_UT)),
    otherwise from {12, 15, ..., h_UT - 1.5}. For h_UT < 13 m C = 0, so h_E = 1 m is the standard's
    own (certain) value; for h_UT >= 13 m we keep h_E = 1 m as well, because a coverage map must be
    deterministic (our user terminals stand at 1.5 m). NLOS = max(PL_UMa-LOS, PL'_UMa-NLOS).
Okumura-Hata (option for sub-GHz)
    Classic Hata for 150-1500 MHz, COST-231 Hata above 1500 MHz (COST 231 final report,
    Section 4.4). COST-231 is published for 1500-2000 MHz; we accept it up to 3500 MHz as a
    documented extrapolation (the 2.1 GHz band B1/n1 as ns-3 does, and n41 2.6 GHz and n78 3.5 GHz
    as planning tools commonly extrapolate it: the same 33.9 log f slope, no new term), and
    :func:`hata_valid` flags everything above 2000 MHz as outside the published range.
    Mobile-antenna correction a(h_m) for small/medium cities by default,
    ``city_size="large"`` selects Hata's large-city form (8.29(log 1.54 h_m)^2 - 1.1 up to 200 MHz,
    3.2(log 11.75 h_m)^2 - 4.97 above) and, above 1500 MHz, the 3 dB metropolitan-centre term C_M.
    Environments: ``"urban"``; ``"suburban"`` adds -2(log(f/28))^2 - 5.4 below 1500 MHz and is the
    C_M = 0 medium-city formula above (COST 231: "medium sized city and suburban centres");
    ``"open"`` adds -4.78(log f)^2 + 18.33 log f - 40.94 (above 1500 MHz applied to the COST-231
    urban value, the usual urban-to-open conversion).

Outside the validity ranges
---------------------------
- Distances below the model's minimum (10 m for all three models) are clamped to it: the site's own
  pixel gets the 10 m loss instead of a singular value.
- Beyond the upper distance limit (RMa LOS 10 km, RMa NLOS and UMa 5 km, Hata 20 km) and for heights
  outside the tables' ranges the formulas are extrapolated; with heights inside the ranges they stay
  continuous and non-decreasing in distance. :func:`rma_valid`, :func:`uma_valid` and
  :func:`hata_valid` say where a value is inside the published range. NaN distances give NaN.
- Hata below 1 km (its published lower limit) is extrapolated but never drops below free-space loss
  over the 3-D distance, a physical lower bound the log-distance law would otherwise cross near the
  mast.
- Frequencies outside the model's range (RMa 0.5-30 GHz, UMa 0.5-100 GHz, Hata 150-3500 MHz), and
  heights for which a formula is undefined (h <= 0; UMa h_UT <= h_E = 1 m), raise
  :class:`~coverage.errors.ConfigError`: there is no sensible extrapolation in frequency.

The antenna pattern is in :mod:`coverage.model.antenna`, the link budget (RSRP, noise, SS-SINR)
in :mod:`coverage.model.link_budget`; every function there follows the conventions above.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from coverage.errors import ConfigError, bi

__all__ = [
    "SPEED_OF_LIGHT_M_S",
    "FloatArray",
    "as_floats",
    "free_space_path_loss",
    "hata_path_loss",
    "hata_valid",
    "rma_breakpoint_m",
    "rma_los_probability",
    "rma_path_loss",
    "rma_shadow_fading_sigma_db",
    "rma_valid",
    "uma_los_probability",
    "uma_path_loss",
    "uma_valid",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

SPEED_OF_LIGHT_M_S = 3.0e8
"""Propagation speed TR 38.901 prescribes for its breakpoint distances (Table 7.4.1-1, note 1)."""

"""Thermal noise density kT at 290 K, rounded as link budgets use it."""

MIN_DISTANCE_M = 10.0
"""Lower validity limit of the 2-D distance in RMa and UMa; all models clamp to it."""

RMA_FREQ_GHZ = (0.5, 30.0)
RMA_H_BS_M = (10.0, 150.0)
RMA_H_UT_M = (1.0, 10.0)
RMA_BUILDING_HEIGHT_M = (5.0, 50.0)
RMA_STREET_WIDTH_M = (5.0, 50.0)
RMA_MAX_DISTANCE_LOS_M = 10_000.0
RMA_MAX_DISTANCE_NLOS_M = 5_000.0

UMA_FREQ_GHZ = (0.5, 100.0)
UMA_H_UT_M = (1.5, 22.5)
UMA_H_BS_M = 25.0
UMA_MAX_DISTANCE_M = 5_000.0
UMA_H_E_M = 1.0

HATA_FREQ_MHZ = (150.0, 2000.0)
HATA_ACCEPTED_FREQ_MHZ = (150.0, 3500.0)
HATA_COST231_FROM_MHZ = 1500.0
HATA_DISTANCE_M = (1_000.0, 20_000.0)
HATA_H_BS_M = (30.0, 200.0)
HATA_H_UT_M = (1.0, 10.0)


# TR 38.901 Table 7.4.1-1 shadow fading for RMa.
RMA_SIGMA_LOS_BEFORE_BP_DB = 4.0
RMA_SIGMA_LOS_AFTER_BP_DB = 6.0
RMA_SIGMA_NLOS_DB = 8.0


# --------------------------------------------------------------------------------------------------
# input checks


def as_floats(value: ArrayLike) -> FloatArray:
    """An array (or scalar) as float64."""
    return np.asarray(value, dtype=np.float64)


#: The Chinese of the inputs the models check.
_INPUT_ZH = {"RMa frequency": "RMa 模型频率", "UMa frequency": "UMa 模型频率", "Hata frequency": "Hata 模型频率",
             "h_bs_m": "基站天线高度", "h_ut_m": "终端高度", "building_height_m": "平均建筑高度",
             "street_width_m": "街道宽度"}


def _los(value: ArrayLike) -> BoolArray:
    arr = np.asarray(value)
    if arr.dtype.kind != "b":
        raise ConfigError(bi(f"视距标记 los 应为布尔值或布尔数组，实为 {arr.dtype}",
                             f"los must be a bool or a boolean array, got dtype {arr.dtype}"))
    return arr


def _check_within(name: str, value: FloatArray, low: float, high: float, unit: str) -> None:
    # NaN fails the comparison, so it is rejected as well.
    inside = (value >= low) & (value <= high)
    if not np.all(inside):
        bad = np.ravel(value)[~np.ravel(inside)][:3].tolist()
        raise ConfigError(bi(f"{_INPUT_ZH.get(name, name)}应在 {low:g}-{high:g} {unit} 之间，实为 {bad}",
                             f"{name} must be within {low:g}-{high:g} {unit}; got {bad}"))


def _check_positive(name: str, value: FloatArray, minimum: float = 0.0) -> None:
    ok = value > minimum
    if not np.all(ok):
        bad = np.ravel(value)[~np.ravel(ok)][:3].tolist()
        raise ConfigError(bi(f"{_INPUT_ZH.get(name, name)}应大于 {minimum:g} 米，实为 {bad}",
                             f"{name} must be greater than {minimum:g} m; got {bad}"))


def _in(value: FloatArray, bounds: tuple[float, float]) -> BoolArray:
    return (value >= bounds[0]) & (value <= bounds[1])


# --------------------------------------------------------------------------------------------------
# path loss


def free_space_path_loss(distance_3d_m: ArrayLike, freq_ghz: ArrayLike) -> FloatArray:
    """Free-space path loss (Friis), as TR 38.901 writes it.

    Parameters
    ----------
    distance_3d_m : array_like
        Straight-line distance between the antennas, m (> 0).
    freq_ghz : array_like
        Carrier frequency, GHz.

    Returns
    -------
    ndarray
        32.4 + 20 log10(f_GHz) + 20 log10(d_m), dB.
    """
    d = as_floats(distance_3d_m)
    f = as_floats(freq_ghz)
    return np.asarray(32.4 + 20.0 * np.log10(f) + 20.0 * np.log10(d), dtype=np.float64)


def rma_breakpoint_m(freq_ghz: ArrayLike, h_bs_m: ArrayLike = 35.0, h_ut_m: ArrayLike = 1.5) -> FloatArray:
    """RMa LOS breakpoint distance d_BP = 2*pi*h_BS*h_UT*f/c (TR 38.901 Table 7.4.1-1, note 5).

    Parameters
    ----------
    freq_ghz : array_like
        Carrier frequency, GHz.
    h_bs_m, h_ut_m : array_like
        Antenna heights of the base station and the user terminal, m.

    Returns
    -------
    ndarray
        Breakpoint distance, m. The table compares it with d_2D; :func:`rma_path_loss` compares it
        with d_3D to stay continuous (see the module docstring).
    """
    f_hz = as_floats(freq_ghz) * 1e9
    return np.asarray(2.0 * np.pi * as_floats(h_bs_m) * as_floats(h_ut_m) * f_hz / SPEED_OF_LIGHT_M_S)


def _rma_pl1(d3: FloatArray, f_ghz: FloatArray, h: FloatArray) -> FloatArray:
    hp = h**1.72
    return np.asarray(
        20.0 * np.log10(40.0 * np.pi * d3 * f_ghz / 3.0)
        + np.minimum(0.03 * hp, 10.0) * np.log10(d3)
        - np.minimum(0.044 * hp, 14.77)
        + 0.002 * np.log10(h) * d3
    )


def rma_path_loss(
    distance_m: ArrayLike,
    freq_ghz: ArrayLike,
    *,
    los: ArrayLike,
    h_bs_m: ArrayLike = 35.0,
    h_ut_m: ArrayLike = 1.5,
    building_height_m: ArrayLike = 5.0,
    street_width_m: ArrayLike = 20.0,
) -> FloatArray:
    """Rural-macro path loss of 3GPP TR 38.901 Table 7.4.1-1, without shadow fading.

    Parameters
    ----------
    distance_m : array_like
        2-D ground distance station to point, m. Values below 10 m are clamped to 10 m; beyond the
        validity limit (LOS 10 km, NLOS 5 km) the formula is extrapolated (see :func:`rma_valid`).
    freq_ghz : array_like
        Carrier frequency, GHz, 0.5-30.
    los : bool or array_like of bool
        True for line of sight, False for NLOS.
    h_bs_m, h_ut_m : array_like
        Base-station and user-terminal antenna heights, m (valid 10-150 and 1-10).
    building_height_m, street_width_m : array_like
        Average building height h and street width W, m (valid 5-50 each).

    Returns
    -------
    ndarray
        Path loss, dB: PL1(d_3D) while d_3D <= d_BP, PL2 beyond (continuous; see the module
        docstring). NLOS values are max(PL_LOS, PL'_NLOS).

    Raises
    ------
    ConfigError
        A frequency outside 0.5-30 GHz, a height, building height or street width that is not
        positive, or a non-boolean ``los``.
    """
    f = as_floats(freq_ghz)
    _check_within("RMa frequency", f, *RMA_FREQ_GHZ, "GHz")
    h_bs, h_ut = as_floats(h_bs_m), as_floats(h_ut_m)
    h, w = as_floats(building_height_m), as_floats(street_width_m)
    for name, value in (("h_bs_m", h_bs), ("h_ut_m", h_ut), ("building_height_m", h), ("street_width_m", w)):
        _check_positive(name, value)
    los_b = _los(los)

    d2 = np.maximum(as_floats(distance_m), MIN_DISTANCE_M)
    d3 = np.sqrt(d2**2 + (h_bs - h_ut) ** 2)
    d_bp = rma_breakpoint_m(f, h_bs, h_ut)

    pl_los = np.where(
        d3 <= d_bp,
        _rma_pl1(d3, f, h),
        _rma_pl1(d_bp, f, h) + 40.0 * np.log10(d3 / d_bp),
    )
    pl_nlos_prime = (
        161.04
        - 7.1 * np.log10(w)
        + 7.5 * np.log10(h)
        - (24.37 - 3.7 * (h / h_bs) ** 2) * np.log10(h_bs)
        + (43.42 - 3.1 * np.log10(h_bs)) * (np.log10(d3) - 3.0)
        + 20.0 * np.log10(f)
        - (3.2 * np.log10(11.75 * h_ut) ** 2 - 4.97)
    )
    return np.asarray(np.where(los_b, pl_los, np.maximum(pl_los, pl_nlos_prime)), dtype=np.float64)


def rma_valid(
    distance_m: ArrayLike,
    freq_ghz: ArrayLike,
    los: ArrayLike,
    *,
    h_bs_m: ArrayLike = 35.0,
    h_ut_m: ArrayLike = 1.5,
    building_height_m: ArrayLike = 5.0,
    street_width_m: ArrayLike = 20.0,
) -> BoolArray:
    """Where an RMa path loss lies inside the published validity range.

    Parameters
    ----------
    distance_m : array_like
        2-D ground distance, m: valid 10 m-10 km in LOS, 10 m-5 km in NLOS.
    freq_ghz : array_like
        Carrier frequency, GHz: valid 0.5-30.
    los : bool or array_like of bool
        Line of sight.
    h_bs_m, h_ut_m, building_height_m, street_width_m : array_like
        Valid 10-150 m, 1-10 m, 5-50 m and 5-50 m.

    Returns
    -------
    ndarray of bool
        True where every parameter is inside TR 38.901 Table 7.4.1-1's applicability range.
    """
    d = as_floats(distance_m)
    los_b = _los(los)
    d_max = np.where(los_b, RMA_MAX_DISTANCE_LOS_M, RMA_MAX_DISTANCE_NLOS_M)
    ok = (
        (d >= MIN_DISTANCE_M)
        & (d <= d_max)
        & _in(as_floats(freq_ghz), RMA_FREQ_GHZ)
        & _in(as_floats(h_bs_m), RMA_H_BS_M)
        & _in(as_floats(h_ut_m), RMA_H_UT_M)
        & _in(as_floats(building_height_m), RMA_BUILDING_HEIGHT_M)
        & _in(as_floats(street_width_m), RMA_STREET_WIDTH_M)
    )
    return np.asarray(ok, dtype=np.bool_)


def rma_shadow_fading_sigma_db(
    distance_m: ArrayLike,
    freq_ghz: ArrayLike,
    *,
    los: ArrayLike,
    h_bs_m: ArrayLike = 35.0,
    h_ut_m: ArrayLike = 1.5,
) -> FloatArray:
    """Standard deviation of RMa log-normal shadow fading (TR 38.901 Table 7.4.1-1).

    Parameters
    ----------
    distance_m : array_like
        2-D ground distance, m.
    freq_ghz : array_like
        Carrier frequency, GHz (sets the breakpoint).
    los : bool or array_like of bool
        Line of sight.
    h_bs_m, h_ut_m : array_like
        Antenna heights, m.

    Returns
    -------
    ndarray
        4 dB in LOS up to d_BP, 6 dB in LOS beyond, 8 dB in NLOS.
    """
    d = as_floats(distance_m)
    d_bp = rma_breakpoint_m(freq_ghz, h_bs_m, h_ut_m)
    sigma_los = np.where(d <= d_bp, RMA_SIGMA_LOS_BEFORE_BP_DB, RMA_SIGMA_LOS_AFTER_BP_DB)
    return np.asarray(np.where(_los(los), sigma_los, RMA_SIGMA_NLOS_DB), dtype=np.float64)


def uma_path_loss(
    distance_m: ArrayLike,
    freq_ghz: ArrayLike,
    *,
    los: ArrayLike,
    h_bs_m: ArrayLike = 25.0,
    h_ut_m: ArrayLike = 1.5,
) -> FloatArray:
    """Urban-macro path loss of 3GPP TR 38.901 Table 7.4.1-1, without shadow fading.

    Uses the effective environment height h_E = 1 m (see the module docstring for why this is
    deterministic and exact for h_UT < 13 m).

    Parameters
    ----------
    distance_m : array_like
        2-D ground distance, m. Clamped below at 10 m; extrapolated beyond 5 km.
    freq_ghz : array_like
        Carrier frequency, GHz, 0.5-100.
    los : bool or array_like of bool
        Line of sight.
    h_bs_m : array_like
        Base-station antenna height, m (the table is written for 25 m).
    h_ut_m : array_like
        User-terminal height, m (valid 1.5-22.5; must exceed h_E = 1 m).

    Returns
    -------
    ndarray
        Path loss, dB. NLOS values are max(PL_LOS, PL'_NLOS).

    Raises
    ------
    ConfigError
        A frequency outside 0.5-100 GHz, h_UT <= 1 m or h_BS <= 1 m, or a non-boolean ``los``.
    """
    f = as_floats(freq_ghz)
    _check_within("UMa frequency", f, *UMA_FREQ_GHZ, "GHz")
    h_bs, h_ut = as_floats(h_bs_m), as_floats(h_ut_m)
    _check_positive("h_bs_m", h_bs, UMA_H_E_M)
    _check_positive("h_ut_m", h_ut, UMA_H_E_M)
    los_b = _los(los)

    d2 = np.maximum(as_floats(distance_m), MIN_DISTANCE_M)
    dh = h_bs - h_ut
    d3 = np.sqrt(d2**2 + dh**2)
    d_bp = 4.0 * (h_bs - UMA_H_E_M) * (h_ut - UMA_H_E_M) * f * 1e9 / SPEED_OF_LIGHT_M_S

    pl1 = 28.0 + 22.0 * np.log10(d3) + 20.0 * np.log10(f)
    pl2 = 28.0 + 40.0 * np.log10(d3) + 20.0 * np.log10(f) - 9.0 * np.log10(d_bp**2 + dh**2)
    pl_los = np.where(d2 <= d_bp, pl1, pl2)
    pl_nlos_prime = 13.54 + 39.08 * np.log10(d3) + 20.0 * np.log10(f) - 0.6 * (h_ut - 1.5)
    return np.asarray(np.where(los_b, pl_los, np.maximum(pl_los, pl_nlos_prime)), dtype=np.float64)


def uma_valid(
    distance_m: ArrayLike,
    freq_ghz: ArrayLike,
    *,
    h_bs_m: ArrayLike = 25.0,
    h_ut_m: ArrayLike = 1.5,
) -> BoolArray:
    """Where a UMa path loss lies inside the published validity range.

    Parameters
    ----------
    distance_m : array_like
        2-D ground distance, m: valid 10 m-5 km (LOS and NLOS).
    freq_ghz : array_like
        Carrier frequency, GHz: valid 0.5-100.
    h_bs_m, h_ut_m : array_like
        Valid h_BS = 25 m and 1.5 m <= h_UT <= 22.5 m.

    Returns
    -------
    ndarray of bool
        True where every parameter is inside TR 38.901 Table 7.4.1-1's applicability range.
    """
    d = as_floats(distance_m)
    ok = (
        (d >= MIN_DISTANCE_M)
        & (d <= UMA_MAX_DISTANCE_M)
        & _in(as_floats(freq_ghz), UMA_FREQ_GHZ)
        & (as_floats(h_bs_m) == UMA_H_BS_M)
        & _in(as_floats(h_ut_m), UMA_H_UT_M)
    )
    return np.asarray(ok, dtype=np.bool_)


def _hata_a_hm(f_mhz: FloatArray, h_ut: FloatArray, large: bool) -> FloatArray:
    log_f = np.log10(f_mhz)
    if not large:
        return np.asarray((1.1 * log_f - 0.7) * h_ut - (1.56 * log_f - 0.8))
    return np.asarray(
        np.where(
            f_mhz <= 200.0,
            8.29 * np.log10(1.54 * h_ut) ** 2 - 1.1,
            3.2 * np.log10(11.75 * h_ut) ** 2 - 4.97,
        )
    )


def hata_path_loss(
    distance_m: ArrayLike,
    freq_mhz: ArrayLike,
    *,
    h_bs_m: ArrayLike,
    h_ut_m: ArrayLike,
    environment: Literal["urban", "suburban", "open"] = "urban",
    city_size: Literal["small_medium", "large"] = "small_medium",
) -> FloatArray:
    """Okumura-Hata median path loss (Hata 1980; COST-231 Hata above 1500 MHz).

    Parameters
    ----------
    distance_m : array_like
        2-D ground distance, m. Valid 1-20 km; clamped below at 10 m; below 1 km extrapolated with
        free-space loss over the 3-D distance as a floor; extrapolated beyond 20 km.
    freq_mhz : array_like
        Carrier frequency, MHz, 150-3500 (classic Hata up to 1500, COST-231 Hata above; valid to
        2000, extrapolated above).
    h_bs_m, h_ut_m : array_like
        Base-station and mobile antenna heights, m (valid 30-200 and 1-10).
    environment : {"urban", "suburban", "open"}
        Land-use correction (see the module docstring).
    city_size : {"small_medium", "large"}
        Mobile-antenna correction a(h_m): small/medium city (default) or large city (urban only);
        "large" also adds COST-231's 3 dB metropolitan-centre term C_M above 1500 MHz.

    Returns
    -------
    ndarray
        Path loss, dB, never below free-space loss over the 3-D distance.

    Raises
    ------
    ConfigError
        A frequency outside 150-3500 MHz, a non-positive height, an unknown environment or city
        size, or a large city outside the urban environment.
    """
    if environment not in ("urban", "suburban", "open"):
        raise ConfigError(bi(f"Hata 模型环境应为 urban（市区）、suburban（郊区）或 open（开阔地），"
                             f"实为 {environment!r}",
                             f"Hata environment must be urban, suburban or open; got {environment!r}"))
    if city_size not in ("small_medium", "large"):
        raise ConfigError(bi(f"Hata 模型城市规模应为 small_medium（中小城市）或 large（大城市），实为 {city_size!r}",
                             f"Hata city_size must be small_medium or large; got {city_size!r}"))
    large = city_size == "large"
    if large and environment != "urban":
        raise ConfigError(bi("Hata 模型的大城市修正只适用于市区环境",
                             "Hata city_size='large' applies to the urban environment only"))
    f = as_floats(freq_mhz)
    _check_within("Hata frequency", f, *HATA_ACCEPTED_FREQ_MHZ, "MHz")
    h_bs, h_ut = as_floats(h_bs_m), as_floats(h_ut_m)
    _check_positive("h_bs_m", h_bs)
    _check_positive("h_ut_m", h_ut)

    d2 = np.maximum(as_floats(distance_m), MIN_DISTANCE_M)
    log_f = np.log10(f)
    log_hb = np.log10(h_bs)
    common = -13.82 * log_hb - _hata_a_hm(f, h_ut, large) + (44.9 - 6.55 * log_hb) * np.log10(d2 / 1000.0)
    c_m = 3.0 if large else 0.0
    urban = np.where(
        f > HATA_COST231_FROM_MHZ,
        46.3 + 33.9 * log_f + common + c_m,
        69.55 + 26.16 * log_f + common,
    )
    if environment == "urban":
        loss = urban
    elif environment == "suburban":
        # COST 231's C_M = 0 case covers "medium sized city and suburban centres" above 1500 MHz.
        loss = np.where(f > HATA_COST231_FROM_MHZ, urban, urban - 2.0 * np.log10(f / 28.0) ** 2 - 5.4)
    else:
        loss = urban - 4.78 * log_f**2 + 18.33 * log_f - 40.94

    d3 = np.sqrt(d2**2 + (h_bs - h_ut) ** 2)
    floor = free_space_path_loss(d3, f / 1000.0)
    return np.asarray(np.maximum(loss, floor), dtype=np.float64)


def hata_valid(
    distance_m: ArrayLike,
    freq_mhz: ArrayLike,
    *,
    h_bs_m: ArrayLike,
    h_ut_m: ArrayLike,
) -> BoolArray:
    """Where an Okumura-Hata path loss lies inside the published validity range.

    Parameters
    ----------
    distance_m : array_like
        2-D ground distance, m: valid 1-20 km.
    freq_mhz : array_like
        Carrier frequency, MHz: valid 150-2000.
    h_bs_m, h_ut_m : array_like
        Valid 30-200 m and 1-10 m.

    Returns
    -------
    ndarray of bool
        True where every parameter is inside Hata's (and COST 231's) applicability range.
    """
    ok = (
        _in(as_floats(distance_m), HATA_DISTANCE_M)
        & _in(as_floats(freq_mhz), HATA_FREQ_MHZ)
        & _in(as_floats(h_bs_m), HATA_H_BS_M)
        & _in(as_floats(h_ut_m), HATA_H_UT_M)
    )
    return np.asarray(ok, dtype=np.bool_)


# --------------------------------------------------------------------------------------------------
# LOS probability


def rma_los_probability(distance_m: ArrayLike) -> FloatArray:
    """RMa LOS probability (TR 38.901 Table 7.4.2-1).

    Parameters
    ----------
    distance_m : array_like
        2-D ground distance, m.

    Returns
    -------
    ndarray
        1 for d <= 10 m, exp(-(d - 10)/1000) beyond.
    """
    d = as_floats(distance_m)
    return np.asarray(np.where(d <= 10.0, 1.0, np.exp(-(np.maximum(d, 10.0) - 10.0) / 1000.0)))


def uma_los_probability(distance_m: ArrayLike, h_ut_m: ArrayLike = 1.5) -> FloatArray:
    """UMa LOS probability (TR 38.901 Table 7.4.2-1), outdoor user terminal.

    Parameters
    ----------
    distance_m : array_like
        2-D ground distance (outdoor part), m.
    h_ut_m : array_like
        User-terminal height, m; above 13 m the probability rises with C'(h_UT).

    Returns
    -------
    ndarray
        1 for d <= 18 m, else [18/d + exp(-d/63)(1 - 18/d)][1 + C'(h_UT) 5/4 (d/100)^3 exp(-d/150)]
        with C' = 0 for h_UT <= 13 m and ((h_UT - 13)/10)^1.5 above.
    """
    d = np.maximum(as_floats(distance_m), 18.0)
    h_ut = as_floats(h_ut_m)
    c_prime = np.where(h_ut <= 13.0, 0.0, (np.maximum(h_ut, 13.0) - 13.0) / 10.0) ** 1.5
    p = (18.0 / d + np.exp(-d / 63.0) * (1.0 - 18.0 / d)) * (
        1.0 + c_prime * 1.25 * (d / 100.0) ** 3 * np.exp(-d / 150.0)
    )
    return np.asarray(np.where(as_floats(distance_m) <= 18.0, 1.0, p), dtype=np.float64)


