"""Settings of the CLI and (later) the HTTP service: one object, built by the caller, never at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coverage.limits import Limits


class Settings(BaseSettings):
    """Configuration read from ``VILLAGE5G_*`` environment variables and an optional ``.env`` file.

    ``database_url`` selects the store: empty means the embedded SQLite file
    ``<data_dir>/village5g.db``; ``postgresql+psycopg://user@host/db`` selects PostgreSQL/PostGIS.
    """

    model_config = SettingsConfigDict(env_prefix="VILLAGE5G_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str = ""
    #: Saved column-mapping profiles of `ingest --profile NAME` (default: <data_dir>/profiles).
    profile_dir: Path | None = None
    max_grid_pixels: int = Field(default=Limits.max_grid_pixels, ge=1)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("database_url must start with sqlite:// or postgresql+psycopg://")
        return value

    def resolved_database_url(self) -> str:
        """The database URL in force; creates the data folder for the embedded default."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'village5g.db').as_posix()}"

    @property
    def profiles(self) -> Path:
        """The folder of mapping profiles (``VILLAGE5G_PROFILE_DIR``, else ``<data_dir>/profiles``)."""
        return self.profile_dir if self.profile_dir is not None else self.data_dir / "profiles"

    @property
    def limits(self) -> Limits:
        """The resource limits in force (:class:`coverage.limits.Limits`)."""
        return Limits(max_grid_pixels=self.max_grid_pixels)
