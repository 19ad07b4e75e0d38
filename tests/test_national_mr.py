"""MR grid statistics of the national synthetic world (``seed --provinces ... --mr``): drawn by the seed
world's code (seeds/mr.py) where people are, stored with the world in one transaction, read back by area
as a partition reads them, deterministic by seed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app
from coverage.crs import local_metric_crs, project_xy
from coverage.ingest.mr import EVIDENCE_COLUMNS, insert_mr_rows, latest_mr_period, read_mr
from coverage.runs.partition import StoreInputs
from coverage.schema import Kind
from coverage.store.storage import SeedPart, SeedTable, Store
from coverage.store.tables import ingests, mr_grids
from seeds import mr as seed_mr
from seeds.national import seed_national_world
from tests.worlds.contract import contract_measurements, contract_stations, contract_villages

CRS = local_metric_crs((118.0, 31.0, 119.0, 32.0))


class _Field:
    """A hand-made field: every operator but CBN (no cell at all) heard at -80 dBm at x = 0, 10 dB less per
    km eastwards (-160 dBm at 8 km, where no phone hears NR)."""

    def evaluate(self, x: np.ndarray, y: np.ndarray, operator: str, day: Any, *, vehicle: bool = True,
                 rng: Any = None) -> dict[str, np.ndarray]:
        n = len(x)
        if operator == "CBN":
            return {"rsrp": np.full(n, -np.inf), "sinr": np.full(n, np.nan), "band": np.full(n, -1),
                    "bw": np.full(n, np.nan)}
        return {"rsrp": -80.0 - 0.01 * (x - 500_000.0), "sinr": np.full(n, 10.0), "band": np.full(n, 1),
                "bw": np.full(n, 100.0)}

    def location_loss_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.zeros(len(x))


def mr_fingerprint(mr: pd.DataFrame) -> str:
    """SHA-256 of a frame of MR rows (their values, in order)."""
    return hashlib.sha256(pd.util.hash_pandas_object(mr, index=False).to_numpy().tobytes()).hexdigest()


def _villages() -> gpd.GeoDataFrame:
    """Three 1 km square villages on the field's axis: 2,000 people at 0 km, 3,000 at 8 km, nobody at 4 km."""
    xs, people = [500_000.0, 508_000.0, 504_000.0], [2000, 3000, 0]
    polys = [shapely.box(x - 500.0, 3_500_000.0, x + 500.0, 3_501_000.0) for x in xs]
    metric = gpd.GeoDataFrame({"code": ["1", "2", "3"], "population": people},
                              geometry=polys, crs=CRS)
    frame = metric.to_crs("EPSG:4326")
    centre = gpd.GeoSeries(metric.geometry.centroid, crs=CRS).to_crs("EPSG:4326")
    return frame.assign(committee_lon=centre.x.to_numpy(), committee_lat=centre.y.to_numpy())


def _draw(seed: int, **kwargs: Any) -> list[pd.DataFrame]:
    field: Any = _Field()
    return list(seed_mr.iter_mr_grids(np.random.default_rng(seed), field, _villages(), CRS, **kwargs))


def _near(frame: pd.DataFrame, village: int, metres: float = 600.0) -> np.ndarray:
    x, y = project_xy(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float), CRS)
    poly = _villages().to_crs(CRS).geometry.iloc[village]
    return np.asarray(shapely.dwithin(poly, shapely.points(x, y), metres))


def test_rows_only_where_people_are_and_nr_only_where_it_is_heard() -> None:
    """Rows lie round the peopled villages, none round the empty one; NR rows only where the operator has a
    cell and its phones hear it (none for CBN, none at 8 km), LTE anchor rows wherever people are."""
    mr = pd.concat(_draw(7), ignore_index=True)
    near_a, near_b, near_empty = _near(mr, 0), _near(mr, 1), _near(mr, 2, 1000.0)
    assert len(mr) and (near_a | near_b).all() and not near_empty.any()
    nr, lte = mr["rat"] == "NR", mr["rat"] == "LTE"
    assert set(mr.loc[nr, "operator"]) == {"CMCC", "CTCC", "CUCC"}  # CBN has no cell: no row at all
    assert nr[near_a].any() and not nr[near_b].any()
    assert set(mr.loc[lte & near_b, "operator"]) == {"CMCC", "CTCC", "CUCC"}
    assert (mr["samples"] >= seed_mr.MIN_SAMPLES).all()
    # an NR row's samples are those of its operator's phones that heard NR: at most the LTE row's
    keys = ["lon", "lat", "operator"]
    both = mr[nr].merge(mr[lte], on=keys, suffixes=("_nr", "_lte"), validate="one_to_one")
    assert len(both) == nr.sum() and (both["samples_nr"] <= both["samples_lte"]).all()


