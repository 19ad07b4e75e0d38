"""Maps from a store: each map reads what it draws through the SQL read layer (a region's villages,
sites and townships; the province's rows without geometry), then calls the builders. The CLI, the
HTTP API, the demo and the reports all come through here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import pandas as pd

from coverage.errors import NotFoundError
from coverage.model.rules import RuleSet
from coverage.store.regions import resolve_division
from coverage.store.results_query import VillageQuery, query_villages, result_rows
from coverage.store.storage import Store
from maps.builders import REGION_COLUMNS, STATION_MARGIN_DEG, province_map, region_map


@dataclass(frozen=True)
class MapOptions:
    """What a caller may choose about a map (everything but the region and the run).

    ``link_template`` and ``parent_link`` as in :func:`maps.builders.region_map`; ``stations`` and
    ``raster`` switch those layers off when False.
    """

    basemap: str = "osm"
    tianditu_key: str | None = None
    link_template: str | None = None
    parent_link: tuple[str, str] | None = None
    stations: bool = True
    raster: bool = True


def run_rules(record: dict[str, Any]) -> RuleSet:
    """The rule set a run recorded (keys unknown to this version are ignored)."""
    stored = record.get("rules") or {}
    known = {f.name for f in fields(RuleSet)}
    return RuleSet(**{k: v for k, v in dict(stored).items() if k in known})


@dataclass
class MapSource:
    """The maps of one published run, each read from the store through the SQL read layer
    (:mod:`coverage.store.results_query`) as it is drawn.

    A region map reads its region's villages with only the columns a map draws (:data:`REGION_COLUMNS`),
    the sites around them and the region's townships; the province map reads the villages without
    geometry (:func:`~coverage.store.results_query.result_rows`). What every map of the run shares is
    read once, when first needed: those rows, and the city and county outlines. Regions are named as
    everywhere else (:func:`coverage.store.regions.resolve_division`): a code, or a name with or
    without its suffix; a name two regions carry raises
    :class:`~coverage.store.regions.AmbiguousRegionError` naming both.
    """

    store: Store
    run_id: int
    rules: RuleSet
    raster_path: Path | None
    _rows: pd.DataFrame | None = field(default=None, repr=False)
    _outlines: gpd.GeoDataFrame | None = field(default=None, repr=False)

    @classmethod
    def load(cls, store: Store, run_id: int | None = None) -> MapSource:
        """The maps of run ``run_id`` (default: the latest published). Reads the run's record only:
        each map reads what it draws.

        Raises :class:`~coverage.errors.NotFoundError` when there is no such published run.
        """
        run = store.published_run(run_id)
        record = store.read_run(run)
        raster = record.get("raster_path")
        raster_path = Path(str(raster)) if raster else None
        if raster_path is not None and not raster_path.is_file():
            raster_path = None  # the run's artefacts were moved or cleaned up: maps go without the overlay
        return cls(store=store, run_id=run, rules=run_rules(record), raster_path=raster_path)

    @property
    def rows(self) -> pd.DataFrame:
        """Every village of the run without geometry (codes, names, divisions, verdict, no_site,
        p_covered), read once."""
        if self._rows is None:
            self._rows = result_rows(self.store, self.run_id)
        return self._rows

    def _outline(self) -> gpd.GeoDataFrame:
        """The city and county polygons, read once (every map draws the cities; region maps their counties)."""
        if self._outlines is None:
            self._outlines = self.store.read_divisions(("city", "county"))
        return self._outlines

    def province(self, options: MapOptions = MapOptions()) -> folium.Map:
        """The province map (cities and counties by 通达率, linked with ``options.link_template``)."""
        return province_map(self.rows, divisions=self._outline(), rules=self.rules, basemap=options.basemap,
                            tianditu_key=options.tianditu_key, link_template=options.link_template,
                            run_id=self.run_id)

    def region_code(self, *, city: str | None = None, county: str | None = None) -> tuple[str, str]:
        """``(level, code)`` of the region ``county`` (if given, inside ``city`` when that is given too)
        or ``city`` names among this run's villages."""
        if city is None and county is None:
            raise NotFoundError("请指定一个地市或县区 (name a city or a county)")
        code = resolve_division(self.store, "city", city, run_id=self.run_id) if city is not None else None
        if county is None:
            assert code is not None
            return "city", code
        within = (code,) if code is not None else ()
        return "county", resolve_division(self.store, "county", county, run_id=self.run_id, within=within)

    def region(self, *, city: str | None = None, county: str | None = None,
               options: MapOptions = MapOptions()) -> folium.Map:
        """The map of ``county`` if given, else ``city`` (a code or a name such as 徐州市 or 徐州)."""
        level, code = self.region_code(city=city, county=county)
        query = VillageQuery(city_code=code) if level == "city" else VillageQuery(county_code=code)
        results, _ = query_villages(self.store, self.run_id, query, count=False, columns=REGION_COLUMNS)
        if results.empty:
            raise NotFoundError("此分析运行在该区域内没有行政村 (no villages of this run in that region)")
        divisions = pd.concat([self._outline(), self.store.read_divisions("township", within=code)],
                              ignore_index=True)
        return region_map(results, level=level, code=code, divisions=divisions,
                          stations=self._stations_near(results) if options.stations else None,
                          raster_path=self.raster_path if options.raster else None, rules=self.rules,
                          basemap=options.basemap, tianditu_key=options.tianditu_key,
                          link_template=options.link_template, parent_link=options.parent_link,
                          run_id=self.run_id)

    def _stations_near(self, results: gpd.GeoDataFrame) -> pd.DataFrame:
        """The stored stations inside the villages' envelope widened by the margin the map draws sites
        within (a superset: :func:`maps.builders.station_data` keeps those near a village)."""
        west, south, east, north = results.total_bounds
        margin = STATION_MARGIN_DEG + 1e-6  # never one float step short of the builder's own test
        return self.store.read("stations", box=(west - margin, south - margin, east + margin, north + margin))

    def regions(self, level: str) -> list[tuple[str, str]]:
        """``(code, name)`` of every city or county that has villages in this run, by code."""
        pairs = self.rows[[f"{level}_code", f"{level}_name"]].drop_duplicates(f"{level}_code")
        return sorted((str(c), str(n) if pd.notna(n) else str(c)) for c, n in pairs.itertuples(index=False))

    def province_name(self) -> str:
        """The province's name as the results carry it."""
        names = self.rows["province_name"].dropna()
        return str(names.iloc[0]) if len(names) else "province"


