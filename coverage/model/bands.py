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
        BandDefaults("B5", "LTE", 876.5, 10.0, 15.0, 50, 46.0, 40.0, 3.0, 15.0,
                     ("b5", "850", "800", "band5"),
                     "E-UTRA band 5 (CTCC 800/850 MHz); N_RB TS 36.101; 40 W is an assumption"),
        BandDefaults("B28", "LTE", 773.0, 10.0, 15.0, 50, 46.0, 40.0, 3.0, 15.0,
                     ("b28", "band28"),
                     "E-UTRA band 28 (700 MHz); N_RB TS 36.101; 40 W is an assumption"),
        BandDefaults("B34", "LTE", 2017.5, 15.0, 15.0, 75, 46.0, 35.0, 6.0, 17.0,
                     ("b34", "a", "2010", "band34"), "E-UTRA band 34 (TD-LTE A); N_RB TS 36.101"),
        BandDefaults("B38", "LTE", 2595.0, 20.0, 15.0, 100, 46.0, 35.0, 6.0, 17.0,
                     ("b38", "band38"), "E-UTRA band 38 (TD-LTE D, 2570-2620 MHz); N_RB TS 36.101"),
        BandDefaults("B1", "LTE", 2140.0, 20.0, 15.0, 100, 46.0, 35.0, 6.0, 17.0,
                     ("b1", "2100", "2100m", "band1"), "E-UTRA band 1; N_RB TS 36.101"),
        BandDefaults("B39", "LTE", 1900.0, 20.0, 15.0, 100, 46.0, 35.0, 6.0, 17.0,
                     ("b39", "f", "1900", "band39"), "E-UTRA band 39 (TD-LTE F); N_RB TS 36.101"),
        BandDefaults("B40", "LTE", 2350.0, 20.0, 15.0, 100, 46.0, 30.0, 6.0, 17.0,
                     ("b40", "e", "2300", "band40"), "E-UTRA band 40 (TD-LTE E); N_RB TS 36.101"),
        BandDefaults("B41", "LTE", 2600.0, 20.0, 15.0, 100, 46.0, 35.0, 6.0, 17.0,
                     ("b41", "d", "band41"), "E-UTRA band 41 (TD-LTE D); N_RB TS 36.101"),
        BandDefaults("n1", "NR", 2140.0, 20.0, 15.0, 106, 49.0, 35.0, 6.0, 17.0,
                     ("nr2100", "n1"),
                     "CTCC/CUCC NR 2100 (2110-2170 MHz, MIIT 2021 refarming); N_RB TS 38.101-1 "
                     "Table 5.3.2-1; 80 W, 4T4R 17 dBi and 35 m are assumptions"),
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


def band_rat(band: str) -> str | None:
    """``"NR"`` or ``"LTE"`` for a band name: from the table, else from its spelling (n78, B7)."""
    if band in BANDS:
        return BANDS[band].rat
    if re.fullmatch(r"n\d+", band):
        return "NR"
    if re.fullmatch(r"B\d+", band):
        return "LTE"
    return None


