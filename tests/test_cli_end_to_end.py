"""End to end through the CLI: seed the world, export every kind, ingest the exports into an empty
database and get the same data back, on SQLite and on PostGIS."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from coverage.storage import Store
from tests.utils.db import POSTGRES_URL, require_postgis, reset_postgres
from tests.utils.frames import assert_frames_equal

pytestmark = pytest.mark.slow

runner = CliRunner()


def _cli(db: str, *args: str) -> str:
    result = runner.invoke(app, ["--db", db, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = f"sqlite:///{tmp_path_factory.mktemp('seed') / 'seed.db'}"
    out = _cli(db, "seed")
    assert "21,958 villages" in out
    return db


def test_status_reports_counts_per_city(seeded_db: str) -> None:
    out = _cli(seeded_db, "status")
    assert "21,958 villages" in out
    assert "13,263 village committees" in out
    assert "徐州市" in out and "seed world" in out


@pytest.mark.parametrize("target", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_export_then_ingest_reproduces_the_seed_world(seeded_db: str, tmp_path: Path, target: str) -> None:
    if target == "postgis":
        require_postgis()
        reset_postgres()
        fresh = POSTGRES_URL
    else:
        fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    formats = {"villages": "gpkg", "stations": "csv", "measurements": "parquet"}
    for kind, fmt in formats.items():
        path = tmp_path / f"{kind}.{fmt}"
        _cli(seeded_db, "export", kind, "-o", str(path))
        _cli(fresh, "ingest", kind, str(path))
    source, copy = Store(seeded_db), Store(fresh)
    for kind in formats:
        assert_frames_equal(copy.read(kind), source.read(kind))  # type: ignore[arg-type]
    source.dispose()
    copy.dispose()
