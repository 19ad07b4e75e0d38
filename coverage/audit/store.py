"""Audit rounds, their lists, field tests and calibration offsets: reads and writes of the audit
tables (defined with every other table in :mod:`coverage.store.tables`, created by its
:func:`~coverage.store.tables.create_schema`). Every write is one transaction: a rejected upload
leaves the database as it was.

Tables:

``audits``
    One row per round: its number, when it was drawn, the run sampled, the seed and the whole
    sampling plan, the strata table, the rounds excluded, counts and the code version.
``audit_villages``
    The list of each round, a snapshot (names, points, verdict, nearest site and predictions as
    they were when drawn), so it reads back identically whatever changes later.
``audit_tests``
    The field tests of each round, one row per test, with the upload they came in.
``audit_uploads``
    Each accepted file: name, SHA-256, rows, CRS, mode, time.
``audit_offsets``
    Calibration offsets computed from a round (per band and city), with the run and edge margin.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import (
    delete,
    func,
    select,
)

from coverage import __version__
from coverage.audit.calibration import OFFSET_COLUMNS
from coverage.audit.results import TEST_COLUMNS, FieldTests, tests_frame
from coverage.audit.sampling import SAMPLE_COLUMNS, Sample, SamplingPlan
from coverage.errors import NotFoundError, Problem, ValidationError
from coverage.store.storage import Store, insert_rows, python_value
from coverage.store.tables import audit_offsets, audit_tests, audit_uploads, audit_villages, audits

__all__ = ["AuditStore"]



_LIST_DB = {"order": "sample_order"}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    value = python_value(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


class AuditStore:
    """Audit rounds, their lists, field tests and calibration offsets in a :class:`Store`.

    Parameters
    ----------
    store : Store
        The deployment's database, its schema created (:meth:`Store.create_schema`).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # -- rounds --------------------------------------------------------------------------------

    def save_sample(self, sample: Sample) -> int:
        """Store a drawn sample as the next round (in one transaction); return its number.

        ``sample.round`` and the list's ``round`` column are set to it.
        """
        villages = sample.villages
        geoms = shapely.to_wkb(np.asarray(villages.geometry.values, dtype=object)) if len(villages) else []
        with self.engine.begin() as conn:
            last = conn.execute(select(func.max(audits.c.round))).scalar()
            number = int(last or 0) + 1
            conn.execute(audits.insert().values(
                round=number, created_at=_utcnow(), run_id=sample.run_id, seed=int(sample.plan.seed),
                plan=_json_safe(sample.plan.to_dict()),
                strata=_json_safe(sample.strata.to_dict("records")),
                excluded_rounds=[int(r) for r in sample.excluded_rounds],
                villages=int((~villages["reserve"].astype(bool)).sum()),
                reserves=int(villages["reserve"].astype(bool).sum()), code_version=__version__,
            ))
            rows = []
            for i, rec in enumerate(villages.to_dict("records")):
                row = {_LIST_DB.get(c, c): python_value(rec[c]) for c in SAMPLE_COLUMNS if c != "round"}
                row["round"] = number
                row["geom"] = geoms[i]
                rows.append(row)
            insert_rows(conn, audit_villages, rows)
        sample.round = number
        sample.villages["round"] = pd.array([number] * len(villages), dtype="Int64")
        return number

    def read_round(self, round_number: int) -> dict[str, Any]:
        """One round's record (``round, created_at, run_id, seed, plan, strata, ...``).

        Raises
        ------
        NotFoundError
            When the round does not exist.
        """
        with self.engine.connect() as conn:
            row = conn.execute(select(audits).where(audits.c.round == round_number)).mappings().first()
        if row is None:
            raise NotFoundError(f"抽查轮次 {round_number} 不存在（见 `village5g audit list`） "
                                f"(audit round {round_number} does not exist (see `village5g audit list`))")
        return dict(row)

    def latest_round(self) -> int | None:
        """The highest round number, or None."""
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(audits.c.round))).scalar()
        return int(value) if value is not None else None

    def rounds(self) -> pd.DataFrame:
        """Every round, newest first: ``round, created_at, run_id, seed, strata, population, method,
        villages, reserves, tests, tested_villages, offsets``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(audits).order_by(audits.c.round.desc())).mappings().all()
            tests: dict[int, int] = dict(conn.execute(select(audit_tests.c.round, func.count())
                                      .group_by(audit_tests.c.round)).all())
            distinct_codes = func.count(audit_tests.c.village_code.distinct())
            tested: dict[int, int] = dict(conn.execute(select(audit_tests.c.round, distinct_codes)
                                                       .group_by(audit_tests.c.round)).all())
            offsets: dict[int, int] = dict(conn.execute(select(audit_offsets.c.round, func.count())
                                        .group_by(audit_offsets.c.round)).all())
        records = []
        for r in rows:
            plan = SamplingPlan.from_dict(r["plan"])
            records.append({
                "round": r["round"], "created_at": r["created_at"], "run_id": r["run_id"], "seed": r["seed"],
                "strata": plan.strata, "population": plan.population, "method": plan.method,
                "villages": r["villages"], "reserves": r["reserves"], "tests": int(tests.get(r["round"], 0)),
                "tested_villages": int(tested.get(r["round"], 0)), "offsets": int(offsets.get(r["round"], 0)),
            })
        return pd.DataFrame(records, columns=["round", "created_at", "run_id", "seed", "strata", "population",
                                              "method", "villages", "reserves", "tests", "tested_villages",
                                              "offsets"])

    def read_sample(self, round_number: int) -> Sample:
        """A stored round as a :class:`~coverage.audit.sampling.Sample` (list ordered by stratum, order)."""
        record = self.read_round(round_number)
        with self.engine.connect() as conn:
            result = conn.execute(select(audit_villages).where(audit_villages.c.round == round_number)
                                  .order_by(audit_villages.c.stratum, audit_villages.c.sample_order))
            data = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        data = data.rename(columns={"sample_order": "order"})
        geometry = shapely.from_wkb(np.array(data.pop("geom").tolist(), dtype=object)) if len(data) else []
        data["round"] = pd.array(data["round"].tolist(), dtype="Int64")
        for col in ("order",):
            data[col] = data[col].astype(np.int64)
        data["reserve"] = data["reserve"].astype(bool)
        for col in SAMPLE_COLUMNS:
            if col in ("round", "order", "reserve"):
                continue
            if col in ("point_lon", "point_lat", "gcj02_lon", "gcj02_lat", "nearest_site_m", "predicted_rsrp_dbm",
                       "predicted_sinr_db", "p_covered"):
                data[col] = pd.to_numeric(data[col], errors="coerce").astype("float64")
            else:
                data[col] = pd.Series(data[col].tolist(), dtype="str")
        villages = gpd.GeoDataFrame(data[list(SAMPLE_COLUMNS)], geometry=geometry, crs="EPSG:4326")
        strata = pd.DataFrame(record["strata"], columns=["stratum", "city_code", "city_name", "verdict", "population",
                                                         "excluded", "eligible", "required", "sample", "reserve"])
        return Sample(villages=villages, strata=strata, plan=SamplingPlan.from_dict(record["plan"]),
                      run_id=record["run_id"], excluded_rounds=list(record["excluded_rounds"] or []),
                      round=round_number)

    def recent_codes(self, rounds: int) -> tuple[set[str], list[int]]:
        """Villages sampled in the last ``rounds`` rounds: on a main list, or tested (a reserve used).

        Returns
        -------
        (codes, round numbers)
        """
        if rounds <= 0:
            return set(), []
        with self.engine.connect() as conn:
            numbers = [int(r) for r in conn.execute(select(audits.c.round).order_by(audits.c.round.desc())
                                                    .limit(rounds)).scalars()]
            if not numbers:
                return set(), []
            listed = conn.execute(select(audit_villages.c.code).where(
                audit_villages.c.round.in_(numbers), audit_villages.c.reserve.is_(False))).scalars().all()
            tested = conn.execute(select(audit_tests.c.village_code).distinct().where(
                audit_tests.c.round.in_(numbers))).scalars().all()
        return {str(c) for c in (*listed, *tested)}, sorted(numbers)

    # -- field tests ---------------------------------------------------------------------------

    def save_tests(self, round_number: int, tests: FieldTests, *, replace: bool = False) -> int:
        """Store a validated field-test file of a round in one transaction; return the rows written.

        Without ``replace``, a test already stored (same village, time and operator) rejects the
        whole file. With ``replace``, the stored tests of the villages in the file are deleted
        first (a corrected re-upload of those villages); other villages keep theirs.

        Raises
        ------
        ValidationError
            Naming the rows that are already stored.
        """
        self.read_round(round_number)
        frame = tests.frame
        codes = sorted(set(frame["village_code"].astype(str)))
        with self.engine.begin() as conn:
            if replace:
                conn.execute(delete(audit_tests).where(audit_tests.c.round == round_number,
                                                       audit_tests.c.village_code.in_(codes)))
            else:
                stored = {
                    (str(c), pd.Timestamp(t).round("ms"), str(o)) for c, t, o in conn.execute(
                        select(audit_tests.c.village_code, audit_tests.c.tested_at, audit_tests.c.operator)
                        .where(audit_tests.c.round == round_number, audit_tests.c.village_code.in_(codes)))
                }
                problems = []
                for i, (c, t, o) in enumerate(zip(frame["village_code"], frame["tested_at"], frame["operator"],
                                                  strict=True)):
                    if (str(c), pd.Timestamp(t).round("ms"), str(o)) in stored:
                        problems.append(Problem(tests.file_name, i + 1, "tested_at",
                                                f"the test of {c} by {o} at {pd.Timestamp(t):%Y-%m-%d %H:%M:%S} is "
                                                f"already stored for round {round_number} (use --replace to "
                                                "replace the stored tests of these villages)"))
                if problems and len(problems) == len(frame):
                    same = conn.execute(select(audit_uploads.c.id, audit_uploads.c.created_at).where(
                        audit_uploads.c.round == round_number, audit_uploads.c.sha256 == tests.file_sha256)).first()
                    before = (f" (the same file was uploaded on {same[1]:%Y-%m-%d %H:%M} UTC)" if same is not None
                              else "")
                    raise ValidationError([Problem(
                        tests.file_name, None, None,
                        f"all {len(frame):,} tests are already stored for round {round_number}{before}; use "
                        "--replace to replace the stored tests of these villages")])
                if problems:
                    raise ValidationError(problems)
            result = conn.execute(audit_uploads.insert().values(
                round=round_number, file_name=tests.file_name, sha256=tests.file_sha256, rows=len(frame),
                crs=tests.crs, mode="replace" if replace else "append", warnings=len(tests.warnings),
                created_at=_utcnow()))
            upload_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            wkb = shapely.to_wkb(np.asarray(frame.geometry.values, dtype=object)) if len(frame) else []
            rows = []
            for i, rec in enumerate(frame[list(TEST_COLUMNS)].to_dict("records")):
                row = {c: python_value(rec[c]) for c in TEST_COLUMNS}
                row.update(round=round_number, upload_id=upload_id, geom=wkb[i])
                rows.append(row)
            insert_rows(conn, audit_tests, rows)
        return len(frame)

    def read_tests(self, round_number: int) -> gpd.GeoDataFrame:
        """The stored field tests of a round (:data:`~coverage.audit.results.TEST_COLUMNS`), by id."""
        with self.engine.connect() as conn:
            result = conn.execute(select(*(audit_tests.c[c] for c in TEST_COLUMNS))
                                  .where(audit_tests.c.round == round_number).order_by(audit_tests.c.id))
            rows = result.fetchall()
        values = {c: [r[i] for r in rows] for i, c in enumerate(TEST_COLUMNS)}
        geometry = shapely.points(np.asarray(values["lon"], dtype=float), np.asarray(values["lat"], dtype=float)) \
            if rows else np.array([], dtype=object)
        return tests_frame(values, np.asarray(geometry, dtype=object))

    def uploads(self, round_number: int) -> pd.DataFrame:
        """The accepted uploads of a round, oldest first."""
        with self.engine.connect() as conn:
            result = conn.execute(select(audit_uploads).where(audit_uploads.c.round == round_number)
                                  .order_by(audit_uploads.c.id))
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    # -- calibration offsets -------------------------------------------------------------------

    def save_offsets(self, round_number: int, offsets: pd.DataFrame, *, run_id: int | None, margin_db: float) -> None:
        """Replace the stored calibration offsets of a round (one transaction)."""
        now = _utcnow()
        rows = []
        for rec in offsets[list(OFFSET_COLUMNS)].to_dict("records"):
            row = {c: python_value(rec[c]) for c in OFFSET_COLUMNS}
            row.update(round=round_number, run_id=run_id, margin_db=float(margin_db), computed_at=now,
                       usable=bool(rec["usable"]))
            rows.append(row)
        with self.engine.begin() as conn:
            conn.execute(delete(audit_offsets).where(audit_offsets.c.round == round_number))
            insert_rows(conn, audit_offsets, rows)

    def read_offsets(self, round_number: int) -> pd.DataFrame:
        """Stored offsets of a round (:data:`~coverage.audit.calibration.OFFSET_COLUMNS` plus
        ``run_id, margin_db``); empty when none were computed. ``attrs["round"]`` is set."""
        with self.engine.connect() as conn:
            result = conn.execute(select(*(audit_offsets.c[c] for c in (*OFFSET_COLUMNS, "run_id", "margin_db")))
                                  .where(audit_offsets.c.round == round_number)
                                  .order_by(audit_offsets.c.band, audit_offsets.c.city_code))
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        for col in ("offset_db", "median_db", "std_db", "low_db", "high_db", "margin_db"):
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
        frame["usable"] = frame["usable"].astype(bool)
        frame.attrs["round"] = round_number
        return frame
