"""Frame comparisons of the tests."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely


def assert_frames_equal(left: gpd.GeoDataFrame, right: gpd.GeoDataFrame) -> None:
    """Same columns, values and geometries (exactly), ignoring the index."""
    left = left.reset_index(drop=True)
    right = right.reset_index(drop=True)
    assert list(left.columns) == list(right.columns)
    assert left.crs == right.crs
    geom = left.geometry.name
    pd.testing.assert_frame_equal(
        pd.DataFrame(left.drop(columns=geom)), pd.DataFrame(right.drop(columns=geom)), check_dtype=True,
    )
    assert shapely.equals_exact(left.geometry.values, right.geometry.values, tolerance=0).all()
