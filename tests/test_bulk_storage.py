"""Bulk writes (COPY on PostgreSQL, executemany on SQLite) round-trip exactly; filter indexes exist."""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from coverage.model.parameters import ModelParameters
from coverage.model.rules import RuleSet
from coverage.runs.analysis import analyze_frames
from coverage.store.storage import Store
from tests.utils.frames import assert_frames_equal
from tests.worlds.contract import contract_measurements, contract_stations, contract_villages


def test_seed_and_results_round_trip(store: Store) -> None:
    villages, stations, measurements = contract_villages(), contract_stations(), contract_measurements()
    divisions = villages.iloc[:1][["code", "name", "geometry"]].assign(
        code="321012101", level="township", parent_code="321012", host_code=None, synthetic=True)
    divisions.loc[len(divisions)] = {"code": "321012", "name": "江都区", "geometry": None, "level": "county",
                                     "parent_code": "3210", "host_code": None, "synthetic": False}
    counts = store.seed(divisions_frame=divisions,
                        frames={"villages": villages, "stations": stations, "measurements": measurements},
                        fingerprint="test")
    assert counts == {"divisions": 2, "villages": 2, "stations": 5, "measurements": 3}
    assert_frames_equal(store.read("villages"), villages)
    assert_frames_equal(store.read("stations"), stations)
    assert_frames_equal(store.read("measurements"), measurements)
    stored = store.read_divisions()
    assert stored["code"].tolist() == ["321012", "321012101"]
    assert stored.geometry.iloc[0] is None and stored.geometry.iloc[1].equals_exact(villages.geometry.iloc[0], 0)

    results, _, _ = analyze_frames(villages, stations, measurements, rules=RuleSet(),
                                   params=ModelParameters(workers=1))
    # missing values of every kind: NaN floats, None text, and the measured columns without samples
    assert results["measured_verdict"].isna().all() and results["committee_rsrp_dbm"].notna().any()
    run_id = store.start_run(rules={}, parameters={}, inputs={}, code_version="test")
    store.publish_run(run_id, results, timings={}, counts={}, raster_path=None)
    back = store.read_results(run_id)
    for column in results.columns:
        left, right = results[column].to_numpy(), back[column].to_numpy()
        if results[column].dtype.kind == "f":
            np.testing.assert_array_equal(left, right.astype(float))
        else:
            assert [None if pd.isna(x) else x for x in left] == [None if pd.isna(x) else x for x in right], column


def test_village_results_have_the_api_filter_indexes(store: Store) -> None:
    indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(store.engine).get_indexes("village_results")}
    assert indexes["ix_village_results_run_verdict"] == ["run_id", "verdict", "no_site"]
    assert indexes["ix_village_results_run_no_site"] == ["run_id", "no_site"]
