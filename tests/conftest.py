from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from filelock import FileLock

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
def seed_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The seed world stored by ``village5g seed`` in a SQLite file and analysed once with the default
    rules and parameters (village committees; the run's GeoTIFF under ``<folder>/runs``). Built once
    per test session for the slow tests that read a whole seeded and analysed province. Read only.

    The seed command is run as a user runs it; only its world is the session's, built once
    (``build_world`` is deterministic and checked in tests/test_seed_world.py).

    Under pytest-xdist the workers share one: the first to need it builds it in the run's common
    temporary folder while the others wait on a file lock, then each opens the same file.
    """
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = tmp_path_factory.mktemp("seed-store")
        _build_seed_store(request, folder)
    else:
        folder = tmp_path_factory.getbasetemp().parent / "seed-store"  # this run's, common to its workers
        with FileLock(str(folder) + ".lock"):
            if not (folder / "built").exists():
                folder.mkdir(exist_ok=True)
                _build_seed_store(request, folder)
                (folder / "built").touch()
    store = Store(f"sqlite:///{folder / 'seed.db'}")
    yield store
    store.dispose()


def _build_seed_store(request: pytest.FixtureRequest, folder: Path) -> None:
    """Seed ``folder/seed.db`` with the session's seed world and analyse it (runs under ``folder/runs``)."""
    from typer.testing import CliRunner

    import seeds.world
    from api.cli import app
    from coverage.model.parameters import ModelParameters
    from coverage.model.rules import DEFAULT_RULES
    from coverage.runs.analysis import run_analysis

    seed_world: SeedWorld = request.getfixturevalue("seed_world")

    def built(*, seed: int, progress: object = None, terrain: bool = False) -> SeedWorld:
        assert seed == seeds.world.DEFAULT_SEED and not terrain
        return seed_world

    url = f"sqlite:///{folder / 'seed.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(seeds.world, "build_world", built)
        result = CliRunner().invoke(app, ["--db", url, "seed"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "21,958 villages" in result.output
    store = Store(url)
    run_analysis(store, rules=DEFAULT_RULES, params=ModelParameters(), artifacts_dir=folder / "runs")
    store.dispose()
