"""Request and response models: the contract the OpenAPI document states and the tests hold us to."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import Boolean, Float, Integer

from coverage.schema import COLUMNS
from coverage.store.queries import LIST_COLUMNS
from coverage.store.tables import village_results


class Link(BaseModel):
    """A link, as OGC API documents carry them."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class LandingPage(BaseModel):
    """The service's entry point: what it is and where everything is."""

    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    """The OGC conformance classes the service implements."""

    conformsTo: list[str]


class Extent(BaseModel):
    """Spatial (and, for measurements, temporal) extent of a collection."""

    spatial: dict[str, Any]
    temporal: dict[str, Any] | None = None


class CollectionInfo(BaseModel):
    """One feature collection's metadata."""

    id: str
    title: str
    description: str
    itemType: str
    crs: list[str]
    storageCrs: str
    extent: Extent
    links: list[Link]


class Collections(BaseModel):
    """Every feature collection."""

    links: list[Link]
    collections: list[CollectionInfo]


# -- features ------------------------------------------------------------------------------------

_SQL_TYPES: dict[type, type] = {Boolean: bool, Float: float, Integer: int}
_CONTRACT_TYPES: dict[str, type] = {"str": str, "float": float, "int": int, "date": str, "datetime": str,
                                    "bool": bool}


def _properties_model(name: str, fields: dict[str, tuple[type, str]]) -> type[BaseModel]:
    spec: dict[str, Any] = {
        field: (kind | None, Field(default=None, description=doc or None)) for field, (kind, doc) in fields.items()
    }
    model: type[BaseModel] = create_model(name, __config__=ConfigDict(extra="allow"), **spec)
    return model


def _village_fields() -> dict[str, tuple[type, str]]:
    contract = {c.name: (_CONTRACT_TYPES[c.dtype], c.doc) for c in COLUMNS["villages"]}
    results = {c.name: (next((t for s, t in _SQL_TYPES.items() if isinstance(c.type, s)), str), "")
               for c in village_results.columns}
    extra = {"point_lon": (float, "committee point (or a representative point inside the polygon), longitude"),
             "point_lat": (float, "committee point (or a representative point inside the polygon), latitude")}
    fields = {name: contract.get(name) or results.get(name) or extra[name] for name in LIST_COLUMNS}
    fields["run_id"] = (int, "the analysis run these verdicts come from")
    return fields


VillageProperties = _properties_model("VillageProperties", _village_fields())
StationProperties = _properties_model(
    "StationProperties",
    {"id": (int, "stored row id"), **{c.name: (_CONTRACT_TYPES[c.dtype], c.doc) for c in COLUMNS["stations"]}})
MeasurementProperties = _properties_model(
    "MeasurementProperties",
    {"id": (int, "stored row id"), **{c.name: (_CONTRACT_TYPES[c.dtype], c.doc) for c in COLUMNS["measurements"]}})


class Geometry(BaseModel):
    """A GeoJSON geometry (CRS84 longitude/latitude, or GCJ-02 on request)."""

    model_config = ConfigDict(extra="allow")

    type: str
    coordinates: list[Any]


def _feature_models(name: str, properties: type[BaseModel], id_type: type) -> tuple[type[BaseModel], type[BaseModel]]:
    feature_fields: dict[str, Any] = {
        "type": (Literal["Feature"], ...), "id": (id_type, ...), "geometry": (Geometry | None, ...),
        "properties": (properties, ...), "links": (list[Link] | None, None),
    }
    feature: type[BaseModel] = create_model(f"{name}Feature", **feature_fields)
    collection_fields: dict[str, Any] = {
        "type": (Literal["FeatureCollection"], ...), "numberMatched": (int, Field(ge=0)),
        "numberReturned": (int, Field(ge=0)), "timeStamp": (str, ...), "run_id": (int | None, None),
        "links": (list[Link], ...), "features": (list[feature], ...),  # type: ignore[valid-type]
    }
    collection: type[BaseModel] = create_model(f"{name}FeatureCollection", **collection_fields)
    return feature, collection


VillageFeature, VillageFeatureCollection = _feature_models("Village", VillageProperties, str)
StationFeature, StationFeatureCollection = _feature_models("Station", StationProperties, int)
MeasurementFeature, MeasurementFeatureCollection = _feature_models("Measurement", MeasurementProperties, int)


# -- summaries and runs --------------------------------------------------------------------------


class RegionCounts(BaseModel):
    """Verdict counts of one region (a summary row, a point of the history)."""

    code: str
    name: str | None
    villages: int
    covered: int
    weak: int
    uncovered: int
    no_site: int


class RegionSummary(RegionCounts):
    """通达率 and verdict counts of one region."""

    reach_rate: float | None = Field(description="通达率: covered / villages, 0-1 (null without villages)")
    expected_rate: float | None = Field(default=None, description="通达率 expected from the villages' p_covered "
                                                                   "(null for runs before probabilities)")
    rate_low: float | None = Field(default=None, description="~95 % interval of the expected 通达率, lower end")
    rate_high: float | None = Field(default=None, description="~95 % interval of the expected 通达率, upper end")
    target_rate: float
    gap_villages: int = Field(description="further villages to cover to reach the target")


class Summary(BaseModel):
    """通达率 per region of one level, for one run."""

    run_id: int
    level: Literal["province", "city", "county", "township"]
    target_rate: float
    rules: str = Field(description="rule set name@version of the run")
    region: str | None = Field(description="the code prefix the villages were limited to, if any")
    totals: RegionSummary
    regions: list[RegionSummary]