def normalize_band(value: object, rat: str | None = None) -> str | None:
    """Canonical band name for ``value`` (``"N78"``, ``"3.5G"``, ``"3500"``, ``3500.0`` ...).

    A bare number is read as a frequency in MHz and matched to the band whose centre frequency is
    within 5%; returns ``None`` when nothing matches. With ``rat`` (``"NR"``/``"LTE"``) only that
    RAT's bands are candidates, so ``"2100"`` is B1 for LTE and n1 for NR; a band *name* of the
    other RAT (``"n78"`` with ``rat="LTE"``) is returned as it is, for the caller to reject.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = re.sub(r"\s+", "", str(value)).lower()
    if text.endswith(".0"):
        text = text[:-2]
    named = re.fullmatch(r"(n|b|band)(\d+)", text)
    if text in _ALIASES:
        found = _ALIASES[text]
        if rat is None or BANDS[found].rat == rat or named:
            return found
    elif named:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(mhz|m)?", text) or re.fullmatch(r"(\d+(?:\.\d+)?)(g|ghz)", text)
    if m:
        mhz = float(m.group(1)) * (1000.0 if m.group(2) in ("g", "ghz") else 1.0)
        candidates = [b for b in BANDS.values() if rat is None or b.rat == rat]
        if not candidates:
            return None
        best = min(candidates, key=lambda b: abs(b.freq_mhz - mhz))
        if abs(best.freq_mhz - mhz) <= 0.05 * best.freq_mhz:
            return best.band
    return None


def resource_blocks(band: str, bandwidth_mhz: float | None = None) -> int:
    """Resource blocks of a carrier: the table's ``n_rb`` at the band's default bandwidth, else the
    TS 38.101-1 ratio of occupied to channel bandwidth (about 98%) at the band's subcarrier spacing
    (LTE: 5 RB per MHz, TS 36.101 Table 5.6-1)."""
    d = BANDS[band]
    if bandwidth_mhz is None or not math.isfinite(bandwidth_mhz) or math.isclose(bandwidth_mhz, d.bandwidth_mhz):
        return d.n_rb
    if d.rat == "LTE":
        return max(6, round(5 * bandwidth_mhz))
    return max(1, math.floor(bandwidth_mhz * 1000.0 * 0.98 / (12.0 * d.scs_khz)))


def total_power_dbm(epre_dbm: float, band: str, bandwidth_mhz: float | None = None) -> float:
    """Total transmit power of a carrier from its power per resource element (dBm).

    The one place where a 工参 table's reference-signal power (LTE RS EPRE, 参考信号功率) or NR
    SS-PBCH EPRE becomes the total power the model takes: P_total = EPRE + 10 log10(12 N_RB), the
    inverse of the model's EPRE = P_total - 10 log10(12 N_RB) (every resource element at the same
    power). LTE 20 MHz (100 RB) adds 30.8 dB, NR 100 MHz at 30 kHz (273 RB) 35.2 dB.
    """
    return epre_dbm + 10.0 * math.log10(12 * resource_blocks(band, bandwidth_mhz))


# ============================================================================================
# Technology strings of 工参 tables (制式): RAT and band together
# ============================================================================================


@dataclass(frozen=True)
class Technology:
    """What a 制式/technology cell says: the RAT, and the band when the text names one."""

    rat: str
    band: str | None


_RAT_WORDS = {"nr": "NR", "5g": "NR", "5gnr": "NR", "sa": "NR", "nsa": "NR", "n": "NR",
              "lte": "LTE", "4g": "LTE", "l": "LTE", "fdd": "LTE", "tdd": "LTE", "fddlte": "LTE",
              "tddlte": "LTE", "tdlte": "LTE", "lfdd": "LTE", "ltefdd": "LTE", "ltetdd": "LTE"}
#: TD-LTE band letters of the Chinese allocations (A 2010 MHz, D 2.6 GHz, E 2.3 GHz, F 1.9 GHz).
_TDD_LETTERS = {"a": "B34", "d": "B41", "e": "B40", "f": "B39"}


def parse_technology(value: object) -> Technology | None:
    """RAT and band of a 制式/technology string as Chinese 工参 tables write it.

    ``L1800``/``LTE1800``/``FDD1800`` -> LTE B3, ``L900`` -> B8, ``L2100`` -> B1, ``L800`` -> B5,
    ``TDD-F``/``F`` -> B39, ``D`` -> B41, ``NR3500``/``NR3.5G`` -> NR n78, ``NR2600`` -> n41,
    ``NR4900`` -> n79, ``NR2100`` -> n1, ``700M``/``NR700`` -> NR n28 (700 MHz in China is 5G),
    ``5G``/``NR`` -> NR without band, ``4G``/``LTE`` -> LTE without band, band names alone
    (``n78``, ``B3``) -> their RAT. Returns ``None`` for anything else (the caller reports it).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = re.sub(r"[\s_\-/]+", "", str(value)).lower()
    if not text:
        return None
    if text in _RAT_WORDS:
        return Technology(_RAT_WORDS[text], None)
    if text in ("700m", "700mhz", "700"):
        return Technology("NR", "n28")
    m = re.fullmatch(r"(nr|5g|5gnr|n|lte|4g|l|fdd|tdd|tdlte|tddlte|fddlte|ltefdd|ltetdd|lfdd)"
                     r"(\d+(?:\.\d+)?(?:m|mhz|g|ghz)?|[adef])", text)
    if m:
        rat = _RAT_WORDS[m.group(1)]
        rest = m.group(2)
        if rest in _TDD_LETTERS:
            return Technology("LTE", _TDD_LETTERS[rest]) if rat == "LTE" else None
        if rat == "LTE" and re.fullmatch(r"\d{2}", rest):  # L18, L09, L21: hundreds of MHz
            rest = str(int(rest) * 100)
        if rat == "NR" and m.group(1) == "n" and re.fullmatch(r"\d{1,2}", rest):
            return Technology("NR", f"n{int(rest)}")  # a band name such as n78
        band = normalize_band(rest, rat)
        return Technology(rat, band) if band is not None else None
    if text in _TDD_LETTERS:
        return Technology("LTE", _TDD_LETTERS[text])
    named = normalize_band(text)
    if named is not None and re.fullmatch(r"(n|b|band)\d+", text):
        named_rat = band_rat(named)
        return Technology(named_rat, named) if named_rat else None
    return None


