"""Storage: round trips, atomic replace, rejected writes leave the database unchanged."""

from __future__ import annotations

import pytest

import coverage.store.storage
from coverage.errors import ValidationError
from coverage.store.storage import IngestRecord, Store, frame_fingerprint
from tests.utils.frames import assert_frames_equal
from tests.worlds.contract import CONTRACT_FRAMES


def _record(kind: str) -> IngestRecord:
    return IngestRecord(kind=kind, file_name=f"{kind}.csv", sha256="0" * 64)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["villages", "stations", "measurements"])
def test_write_read_round_trip(store: Store, kind: str) -> None:
    frame = CONTRACT_FRAMES[kind]()
    assert store.write(kind, frame, record=_record(kind)) == len(frame)  # type: ignore[arg-type]
    assert_frames_equal(store.read(kind), frame)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["villages", "stations", "measurements"])
def test_fingerprint_survives_the_database_and_sees_one_changed_value(store: Store, kind: str) -> None:
    """The same rows give the same fingerprint from SQLite and PostGIS as in memory (refreshes rely on
    it); a one-centimetre move or one changed value gives another."""
    frame = CONTRACT_FRAMES[kind]()
    store.write(kind, frame, record=_record(kind))  # type: ignore[arg-type]
    stored = store.read(kind)  # type: ignore[arg-type]
    assert frame_fingerprint(stored) == frame_fingerprint(frame)
    moved = stored.copy()
    moved.geometry = moved.geometry.translate(xoff=2e-7)
    assert frame_fingerprint(moved) != frame_fingerprint(stored)
    changed = stored.copy()
    column = next(c for c in changed.columns if changed[c].dtype == "float64")
    changed.loc[0, column] = (changed.loc[0, column] if changed.loc[0, column] == changed.loc[0, column] else 0) + 1
    assert frame_fingerprint(changed) != frame_fingerprint(stored)


@pytest.mark.parametrize("kind", ["villages", "stations", "measurements"])
def test_chunked_reads_and_fingerprints_equal_whole_ones(store: Store, kind: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows read one at a time make the same frame and the same fingerprint as the whole frame (a
    partitioned run fingerprints a national table chunk by chunk)."""
    frame = CONTRACT_FRAMES[kind]()
    store.write(kind, frame, record=_record(kind))  # type: ignore[arg-type]
    whole = frame_fingerprint(frame)
    monkeypatch.setattr(coverage.store.storage, "READ_CHUNK", 1)
    chunks = list(store.read_chunks(kind))  # type: ignore[arg-type]
    assert [len(c) for c in chunks] == [1] * len(frame)
    assert_frames_equal(store.read(kind), frame)  # type: ignore[arg-type]
    assert store.fingerprint(kind) == whole  # type: ignore[arg-type]
    assert frame_fingerprint(frame.iloc[:1]) != whole


def test_villages_by_code_and_points_by_box(store: Store) -> None:
    villages, stations = CONTRACT_FRAMES["villages"](), CONTRACT_FRAMES["stations"]()
    store.write("villages", villages, record=_record("villages"))
    store.write("stations", stations, record=_record("stations"))
    codes = villages["code"].tolist()
    assert store.read("villages", codes=[codes[1]])["code"].tolist() == [codes[1]]
    assert store.read("villages", codes=list(reversed(codes)))["code"].tolist() == sorted(codes)
    assert store.read("villages", codes=[]).empty
    lon, lat = float(stations["lon"].iloc[0]), float(stations["lat"].iloc[0])
    # edges included; points in stored order
    inside = store.read("stations", box=(lon, lat, lon, lat))
    expected = stations[(stations["lon"] == lon) & (stations["lat"] == lat)]
    assert inside["cell_id"].tolist() == expected["cell_id"].tolist() and len(inside) >= 1
    assert store.read("stations", box=(lon + 1, lat + 1, lon + 2, lat + 2)).empty


def test_counts_and_committee_flag(store: Store) -> None:
    frame = CONTRACT_FRAMES["villages"]()
    frame.loc[1, "code"] = "321012101101"  # 101: a residents' committee, not a village committee
    store.write("villages", frame, record=_record("villages"))
    counts = store.counts()
    assert counts["villages"] == 2
    assert counts["village_committees"] == 1
    assert store.counts_by_city().to_dict("records") == [
        {"city_code": "3210", "city_name": "扬州市", "units": 2, "village_committees": 1}
    ]
    assert len(store.read("villages", committees_only=True)) == 1


@pytest.mark.parametrize("kind", ["villages", "stations"])
def test_second_append_of_same_keys_is_rejected_and_changes_nothing(store: Store, kind: str) -> None:
    frame = CONTRACT_FRAMES[kind]()
    store.write(kind, frame, record=_record(kind))  # type: ignore[arg-type]
    before = store.read(kind)  # type: ignore[arg-type]
    ingests_before = len(store.last_ingests())
    with pytest.raises(ValidationError) as err:
        store.write(kind, frame.iloc[:1], record=_record(kind))  # type: ignore[arg-type]
    assert "第 1 行" in str(err.value) and "already stored" in str(err.value)
    assert_frames_equal(store.read(kind), before)  # type: ignore[arg-type]
    assert len(store.last_ingests()) == ingests_before


def test_replace_swaps_the_whole_set(store: Store) -> None:
    frame = CONTRACT_FRAMES["stations"]()
    store.write("stations", frame, record=_record("stations"))
    store.write("stations", frame.iloc[:2], record=_record("stations"), replace=True)
    assert_frames_equal(store.read("stations"), frame.iloc[:2])
    assert store.last_ingests().iloc[0]["mode"] == "replace"


def test_failure_inside_the_transaction_rolls_back(store: Store) -> None:
    frame = CONTRACT_FRAMES["villages"]()
    store.write("villages", frame, record=_record("villages"))
    broken = frame.copy()
    broken.loc[1, "name"] = None  # violates NOT NULL after the delete of --replace ran
    with pytest.raises(Exception, match=r"(?i)null"):
        store.write("villages", broken, record=_record("villages"), replace=True)
    assert_frames_equal(store.read("villages"), frame)
