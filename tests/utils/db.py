"""Database fixtures: SQLite always, PostGIS when a server is reachable (required in CI)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

POSTGRES_URL = os.environ.get(
    "VILLAGE5G_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/village5g_test"
)
REQUIRE_POSTGIS = os.environ.get("VILLAGE5G_REQUIRE_POSTGIS") == "1"


def postgis_unavailable_reason() -> str | None:
    """None when POSTGRES_URL reaches a server with PostGIS available, else why not."""
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            ok = conn.execute(
                text("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")
            ).scalar_one()
        engine.dispose()
    except Exception as exc:  # any connection failure means: no server for this run
        return f"no PostgreSQL at {POSTGRES_URL}: {type(exc).__name__}"
    if not ok:
        return "PostgreSQL has no PostGIS extension (apt-get install postgresql-15-postgis-3)"
    return None


def reset_postgres() -> None:
    """Drop every table of the test database so each test starts empty."""
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def require_postgis() -> None:
    """Skip (or fail in CI, where VILLAGE5G_REQUIRE_POSTGIS=1) when PostGIS cannot be reached."""
    reason = postgis_unavailable_reason()
    if reason is None:
        return
    if REQUIRE_POSTGIS:
        pytest.fail(f"PostGIS is required (VILLAGE5G_REQUIRE_POSTGIS=1) but {reason}")
    pytest.skip(reason)