def build_map(store: Store, *, city: str | None = None, county: str | None = None, run_id: int | None = None,
              options: MapOptions = MapOptions()) -> folium.Map:
    """The province map, or the map of ``county`` (if given) or ``city``, for a published run.

    ``city`` and ``county`` take a code or a name (``county`` inside ``city`` when both are given).
    ``run_id`` defaults to the latest published run. Raises :class:`~coverage.errors.NotFoundError` for
    an unknown region or run, :class:`~coverage.store.regions.AmbiguousRegionError` for a name two
    regions carry.
    """
    source = MapSource.load(store, run_id)
    if city is None and county is None:
        return source.province(options)
    return source.region(city=city, county=county, options=options)


def drill_down_maps(source: MapSource, province_file: str, options: MapOptions = MapOptions()
                    ) -> Iterator[tuple[str, folium.Map]]:
    """The province map, then every city and county map, each with its file name, linked together.

    Files are named ``map_<code>.html`` (the province's is ``province_file``): the province links down
    to cities and counties, a city down to its counties and up to the province, a county up to its
    city. Maps are built as the iterator is consumed, so only one is held in memory at a time.
    """
    template = "map_{code}.html"
    linked = replace(options, link_template=template)
    yield province_file, source.province(linked)
    cities = source.regions("city")
    city_names = dict(cities)
    for code, _name in cities:
        yield template.format(code=code), source.region(
            city=code, options=replace(linked, parent_link=(source.province_name(), province_file)))
    for code, _name in source.regions("county"):
        city = code[:4]
        yield template.format(code=code), source.region(
            county=code, options=replace(linked, parent_link=(city_names.get(city, city), template.format(code=city))))
