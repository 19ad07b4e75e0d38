"""Patterns of path and query parameters, and the Chinese-first message a mismatch gets (the console shows it)."""

from __future__ import annotations

#: A division code prefix: a province (2 digits), city (4), county (6), township (9) or village (12).
REGION_PATTERN = r"^\d{2}(\d{2}(\d{2}(\d{3}(\d{3})?)?)?)?$"

#: A city (4 digits) or county (6) code: the maps of one city or county.
CITY_OR_COUNTY_PATTERN = r"^\d{4}(\d{2})?$"

#: What a value that does not match the pattern should have been, by pattern.
PATTERN_MESSAGES = {
    REGION_PATTERN: "区划代码应为 2、4、6、9 或 12 位数字（省、地市、县区、乡镇、行政村） "
                    "(a division code has 2, 4, 6, 9 or 12 digits)",
    r"^\d{4}$": "地市代码应为 4 位数字 (a city code has 4 digits)",
    CITY_OR_COUNTY_PATTERN: "地市或县区代码应为 4 或 6 位数字 (a city or county code has 4 or 6 digits)",
    r"^\d{12}$": "行政村代码应为 12 位数字 (a village code has 12 digits)",
}