# ============================================================================================
# Channel numbers: EARFCN (TS 36.101 5.7.3) and NR-ARFCN (TS 38.104 5.4.2)
# ============================================================================================


@dataclass(frozen=True)
class EutraBand:
    """One row of TS 36.101 Table 5.7.3-1: F = F_low + 0.1 (N - N_offs) MHz for N_first..N_last."""

    band: str
    f_low_mhz: float
    n_offs: int
    n_first: int
    n_last: int
    link: str  # "DL" or "UL"


#: E-UTRA channel numbers of the bands used in China and their neighbours (TS 36.101 Table 5.7.3-1,
#: downlink and, for FDD bands, uplink rows; TDD bands use one number for both directions).
EUTRA_CHANNELS: tuple[EutraBand, ...] = (
    EutraBand("B1", 2110.0, 0, 0, 599, "DL"),
    EutraBand("B2", 1930.0, 600, 600, 1199, "DL"),
    EutraBand("B3", 1805.0, 1200, 1200, 1949, "DL"),
    EutraBand("B4", 2110.0, 1950, 1950, 2399, "DL"),
    EutraBand("B5", 869.0, 2400, 2400, 2649, "DL"),
    EutraBand("B7", 2620.0, 2750, 2750, 3449, "DL"),
    EutraBand("B8", 925.0, 3450, 3450, 3799, "DL"),
    EutraBand("B20", 791.0, 6150, 6150, 6449, "DL"),
    EutraBand("B28", 758.0, 9210, 9210, 9659, "DL"),
    EutraBand("B1", 1920.0, 18000, 18000, 18599, "UL"),
    EutraBand("B3", 1710.0, 19200, 19200, 19949, "UL"),
    EutraBand("B5", 824.0, 20400, 20400, 20649, "UL"),
    EutraBand("B8", 880.0, 21450, 21450, 21799, "UL"),
    EutraBand("B28", 703.0, 27210, 27210, 27659, "UL"),
    EutraBand("B34", 2010.0, 36200, 36200, 36349, "DL"),
    EutraBand("B38", 2570.0, 37750, 37750, 38249, "DL"),
    EutraBand("B39", 1880.0, 38250, 38250, 38649, "DL"),
    EutraBand("B40", 2300.0, 38650, 38650, 39649, "DL"),
    EutraBand("B41", 2496.0, 39650, 39650, 41589, "DL"),
)


@dataclass(frozen=True)
class Channel:
    """A channel number resolved: band, RAT, centre frequency (MHz) and link (``DL``/``UL``)."""

    band: str
    rat: str
    freq_mhz: float
    link: str


