"""The link budget: energy per resource element, received SS-RSRP, thermal noise, SS-SINR and the
edge margin z_p * sigma of a target location probability.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from coverage.errors import ConfigError, bi
from coverage.model.propagation import FloatArray, as_floats

__all__ = [
    "THERMAL_NOISE_DBM_PER_HZ",
    "edge_margin_db",
    "epre_dbm",
    "noise_per_re_dbm",
    "rsrp_dbm",
    "sinr_db",
    "thermal_noise_dbm",
]

THERMAL_NOISE_DBM_PER_HZ = -174.0


def epre_dbm(power_dbm: ArrayLike, n_rb: ArrayLike) -> FloatArray:
    """Energy per resource element of a carrier whose power is spread evenly over it.

    Parameters
    ----------
    power_dbm : array_like
        Total transmit power of the carrier at the antenna port, dBm.
    n_rb : array_like
        Number of resource blocks (12 subcarriers each), e.g. 273 for 100 MHz at 30 kHz.

    Returns
    -------
    ndarray
        P - 10 log10(12 N_RB), dBm per resource element.
    """
    return np.asarray(as_floats(power_dbm) - 10.0 * np.log10(12.0 * as_floats(n_rb)), dtype=np.float64)


def edge_margin_db(probability: ArrayLike, sigma_db: ArrayLike) -> FloatArray:
    """Log-normal shadowing margin for a target coverage probability at a point.

    Parameters
    ----------
    probability : array_like
        Target probability that the signal exceeds the prediction minus the margin, in (0, 1).
    sigma_db : array_like
        Shadow-fading standard deviation, dB.

    Returns
    -------
    ndarray
        z_p * sigma, dB (0.9 and 8 dB give 10.25 dB).

    Raises
    ------
    ConfigError
        A probability outside (0, 1) or a negative sigma.
    """
    p = as_floats(probability)
    sigma = as_floats(sigma_db)
    if not np.all((p > 0.0) & (p < 1.0)):
        shown = np.ravel(p)[:3].tolist()
        raise ConfigError(bi(f"边缘覆盖概率应在 0 与 1 之间（不含端点），实为 {shown}",
                             f"edge probability must be in (0, 1); got {shown}"))
    if not np.all(sigma >= 0.0):
        shown = np.ravel(sigma)[:3].tolist()
        raise ConfigError(bi(f"阴影衰落标准差应不小于 0 dB，实为 {shown}",
                             f"shadow sigma must be >= 0 dB; got {shown}"))
    return np.asarray(norm.ppf(p) * sigma, dtype=np.float64)


def thermal_noise_dbm(bandwidth_hz: ArrayLike, noise_figure_db: ArrayLike) -> FloatArray:
    """Thermal noise power in a bandwidth at the receiver input, referred through its noise figure.

    Parameters
    ----------
    bandwidth_hz : array_like
        Noise bandwidth, Hz.
    noise_figure_db : array_like
        Receiver noise figure, dB.

    Returns
    -------
    ndarray
        -174 + 10 log10(B) + NF, dBm.
    """
    return np.asarray(
        THERMAL_NOISE_DBM_PER_HZ + 10.0 * np.log10(as_floats(bandwidth_hz)) + as_floats(noise_figure_db),
        dtype=np.float64,
    )


def noise_per_re_dbm(scs_khz: ArrayLike, noise_figure_db: ArrayLike) -> FloatArray:
    """Noise power in one resource element, the reference of SS-RSRP and SS-SINR.

    Parameters
    ----------
    scs_khz : array_like
        Subcarrier spacing, kHz (15, 30 ...).
    noise_figure_db : array_like
        UE noise figure, dB.

    Returns
    -------
    ndarray
        -174 + 10 log10(SCS_Hz) + NF, dBm.
    """
    return thermal_noise_dbm(as_floats(scs_khz) * 1e3, noise_figure_db)


def rsrp_dbm(
    power_dbm: ArrayLike,
    n_rb: ArrayLike,
    gain_dbi: ArrayLike,
    path_loss_db: ArrayLike,
    *,
    losses_db: ArrayLike = 0.0,
    margin_db: ArrayLike = 0.0,
) -> FloatArray:
    """Predicted SS-RSRP: EPRE + G_tx - PL - losses - margin.

    Parameters
    ----------
    power_dbm : array_like
        Total carrier power, dBm.
    n_rb : array_like
        Resource blocks of the carrier.
    gain_dbi : array_like
        Transmit antenna gain towards the point, dBi (:func:`sector_gain_db`).
    path_loss_db : array_like
        Path loss, dB.
    losses_db : array_like
        Other losses (feeder, body, penetration), dB.
    margin_db : array_like
        Edge margin, dB (:func:`edge_margin_db`).

    Returns
    -------
    ndarray
        RSRP, dBm per resource element.
    """
    return np.asarray(
        epre_dbm(power_dbm, n_rb)
        + as_floats(gain_dbi)
        - as_floats(path_loss_db)
        - as_floats(losses_db)
        - as_floats(margin_db),
        dtype=np.float64,
    )


def sinr_db(
    best_rsrp_dbm: ArrayLike,
    other_rsrp_dbm: ArrayLike,
    noise_dbm: ArrayLike,
    load: ArrayLike,
) -> FloatArray:
    """SS-SINR of the best server against the other cells and thermal noise.

    Parameters
    ----------
    best_rsrp_dbm : array_like
        RSRP of the serving cell, dBm per RE, shape ``S``.
    other_rsrp_dbm : array_like
        RSRP of the interfering cells, dBm per RE, shape ``S + (k,)``: the last axis lists the
        interferers (k may be 0). NaN and -inf entries contribute nothing.
    noise_dbm : array_like
        Noise per RE, dBm (:func:`noise_per_re_dbm`), broadcastable to ``S``.
    load : array_like
        Share of interfering resource elements that are occupied, 0-1, broadcastable to ``S``.

    Returns
    -------
    ndarray
        best - 10 log10(load * sum(10^(other/10)) + 10^(noise/10)), dB, shape ``S``.

    Raises
    ------
    ConfigError
        A load outside 0-1, or ``other_rsrp_dbm`` without the interferer axis.
    """
    lo = as_floats(load)
    if not np.all((lo >= 0.0) & (lo <= 1.0)):
        shown = np.ravel(lo)[:3].tolist()
        raise ConfigError(bi(f"小区负荷应在 0 到 1 之间，实为 {shown}", f"load must be within 0-1; got {shown}"))
    others = as_floats(other_rsrp_dbm)
    if others.ndim == 0:
        raise ConfigError("other_rsrp_dbm needs a last axis listing the interferers")
    finite = np.isfinite(others)
    interference_mw = np.sum(np.power(10.0, np.where(finite, others, 0.0) / 10.0) * finite, axis=-1)
    total_mw = lo * interference_mw + np.power(10.0, as_floats(noise_dbm) / 10.0)
    return np.asarray(as_floats(best_rsrp_dbm) - 10.0 * np.log10(total_mw), dtype=np.float64)
