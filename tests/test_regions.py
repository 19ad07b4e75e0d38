"""One region resolver (coverage/store/regions.py): codes and names with or without their suffix, the same
in the CLI's filters and the API's parameters, and a "did you mean" on a miss in both."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from coverage.errors import NotFoundError
from coverage.store.queries import filter_results
from coverage.store.regions import did_you_mean, name_forms, short_name
from coverage.store.results_query import division_codes
from coverage.store.storage import IngestRecord, Store
from tests.utils.api import app_for
from tests.worlds.contract import contract_villages
from tests.worlds.row import VILLAGES as ROW_VILLAGES
from tests.worlds.row import build_row_world

BANNER = "科尔沁右翼前旗"  # a county-level 旗 of Inner Mongolia


def test_names_stand_for_themselves_and_for_each_suffix_of_their_level() -> None:
    assert name_forms("南京", "city") == ("南京", "南京市", "南京地区", "南京自治州", "南京盟")
    assert "科尔沁右翼前旗" in name_forms("科尔沁右翼前", "county")
    assert "大桥镇" in name_forms(" 大桥 ", "township")
    assert [short_name(n) for n in ("连云港市", BANNER, "秣陵街道办事处", "市")] == [
        "连云港", "科尔沁右翼前", "秣陵", "市"]


def test_a_banner_resolves_alike_in_the_cli_filter_and_the_api_lookup(store: Store) -> None:
    villages = contract_villages().assign(county_name=BANNER)
    store.write("villages", villages, record=IngestRecord(kind="villages", file_name="v.csv", sha256="0" * 64))
    for given in (BANNER, "科尔沁右翼前"):
        assert division_codes(store, "county", given) == [("321012", BANNER)]  # the API's ?county=
        assert len(filter_results(villages, county=given)) == 2  # the CLI's --county
    with pytest.raises(NotFoundError, match=r"did you mean 321012 科尔沁右翼前旗\?"):
        filter_results(villages, county="科尔沁左翼前旗")
    assert did_you_mean("科尔沁左翼前", [("321012", BANNER)]) == " (did you mean 321012 科尔沁右翼前旗?)"


def test_the_api_suggests_a_region_on_a_misspelt_name(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'api.db'}")
    store.create_schema()
    build_row_world(store)
    with TestClient(app_for(store, tmp_path)) as client:
        ok = client.get("/collections/villages/items?county=江都")
        assert ok.status_code == 200 and ok.json()["numberMatched"] == 4
        miss = client.get("/collections/villages/items?county=江宁县")
        assert miss.status_code == 400
        assert "did you mean 320115 江宁区?" in miss.text, miss.text
    store.dispose()


def test_the_cli_list_reads_a_region_in_sql_by_code_name_or_every_county_of_a_name(tmp_path: Path) -> None:
    """``village5g villages --county`` goes through the SQL read layer (match_divisions, query_villages):
    a code, a name without its suffix, a miss with its suggestion from the run's villages, and a name
    that two counties carry (both kept, as the in-memory filter kept them)."""
    import csv

    from sqlalchemy import update
    from typer.testing import CliRunner

    from api.cli import app
    from coverage.store.results_query import match_divisions
    from coverage.store.tables import villages

    db = f"sqlite:///{tmp_path / 'row.db'}"
    store = Store(db)
    store.create_schema()
    run_id = build_row_world(store)
    assert run_id is not None
    assert match_divisions(store, run_id, "county", "320115") == ("320115",)
    assert match_divisions(store, run_id, "county", "江都") == ("321012",)
    with pytest.raises(NotFoundError) as miss:
        match_divisions(store, run_id, "county", "江宁县")
    assert str(miss.value) == "no county with code or name '江宁县' in these results (did you mean 320115 江宁区?)"
    with store.engine.begin() as conn:  # 江宁区 renamed: two counties (320115, 321012) are now called 江都区
        conn.execute(update(villages).where(villages.c.county_code == "320115").values(county_name="江都区"))
    assert match_divisions(store, run_id, "county", "江都区") == ("320115", "321012")
    store.dispose()
    out = tmp_path / "v.csv"
    result = CliRunner().invoke(app, ["--db", db, "villages", "--county", "江都", "--format", "csv", "-o", str(out),
                                      "--lang", "en"])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8-sig", newline="") as fh:
        codes = sorted(row["code"] for row in csv.DictReader(fh))
    assert codes == sorted(v[0] for v in ROW_VILLAGES)
