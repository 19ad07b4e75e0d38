"""MR grid statistics: reading (CSV UTF-8/GBK with Chinese headers, Parquet, XLSX), validation with file,
row and field, all-or-nothing storage, reading back by area and period."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coverage.errors import ValidationError
from coverage.ingest.messages import english
from coverage.ingest.mr import export_mr, ingest_mr, read_mr
from coverage.model.bands import channel, nr_arfcn_freq_mhz
from coverage.store.storage import Store

HEADER = ("栅格ID,中心经度,中心纬度,栅格大小(m),开始日期,结束日期,运营商,制式,频点,采样点数,平均RSRP(dBm),"
          "RSRP>=-105dBm占比,平均SINR(dB),用户数")
ROWS = [
    "g1,118.80,32.05,100,2026-10-01,2026-10-31,移动,NR,504990,1200,-98.5,0.78,8.2,35",
    "g1,118.80,32.05,100,2026-10-01,2026-10-31,移动,LTE,38400,2400,-88.1,0.95,10.1,60",
    "g2,118.801,32.05,100,2026/10/1,2026/10/31,电信,5G,627264,300,-108.2,45%,3.0,",
]


def _csv(tmp_path: Path, rows: list[str], *, name: str = "mr.csv", encoding: str = "utf-8",
         header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
    return path


def test_arfcn_table_matches_the_standards() -> None:
    # TS 38.104 5.4.2.1: 504990 -> 2524.95 MHz (CMCC n41 SSB), 627264 -> 3408.96 MHz (n78)
    assert nr_arfcn_freq_mhz(504990) == pytest.approx(2524.95)
    assert nr_arfcn_freq_mhz(627264) == pytest.approx(3408.96)
    assert nr_arfcn_freq_mhz(152650) == pytest.approx(763.25)
    assert channel(504990, "NR").band == "n41" and channel(627264, "NR").band == "n78"  # type: ignore[union-attr]
    # TS 36.101 Table 5.7.3-1: EARFCN 1825 is band 3, 38400 band 39
    assert channel(1825, "LTE").band == "B3" and channel(38400, "LTE").band == "B39"  # type: ignore[union-attr]
    assert channel(999_999, "NR") is None


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_chinese_csv_is_stored_and_read_back(store: Store, tmp_path: Path, encoding: str) -> None:
    result = ingest_mr(store, _csv(tmp_path, ROWS, encoding=encoding))
    assert result.rows == 3 and result.threshold_dbm == -105.0
    assert result.periods == [("2026-10-01", "2026-10-31")] and result.operators == ["CMCC", "CTCC"]
    frame = read_mr(store)
    assert frame["operator"].tolist() == ["CMCC", "CMCC", "CTCC"]
    assert frame["rat"].tolist() == ["NR", "LTE", "NR"]
    assert frame["band"].tolist() == ["n41", "B39", "n78"]  # from the ARFCNs
    assert frame["share_good"].tolist() == pytest.approx([0.78, 0.95, 0.45])  # 45% read as 0.45
    assert frame["samples"].tolist() == [1200, 2400, 300]
    assert frame["period_end"].iloc[2] == pd.Timestamp("2026-10-31")
    assert np.isnan(frame["users"].iloc[2])
    # by area and period
    assert len(read_mr(store, box=(118.8005, 32.0, 118.9, 32.1))) == 1
    assert len(read_mr(store, period=("2026-11-01", "2026-11-30"))) == 0
    assert len(read_mr(store, period=("2026-10-31", "2026-11-30"), operators=["CMCC"])) == 2


def test_corner_in_a_projected_crs_gives_the_centre(store: Store, tmp_path: Path) -> None:
    # CGCS2000 / 3-degree Gauss-Kruger CM 120E (EPSG:4549): corner + half the grid is the centre
    import pyproj

    to_gk = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
    x, y = to_gk.transform(119.5, 32.5)
    header = "左下角经度,左下角纬度,栅格边长,统计开始时间,统计结束时间,运营商,频段,采样点,RSRP均值,threshold_dbm,覆盖率"
    path = _csv(tmp_path, [f"{x - 25},{y - 25},50,20261001,20261031,CTCC,n78,80,-101.0,-110,0.9"], header=header)
    ingest_mr(store, path, crs="EPSG:4549")
    row = read_mr(store).iloc[0]
    assert row["lon"] == pytest.approx(119.5, abs=1e-6) and row["lat"] == pytest.approx(32.5, abs=1e-6)
    assert row["rat"] == "NR" and row["threshold_dbm"] == -110.0 and row["grid_m"] == 50.0


@pytest.mark.parametrize(("row", "line", "field", "words"), [
    ("g9,118.9,32.1,75,2026-10-01,2026-10-31,移动,NR,504990,10,-98,0.5,1,1", 4, "栅格大小(m)",
     ("栅格大小 75 米不正确", "wrong grid size 75")),
    ("g9,118.9,32.1,100,2026-10-01,2026-10-31,移动,NR,504990,-5,-98,0.5,1,1", 4, "采样点数",
     ("采样点数为负：-5", "negative sample count")),
    ("g9,118.9,32.1,100,2026-10-01,2026-10-31,移动,NR,504990,10,-98,1.2,1,1", 4, "RSRP>=-105dBm占比",
     ("达标比例 1.2 大于 1", "above 1")),
    ("g9,118.9,32.1,100,2026-10-01,2026-10-31,移动,NR,123,10,-98,0.5,1,1", 4, "频点",
     ("未知的 ARFCN 123：", "unknown ARFCN 123")),
    ("g9,118.9,32.1,100,2026-10-31,2026-10-01,移动,NR,504990,10,-98,0.5,1,1", 4, "结束日期",
     ("统计结束日期（2026-10-01）早于开始日期（2026-10-31）", "before it starts")),
    ("g1,118.80,32.05,100,2026-10-15,2026-11-14,移动,NR,504990,10,-98,0.5,1,1", 4, "中心经度",
     ("栅格重复：文件中更早已有", "duplicate grid")),
])
def test_bad_files_are_rejected_with_row_and_field(store: Store, tmp_path: Path, row: str, line: int, field: str,
                                                    words: tuple[str, str]) -> None:
    ingest_mr(store, _csv(tmp_path, ROWS[1:2], name="before.csv"))  # something stored already
    with pytest.raises(ValidationError) as caught:
        ingest_mr(store, _csv(tmp_path, [*ROWS, row]))
    problem = caught.value.problems[0]
    assert (problem.file, problem.row, problem.field) == ("mr.csv", line, field)
    assert problem.message.startswith(words[0]) and words[1] in english(problem.message)
    assert len(read_mr(store)) == 1  # nothing of the rejected file, the stored row kept


def test_overlapping_stored_grid_is_rejected_and_replace_replaces(store: Store, tmp_path: Path) -> None:
    ingest_mr(store, _csv(tmp_path, ROWS))
    with pytest.raises(ValidationError) as caught:
        ingest_mr(store, _csv(tmp_path, ROWS[2:], name="again.csv"))
    assert caught.value.problems[0].row == 1 and "already stored" in caught.value.problems[0].message
    ingest_mr(store, _csv(tmp_path, ROWS[2:], name="again.csv"), replace=True)
    assert len(read_mr(store)) == 1


def test_threshold_must_be_stated(store: Store, tmp_path: Path) -> None:
    header = HEADER.replace("RSRP>=-105dBm占比", "达标比例")
    with pytest.raises(ValidationError, match="threshold is not stated"):
        ingest_mr(store, _csv(tmp_path, ROWS, header=header))
    assert ingest_mr(store, _csv(tmp_path, ROWS, header=header), threshold_dbm=-110).threshold_dbm == -110


@pytest.mark.parametrize("suffix", ["csv", "parquet", "xlsx"])
def test_export_reads_back_exactly(store: Store, tmp_path: Path, suffix: str) -> None:
    ingest_mr(store, _csv(tmp_path, ROWS))
    before = read_mr(store)
    out = tmp_path / f"export.{suffix}"
    assert export_mr(store, out) == 3
    other = Store(f"sqlite:///{tmp_path / 'other.db'}")
    other.create_schema()
    ingest_mr(other, out)
    pd.testing.assert_frame_equal(read_mr(other).drop(columns="source"), before.drop(columns="source"))
    other.dispose()


def test_chunks_make_no_difference(store: Store, tmp_path: Path) -> None:
    rows = [f"g{i},{118 + i * 0.001:.3f},32.05,100,2026-10-01,2026-10-31,联通,NR,{627264},{10 + i},-100,0.5,2,1"
            for i in range(25)]
    result = ingest_mr(store, _csv(tmp_path, rows), chunk_rows=7)
    assert result.rows == 25 and read_mr(store)["samples"].tolist() == [10 + i for i in range(25)]
    bad = [*rows[:20], rows[3].replace("g3", "g99")]  # a duplicate of row 4 in the last chunk
    with pytest.raises(ValidationError) as caught:
        ingest_mr(store, _csv(tmp_path, bad, name="dup.csv"), chunk_rows=7, replace=True)
    assert caught.value.problems[0].row == 21
    assert len(read_mr(store)) == 25


def test_post_ingest_mr_needs_an_admin_key_and_stores_or_rejects_whole(store: Store, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from tests.utils.api import app_for, key

    good = _csv(tmp_path, ROWS).read_bytes()
    bad = _csv(tmp_path, [*ROWS, ROWS[0].replace(",100,", ",75,")], name="bad.csv").read_bytes()
    with TestClient(app_for(store, tmp_path)) as client:
        auditor, admin = key(store, "auditor"), key(store, "admin")
        assert client.post("/ingest/mr", files={"file": ("mr.csv", good)}, headers=auditor).status_code == 403
        rejected = client.post("/ingest/mr", files={"file": ("bad.csv", bad)}, headers=admin)
        assert rejected.status_code == 422
        assert rejected.json()["details"][0]["row"] == 4 and "grid size" in rejected.json()["details"][0]["message"]
        assert len(read_mr(store)) == 0
        stored = client.post("/ingest/mr", files={"file": ("mr.csv", good)}, headers=admin)
        assert stored.status_code == 201 and stored.json()["rows"] == 3
        # exported by box and period with the canonical headers
        got = client.get("/exports/mr", params={"bbox": "118.8005,32.0,118.9,32.1", "start": "2026-10-01"},
                         headers=auditor)
        assert got.status_code == 200, got.text
        lines = got.content.decode("utf-8-sig").splitlines()
        assert lines[0].startswith("lon,lat,grid_m") and len(lines) == 2 and ",CTCC,NR,n78," in lines[1]
    assert len(read_mr(store)) == 3


def test_cli_ingests_exports_and_shows_mr(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    db = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    stored = runner.invoke(app, ["--db", db, "ingest", "mr", str(_csv(tmp_path, ROWS, encoding="gbk"))])
    assert stored.exit_code == 0, stored.output
    assert "stored 3 MR grid rows" in stored.output
    status = runner.invoke(app, ["--db", db, "status"])
    assert "MR grid statistics: 2026-10-01..2026-10-31: 3 rows, 3,900 samples" in status.output
    bad = runner.invoke(app, ["--db", db, "ingest", "mr", str(_csv(tmp_path, [ROWS[0].replace(",1200,", ",-3,")],
                                                                  name="bad.csv"))])
    # the console script prints the domain error's lines (api.cli's main); the app raises it
    assert bad.exit_code == 1 and str(bad.exception) == ("bad.csv，第 1 行，字段 '采样点数'：采样点数为负：-3 "
                                                        "(negative sample count -3)")
    out = tmp_path / "back.csv"
    assert runner.invoke(app, ["--db", db, "export", "mr", "-o", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8-sig").count("\n") == 4


def test_a_first_file_rejected_or_stored_leaves_the_area_index(store: Store, tmp_path: Path) -> None:
    # into an empty table the indexes are built after the load, in the same transaction
    from sqlalchemy import inspect

    def indexed() -> bool:
        found = inspect(store.engine)
        return ("ix_mr_grids_lon_lat_period" in {ix["name"] for ix in found.get_indexes("mr_grids")}
                and found.get_pk_constraint("mr_grids")["constrained_columns"] == ["id"])
    with pytest.raises(ValidationError):
        ingest_mr(store, _csv(tmp_path, [*ROWS, ROWS[0].replace(",100,", ",75,")], name="bad.csv"))
    assert indexed() and len(read_mr(store)) == 0
    ingest_mr(store, _csv(tmp_path, ROWS))
    assert indexed() and len(read_mr(store, box=(118.8005, 32.0, 118.9, 32.1))) == 1


def test_rows_come_back_in_file_order_whatever_their_texts_and_gaps(store: Store, tmp_path: Path) -> None:
    # rows of different operators, RATs, bands and missing values, over chunks of two rows
    rows = [f"g{i},{118 + i * 0.01:.2f},32.05,100,2026-10-01,2026-10-31,{op},{rat},{arfcn},{10 + i},-100,0.5,"
            f"{sinr},{users}"
            for i, (op, rat, arfcn, sinr, users) in enumerate([
                ("移动", "NR", 504990, 2, 1), ("电信", "LTE", 1825, "", 3), ("广电", "NR", 152650, 4, ""),
                ("联通", "NR", 627264, "", ""), ("移动", "LTE", 38400, 6, 7)])]
    ingest_mr(store, _csv(tmp_path, rows), chunk_rows=2)
    frame = read_mr(store)
    assert frame["samples"].tolist() == [10, 11, 12, 13, 14]
    assert frame["operator"].tolist() == ["CMCC", "CTCC", "CBN", "CUCC", "CMCC"]
    assert frame["band"].tolist() == ["n41", "B3", "n28", "n78", "B39"]
    assert frame["sinr_mean_db"].fillna(-1).tolist() == [2, -1, 4, -1, 6]
    assert frame["users"].fillna(-1).tolist() == [1, 3, -1, -1, 7]
    assert frame["lon"].tolist() == pytest.approx([118.0, 118.01, 118.02, 118.03, 118.04])


def test_a_row_without_its_last_empty_fields_is_read_as_pandas_reads_it(store: Store, tmp_path: Path) -> None:
    # the fast reader wants every row as long as the header; pandas fills a short row's end with missing values
    short = ROWS[2].rsplit(",", 1)[0]  # no 用户数 field at all
    assert ingest_mr(store, _csv(tmp_path, [*ROWS[:2], short])).rows == 3
    assert np.isnan(read_mr(store)["users"].iloc[2])


def test_a_chunk_of_one_row_whose_values_are_all_whole_is_stored(store: Store, tmp_path: Path) -> None:
    # values the same in every row of a chunk go into the statement (SQLite); a one-row chunk has only such
    row = "g1,118,32,100,2026-10-01,2026-10-31,移动,NR,504990,1200,-98,1,8,35"
    ingest_mr(store, _csv(tmp_path, [row, row.replace(",118,", ",119,")]), chunk_rows=1)
    frame = read_mr(store)
    assert frame["lon"].tolist() == [118.0, 119.0] and frame["samples"].tolist() == [1200, 1200]
    assert frame["period_start"].tolist() == [pd.Timestamp("2026-10-01")] * 2 and frame["users"].tolist() == [35, 35]
