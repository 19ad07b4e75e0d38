"""The one table of per-band radio defaults, and band-name normalisation.

Missing radio parameters of a station are filled from this table. Each value says where it comes
from; "assumption" marks a typical planning value that is not taken from a standard.
Frequencies are downlink centre frequencies of the Chinese allocations.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class BandDefaults:
    """Defaults for one band.

    Attributes are in the units their names give. ``n_rb`` is the number of resource blocks for
    ``bandwidth_mhz`` at ``scs_khz`` (3GPP TS 38.101-1 Table 5.3.2-1; TS 36.101 Table 5.6-1 for LTE).
    """

    band: str
    rat: str
    freq_mhz: float
    bandwidth_mhz: float
    scs_khz: float
    n_rb: int
    power_dbm: float
    height_m: float
    tilt_deg: float
    antenna_gain_dbi: float
    aliases: tuple[str, ...]
    source: str


BANDS: dict[str, BandDefaults] = {
    b.band: b
    for b in (
        BandDefaults("n28", "NR", 773.0, 30.0, 15.0, 160, 49.0, 40.0, 3.0, 15.0,
                     ("700", "700m", "700mhz", "n28"),
                     "CMCC/CBN 2x30 MHz at 758-788 MHz (MIIT 2020); N_RB TS 38.101-1; 80 W and "
                     "40 m height are assumptions"),
        BandDefaults("n41", "NR", 2565.0, 100.0, 30.0, 273, 53.0, 35.0, 6.0, 24.0,
                     ("2.6g", "2.6ghz", "2600", "2600m", "n41"),
                     "CMCC 2515-2615 MHz NR carrier (MIIT 2018); N_RB TS 38.101-1; 200 W, 64T64R "
                     "SSB beam gain 24 dBi are assumptions"),
        BandDefaults("n78", "NR", 3500.0, 100.0, 30.0, 273, 53.0, 35.0, 6.0, 24.0,
                     ("3.5g", "3.5ghz", "3500", "3500m", "n78", "c-band"),
                     "CTCC/CUCC shared 3400-3600 MHz (MIIT 2018); N_RB TS 38.101-1; 200 W, 64T64R "
                     "SSB beam gain 24 dBi are assumptions"),
        BandDefaults("n79", "NR", 4850.0, 100.0, 30.0, 273, 53.0, 30.0, 6.0, 24.0,
                     ("4.9g", "4.9ghz", "4900", "4900m", "n79"),
                     "CMCC/CBN 4800-4900 MHz (MIIT 2018/2020); N_RB TS 38.101-1; power, height and "
                     "gain are assumptions"),
        BandDefaults("B3", "LTE", 1842.5, 20.0, 15.0, 100, 46.0, 35.0, 6.0, 17.0,
                     ("b3", "1800", "1800m", "fdd1800", "band3"),
                     "E-UTRA band 3; N_RB TS 36.101; 40 W is an assumption"),
        BandDefaults("B8", "LTE", 947.5, 10.0, 15.0, 50, 46.0, 40.0, 3.0, 15.0,
                     ("b8", "900", "900m", "fdd900", "band8"),
                     "E-UTRA band 8; N_RB TS 36.101; 40 W is an assumption"),
        BandDefaults("B1", "LTE", 2140.0, 20.0, 15.0, 100, 46.0, 35.0, 6.0, 17.0,
                     ("b1", "2100", "2100m", "band1"), "E-UTRA band 1; N_RB TS 36.101"),
        BandDefaults("B39", "LTE", 1900.0, 20.0, 15.0, 100, 46.0, 35.0, 6.0, 17.0,
                     ("b39", "f", "1900", "band39"), "E-UTRA band 39 (TD-LTE F); N_RB TS 36.101"),
        BandDefaults("B40", "LTE", 2350.0, 20.0, 15.0, 100, 46.0, 30.0, 6.0, 17.0,
                     ("b40", "e", "2300", "band40"), "E-UTRA band 40 (TD-LTE E); N_RB TS 36.101"),
        BandDefaults("B41", "LTE", 2600.0, 20.0, 15.0, 100, 46.0, 35.0, 6.0, 17.0,
                     ("b41", "d", "band41"), "E-UTRA band 41 (TD-LTE D); N_RB TS 36.101"),
    )
}

#: Maximum gain of an omnidirectional antenna (a station without azimuth): the TR 38.901 element
#: gain of 8 dBi, an assumption for small cells whose real antenna is unknown.
OMNI_GAIN_DBI = 8.0

NR_BANDS = tuple(b for b, d in BANDS.items() if d.rat == "NR")

_ALIASES: dict[str, str] = {}
for _b in BANDS.values():
    _ALIASES[_b.band.lower()] = _b.band
    for _a in _b.aliases:
        _ALIASES[_a] = _b.band


def normalize_band(value: object) -> str | None:
    """Canonical band name for ``value`` (``"N78"``, ``"3.5G"``, ``"3500"``, ``3500.0`` ...).

    A bare number is read as a frequency in MHz and matched to the band whose centre frequency is
    within 5%; returns ``None`` when nothing matches.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = re.sub(r"\s+", "", str(value)).lower()
    if text.endswith(".0"):
        text = text[:-2]
    if text in _ALIASES:
        return _ALIASES[text]
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(mhz|m)?", text)
    if m:
        mhz = float(m.group(1))
        best = min(BANDS.values(), key=lambda b: abs(b.freq_mhz - mhz))
        if abs(best.freq_mhz - mhz) <= 0.05 * best.freq_mhz:
            return best.band
    return None
