"""Settings of the HTTP service: the CLI's settings plus what only a server needs."""

from __future__ import annotations

from pydantic import Field, field_validator

from api.settings import Settings


class ServiceSettings(Settings):
    """``VILLAGE5G_*`` variables (or ``.env``) of ``village5g serve``; bad values fail at start-up.

    Attributes
    ----------
    reads_need_key
        ``VILLAGE5G_READS_NEED_KEY``: reads need an API key too (any role); open by default.
    max_upload_mb
        Largest request body accepted (an uploaded file and its form), MiB.
    public_url
        Base URL of links in responses when the service sits behind a proxy that rewrites the
        host (e.g. ``https://gis.example.org/village5g``); by default links follow the request.
    key_cache_s
        Seconds a verified API key is trusted without hashing it again (so revoking takes effect
        within this time).
    log_level
        Level of the JSON-lines log on standard error.
    """

    reads_need_key: bool = False
    max_upload_mb: float = Field(default=200.0, gt=0, le=10_240)
    public_url: str = ""
    key_cache_s: float = Field(default=60.0, ge=0, le=3600)
    log_level: str = "INFO"

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
    def max_upload_bytes(self) -> int:
        """:attr:`max_upload_mb` in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)
