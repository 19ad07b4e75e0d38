"""The antenna: TR 38.901 Table 7.3-1 element pattern of a sector and the angles it is read at.

A_V(theta) = -min(12((theta - 90)/65)^2, 30) with theta the zenith angle (90 = horizon, >90 below
it), A_H(phi) = -min(12(phi/65)^2, 30), A = -min(-(A_V + A_H), 30), plus the maximum gain. A downtilt
of t degrees puts the vertical peak at theta = 90 + t (ns-3's convention too); the tilt shifts the
vertical cut, the usual planning approximation of the full rotation in TR 38.901 Section 7.1.3 (exact
in the vertical plane through the boresight). A NaN azimuth means an omnidirectional antenna: no
horizontal attenuation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from coverage.model.propagation import FloatArray, as_floats

__all__ = [
    "BEAMWIDTH_DEG",
    "MAX_ATTENUATION_DB",
    "SIDE_LOBE_DB",
    "bearing_deg",
    "horizontal_attenuation_db",
    "horizontal_offset_deg",
    "sector_gain_db",
    "sector_gain_towards_db",
    "vertical_attenuation_db",
    "zenith_angle_deg",
]

# TR 38.901 Table 7.3-1: 3 dB beamwidths, side-lobe level and maximum attenuation.
BEAMWIDTH_DEG = 65.0


SIDE_LOBE_DB = 30.0


MAX_ATTENUATION_DB = 30.0


def bearing_deg(dx_m: ArrayLike, dy_m: ArrayLike) -> FloatArray:
    """Bearing of a point seen from a station, clockwise from grid north.

    Parameters
    ----------
    dx_m, dy_m : array_like
        Easting and northing of the point minus those of the station, m (a metric CRS).

    Returns
    -------
    ndarray
        Bearing in [0, 360) degrees; 0 for the station's own position.
    """
    b = np.degrees(np.arctan2(as_floats(dx_m), as_floats(dy_m)))
    return np.asarray(np.mod(b, 360.0), dtype=np.float64)


def horizontal_offset_deg(bearing: ArrayLike, azimuth_deg: ArrayLike) -> FloatArray:
    """Horizontal angle between a direction and an antenna's boresight.

    Parameters
    ----------
    bearing : array_like
        Direction station -> point, degrees clockwise from north.
    azimuth_deg : array_like
        Boresight azimuth, degrees clockwise from north; NaN for an omnidirectional antenna.

    Returns
    -------
    ndarray
        bearing - azimuth wrapped to [-180, 180) degrees; 0 where the azimuth is NaN.
    """
    az = as_floats(azimuth_deg)
    offset = np.mod(as_floats(bearing) - np.nan_to_num(az) + 180.0, 360.0) - 180.0
    return np.asarray(np.where(np.isnan(az), 0.0, offset), dtype=np.float64)


def zenith_angle_deg(distance_m: ArrayLike, height_diff_m: ArrayLike) -> FloatArray:
    """Zenith angle of a point seen from the antenna (TR 38.901 theta: 90 = horizon).

    Parameters
    ----------
    distance_m : array_like
        2-D ground distance, m.
    height_diff_m : array_like
        Antenna height above the point's antenna, m (positive when the point is lower), including
        any ground elevation difference.

    Returns
    -------
    ndarray
        90 + atan2(height_diff, distance) in degrees, in [0, 180]; above 90 means below the horizon.
    """
    return np.asarray(90.0 + np.degrees(np.arctan2(as_floats(height_diff_m), as_floats(distance_m))))


def vertical_attenuation_db(
    angle_from_peak_deg: ArrayLike, beamwidth_deg: float = BEAMWIDTH_DEG
) -> FloatArray:
    """Vertical cut A_V of the TR 38.901 Table 7.3-1 element pattern.

    Parameters
    ----------
    angle_from_peak_deg : array_like
        Angle below the vertical peak, degrees: theta - 90 - tilt for zenith angle theta and
        downtilt tilt (equivalently, depression angle minus downtilt); the sign does not matter.
    beamwidth_deg : float
        Vertical 3 dB beamwidth, degrees (65 in the table).

    Returns
    -------
    ndarray
        A_V = -min(12 (angle/bw)^2, 30), dB relative to the peak (<= 0).
    """
    x = as_floats(angle_from_peak_deg) / beamwidth_deg
    return np.asarray(-np.minimum(12.0 * x**2, SIDE_LOBE_DB), dtype=np.float64)


def horizontal_attenuation_db(offset_deg: ArrayLike, beamwidth_deg: float = BEAMWIDTH_DEG) -> FloatArray:
    """Horizontal cut A_H of the TR 38.901 Table 7.3-1 element pattern.

    Parameters
    ----------
    offset_deg : array_like
        Horizontal angle from the boresight, degrees in [-180, 180]
        (:func:`horizontal_offset_deg`).
    beamwidth_deg : float
        Horizontal 3 dB beamwidth, degrees (65 in the table).

    Returns
    -------
    ndarray
        A_H = -min(12 (phi/bw)^2, 30), dB relative to the peak (<= 0). Combine with
        max(A_V + A_H, -MAX_ATTENUATION_DB), as :func:`sector_gain_db` does.
    """
    x = as_floats(offset_deg) / beamwidth_deg
    return np.asarray(-np.minimum(12.0 * x**2, MAX_ATTENUATION_DB), dtype=np.float64)


def sector_gain_db(
    bearing: ArrayLike,
    azimuth_deg: ArrayLike,
    zenith_deg: ArrayLike,
    *,
    tilt_deg: ArrayLike,
    max_gain_dbi: ArrayLike,
    beamwidth_deg: float = BEAMWIDTH_DEG,
) -> FloatArray:
    """Antenna gain towards a direction, TR 38.901 Table 7.3-1 element pattern.

    Parameters
    ----------
    bearing : array_like
        Direction station -> point, degrees clockwise from north.
    azimuth_deg : array_like
        Boresight azimuth, degrees clockwise from north; NaN = omnidirectional (no horizontal
        attenuation).
    zenith_deg : array_like
        Zenith angle of the direction, degrees (90 = horizon, > 90 below); see
        :func:`zenith_angle_deg`.
    tilt_deg : array_like
        Downtilt, degrees (positive down): the vertical peak is at zenith 90 + tilt.
    max_gain_dbi : array_like
        Gain at boresight, dBi.
    beamwidth_deg : float
        Horizontal and vertical 3 dB beamwidth, degrees (65 in the table).

    Returns
    -------
    ndarray
        Gain, dBi: max_gain - min(12(phi/bw)^2 + 12((theta - 90 - tilt)/bw)^2 capped at 30 each,
        30); never below max_gain - 30.
    """
    a_h = horizontal_attenuation_db(horizontal_offset_deg(bearing, azimuth_deg), beamwidth_deg)
    a_v = vertical_attenuation_db(as_floats(zenith_deg) - 90.0 - as_floats(tilt_deg), beamwidth_deg)
    return np.asarray(as_floats(max_gain_dbi) + np.maximum(a_v + a_h, -MAX_ATTENUATION_DB), dtype=np.float64)


def sector_gain_towards_db(
    dx_m: ArrayLike,
    dy_m: ArrayLike,
    height_diff_m: ArrayLike,
    *,
    azimuth_deg: ArrayLike,
    tilt_deg: ArrayLike,
    max_gain_dbi: ArrayLike,
) -> FloatArray:
    """Antenna gain towards points given by their offset from the station.

    Parameters
    ----------
    dx_m, dy_m : array_like
        Easting and northing of the point minus those of the station, m.
    height_diff_m : array_like
        Station antenna height above the point's antenna, m.
    azimuth_deg : array_like
        Boresight azimuth, degrees clockwise from north; NaN = omnidirectional.
    tilt_deg : array_like
        Downtilt, degrees (positive down).
    max_gain_dbi : array_like
        Gain at boresight, dBi.

    Returns
    -------
    ndarray
        Gain, dBi (:func:`sector_gain_db` with bearing and zenith angle from the geometry).
    """
    dx, dy = as_floats(dx_m), as_floats(dy_m)
    return sector_gain_db(
        bearing_deg(dx, dy),
        azimuth_deg,
        zenith_angle_deg(np.hypot(dx, dy), height_diff_m),
        tilt_deg=tilt_deg,
        max_gain_dbi=max_gain_dbi,
    )
