"""OpenCelliD-format cell lists as stations of unknown radio parameters, flagged."""

from __future__ import annotations

from pathlib import Path

import pytest

from coverage.errors import ValidationError
from coverage.ingest import read_input
from coverage.ingest.messages import english
from coverage.ingest.opencellid import SOURCE

HEADER = "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal"
ROWS = [
    "NR,460,0,28743,5862498305,0,119.405,32.405,1000,12,1,1690000000,1700000000,0",
    "LTE,460,1,20809,125623041,0,119.415,32.405,800,30,1,1600000000,1700000000,-95",
    "GSM,460,0,20809,4111,0,119.425,32.405,2000,3,1,1500000000,1500000000,0",
    "NR,460,11,30001,9000001,0,119.435,32.405,500,4,1,1690000000,1700000000,0",
    "LTE,454,0,1,2,0,114.17,22.3,500,4,1,1690000000,1700000000,0",
]


@pytest.mark.parametrize("with_header", [True, False])
def test_opencellid_rows_become_flagged_stations(tmp_path: Path, with_header: bool) -> None:
    path = tmp_path / "460.csv"
    path.write_text(("\n".join([HEADER, *ROWS]) if with_header else "\n".join(ROWS)) + "\n", encoding="utf-8")
    result = read_input("stations", path)
    frame = result.frame
    assert list(frame["site_id"]) == ["OCID-460-00-28743-5862498305", "OCID-460-01-20809-125623041",
                                      "OCID-460-11-30001-9000001"]
    assert list(frame["operator"]) == ["CMCC", "CUCC", "CTCC"]
    assert list(frame["rat"]) == ["NR", "LTE", "NR"]
    assert list(frame["band"]) == ["n41", "B3", "n78"]
    assert set(frame["source"]) == {SOURCE}
    assert frame["azimuth_deg"].isna().all() and frame["power_dbm"].isna().all()
    messages = [w.message for w in result.warnings]
    assert any("3 NR/LTE cell(s) of China read as stations of unknown radio parameters" in m for m in messages)
    assert ("OpenCelliD 格式：1 个 GSM/UMTS/CDMA 小区未读入 "
            "(OpenCelliD format: 1 GSM/UMTS/CDMA cell(s) left out)") in messages
    assert "OpenCelliD format: 1 cell(s) outside MCC 460 left out" in [english(m) for m in messages]


def test_an_opencellid_file_without_chinese_nr_or_lte_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "gsm.csv"
    path.write_text(HEADER + "\n" + ROWS[2] + "\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="no NR or LTE cell of China"):
        read_input("stations", path)


def test_an_analysis_records_how_many_stations_had_unknown_radio_parameters(tmp_path: Path) -> None:
    from coverage.model.rules import DEFAULT_RULES
    from coverage.runs.analysis import run_analysis
    from coverage.store.storage import IngestRecord, Store
    from tests.worlds.row import PARAMS, build_row_world

    store = Store(f"sqlite:///{tmp_path / 'v.db'}")
    store.create_schema()
    build_row_world(store, analyze=False)
    path = tmp_path / "460.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    frame = read_input("stations", path).frame
    store.write("stations", frame, record=IngestRecord(kind="stations", file_name="460.csv", sha256="0" * 64))
    run = run_analysis(store, rules=DEFAULT_RULES, params=PARAMS)
    assert store.read_run(run.run_id)["inputs"]["stations_unknown_radio"] == 3
    store.dispose()
