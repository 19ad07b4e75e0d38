"""Every table of the database, on one :data:`metadata`, and the one :func:`create_schema`.

Geometries are WGS84 (EPSG:4326): WKB blobs on SQLite, so the embedded default needs no
SpatiaLite, and PostGIS ``geometry(Geometry, 4326)`` columns with GiST indexes on PostgreSQL.

Tables: the inputs (``divisions``, ``villages``, ``stations``, ``measurements``, ``mr_grids``) and
their log (``ingests``); analysis runs and their results (``runs``, ``village_results``,
``village_bounds``, ``village_bounds_state``, ``kpi_snapshots``); audits (``audits``,
``audit_villages``, ``audit_uploads``, ``audit_tests``, ``audit_offsets``); the service's API keys and
console sessions (``api_keys``, ``key_sessions``) and jobs (``jobs``, ``job_claims``, ``job_leases``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import TypeDecorator, UserDefinedType

from coverage.schema import Kind

__all__ = [
    "GEOMETRY_TABLES",
    "TABLES",
    "Geometry",
    "api_keys",
    "audit_offsets",
    "audit_tests",
    "audit_uploads",
    "audit_villages",
    "audits",
    "create_schema",
    "divisions",
    "ingests",
    "job_claims",
    "job_leases",
    "jobs",
    "key_sessions",
    "kpi_snapshots",
    "measurements",
    "metadata",
    "mr_grids",
    "runs",
    "stations",
    "village_bounds",
    "village_bounds_state",
    "village_results",
    "villages",
]


class _PostGISGeometry(UserDefinedType[bytes]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "geometry(Geometry, 4326)"

    def bind_expression(self, bindvalue: Any) -> ColumnElement[Any]:
        return func.ST_GeomFromWKB(bindvalue, 4326, type_=self)

    def column_expression(self, col: Any) -> ColumnElement[Any]:
        return func.ST_AsBinary(col, type_=LargeBinary())


class Geometry(TypeDecorator[bytes]):
    """WKB in Python; a blob on SQLite, a PostGIS geometry on PostgreSQL."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(_PostGISGeometry())
        return dialect.type_descriptor(LargeBinary())

    def bind_expression(self, bindvalue: Any) -> Any:
        return bindvalue

    def process_result_value(self, value: Any, dialect: Any) -> bytes | None:
        return bytes(value) if value is not None else None


metadata = MetaData()


divisions = Table(
    "divisions",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("level", String(16), nullable=False),  # province | city | county | township
    Column("parent_code", String(12), index=True),
    Column("host_code", String(12)),  # development zones drawn inside a host county's polygon
    Column("synthetic", Boolean, nullable=False, default=False),
    Column("geom", Geometry()),
)


villages = Table(
    "villages",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("township_code", String(9), nullable=False, index=True),
    Column("township_name", String(200)),
    Column("county_code", String(6), nullable=False, index=True),
    Column("county_name", String(200)),
    Column("city_code", String(4), nullable=False, index=True),
    Column("city_name", String(200)),
    Column("province_code", String(2), nullable=False),
    Column("province_name", String(200)),
    Column("committee_lon", Float),
    Column("committee_lat", Float),
    Column("population", Integer),
    Column("households", Integer),
    Column("source", String(200)),
    Column("is_committee", Boolean, nullable=False),  # NBS 200-399: 村委会 (administrative village)
    Column("geom", Geometry(), nullable=False),
)


stations = Table(
    "stations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site_id", String(100), nullable=False, index=True),
    Column("cell_id", String(200)),
    Column("operator", String(8), nullable=False),
    Column("rat", String(8), nullable=False),
    Column("band", String(16), nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("height_m", Float),
    Column("azimuth_deg", Float),
    Column("tilt_deg", Float),
    Column("power_dbm", Float),
    Column("bandwidth_mhz", Float),
    Column("status", String(16), nullable=False),
    Column("activated_on", Date),
    Column("source", String(200)),
    Column("geom", Geometry(), nullable=False),
    Index("ix_stations_lon_lat", "lon", "lat"),
)


measurements = Table(
    "measurements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("measured_at", DateTime),
    Column("operator", String(8), nullable=False),
    Column("rat", String(8), nullable=False),
    Column("band", String(16)),
    Column("rsrp_dbm", Float, nullable=False),
    Column("sinr_db", Float),
    Column("dl_mbps", Float),
    Column("ul_mbps", Float),
    Column("loss_db", Float),
    Column("source", String(200)),
    Column("geom", Geometry(), nullable=False),
    Index("ix_measurements_lon_lat", "lon", "lat"),
)


