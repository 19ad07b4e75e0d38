"""A real OGC API client reads the service: GDAL's OAPIF driver against uvicorn on loopback.

The server runs in a subprocess (GDAL keeps the GIL while it waits for HTTP answers, so a server
thread in this process could not answer it), on SQLite and on PostGIS. It pages through the
villages with a small page size, so the next links are followed.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from coverage.store.queries import LIST_COLUMNS, village_table
from coverage.store.storage import Store
from tests.utils.api import live_server
from tests.utils.db import POSTGRES_URL, require_postgis, reset_postgres
from tests.worlds.row import build_row_world


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_gdal_reads_every_village_with_the_stored_attributes(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'live.db'}")
    else:
        require_postgis()
        reset_postgres()
        store = Store(POSTGRES_URL)
    store.create_schema()
    run_id = build_row_world(store)
    expected = village_table(store.read_results(run_id)).reset_index(drop=True)
    try:
        with live_server(store.url, tmp_path / "data") as url:
            layers = pyogrio.list_layers(f"OAPIF:{url}/")
            assert sorted(layers[:, 0]) == ["measurements", "stations", "villages"]
            frame = pyogrio.read_dataframe(f"OAPIF:{url}/", layer="villages", PAGE_SIZE=3)
            stations = pyogrio.read_dataframe(f"OAPIF:{url}/", layer="stations")
            with urllib.request.urlopen(f"{url}/collections/villages/items?limit=1") as answer:
                assert answer.headers["Content-Type"] == "application/geo+json"
                assert json.load(answer)["numberMatched"] == len(expected)
    finally:
        store.dispose()
    assert len(frame) == len(expected) == 8
    frame = frame.sort_values("code").reset_index(drop=True)
    for column in LIST_COLUMNS:
        got, want = frame[column], expected[column]
        if want.dtype.kind == "f" or column in ("nearest_site_m",):
            # The JSON holds the shortest round-trip text of each double (tests/test_api.py checks the
            # values exactly); GDAL's number parser is not correctly rounded and may land one ulp off.
            np.testing.assert_allclose(got.to_numpy(float), want.to_numpy(float), rtol=1e-15, atol=0,
                                       err_msg=column)
        elif column == "no_site":
            assert got.astype(bool).tolist() == want.astype(bool).tolist()
        else:
            got_values = [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in got.tolist()]
            want_values = [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in want.tolist()]
            assert got_values == want_values, column
    assert (frame["run_id"] == run_id).all()
    assert shapely.equals_exact(frame.geometry.values, expected.geometry.values, 1e-12).all()
    assert len(stations) == 3 and set(stations["cell_id"]) == {"S0-0", "S0-1", "S0-2"}
