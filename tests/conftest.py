from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from coverage.store.storage import Store
from tests.utils.db import POSTGRES_URL, require_postgis, reset_postgres

if TYPE_CHECKING:
    from seeds import SeedWorld


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


@pytest.fixture(scope="session")
def seed_world() -> SeedWorld:
    """The Jiangsu seed world of the default seed, built once per test session (~10 s). Read only:
    tests filter and copy its frames, never change them (the pinned checksums would tell)."""
    from seeds import DEFAULT_SEED, build_world

    return build_world(seed=DEFAULT_SEED)


@pytest.fixture(scope="session")
def seed_store(seed_world: SeedWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The seed world stored by ``village5g seed`` in a SQLite file and analysed once with the default
    rules and parameters (village committees; the run's GeoTIFF under ``<folder>/runs``). Built once
    per test session for the slow tests that read a whole seeded and analysed province. Read only.

    The seed command is run as a user runs it; only its world is the session's, built once
    (``build_world`` is deterministic and checked in tests/test_seed_world.py).
    """
    from typer.testing import CliRunner

    import seeds.world
    from api.cli import app
    from coverage.model.parameters import ModelParameters
    from coverage.model.rules import DEFAULT_RULES
    from coverage.runs.analysis import run_analysis

    def built(*, seed: int, progress: object = None, terrain: bool = False) -> SeedWorld:
        assert seed == seeds.world.DEFAULT_SEED and not terrain
        return seed_world

    folder = tmp_path_factory.mktemp("seed-store")
    url = f"sqlite:///{folder / 'seed.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(seeds.world, "build_world", built)
        result = CliRunner().invoke(app, ["--db", url, "seed"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "21,958 villages" in result.output
    store = Store(url)
    run_analysis(store, rules=DEFAULT_RULES, params=ModelParameters(), artifacts_dir=folder / "runs")
    yield store
    store.dispose()
