"""Database fixtures: SQLite always, PostGIS when a server is reachable (required in CI)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import URL, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

BASE_POSTGRES_URL = os.environ.get(
    "VILLAGE5G_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/village5g_test"
)
#: The pytest-xdist worker this process is (``gw0``, ``gw1``, ...), or None in a single-process run.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
#: The test database: ``BASE_POSTGRES_URL``'s, or under pytest-xdist one of its own per worker (``<name>_gw0``),
#: created on first use, so workers never drop each other's tables.
POSTGRES_URL = (BASE_POSTGRES_URL if WORKER is None else
                make_url(BASE_POSTGRES_URL).set(database=f"{make_url(BASE_POSTGRES_URL).database}_{WORKER}")
                .render_as_string(hide_password=False))
REQUIRE_POSTGIS = os.environ.get("VILLAGE5G_REQUIRE_POSTGIS") == "1"


def postgis_unavailable_reason(url: str = POSTGRES_URL) -> str | None:
    """None when ``url`` reaches a server with PostGIS available, else the cause and the command to fix it.

    The causes told apart: no server answers (or it refuses the user), the server runs but the
    database is missing (found by connecting to the server's ``postgres`` database instead), and
    the server has no PostGIS extension package.
    """
    target = make_url(url)
    where = f"{target.host or 'localhost'}:{target.port or 5432}"
    try:
        engine = create_engine(target)
        with engine.connect() as conn:
            ok = conn.execute(
                text("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")
            ).scalar_one()
            major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
        engine.dispose()
    except OperationalError as exc:
        if _server_answers(target):
            return (f"PostgreSQL at {where} is running but has no database {target.database!r}: create it with "
                    f"`createdb -h {target.host or 'localhost'} -p {target.port or 5432} "
                    f"-U {target.username or 'postgres'} {target.database}`")
        return (f"no PostgreSQL server accepts {target.username or 'postgres'} at {where} ({_first_cause(exc)}): "
                "start one (`sudo service postgresql start`) or point VILLAGE5G_TEST_POSTGRES_URL at one")
    if not ok:
        return (f"PostgreSQL {major} at {where} has no PostGIS extension: install it with "
                f"`sudo apt-get install postgresql-{major}-postgis-3`")
    return None


def _server_answers(target: URL) -> bool:
    """True when the server of ``target`` accepts the same user on its ``postgres`` database."""
    if target.database == "postgres":
        return False
    engine = create_engine(target.set(database="postgres"))
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def _first_cause(exc: OperationalError) -> str:
    """The server's or the socket's own words, e.g. ``Connection refused``."""
    message = str(exc.orig).strip()
    for line in message.splitlines():
        if "FATAL:" in line:
            return line.split("FATAL:", 1)[1].strip()
        if "failed:" in line:
            return line.rsplit("failed:", 1)[1].strip()
    return message.splitlines()[0] if message else type(exc.orig).__name__


def reset_postgres() -> None:
    """Drop every table of the test database so each test starts empty.

    The tables go, the PostGIS extension stays (with its ``spatial_ref_sys``): creating the extension
    again took most of a second per test, dropping the tables a tenth.
    """
    engine = create_engine(POSTGRES_URL)
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
    with engine.begin() as conn:
        found = conn.execute(text(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S') "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')")).all()
        for kind in ("MATERIALIZED VIEW", "VIEW", "TABLE", "SEQUENCE"):
            names = ", ".join(f'"{name}"' for name, relkind in found if kinds[relkind] == kind)
            if names:
                conn.execute(text(f"DROP {kind} IF EXISTS {names} CASCADE"))
    engine.dispose()


def _create_worker_database() -> None:
    """Create this xdist worker's database on the server of ``BASE_POSTGRES_URL`` when it is missing."""
    target = make_url(POSTGRES_URL)
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                  {"name": target.database}).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    except OperationalError:
        pass  # no server: require_postgis() says why
    finally:
        engine.dispose()


_checked: list[str | None] = []


def require_postgis() -> None:
    """Skip (or fail in CI, where VILLAGE5G_REQUIRE_POSTGIS=1) when PostGIS cannot be reached."""
    if not _checked:
        if WORKER is not None:
            _create_worker_database()
        _checked.append(postgis_unavailable_reason())
    reason = _checked[0]
    if reason is None:
        return
    if REQUIRE_POSTGIS:
        pytest.fail(f"PostGIS is required (VILLAGE5G_REQUIRE_POSTGIS=1) but {reason}")
    pytest.skip(reason)
