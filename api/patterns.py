"""Patterns of path and query parameters, and the Chinese-first message a mismatch gets (the console shows it);
the Chinese of pydantic's other errors of a parameter (:data:`ERROR_MESSAGES`)."""

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

_ONE_OF = "应为以下之一：{expected}"
_DATE = "应为日期（YYYY-MM-DD）"
_DATETIME = "应为日期时间（YYYY-MM-DDTHH:MM:SS）"
#: Chinese for pydantic's error types (``err["type"]``), filled with the error's context (``ctx``); the
#: message of a bad parameter is this, then pydantic's own in brackets.
ERROR_MESSAGES = {
    "missing": "缺少此参数", "extra_forbidden": "没有这个参数（拼写有误？）",
    "greater_than_equal": "应不小于 {ge}", "greater_than": "应大于 {gt}",
    "less_than_equal": "应不大于 {le}", "less_than": "应小于 {lt}",
    "int_parsing": "应为整数", "int_type": "应为整数", "int_from_float": "应为整数",
    "float_parsing": "应为数字", "float_type": "应为数字", "finite_number": "应为有限的数字",
    "bool_parsing": "应为 true 或 false", "bool_type": "应为 true 或 false",
    "literal_error": _ONE_OF, "enum": _ONE_OF,
    "string_too_long": "最多 {max_length} 个字符", "string_too_short": "至少 {min_length} 个字符",
    "string_type": "应为文本", "too_long": "最多 {max_length} 项", "too_short": "至少 {min_length} 项",
    "list_type": "应为列表", "dict_type": "应为 JSON 对象", "model_attributes_type": "应为 JSON 对象",
    "json_invalid": "不是有效的 JSON",
    "date_parsing": _DATE, "date_from_datetime_parsing": _DATE, "date_type": _DATE,
    "datetime_parsing": _DATETIME, "datetime_from_date_parsing": _DATETIME, "datetime_type": _DATETIME,
}


def parameter_message(error_type: str, message: str, context: dict[str, object] | None) -> str:
    """The Chinese-first message of pydantic's error ``error_type`` (its English ``message``): what a
    pattern mismatch should have been, or :data:`ERROR_MESSAGES`' Chinese then the English in brackets;
    ``message`` alone for a type without a translation (the project's own validators say both)."""
    ctx = context or {}
    if error_type == "string_pattern_mismatch":
        return PATTERN_MESSAGES.get(str(ctx.get("pattern")), message)
    template = ERROR_MESSAGES.get(error_type)
    if template is None:
        return message
    # a bound of a float field as the English says it: 1, not 1.0
    ctx = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in ctx.items()}
    if isinstance(ctx.get("expected"), str):  # "'a', 'b' or 'c'" as a Chinese list
        ctx = {**ctx, "expected": str(ctx["expected"]).replace(" or ", ", ").replace(", ", "、")}
    try:
        return f"{template.format(**ctx)} ({message})"
    except (KeyError, IndexError, ValueError):
        return message
