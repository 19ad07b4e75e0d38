from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coverage.storage import Store
from tests.utils.db import POSTGRES_URL, require_postgis, reset_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store with the schema created, on SQLite and on PostGIS."""
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'test.db'}")
    else:
        require_postgis()
        reset_postgres()
        s = Store(POSTGRES_URL)
    s.create_schema()
    yield s
    s.dispose()