def test_the_draw_is_deterministic_by_seed_and_chunks_keep_a_grid_whole() -> None:
    one, again, other = _draw(7), _draw(7), _draw(8)
    assert len(one) == 1
    pd.testing.assert_frame_equal(one[0], again[0])
    assert mr_fingerprint(other[0]) != mr_fingerprint(one[0])
    chunks = _draw(7, chunk_grids=5)
    assert len(chunks) > 3
    rows = pd.concat(chunks, ignore_index=True)
    assert not rows.duplicated(["lon", "lat", "operator", "rat", "band"]).any()
    grids = {tuple(k) for k in one[0][["lon", "lat"]].itertuples(index=False)}
    # the same grids hold people (their rows differ: the draws come in another order)
    assert len(grids & {tuple(k) for k in rows[["lon", "lat"]].itertuples(index=False)}) > 0.8 * len(grids)


def _seed_tables() -> tuple[SeedTable, ...]:
    return (SeedTable("mr", mr_grids, insert_mr_rows),)


def test_a_seed_stores_mr_chunks_in_its_transaction(store: Store) -> None:
    """Store.seed_parts with the MR table: the chunks of every part are stored and logged as "mr" with the
    world; a later part that fails leaves everything (MR included) as it was; no chunks empty the table."""
    villages, stations, measurements = contract_villages(), contract_stations(), contract_measurements()
    divisions = gpd.GeoDataFrame({"code": ["32"], "name": ["江苏省"], "level": ["province"], "parent_code": [None],
                                  "host_code": [None], "synthetic": [False]}, geometry=[None], crs="EPSG:4326")
    chunks = _draw(7, chunk_grids=8)
    kinds: tuple[Kind, ...] = ("villages", "stations", "measurements")

    def parts(fail: bool = False) -> Iterator[SeedPart]:
        yield divisions, {"villages": villages, "stations": stations, "measurements": measurements}, \
            {"mr_grids": iter(chunks[:2])}
        yield divisions.iloc[:0], {}, {"mr_grids": iter(chunks[2:])}
        if fail:
            raise RuntimeError("the third province failed to build")

    counts = store.seed_parts(parts(), kinds=kinds, fingerprint=lambda: "first", tables=_seed_tables())
    expected = pd.concat(chunks, ignore_index=True)
    assert counts["mr_grids"] == len(expected) and counts["villages"] == len(villages)
    stored = read_mr(store, columns=EVIDENCE_COLUMNS)
    pd.testing.assert_series_equal(stored["samples"], expected["samples"].astype(np.int64), check_names=False)
    assert mr_fingerprint(stored) == mr_fingerprint(read_mr(store, columns=EVIDENCE_COLUMNS))
    with store.engine.connect() as conn:
        logged = dict(conn.execute(sa.select(ingests.c.kind, ingests.c.rows).where(ingests.c.sha256 == "first")).all())
    assert logged["mr"] == len(expected)

    with pytest.raises(RuntimeError, match="third province"):
        store.seed_parts(parts(fail=True), kinds=kinds, fingerprint=lambda: "second", tables=_seed_tables())
    assert len(read_mr(store)) == len(expected)

    # a part naming a table the seed does not replace is refused
    with pytest.raises(ValueError, match="mr_other"):
        store.seed_parts(iter([(divisions, {}, {"mr_other": iter(chunks)})]), kinds=kinds, fingerprint=lambda: "x",
                         tables=_seed_tables())

    counts = store.seed_parts(iter([(divisions, {})]), kinds=kinds, fingerprint=lambda: "third",
                              tables=_seed_tables())
    assert counts["mr_grids"] == 0 and read_mr(store).empty


