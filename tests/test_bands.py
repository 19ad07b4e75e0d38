"""Band names, 制式 strings and channel numbers against the 3GPP tables (TS 36.101, TS 38.104)."""

from __future__ import annotations

import pytest

from coverage.model.bands import (
    BANDS,
    band_rat,
    channel,
    earfcn_channel,
    normalize_band,
    nr_arfcn_channel,
    nr_arfcn_freq_mhz,
    parse_technology,
    resource_blocks,
    total_power_dbm,
)


@pytest.mark.parametrize(("earfcn", "band", "mhz", "link"), [
    # TS 36.101 Table 5.7.3-1: F_DL = F_DL_low + 0.1 (N_DL - N_Offs-DL)
    (0, "B1", 2110.0, "DL"),          # first channel of band 1
    (599, "B1", 2169.9, "DL"),        # last channel of band 1
    (1650, "B3", 1850.0, "DL"),       # 1805 + 0.1 x 450
    (1825, "B3", 1867.5, "DL"),
    (3590, "B8", 939.0, "DL"),        # 925 + 0.1 x 140
    (2452, "B5", 874.2, "DL"),
    (9360, "B28", 773.0, "DL"),
    (19650, "B3", 1755.0, "UL"),      # uplink numbers of FDD bands: 1710 + 0.1 x 450
    (36275, "B34", 2017.5, "DL"),
    (37900, "B38", 2585.0, "DL"),
    (38400, "B39", 1895.0, "DL"),     # 1880 + 0.1 x 150
    (38950, "B40", 2330.0, "DL"),
    (40936, "B41", 2624.6, "DL"),     # 2496 + 0.1 x 1286
])
def test_earfcn_to_band_and_frequency(earfcn: int, band: str, mhz: float, link: str) -> None:
    found = earfcn_channel(earfcn)
    assert found is not None
    assert (found.band, found.rat, found.freq_mhz, found.link) == (band, "LTE", pytest.approx(mhz), link)


def test_earfcn_outside_the_table_is_none() -> None:
    assert earfcn_channel(65000) is None
    assert earfcn_channel(1949) is not None and earfcn_channel(1949).band == "B3"  # type: ignore[union-attr]


@pytest.mark.parametrize(("n_ref", "mhz"), [
    # TS 38.104 Table 5.4.2.1-1: the three raster segments and their boundaries
    (0, 0.0), (599999, 2999.995), (600000, 3000.0), (2016666, 24249.99), (2016667, 24250.08),
    (152650, 763.25), (504990, 2524.95), (627264, 3408.96), (633984, 3509.76), (723360, 4850.4),
])
def test_nr_arfcn_frequency(n_ref: int, mhz: float) -> None:
    assert nr_arfcn_freq_mhz(n_ref) == pytest.approx(mhz, abs=1e-6)


@pytest.mark.parametrize(("n_ref", "band"), [
    (152650, "n28"), (151600, "n28"), (160600, "n28"),   # TS 38.104 Table 5.4.2.3-1 n28 DL range
    (504990, "n41"), (499200, "n41"), (537999, "n41"),
    (627264, "n78"), (653333, "n78"),                     # n78 wins over the n77 superset
    (666000, "n77"),                                      # 3990 MHz: n77 only
    (723360, "n79"), (693334, "n79"),
    (427250, "n1"),
])
def test_nr_arfcn_band(n_ref: int, band: str) -> None:
    found = nr_arfcn_channel(n_ref)
    assert found is not None and (found.band, found.rat) == (band, "NR")


def test_nr_arfcn_outside_bands_and_range() -> None:
    assert nr_arfcn_channel(600000) is None   # 3000 MHz: no NR band there
    assert nr_arfcn_channel(3279166) is None
    with pytest.raises(ValueError, match="outside"):
        nr_arfcn_freq_mhz(3279166)


def test_channel_uses_the_rat_or_the_numbering_ranges() -> None:
    assert channel(1650) == earfcn_channel(1650)
    assert channel("627264") == nr_arfcn_channel(627264)
    assert channel(1650, "NR") is None          # NR-ARFCN 1650 is 8.25 MHz, no band
    assert channel(100000) is None              # neither an EARFCN nor a sub-6 GHz NR-ARFCN
    assert channel("12.5") is None and channel("abc") is None


@pytest.mark.parametrize(("text", "rat", "band"), [
    ("L1800", "LTE", "B3"), ("L900", "LTE", "B8"), ("L2100", "LTE", "B1"), ("L800", "LTE", "B5"),
    ("LTE1800", "LTE", "B3"), ("FDD1800", "LTE", "B3"), ("L18", "LTE", "B3"), ("TDD-F", "LTE", "B39"),
    ("F", "LTE", "B39"), ("D", "LTE", "B41"), ("TD-LTE E", "LTE", "B40"),
    ("700M", "NR", "n28"), ("NR700", "NR", "n28"), ("NR3500", "NR", "n78"), ("NR3.5G", "NR", "n78"),
    ("NR2600", "NR", "n41"), ("NR4900", "NR", "n79"), ("NR2100", "NR", "n1"), ("nr 3500", "NR", "n78"),
    ("n78", "NR", "n78"), ("B3", "LTE", "B3"),
    ("5G", "NR", None), ("NR", "NR", None), ("4G", "LTE", None), ("LTE", "LTE", None),
])
def test_technology_strings(text: str, rat: str, band: str | None) -> None:
    found = parse_technology(text)
    assert found is not None and (found.rat, found.band) == (rat, band)


@pytest.mark.parametrize("text", ["1F_UARFCN", "GSM900", "NR1234", "", "L9999"])
def test_unknown_technology_strings_are_none(text: str) -> None:
    assert parse_technology(text) is None


def test_a_frequency_resolves_within_the_rat_given() -> None:
    assert normalize_band("2100") == "B1" and normalize_band("2100", "NR") == "n1"
    assert normalize_band("2100", "LTE") == "B1"
    assert normalize_band("3500") == "n78" and normalize_band("3500", "LTE") is None
    assert normalize_band("n78", "LTE") == "n78"   # a name is kept for the caller to reject
    assert normalize_band("3.5G") == "n78" and normalize_band("2.6GHz") == "n41"
    assert band_rat("n78") == "NR" and band_rat("B7") == "LTE" and band_rat("x") is None


def test_every_band_default_names_its_source() -> None:
    for band in BANDS.values():
        assert band.source and band_rat(band.band) == band.rat


def test_power_per_resource_element_to_total_power() -> None:
    # LTE 20 MHz: 100 RB, 1200 subcarriers: +30.8 dB (the misreading the issue measured)
    assert total_power_dbm(15.2, "B3") == pytest.approx(15.2 + 30.792, abs=1e-3)
    # NR 100 MHz at 30 kHz: 273 RB (TS 38.101-1 Table 5.3.2-1), 3276 subcarriers: +35.15 dB
    assert total_power_dbm(18.0, "n78") == pytest.approx(18.0 + 35.153, abs=1e-3)
    assert resource_blocks("B8", 10.0) == 50 and resource_blocks("B3", 15.0) == 75
    assert resource_blocks("n28", 30.0) == 160
    assert abs(resource_blocks("n41", 60.0) - 162) <= 1   # the 98% approximation of the standard's 162