#: Operators' MR grid statistics (coverage/ingest/mr.py): one row per grid, period, operator, RAT and band.
#: No geometry column: the grid is its WGS84 centre and size, and the one index serves the reads by
#: area and period (lon range first, then lat and period inside the index, no table lookups to filter).
mr_grids = Table(
    "mr_grids",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("grid_m", Float, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("operator", String(8), nullable=False),
    Column("rat", String(8), nullable=False),
    Column("band", String(16), nullable=False),
    Column("arfcn", Integer),
    Column("samples", Integer, nullable=False),
    Column("rsrp_mean_dbm", Float),
    Column("share_good", Float),
    Column("threshold_dbm", Float),
    Column("sinr_mean_db", Float),
    Column("users", Integer),
    Column("dl_mbps", Float),
    Column("source", String(200)),
    Index("ix_mr_grids_lon_lat_period", "lon", "lat", "period_start"),
)


ingests = Table(
    "ingests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("file_name", String(500), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("mode", String(16), nullable=False),  # append | replace | seed
    Column("crs", String(100)),
    Column("encoding", String(40)),
    Column("warnings", Integer, nullable=False, default=0),
    Column("created_at", DateTime, nullable=False),
)


runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("status", String(16), nullable=False, index=True),  # running | published | failed
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("rules", JSON, nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("inputs", JSON, nullable=False),  # fingerprints of the stored inputs
    Column("code_version", String(40), nullable=False),
    Column("timings", JSON),
    Column("counts", JSON),
    Column("raster_path", String(1000)),
    Column("error", String(2000)),
    Column("owner", String(300)),  # host:pid of the process computing it (a dead one's run is failed)
)


village_results = Table(
    "village_results",
    metadata,
    Column("run_id", Integer, primary_key=True),
    Column("code", String(12), primary_key=True),
    Column("verdict", String(12), nullable=False, index=True),
    Column("p_covered", Float),
    Column("confidence", String(8)),
    Column("sigma_db", Float),
    Column("predicted_verdict", String(12), nullable=False),
    Column("measured_verdict", String(12)),
    Column("verdict_source", String(12), nullable=False),
    Column("no_site", Boolean, nullable=False),
    Column("reasons", String(400), nullable=False),
    Column("sites_inside", Integer, nullable=False),
    Column("nearest_site_m", Float),
    Column("nearest_site_id", String(100)),
    Column("good_share", Float, nullable=False),
    Column("weak_share", Float, nullable=False),
    Column("none_share", Float, nullable=False),
    Column("committee_rsrp_dbm", Float),
    Column("committee_sinr_db", Float),
    Column("committee_class", String(8), nullable=False),
    Column("n_measurements", Integer, nullable=False),
    Column("measured_rsrp_median_dbm", Float),
    Column("measured_good_share", Float),
    Column("measured_reached_share", Float),
    Column("mr_samples", Integer),  # operators' MR samples inside the village (coverage.model.mr_evidence)
    Column("mr_good_share", Float),
    Column("mr_period", String(24)),
    # the API's village filters within a run: status, no-site, and both
    Index("ix_village_results_run_verdict", "run_id", "verdict", "no_site"),
    Index("ix_village_results_run_no_site", "run_id", "no_site"),
)


#: The villages' lon/lat envelopes the result queries (:mod:`coverage.store.results_query`) filter by, kept
#: in step with the stored villages.
village_bounds = Table(
    "village_bounds",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("min_lon", Float, nullable=False, index=True),
    Column("min_lat", Float, nullable=False),
    Column("max_lon", Float, nullable=False),
    Column("max_lat", Float, nullable=False),
)


village_bounds_state = Table(
    "village_bounds_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("villages_version", Integer),  # ingests.id of the last village write the bounds reflect
)


audits = Table(
    "audits",
    metadata,
    Column("round", Integer, primary_key=True, autoincrement=False),
    Column("created_at", DateTime, nullable=False),
    Column("run_id", Integer),
    Column("seed", BigInteger, nullable=False),
    Column("plan", JSON, nullable=False),
    Column("strata", JSON, nullable=False),
    Column("excluded_rounds", JSON, nullable=False),
    Column("villages", Integer, nullable=False),
    Column("reserves", Integer, nullable=False),
    Column("code_version", String(40), nullable=False),
)


audit_villages = Table(
    "audit_villages",
    metadata,
    Column("round", Integer, primary_key=True),
    Column("code", String(12), primary_key=True),
    Column("stratum", String(64), nullable=False),
    Column("sample_order", Integer, nullable=False),
    Column("reserve", Boolean, nullable=False),
    Column("name", String(200)),
    Column("township_code", String(9)),
    Column("township_name", String(200)),
    Column("county_code", String(6)),
    Column("county_name", String(200)),
    Column("city_code", String(4), index=True),
    Column("city_name", String(200)),
    Column("point_lon", Float),
    Column("point_lat", Float),
    Column("point_source", String(16)),
    Column("gcj02_lon", Float),
    Column("gcj02_lat", Float),
    Column("verdict", String(12)),
    Column("p_covered", Float),
    Column("nearest_site_id", String(100)),
    Column("nearest_site_m", Float),
    Column("predicted_rsrp_dbm", Float),
    Column("predicted_sinr_db", Float),
    Column("geom", Geometry()),
)


audit_uploads = Table(
    "audit_uploads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("round", Integer, nullable=False, index=True),
    Column("file_name", String(500), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("crs", String(100)),
    Column("mode", String(16), nullable=False),  # append | replace
    Column("warnings", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
)


audit_tests = Table(
    "audit_tests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("round", Integer, nullable=False, index=True),
    Column("upload_id", Integer, nullable=False),
    Column("village_code", String(12), nullable=False, index=True),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("tested_at", DateTime, nullable=False),
    Column("operator", String(8), nullable=False),
    Column("band", String(16)),
    Column("rsrp_dbm", Float),
    Column("sinr_db", Float),
    Column("dl_mbps", Float),
    Column("ul_mbps", Float),
    Column("tester", String(200), nullable=False),
    Column("note", String(1000)),
    Column("geom", Geometry(), nullable=False),
)


audit_offsets = Table(
    "audit_offsets",
    metadata,
    Column("round", Integer, primary_key=True),
    Column("band", String(16), primary_key=True),
    Column("city_code", String(12), primary_key=True),  # a city, or a county for area rows
    Column("city_name", String(200)),
    Column("n_tests", Integer, nullable=False),
    Column("n_villages", Integer, nullable=False),
    Column("offset_db", Float, nullable=False),
    Column("median_db", Float),
    Column("std_db", Float),
    Column("low_db", Float),
    Column("high_db", Float),
    Column("usable", Boolean, nullable=False),
    Column("run_id", Integer),
    Column("margin_db", Float, nullable=False),
    Column("computed_at", DateTime, nullable=False),
)


api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(12), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("region_code", String(12)),
    Column("label", String(200)),
    Column("salt", LargeBinary(16), nullable=False),
    Column("secret_hash", LargeBinary(32), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
)


#: Sign-in sessions of the web console: a key exchanged for a random token kept in an HttpOnly
#: cookie. Only the token's SHA-256 is stored; the CSRF token goes with the session.
key_sessions = Table(
    "key_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("key_id", String(12), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
)


kpi_snapshots = Table(
    "kpi_snapshots",
    metadata,
    Column("run_id", Integer, primary_key=True),
    Column("level", String(16), primary_key=True),  # province | city | county
    Column("code", String(12), primary_key=True),
    Column("name", String(200)),
    Column("villages", Integer, nullable=False),
    Column("covered", Integer, nullable=False),
    Column("weak", Integer, nullable=False),
    Column("uncovered", Integer, nullable=False),
    Column("no_site", Integer, nullable=False),
    Column("reach_rate", Float, nullable=False),  # 0-1
    Column("target_rate", Float, nullable=False),  # 0-1, the run's rule set
    Column("run_finished_at", DateTime),  # naive UTC, as runs.finished_at
    Column("recorded_at", DateTime, nullable=False),
)


jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("parameters", JSON, nullable=False),
    Column("requested_by", String(40)),
    Column("owner", String(200)),
    Column("created_at", DateTime, nullable=False),
    Column("started_at", DateTime),
    Column("finished_at", DateTime),
    Column("progress", String(500)),
    Column("run_id", Integer),
    Column("error", String(2000)),
    Column("trigger", String(16)),  # api | schedule | retry | manual | after-refresh
    Column("scheduled_for", DateTime),  # the fire time a scheduled job ran for (naive UTC)
    Column("attempt", Integer),  # 1 for the first try, 2 for the first retry, ...
    Column("result", JSON),  # what the job did (files ingested and rejected, run published, rows, files)
)


job_claims = Table(
    "job_claims",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("scheduled_for", DateTime, primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("claimed_at", DateTime, nullable=False),
)


job_leases = Table(
    "job_leases",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("job_id", Integer),
    Column("expires_at", DateTime, nullable=False),
)


TABLES: dict[Kind, Table] = {"villages": villages, "stations": stations, "measurements": measurements}

#: Tables whose ``geom`` column has a GiST index on PostGIS.
GEOMETRY_TABLES = (divisions, villages, stations, measurements, audit_villages, audit_tests)


def create_schema(engine: Engine) -> None:
    """Create the PostGIS extension (PostgreSQL) and every table and index that is missing, in one
    transaction. Nullable columns and indexes that a newer version added to an existing table are
    added too; no data changes."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        metadata.create_all(conn)
        _add_missing_columns(conn)
        for index in village_results.indexes:  # indexes a newer version added to an existing table
            index.create(conn, checkfirst=True)
        if conn.dialect.name == "postgresql":
            for table in GEOMETRY_TABLES:
                conn.execute(text(
                    f"CREATE INDEX IF NOT EXISTS ix_{table.name}_geom ON {table.name} USING GIST (geom)"
                ))


def _add_missing_columns(conn: Connection) -> None:
    """ALTER TABLE ADD COLUMN for nullable columns the tables of an older database lack (no data changes)."""
    if conn.dialect.name == "postgresql":
        present: dict[str, set[str]] = {}
        for table_name, column_name in conn.execute(text(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema()")):
            present.setdefault(table_name, set()).add(column_name)
    else:
        present = {t.name: {row[1] for row in conn.execute(text(f'PRAGMA table_info("{t.name}")'))}
                   for t in metadata.sorted_tables}
    for table in metadata.sorted_tables:
        for column in table.columns:
            if column.name not in present.get(table.name, {column.name}) and column.nullable:
                kind = column.type.compile(dialect=conn.dialect)
                conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'))
