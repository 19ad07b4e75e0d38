"""Maps from a store: read a run's results, the divisions, stations and the run's raster once, then
call the builders for the province and any city or county. The CLI and the HTTP API both come
through here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import pandas as pd

from coverage.errors import NotFoundError
from coverage.model.rules import RuleSet
from coverage.store.queries import filter_results
from coverage.store.storage import Store
from maps.builders import province_map, region_map


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
    """Everything the maps of one published run need, read from the store once."""

    results: gpd.GeoDataFrame
    run_id: int
    rules: RuleSet
    divisions: gpd.GeoDataFrame
    stations: pd.DataFrame | None
    raster_path: Path | None

    @classmethod
    def load(cls, store: Store, run_id: int | None = None, *, stations: bool = True) -> MapSource:
        """Read run ``run_id`` (default: the latest published) and what its maps draw.

        Raises :class:`~coverage.errors.NotFoundError` when there is no such published run.
        """
        results = store.read_results(run_id)
        run = int(results.attrs["run_id"])
        record = store.read_run(run)
        raster = record.get("raster_path")
        raster_path = Path(str(raster)) if raster else None
        if raster_path is not None and not raster_path.is_file():
            raster_path = None  # the run's artefacts were moved or cleaned up: maps go without the overlay
        return cls(results=results, run_id=run, rules=run_rules(record), divisions=store.read_divisions(),
                   stations=store.read("stations") if stations else None, raster_path=raster_path)

    def province(self, options: MapOptions = MapOptions()) -> folium.Map:
        """The province map (cities and counties by 通达率, linked with ``options.link_template``)."""
        return province_map(self.results, divisions=self.divisions, rules=self.rules, basemap=options.basemap,
                            tianditu_key=options.tianditu_key, link_template=options.link_template,
                            run_id=self.run_id)

    def region(self, *, city: str | None = None, county: str | None = None,
               options: MapOptions = MapOptions()) -> folium.Map:
        """The map of ``county`` if given, else ``city`` (a code or a name such as 徐州市 or 徐州)."""
        if city is None and county is None:
            raise NotFoundError("name a city or a county")
        chosen = filter_results(self.results, city=city, county=county)
        if chosen.empty:
            raise NotFoundError("no villages of this run in that region")
        level = "county" if county is not None else "city"
        code = str(chosen[f"{level}_code"].iloc[0])
        return region_map(chosen, level=level, code=code, divisions=self.divisions,
                          stations=self.stations if options.stations else None,
                          raster_path=self.raster_path if options.raster else None, rules=self.rules,
                          basemap=options.basemap, tianditu_key=options.tianditu_key,
                          link_template=options.link_template, parent_link=options.parent_link,
                          run_id=self.run_id)

    def regions(self, level: str) -> list[tuple[str, str]]:
        """``(code, name)`` of every city or county that has villages in this run, by code."""
        pairs = self.results[[f"{level}_code", f"{level}_name"]].drop_duplicates(f"{level}_code")
        return sorted((str(c), str(n) if pd.notna(n) else str(c)) for c, n in pairs.itertuples(index=False))

    def province_name(self) -> str:
        """The province's name as the results carry it."""
        names = self.results["province_name"].dropna()
        return str(names.iloc[0]) if len(names) else "province"


def build_map(store: Store, *, city: str | None = None, county: str | None = None, run_id: int | None = None,
              options: MapOptions = MapOptions()) -> folium.Map:
    """The province map, or the map of ``county`` (if given) or ``city``, for a published run.

    ``city`` and ``county`` take a code or a name. ``run_id`` defaults to the latest published run.
    Raises :class:`~coverage.errors.NotFoundError` for an unknown region or run.
    """
    source = MapSource.load(store, run_id, stations=options.stations and (city is not None or county is not None))
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
