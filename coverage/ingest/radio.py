"""Validation of radio columns: operator, RAT and band (制式, channel numbers), station radio
parameters (height, tilt, azimuth, power per resource element), three-sector sites and
measurement samples without service.
"""

from __future__ import annotations

from functools import cache

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from coverage.ingest.messages import bi, missing_value, unknown_value
from coverage.ingest.validation import RANGES, ValidatorBase
from coverage.ingest.values import (
    NO_SERVICE_TOKENS,
    accepted_values,
    cell_text,
    is_missing,
    norm_key,
    normalize_operator,
    parse_floats,
    show_value,
    status_of,
)
from coverage.model.bands import BANDS, band_rat, channel, total_power_dbm
from coverage.model.bands import normalize_band as _normalize_band
from coverage.model.bands import parse_technology as _parse_technology
from coverage.schema import (
    OPERATORS,
    STATUSES,
)

__all__ = [
    "RadioChecks",
]

_YES = frozenset({"1", "true", "yes", "y", "是", "有", "t"})
_NO = frozenset({"0", "false", "no", "n", "否", "无", "f"})


class RadioChecks(ValidatorBase):
    """The checks of stations' and measurements' radio columns."""

    def station_checks(self) -> None:
        """Site ids, operator, RAT and band, status, radio parameters and duplicate cells of stations."""
        self.text_required("site_id")
        self.values["operator"] = self.categorical(
            "operator", normalize_operator, accepted_values(OPERATORS), None, required=True)
        self.values["rat"], self.values["band"] = self._rat_and_band(required=True)
        self.values["status"] = self.categorical(
            "status", status_of, accepted_values(STATUSES), "active", False)
        self._radio_parameters()
        keys = ("site_id", "cell_id", "operator", "band")
        cells = [self.values.get(k, [None] * self.n) for k in keys]
        self.duplicates(
            [tuple(c[i] for c in cells) for i in range(self.n)],
            [i for i in range(self.n) if None not in (cells[0][i], cells[2][i], cells[3][i])],
            "site_id/cell_id/operator/band", self.header("site_id"))

    def measurement_checks(self) -> None:
        """Operator, RAT and band, and samples without service of measurements."""
        self.values["operator"] = self.categorical(
            "operator", normalize_operator, accepted_values(OPERATORS), None, required=True)
        self.values["rat"], self.values["band"] = self._rat_and_band(required=False)
        self._no_service()

    def _no_service(self) -> None:
        """Samples without service are samples: an RSRP cell saying so (无服务, no service), a
        no-service column, or an empty RSRP. They are stored at the no-service level
        (:data:`coverage.model.verdicts.NO_SERVICE_RSRP_DBM`), count as no coverage in a village's measured
        share and are never a residual; each way is counted in a warning."""
        from coverage.model.verdicts import NO_SERVICE_RSRP_DBM

        rsrp = np.asarray(self.values.get("rsrp_dbm", np.full(self.n, np.nan)), dtype=np.float64)
        flagged = np.zeros(self.n, dtype=bool)
        if "no_service" in self.matches:
            match = self.matches["no_service"]
            for i, cell in enumerate(self.table.columns[match.index]):
                text = cell_text(cell)
                if text is None:
                    continue
                key = norm_key(text)
                if key in _YES or key in NO_SERVICE_TOKENS:
                    flagged[i] = True
                elif key not in _NO:
                    self.error(i, match.header, bi(f"{text!r} 应为 是/否、1/0 或 true/false",
                                                   f"{text!r} is not yes/no (是/否, 1/0, true/false)"))
        tokens = self.no_service_cells
        empty = self.raw_missing("rsrp_dbm") & ~tokens if "rsrp_dbm" in self.matches else ~flagged
        both = flagged & np.isfinite(rsrp)
        for i in np.flatnonzero(both).tolist():
            self.error(int(i), f"{self.header('no_service')}/{self.header('rsrp_dbm')}",
                       bi(f"标记为无服务，却有 SS-RSRP {rsrp[i]:g} dBm",
                          f"marked as no service but has SS-RSRP {rsrp[i]:g} dBm"))
        none = (flagged | tokens | empty) & ~both
        rsrp[none] = NO_SERVICE_RSRP_DBM
        self.values["rsrp_dbm"] = rsrp
        if none.any():
            parts, parts_zh = [], []
            if (tokens & none).any():
                parts.append(f"{int((tokens & none).sum())} say so in {self.header('rsrp_dbm')!r}")
                parts_zh.append(f"{int((tokens & none).sum())} 个在 {self.header('rsrp_dbm')!r} 中注明")
            if (flagged & none & ~tokens).any():
                parts.append(f"{int((flagged & none & ~tokens).sum())} flagged in {self.header('no_service')!r}")
                parts_zh.append(f"{int((flagged & none & ~tokens).sum())} 个在 {self.header('no_service')!r} 中标记")
            if (empty & none & ~flagged).any():
                parts.append(f"{int((empty & none & ~flagged).sum())} have an empty SS-RSRP")
                parts_zh.append(f"{int((empty & none & ~flagged).sum())} 个 SS-RSRP 为空")
            self.warn(None, self.header("rsrp_dbm"), bi(
                f"{int(none.sum())} 个无服务采样点（{'；'.join(parts_zh)}）：已保留，按 {NO_SERVICE_RSRP_DBM:g} dBm "
                "存储并计为无覆盖；若这些行是日志断档而不是脱网，请删除",
                f"{int(none.sum())} sample(s) without service ({'; '.join(parts)}): kept, stored at "
                f"{NO_SERVICE_RSRP_DBM:g} dBm and counted as no coverage; remove rows that are log gaps "
                "rather than outages"))
            self.notes["rsrp_dbm"] = f"no service -> {NO_SERVICE_RSRP_DBM:g} dBm"

    def _rat_and_band(self, *, required: bool) -> tuple[list[str | None], list[str | None]]:
        """RAT and band of each row from the RAT/制式 column (``L1800`` names both), the band
        column and a channel number (EARFCN or NR-ARFCN); every source that names a band must name
        the same one, and the band must belong to the RAT, or the row is rejected. Without any RAT
        the band's decides; without either, NR."""
        rat_texts: list[str | None] = self.values.get("rat", [None] * self.n)
        band_texts: list[str | None] = self.values.get("band", [None] * self.n)
        arfcn = self.table.columns[self.matches["arfcn"].index] if "arfcn" in self.matches else None
        rat_h, band_h, arfcn_h = self.header("rat"), self.header("band"), self.header("arfcn")
        rats: list[str | None] = []
        bands: list[str | None] = []
        from_technology = 0
        # a file repeats a handful of values: each is parsed once
        parse_technology = cache(_parse_technology)
        normalize_band = cache(_normalize_band)
        channel_of = cache(channel)
        for i in range(self.n):
            rat: str | None = None
            named: dict[str, str] = {}
            text = rat_texts[i]
            ok = True
            if text is not None:
                tech = parse_technology(text)
                if tech is None:
                    self.error(i, rat_h, unknown_value(
                        "制式", repr(text),
                        "NR 或 LTE（5G/4G），或 NR3500、NR2600、700M、L1800、L900、L2100、TDD-F 等制式",
                        f"unknown RAT {text!r}; use NR or LTE (5G/4G), or a 制式 such as "
                        "NR3500, NR2600, 700M, L1800, L900, L2100, TDD-F"))
                    ok = False
                else:
                    rat = tech.rat
                    if tech.band is not None:
                        named[rat_h] = tech.band
            if arfcn is not None and not is_missing(arfcn[i]):
                found = channel_of(cell_text(arfcn[i]), rat)
                if found is None:
                    kind_zh = {"LTE": "EARFCN", "NR": "NR-ARFCN"}.get(rat or "", "EARFCN 或 NR-ARFCN")
                    self.error(i, arfcn_h, bi(
                        f"频点 {show_value(arfcn[i])} 不是已知频段的 {kind_zh}（TS 36.101 / TS 38.104）",
                        f"channel number {show_value(arfcn[i])} is not "
                        + ({"LTE": "an EARFCN", "NR": "an NR-ARFCN"}.get(rat or "", "an EARFCN or NR-ARFCN")
                           + " of a known band (TS 36.101 / TS 38.104)")))
                    ok = False
                else:
                    named[arfcn_h] = found.band
                    rat = rat or found.rat
            text = band_texts[i]
            if text is not None:
                band = normalize_band(text, rat)
                if band is None:  # a 制式 such as L1800 in the band column names the band too
                    tech = parse_technology(text)
                    band = tech.band if tech is not None and tech.band in BANDS else None
                if band is None:
                    other = normalize_band(text)
                    if other is not None and rat is not None:
                        self.error(i, f"{rat_h}/{band_h}", bi(
                            f"制式与频段不一致：{rat_h} 为 {rat}，而 {text!r} 是 {band_rat(other)} 频段 {other}",
                            f"RAT and band disagree: {rat_h} says {rat} but "
                            f"{text!r} is {band_rat(other)} band {other}"))
                    else:
                        self.error(i, band_h, unknown_value(
                            "频段", repr(text), f"频段名称（{'、'.join(BANDS)}）或以 MHz 为单位的频率",
                            f"unknown band {text!r}; use a band name ({', '.join(BANDS)}) or a frequency in MHz"))
                    ok = False
                else:
                    named[band_h] = band
            distinct = sorted(set(named.values()))
            band_out: str | None = None
            if len(distinct) > 1:
                self.error(i, "/".join(named), bi(
                    "各频段列不一致：" + "，".join(f"{h} 为 {b}" for h, b in named.items()),
                    "the band columns disagree: " + ", ".join(f"{h} says {b}" for h, b in named.items())))
                ok = False
            elif distinct:
                band_out = distinct[0]
                band_is = band_rat(band_out)
                if rat is not None and band_is != rat:
                    self.error(i, "/".join([rat_h, *named]), bi(
                        f"制式与频段不一致：制式为 {rat}，而频段 {band_out} 属于 {band_is}；该行被拒绝",
                        f"RAT and band disagree: {rat} but band {band_out} is {band_is}; the row is rejected"))
                    ok = False
                rat = rat or band_is
                if required and band_out not in BANDS:
                    self.error(i, "/".join(named), bi(
                        f"频段 {band_out} 没有无线参数默认值（coverage/model/bands.py：{'、'.join(BANDS)}）",
                        f"band {band_out} has no radio defaults (coverage/model/bands.py: {', '.join(BANDS)})"))
                    ok = False
                if rat_h in named:
                    from_technology += 1
            elif required and ok:
                self.error(i, band_h, missing_value("band"))
                ok = False
            rats.append(rat or "NR" if ok else None)
            bands.append(band_out if ok else None)
        if from_technology:
            self.notes["rat"] = "制式 -> RAT and band"
        return rats, bands

    def _radio_parameters(self) -> None:
        """Station radio columns as 工参 tables write them: height 0, or tilt 0 of a sector cell,
        means unknown (band defaults, counted), azimuth 360 is 0, cells without azimuth are counted (omnidirectional, or
        three sectors with ``three_sectors``), reference-signal power per resource element becomes
        total power (:func:`coverage.model.bands.total_power_dbm`), and a total power that looks like a
        per-RE power is counted in a warning."""
        sector = np.isfinite(np.asarray(self.values.get("azimuth_deg", np.full(self.n, np.nan)), dtype=np.float64))
        for name, what in (("height_m", "antenna height"), ("tilt_deg", "downtilt")):
            if name not in self.matches:
                continue
            values = np.asarray(self.values[name], dtype=np.float64)
            # an omnidirectional antenna (no azimuth) has no downtilt: its 0 is a real value
            zero = (values == 0) & (sector if name == "tilt_deg" else True)
            if zero.any():
                values = values.copy()
                values[zero] = np.nan
                self.values[name] = values
                what_zh = {"antenna height": "天线挂高", "downtilt": "下倾角"}[what]
                self.warn(None, self.header(name), bi(
                    f"{int(zero.sum())} 个小区的{what_zh}为 0，按未知处理：使用该频段的默认值",
                    f"{int(zero.sum())} cell(s) with {what} 0 taken as unknown: the band's default is used"))
                self.notes[name] = "0 -> band default"
        if "azimuth_deg" in self.matches:
            az = np.asarray(self.values["azimuth_deg"], dtype=np.float64)
            self.values["azimuth_deg"] = np.where(az == 360.0, 0.0, az)
        missing = np.isnan(np.asarray(self.values.get("azimuth_deg", np.full(self.n, np.nan)), dtype=np.float64))
        if missing.any():
            if self.mapping.three_sectors:
                self.warn(None, self.header("azimuth_deg"), bi(
                    f"{int(missing.sum())} 行没有方位角，按三扇区站点处理（0、120 和 240 度；--three-sectors）",
                    f"{int(missing.sum())} row(s) without azimuth taken as three-sector sites "
                    "(0, 120 and 240 degrees; --three-sectors)"))
                self.notes["azimuth_deg"] = "empty -> three sectors 0/120/240"
            else:
                self.warn(None, self.header("azimuth_deg"), bi(
                    f"{int(missing.sum())} 个小区没有方位角（方位角/方向角）：各按一副 8 dBi 全向天线预测；"
                    "若是扇区站点，请加 --three-sectors",
                    f"{int(missing.sum())} cell(s) without azimuth (方位角/方向角): each is predicted as one "
                    "omnidirectional 8 dBi antenna; if they are sector sites, pass --three-sectors"))
        bands = self.values.get("band", [None] * self.n)
        bandwidth = np.asarray(self.values.get("bandwidth_mhz", np.full(self.n, np.nan)), dtype=np.float64)
        power = np.asarray(self.values.get("power_dbm", np.full(self.n, np.nan)), dtype=np.float64)
        per_re = [name for name in ("rs_power_dbm", "ssb_epre_dbm") if name in self.matches]
        if per_re:
            rats = self.values.get("rat", [None] * self.n)
            epres: dict[str, NDArray[np.float64]] = {c: self._per_re_power(c) for c in per_re}
            both = 0
            for i in range(self.n):
                band = bands[i]
                # LTE rows take the reference-signal power first, NR rows the SS-PBCH EPRE
                order = ("ssb_epre_dbm", "rs_power_dbm") if rats[i] == "NR" else ("rs_power_dbm", "ssb_epre_dbm")
                source = next((c for c in order if c in epres and np.isfinite(epres[c][i])), None)
                if source is None or band is None or band not in BANDS:
                    continue
                if np.isfinite(power[i]):
                    both += 1
                    continue
                epre = float(epres[source][i])
                width = float(bandwidth[i]) if np.isfinite(bandwidth[i]) else None
                power[i] = total_power_dbm(epre, band, width)
                if not RANGES["power_dbm"][0] <= power[i] <= RANGES["power_dbm"][1]:
                    self.error(i, self.header(source), bi(
                        f"每资源粒子功率 {epre:g} dBm 折合总功率 {power[i]:.1f} dBm，超出范围：应在 0 到 80 dBm 之间",
                        f"{epre:g} dBm per resource element is "
                        f"{power[i]:.1f} dBm in total, outside the plausible 0-80 dBm"))
            if both:
                self.warn(None, "/".join(self.header(n) for n in per_re), bi(
                    f"{both} 行同时给出总功率和每资源粒子功率；使用总功率（{self.header('power_dbm')}）",
                    f"{both} row(s) give both total power and power per resource element; the total power "
                    f"({self.header('power_dbm')}) is used"))
            self.values["power_dbm"] = power
        elif "power_dbm" in self.matches:
            low = np.isfinite(power) & (power < 30.0)
            if low.any():
                self.warn(None, self.header("power_dbm"), bi(
                    f"{int(low.sum())} 个小区的总发射功率低于 30 dBm（1 W）；若该列是每资源粒子的参考信号功率"
                    f"（参考信号功率），请用 --map {self.header('power_dbm')}=rs_power_dbm 映射："
                    "LTE 20 MHz 时它比总功率低 30.8 dB",
                    f"{int(low.sum())} cell(s) with a total transmit power under 30 dBm (1 W); if the column "
                    "is the reference-signal power per resource element (参考信号功率), map it with "
                    f"--map {self.header('power_dbm')}=rs_power_dbm: it is 30.8 dB below the total for "
                    "LTE 20 MHz"))

    def _per_re_power(self, name: str) -> NDArray[np.float64]:
        """A power-per-resource-element column in dBm: ``(0.1dBm)`` in its header or --map target
        divides by 10; without a unit, a column whose values all lie beyond +-60 (no per-RE power
        does) is read as 0.1 dBm with a warning, and a column mixing both is an error."""
        match = self.matches[name]
        epre, errors = parse_floats(self.table.columns[match.index])
        for i, message in errors.items():
            self.error(i, match.header, message)
        finite = np.isfinite(epre)
        self.notes[name] = "dBm per RE -> total dBm"
        if match.unit == "0.1dbm":
            self.notes[name] = "0.1 dBm per RE -> total dBm"
            return epre / 10.0
        if not finite.any():
            return epre
        tenths = finite & (np.abs(epre) > 60.0)
        if (tenths == finite).all():
            self.warn(None, match.header, bi(
                f"{int(tenths.sum())} 个大于 60 的每资源粒子功率按 0.1 dBm 读取（如 152 = 15.2 dBm）；"
                "请在列名中写明单位，如 参考信号功率(0.1dBm)",
                f"{int(tenths.sum())} power(s) per resource element above 60 read as 0.1 dBm "
                "(e.g. 152 = 15.2 dBm); name the unit, e.g. 参考信号功率(0.1dBm), to say so"))
            self.notes[name] = "0.1 dBm per RE -> total dBm"
            return epre / 10.0
        if tenths.any():
            for i in np.flatnonzero(tenths).tolist():
                self.error(int(i), match.header, bi(
                    f"{epre[i]:g} 不是以 dBm 为单位的每资源粒子功率（-60 到 60），而该列又混有 dBm 值",
                    f"{epre[i]:g} is not a power per resource element in "
                    "dBm (-60 to 60) and the column mixes it with dBm values"))
            epre[tenths] = np.nan
        return epre

    def sectors(self, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """With ``three_sectors``: each row without azimuth becomes three rows at 0, 120 and 240
        degrees, cell ids ``<cell or site>-1/-2/-3``."""
        if not self.mapping.three_sectors:
            return frame
        omni = frame["azimuth_deg"].isna().to_numpy()
        if not omni.any():
            return frame
        parts = [frame[~omni]]
        base = frame[omni]
        names = base["cell_id"].where(base["cell_id"].notna(), base["site_id"]).astype(str)
        for k, azimuth in enumerate((0.0, 120.0, 240.0), start=1):
            part = base.copy()
            part["azimuth_deg"] = azimuth
            part["cell_id"] = (names + f"-{k}").to_numpy()
            parts.append(part)
        out = pd.concat(parts)
        order = np.argsort(np.concatenate([np.flatnonzero(~omni), *(np.flatnonzero(omni),) * 3]), kind="stable")
        return gpd.GeoDataFrame(out.iloc[order].reset_index(drop=True), geometry="geometry", crs=frame.crs)
