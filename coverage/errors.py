"""Domain exceptions. Each carries what a user needs to fix the input: file, row, field, problem."""

from __future__ import annotations

from dataclasses import dataclass


def bi(chinese: str, english: str) -> str:
    """``chinese (english)``: the project's way of saying a message in both languages."""
    return f"{chinese} ({english})"


@dataclass(frozen=True)
class Problem:
    """One finding about an input file.

    ``row`` is the 1-based data row as a user sees it in a spreadsheet (header excluded) or the
    feature number in a vector file; ``None`` when the problem concerns the whole file.
    """

    file: str
    row: int | None
    field: str | None
    message: str
    severity: str = "error"  # "error" rejects the file, "warning" is reported and repaired

    def __str__(self) -> str:
        """``file，第 N 行，字段 'X'：message`` (row and field when known): where in Chinese, the message as
        it is (Chinese first, its English in brackets)."""
        return f"{where(self.file, self.row, self.field)}：{self.message}"


def where(file: str, row: int | None = None, field: str | None = None) -> str:
    """Where in a file a problem lies, in Chinese: ``file，第 N 行，字段 'X'`` (row and field when known)."""
    parts = [file]
    if row is not None:
        parts.append(f"第 {row} 行")
    if field:
        parts.append(f"字段 {field!r}")
    return "，".join(parts)


def more_problems(count: int) -> str:
    """The line after the problems shown: how many more there are."""
    return f"另有 {count} 个问题 (and {count} more problem(s))"


class Village5gError(Exception):
    """Base class of every error the domain raises on purpose."""


class ValidationError(Village5gError):
    """An input file was rejected; ``problems`` lists every error found (nothing was stored)."""

    def __init__(self, problems: list[Problem], *, limit: int = 20) -> None:
        self.problems = [p for p in problems if p.severity == "error"] or list(problems)
        shown = "；".join(str(p) for p in self.problems[:limit])
        more = len(self.problems) - limit
        if more > 0:
            shown += "；" + more_problems(more)
        super().__init__(shown)


class NotFoundError(Village5gError):
    """A requested object (run, village, division) does not exist."""


class ConfigError(Village5gError):
    """A setting or option has a value the system cannot use."""


#: What a run says when no villages are stored (in its scope).
NO_VILLAGES = ("尚未存储行政村：请运行 `village5g seed` 或 `village5g ingest villages FILE` "
               "(no villages stored: run `village5g seed` or `village5g ingest villages FILE`)")

#: A read of the latest run when none is published yet.
NO_PUBLISHED_RUN = "尚无已发布的分析运行 (no published analysis run yet)"
#: The same, where the CLI is the way out.
NO_PUBLISHED_RUN_ANALYZE = ("尚无已发布的分析运行：请运行 `village5g analyze` "
                            "(no published analysis run yet: run `village5g analyze`)")

#: The Chinese of a run's status.
RUN_STATUS_NAMES = {"running": "运行中", "published": "已发布", "failed": "已失败", "missing": "不存在"}


def run_missing(run_id: object) -> str:
    """The message of a run id that no run has."""
    return f"分析运行 {run_id} 不存在 (run {run_id} does not exist)"


def run_unpublished(run_id: object, status: str) -> str:
    """The message of a run that exists but is not published (still running, or failed)."""
    return f"分析运行 {run_id} {RUN_STATUS_NAMES.get(status, status)}，未发布 (run {run_id} is {status}, not published)"
