"""End to end through the CLI: the seeded world (the session's, stored by ``village5g seed``), export
every kind, ingest the exports into an empty database and get the same data back, on SQLite and on
PostGIS."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from coverage.store.storage import Store
from tests.utils.db import POSTGRES_URL, require_postgis, reset_postgres
from tests.utils.frames import assert_frames_equal

pytestmark = pytest.mark.slow

runner = CliRunner()


def _cli(db: str, *args: str) -> str:
    result = runner.invoke(app, ["--db", db, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


FORMATS = {"villages": "gpkg", "stations": "csv", "measurements": "parquet"}


@pytest.fixture(scope="module")
def seeded_db(seed_store: Store) -> str:
    return seed_store.url


@pytest.fixture(scope="module")
def exports(seeded_db: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every kind exported once by ``village5g export``, for each database to ingest."""
    folder = tmp_path_factory.mktemp("exports")
    paths = {kind: folder / f"{kind}.{fmt}" for kind, fmt in FORMATS.items()}
    for kind, path in paths.items():
        _cli(seeded_db, "export", kind, "-o", str(path))
    return paths


def test_status_reports_counts_per_city(seeded_db: str) -> None:
    out = _cli(seeded_db, "status")
    assert "21,958 villages" in out
    assert "13,263 village committees" in out
    assert "徐州市" in out and "seed world" in out


@pytest.mark.parametrize("target", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_export_then_ingest_reproduces_the_seed_world(seeded_db: str, exports: dict[str, Path], tmp_path: Path,
                                                     target: str) -> None:
    if target == "postgis":
        require_postgis()
        reset_postgres()
        fresh = POSTGRES_URL
    else:
        fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    for kind, path in exports.items():
        _cli(fresh, "ingest", kind, str(path))
    source, copy = Store(seeded_db), Store(fresh)
    for kind in FORMATS:
        assert_frames_equal(copy.read(kind), source.read(kind))  # type: ignore[arg-type]
    source.dispose()
    copy.dispose()
