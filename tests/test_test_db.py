"""The PostGIS skip names the real cause and the command that fixes it."""

from __future__ import annotations

import socket
import uuid

import pytest
from sqlalchemy import make_url

from tests.utils.db import POSTGRES_URL, postgis_unavailable_reason


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_url(database: str) -> str:
    """POSTGRES_URL on another database; skips when no server answers there at all."""
    url = make_url(POSTGRES_URL).set(database=database)
    reason = postgis_unavailable_reason(url.render_as_string(hide_password=False))
    if reason is not None and reason.startswith("no PostgreSQL server"):
        pytest.skip(f"needs a running PostgreSQL: {reason}")
    return url.render_as_string(hide_password=False)


def test_server_down_says_so_and_how_to_start_one() -> None:
    port = _free_port()
    reason = postgis_unavailable_reason(f"postgresql+psycopg://postgres@127.0.0.1:{port}/village5g_test")
    assert reason is not None
    assert reason.startswith(f"no PostgreSQL server accepts postgres at 127.0.0.1:{port} (Connection refused)")
    assert "sudo service postgresql start" in reason


def test_missing_database_is_told_apart_from_a_missing_server() -> None:
    name = f"village5g_missing_{uuid.uuid4().hex[:8]}"
    url = _server_url("postgres")
    reason = postgis_unavailable_reason(make_url(url).set(database=name).render_as_string(hide_password=False))
    assert reason is not None
    assert f"is running but has no database {name!r}" in reason
    assert f"createdb -h {make_url(url).host} " in reason and reason.endswith(f" {name}`")


def test_missing_extension_names_the_package_for_this_server() -> None:
    url = _server_url("postgres")
    reason = postgis_unavailable_reason(url)
    if reason is None:
        pytest.skip("this server has PostGIS: the missing-extension message cannot be seen here")
    assert "has no PostGIS extension" in reason
    assert "apt-get install postgresql-" in reason and reason.endswith("-postgis-3`")