def earfcn_channel(earfcn: int) -> Channel | None:
    """Band and frequency of an E-UTRA channel number (EARFCN), or ``None`` outside the table.

    TS 36.101 5.7.3: F_DL = F_DL_low + 0.1 (N_DL - N_Offs-DL); e.g. EARFCN 1650 is B3 at 1850.0 MHz,
    38400 is B39 at 1895.0 MHz.
    """
    n = int(earfcn)
    for row in EUTRA_CHANNELS:
        if row.n_first <= n <= row.n_last:
            return Channel(row.band, "LTE", round(row.f_low_mhz + 0.1 * (n - row.n_offs), 3), row.link)
    return None


#: The NR global frequency raster (TS 38.104 Table 5.4.2.1-1): N_REF range, delta F_Global (kHz),
#: F_REF-Offs (MHz), N_REF-Offs.
NR_RASTER: tuple[tuple[int, int, float, float, int], ...] = (
    (0, 599999, 5.0, 0.0, 0),
    (600000, 2016666, 15.0, 3000.0, 600000),
    (2016667, 3279165, 60.0, 24250.08, 2016667),
)

#: NR operating bands' downlink NR-ARFCN ranges (TS 38.104 Table 5.4.2.3-1). Where bands overlap,
#: the one used in China comes first and wins (n41 before n38, n78 before n77).
NR_CHANNELS: tuple[tuple[str, int, int], ...] = (
    ("n1", 422000, 434000),
    ("n3", 361000, 376000),
    ("n5", 173800, 178800),
    ("n8", 185000, 192000),
    ("n28", 151600, 160600),
    ("n41", 499200, 537999),
    ("n78", 620000, 653333),
    ("n79", 693334, 733333),
    ("n34", 402000, 405000),
    ("n38", 514000, 524000),
    ("n39", 376000, 384000),
    ("n40", 460000, 480000),
    ("n77", 620000, 680000),
)


def nr_arfcn_freq_mhz(nr_arfcn: int) -> float:
    """F_REF = F_REF-Offs + delta F_Global (N_REF - N_REF-Offs) of TS 38.104 5.4.2.1, in MHz.

    Raises ValueError outside 0-3279165.
    """
    n = int(nr_arfcn)
    for first, last, step_khz, offs_mhz, n_offs in NR_RASTER:
        if first <= n <= last:
            return round(offs_mhz + step_khz / 1000.0 * (n - n_offs), 6)
    raise ValueError(f"NR-ARFCN {n} is outside 0-3279165 (TS 38.104 Table 5.4.2.1-1)")


def nr_arfcn_channel(nr_arfcn: int) -> Channel | None:
    """Band and frequency of an NR-ARFCN (downlink), or ``None`` outside the bands listed.

    E.g. 504990 is n41 at 2524.95 MHz, 627264 n78 at 3408.96 MHz, 152650 n28 at 763.25 MHz.
    """
    n = int(nr_arfcn)
    if not 0 <= n <= 3279165:
        return None
    for band, first, last in NR_CHANNELS:
        if first <= n <= last:
            return Channel(band, "NR", nr_arfcn_freq_mhz(n), "DL")
    return None


def channel(number: object, rat: str | None = None) -> Channel | None:
    """Band and frequency of a channel number: an EARFCN for LTE, an NR-ARFCN for NR.

    Without ``rat`` the number decides where the two numberings cannot be confused: EARFCNs run to
    65535 (TS 36.101), NR-ARFCNs of the sub-6 GHz bands start at 151600 (n28); a number in neither
    range, or one that both could be, gives ``None``.
    """
    try:
        value = float(str(number).strip())
    except ValueError:
        return None
    if not math.isfinite(value) or not value.is_integer() or value < 0:
        return None
    n = int(value)
    if rat == "LTE" or (rat is None and n <= 65535):
        return earfcn_channel(n)
    if rat == "NR" or (rat is None and n >= 151600):
        return nr_arfcn_channel(n)
    return None