class Run(BaseModel):
    """An analysis run's record."""

    id: int
    status: Literal["running", "published", "failed"]
    started_at: dt.datetime
    finished_at: dt.datetime | None
    rules: dict[str, Any]
    parameters: dict[str, Any]
    inputs: dict[str, Any]
    code_version: str
    timings: dict[str, Any] | None
    counts: dict[str, Any] | None
    reach_rate: float | None = Field(description="通达率 of the run (covered / villages), 0-1")
    has_raster: bool
    error: str | None
    links: list[Link]


class Runs(BaseModel):
    """Run records, newest first."""

    runs: list[Run]
    links: list[Link]


class VillageChange(BaseModel):
    """A village whose verdict or no-site flag differs between two runs."""

    code: str
    name: str | None
    county_code: str | None
    county_name: str | None
    before_verdict: str | None = Field(description="null: not in the earlier run")
    after_verdict: str | None = Field(description="null: not in this run")
    before_no_site: bool | None
    after_no_site: bool | None
    change: Literal["flagged", "cleared", "changed", "added", "removed"]


class RegionChange(BaseModel):
    """通达率 of a region in both runs."""

    code: str
    name: str | None
    villages_before: int
    villages_after: int
    reach_rate_before: float | None
    reach_rate_after: float | None
    change: float | None = Field(description="after minus before, 0-1 scale")


class RunDiff(BaseModel):
    """What changed from run ``against`` to run ``run_id``."""

    run_id: int
    against: int
    level: Literal["province", "city", "county", "township"]
    counts: dict[str, int]
    villages: list[VillageChange]
    regions: list[RegionChange]


# -- writes and jobs -----------------------------------------------------------------------------


class IngestProblem(BaseModel):
    """A warning about an accepted file (or, in a dry run, an error of a rejected one)."""

    file: str
    row: int | None
    field: str | None
    message: str
    severity: Literal["error", "warning"] = "warning"


class IngestResult(BaseModel):
    """What an upload stored."""

    kind: Literal["villages", "stations", "measurements", "mr", "dem", "landcover"]
    file_name: str
    rows: int
    replaced: bool
    crs: str
    encoding: str | None
    sha256: str
    warnings: list[IngestProblem]


class IngestColumn(BaseModel):
    """How one column of an uploaded file is read (``--dry-run``)."""

    header: str
    column: str | None = Field(description="Canonical column it feeds; null when ignored")
    how: str = Field(description="header (a known name), --map, --set, ignored or geometry")
    unit: str | None
    note: str = Field(description="Conversion applied, e.g. '0.1 dBm per RE -> total dBm'")
    samples: list[tuple[str, str]] = Field(description="The first rows' cells and what they became")


class IngestPreview(BaseModel):
    """What an upload would store, and how its columns are read; nothing is stored."""

    kind: Literal["villages", "stations", "measurements"]
    file_name: str
    accepted: bool
    rows: int | None
    columns: list[IngestColumn]
    problems: list[IngestProblem] = Field(description="Errors (a rejected file) or warnings")


class AnalysisRequest(BaseModel):
    """Options of an analysis run (the defaults are the CLI's)."""

    model_config = ConfigDict(extra="forbid")

    resolution_m: float = Field(default=100.0, ge=10.0, le=1000.0, description="pixel size of the prediction (m)")
    operators: list[Literal["CMCC", "CUCC", "CTCC", "CBN"]] | None = Field(
        default=None, description="only these operators' sites and measurements (default: all)")
    scope: Literal["committees", "all"] = Field(
        default="committees", description="committees: village committees (NBS 200-399); all: every unit")
    rules: dict[str, float | int | str] | None = Field(
        default=None, description="rule-set values that differ from the defaults, e.g. {\"good_rsrp_dbm\": -100}")


class Job(BaseModel):
    """A background job: an analysis run started over HTTP, or a scheduled refresh, snapshot or report."""

    id: int
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "skipped"]
    trigger: str | None = Field(None, description="api, schedule, retry, manual or after-refresh")
    scheduled_for: dt.datetime | None = Field(None, description="The fire time a scheduled job ran for")
    attempt: int | None = Field(None, description="1 for the first try, 2 for the first retry, ...")
    parameters: dict[str, Any]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    progress: str | None
    run_id: int | None
    error: str | None
    result: dict[str, Any] | None = Field(None, description="What the job did (files ingested and rejected, "
                                                               "run published, KPI rows, report files)")
    links: list[Link]


class Jobs(BaseModel):
    """Jobs, newest first."""

    jobs: list[Job]


class ScheduledJob(BaseModel):
    """One scheduled job: when it runs and how it last ended."""

    name: Literal["refresh", "snapshot", "report"]
    schedule: str = Field(description="Cron expression (in the schedule's time zone), 'every N s|min|h' or 'off'")
    enabled: bool
    next_run_at: dt.datetime | None
    running_job: int | None = Field(description="The job running it now, in any process")
    last_job: Job | None


class Schedule(BaseModel):
    """The scheduled jobs."""

    timezone: str
    running_here: bool = Field(description="Whether this server process fires the schedule")
    jobs: list[ScheduledJob]


class Health(BaseModel):
    """Liveness or readiness."""

    status: Literal["ok", "ready"]
    database: str | None = None
    latest_run: int | None = None
