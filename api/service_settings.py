"""Settings of the HTTP service: the CLI's settings plus what only a server needs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from api.schedules import parse_schedule
from api.settings import Settings
from coverage.limits import Limits


class ServiceSettings(Settings):
    """``VILLAGE5G_*`` variables (or ``.env``) of ``village5g serve``; bad values fail at start-up.

    Attributes
    ----------
    reads_need_key
        ``VILLAGE5G_READS_NEED_KEY``: reads need an API key too (any role); open by default.
    max_upload_mb
        Largest request body accepted (an uploaded file and its form), MiB; checked against the
        declared length before the body is read, and while it streams in.
    max_upload_rows
        Data rows of one uploaded file, counted before it is parsed (CSV: lines).
    max_unpacked_mb
        What one uploaded archive (.zip, and .xlsx, which is one) may unpack to, MiB.
    max_zip_ratio
        Largest unpacked-to-packed ratio of one archive member (zip bombs: ~1,000).
    failed_key_limit, failed_key_window_s
        A client (by address) that sent this many invalid API keys within the window gets 429
        without any key check until the window has passed.
    public_url
        Base URL of links in responses when the service sits behind a proxy that rewrites the
        host (e.g. ``https://gis.example.org/village5g``); by default links follow the request.
    key_cache_s
        Seconds a verified API key is trusted without hashing it again (so revoking takes effect
        within this time).
    log_level
        Level of the log on standard error.
    log_format
        ``VILLAGE5G_LOG_FORMAT``: ``json`` (one object per line, for log collectors; the default) or
        ``text`` (one short line per event, for people; the demo uses it).
    scheduler
        ``VILLAGE5G_SCHEDULER``: run the scheduled jobs inside the service (default on; with several
        workers or processes each job still runs once per fire time).
    drop_dir
        Drop folder the ``refresh`` job reads new exports from (default ``<data dir>/drop``).
    refresh_schedule, snapshot_schedule, report_schedule
        When the jobs run: a 5-field cron expression in :attr:`schedule_timezone` (minute hour day
        month weekday; defaults daily 02:00, daily 03:00, Mondays 06:00), ``every N s|min|h`` (fire
        times aligned to multiples of N since 2000-01-01 UTC, the same in every process), or ``off``.
    schedule_timezone
        Time zone of the cron expressions and of the report folders' dates.
    misfire_grace_s
        A fire time missed by up to this many seconds (the process was busy or down) still runs once;
        several missed fire times coalesce into one run.
    job_retry_s, job_max_retries
        A failed job is tried again after this many seconds, at most this many times per fire time.
    job_lease_s
        Lease of a running job, renewed every third of it: a job whose process vanished on another
        host is taken over after this long (on this host at once).
    refresh_resolution_m
        Pixel size of the refresh's analysis (metres).
    report_regions
        Comma-separated city or county codes that get their own report files besides the province's.
    """

    reads_need_key: bool = False
    max_upload_mb: float = Field(default=200.0, gt=0, le=10_240)
    max_upload_rows: int = Field(default=500_000, ge=1)
    max_unpacked_mb: float = Field(default=200.0, gt=0, le=100_000)
    max_zip_ratio: float = Field(default=100.0, ge=1)
    failed_key_limit: int = Field(default=20, ge=1)
    failed_key_window_s: float = Field(default=60.0, gt=0, le=86400)
    public_url: str = ""
    tianditu_key: str = ""  # 天地图 browser key for the console map's tianditu basemap
    key_cache_s: float = Field(default=60.0, ge=0, le=3600)
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    scheduler: bool = True
    drop_dir: Path | None = None
    refresh_schedule: str = "0 2 * * *"
    snapshot_schedule: str = "0 3 * * *"
    report_schedule: str = "0 6 * * mon"
    schedule_timezone: str = "Asia/Shanghai"
    misfire_grace_s: int = Field(default=3600, ge=1, le=7 * 86400)
    job_retry_s: float = Field(default=600.0, gt=0, le=86400)
    job_max_retries: int = Field(default=3, ge=0, le=20)
    job_lease_s: float = Field(default=120.0, ge=3, le=86400)
    refresh_resolution_m: float = Field(default=100.0, ge=1, le=1000)
    report_regions: str = ""

    @field_validator("refresh_schedule", "snapshot_schedule", "report_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        parse_schedule(value, "UTC")  # ValueError naming the problem
        return value.strip()

    @field_validator("schedule_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
        return value

    @field_validator("report_regions")
    @classmethod
    def _regions(cls, value: str) -> str:
        codes = [c.strip() for c in value.split(",") if c.strip()]
        bad = [c for c in codes if not (c.isdigit() and len(c) in (4, 6))]
        if bad:
            raise ValueError(f"report_regions takes 4-digit city or 6-digit county codes, not {', '.join(bad)}")
        return ",".join(codes)

    @property
    def resolved_drop_dir(self) -> Path:
        """The drop folder in force."""
        return self.drop_dir if self.drop_dir is not None else self.data_dir / "drop"

    @property
    def report_region_codes(self) -> list[str]:
        """:attr:`report_regions` as a list."""
        return [c for c in self.report_regions.split(",") if c]

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("public_url must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @property
    def limits(self) -> Limits:
        """The resource limits of requests (:class:`coverage.limits.Limits`)."""
        return Limits(max_grid_pixels=self.max_grid_pixels, max_rows=self.max_upload_rows,
                      max_unpacked_bytes=int(self.max_unpacked_mb * 1024 * 1024), max_zip_ratio=self.max_zip_ratio)

    @property
    def max_upload_bytes(self) -> int:
        """:attr:`max_upload_mb` in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)