@pytest.fixture(scope="module")
def ningxia(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str, dict[str, int]]]:
    """宁夏 (64) seeded with its MR into SQLite once for the tests below."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('nation-mr') / 'nation.db'}")
    store.create_schema()
    checksum, counts = seed_national_world(store, ["64"], mr=True)
    yield store, checksum, counts
    store.dispose()


def test_the_national_mr_is_where_people_are_and_of_the_seed_worlds_size(
        ningxia: tuple[Store, str, dict[str, int]]) -> None:
    """Every grid lies within reach of a village of the province (phones scatter 80 m round points inside
    the villages); rows per village-level unit as in the Jiangsu seed world (1,438,291 for 21,958, 65.5)."""
    store, _checksum, counts = ningxia
    mr = read_mr(store)
    assert counts["mr_grids"] == len(mr) > 0
    assert 40 <= len(mr) / counts["villages"] <= 100
    assert set(mr["source"]) == {"synthetic-seed"} and set(mr["operator"]) == {"CMCC", "CTCC", "CUCC", "CBN"}
    villages = store.read("villages")
    crs = local_metric_crs(tuple(float(b) for b in villages.total_bounds))
    polys = villages.to_crs(crs).geometry.to_numpy()
    x, y = project_xy(mr["lon"].to_numpy(float), mr["lat"].to_numpy(float), crs)
    hit = shapely.STRtree(polys).query(shapely.points(x, y), predicate="dwithin", distance=600.0)
    assert len(np.unique(hit[0])) == len(mr)
    # a kept NR row of an operator with an LTE anchor has its LTE row, with at least as many samples
    nr = mr[(mr["rat"] == "NR") & (mr["operator"] != "CBN")]
    both = nr.merge(mr[mr["rat"] == "LTE"], on=["lon", "lat", "operator"], suffixes=("_nr", "_lte"))
    assert len(both) == len(nr) and (both["samples_nr"] <= both["samples_lte"]).all()


def test_a_partition_reads_the_mr_rows_of_its_area(ningxia: tuple[Store, str, dict[str, int]]) -> None:
    """StoreInputs.mr (what a partition's task reads): exactly the stored rows whose centre lies in its box."""
    store, _checksum, _counts = ningxia
    villages = store.read("villages")
    crs = local_metric_crs(tuple(float(b) for b in villages.total_bounds))
    inputs = StoreInputs(store, villages["code"].to_numpy(), crs, mr_period=latest_mr_period(store))
    every = read_mr(store, columns=EVIDENCE_COLUMNS)
    x, y = project_xy(every["lon"].to_numpy(float), every["lat"].to_numpy(float), crs)
    x0, y0 = float(np.quantile(x, 0.3)), float(np.quantile(y, 0.3))
    box = (x0, y0, x0 + 20_000.0, y0 + 15_000.0)
    got = inputs.mr(box)
    assert got is not None and 0 < len(got) < len(every)
    inside = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
    pd.testing.assert_frame_equal(got, every[inside].reset_index(drop=True))


def test_the_seed_command_draws_mr_only_when_asked_and_by_seed(
        ningxia: tuple[Store, str, dict[str, int]], tmp_path: Path) -> None:
    """`seed --provinces 64 --mr` stores the same MR as the module's seed (same seed), logged as "mr", and the
    same world; without --mr the world is the same and the stored MR is removed (it would be another world's)."""
    store, checksum, _counts = ningxia
    db = f"sqlite:///{tmp_path / 'nation.db'}"
    result = CliRunner().invoke(app, ["--db", db, "seed", "--provinces", "64", "--mr"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"seed world {checksum[:12]} stored" in result.output and "mr grids" in result.output
    assert "MR grid rows drawn and stored" in result.output
    again = Store(db)
    assert mr_fingerprint(read_mr(again)) == mr_fingerprint(read_mr(store))
    with again.engine.connect() as conn:
        assert conn.execute(sa.select(ingests.c.sha256).where(ingests.c.kind == "mr")).scalar_one() == checksum

    result = CliRunner().invoke(app, ["--db", db, "seed", "--provinces", "64"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"seed world {checksum[:12]} stored" in result.output and "0 mr grids" in result.output
    assert read_mr(again).empty and latest_mr_period(again) is None
    again.dispose()
