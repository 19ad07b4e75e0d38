"""One region resolver (coverage/store/regions.py): codes and names with or without their suffix, the same
in the CLI's filters, the API's parameters and the maps, a "did you mean" on a miss, and a name that two
regions carry never guessed: every interface names both (code, name, city) and how to choose."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app
from coverage.errors import NotFoundError
from coverage.store.regions import (
    AmbiguousRegionError,
    Region,
    UnknownRegionError,
    did_you_mean,
    name_forms,
    region_code,
    resolve_division,
    short_name,
)
from coverage.store.storage import IngestRecord, Store
from maps import MapSource
from tests.utils.api import app_for, key
from tests.worlds.contract import contract_villages
from tests.worlds.row import VILLAGES as ROW_VILLAGES
from tests.worlds.row import build_row_world

BANNER = "科尔沁右翼前旗"  # a county-level 旗 of Inner Mongolia
#: The row world's villages of 扬州市 江都区 (321012) and of 南京市 (320115), hand-listed.
YANGZHOU = ["321012101201", "321012101202", "321012101203", "321012101204"]
NANJING = ["320115100201", "320115100202", "320115100203", "320115100204"]
#: How the twin world's two 江都区 are named (by code; where each lies, in Chinese).
TWIN_COUNTIES = "320115 江都区（南京市）、321012 江都区（扬州市）"
TWIN_COUNTY_ERROR = (f"县区名“江都区”不唯一，有 2 个：{TWIN_COUNTIES}；请给出代码，或同时给出所在地市 "
                     "(county name '江都区' is ambiguous: give the code, or its city too)")
#: How the CLI says to choose (the first candidate as the example).
CLI_CHOICE = "例如 e.g. --county 320115 或 or --city 南京市 --county 江都区"

runner = CliRunner()


def test_names_stand_for_themselves_and_for_each_suffix_of_their_level() -> None:
    assert name_forms("南京", "city") == ("南京", "南京市", "南京地区", "南京自治州", "南京盟")
    assert "科尔沁右翼前旗" in name_forms("科尔沁右翼前", "county")
    assert "大桥镇" in name_forms(" 大桥 ", "township")
    assert [short_name(n) for n in ("连云港市", BANNER, "秣陵街道办事处", "市")] == [
        "连云港", "科尔沁右翼前", "秣陵", "市"]


def test_a_banner_resolves_with_or_without_its_suffix_and_a_miss_gets_a_suggestion(store: Store) -> None:
    villages = contract_villages().assign(county_name=BANNER)
    store.write("villages", villages, record=IngestRecord(kind="villages", file_name="v.csv", sha256="0" * 64))
    for given in (BANNER, "科尔沁右翼前", "321012"):
        assert resolve_division(store, "county", given) == "321012"
    with pytest.raises(NotFoundError, match=r"did you mean 321012 科尔沁右翼前旗\?"):
        resolve_division(store, "county", "科尔沁左翼前旗")
    assert did_you_mean("科尔沁左翼前", [("321012", BANNER)]) == " (did you mean 321012 科尔沁右翼前旗?)"


def test_a_name_two_regions_carry_is_never_guessed() -> None:
    regions = [Region("321012", "江都区", ("扬州市",), "3210"), Region("320115", "江都区", ("南京市",), "3201"),
               Region("320116", "六合区", ("南京市",), "3201")]
    assert region_code(regions, "六合", "county") == "320116"
    assert region_code(regions, "321012", "county") == "321012"  # a code is never ambiguous
    for given in ("江都区", "江都"):
        with pytest.raises(AmbiguousRegionError) as twice:
            region_code(regions, given, "county")
        assert [c.code for c in twice.value.candidates] == ["320115", "321012"]
    assert str(twice.value) == TWIN_COUNTY_ERROR.replace("“江都区”", "“江都”").replace("'江都区'", "'江都'")
    chosen = twice.value.choose(code="--county {code}", parent="--city {parent} --county {name}")
    assert str(chosen).endswith(": 例如 e.g. --county 320115 或 or --city 南京市 --county 江都区")


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


def test_the_cli_list_reads_a_region_in_sql_by_code_or_name(tmp_path: Path) -> None:
    """``village5g villages --county`` resolves in SQL among the run's villages: a code, a name without
    its suffix, and a miss with its suggestion."""
    db = f"sqlite:///{tmp_path / 'row.db'}"
    store = Store(db)
    store.create_schema()
    run_id = build_row_world(store)
    assert run_id is not None
    assert resolve_division(store, "county", "320115", run_id=run_id) == "320115"
    assert resolve_division(store, "county", "江都", run_id=run_id) == "321012"
    with pytest.raises(NotFoundError) as miss:
        resolve_division(store, "county", "江宁县", run_id=run_id)
    assert str(miss.value) == ("没有代码或名称为“江宁县”的县区（本次结果中）；是否指 320115 江宁区？ "
                               "(no county with code or name '江宁县' in these results (did you mean 320115 江宁区?))")
    assert isinstance(miss.value, UnknownRegionError) and miss.value.suggestions == (("320115", "江宁区"),)
    store.dispose()
    assert _cli_codes(db, tmp_path, "--county", "江都") == YANGZHOU
    assert _cli_codes(db, tmp_path, "--city", "南京") == NANJING
    assert sorted(v[0] for v in ROW_VILLAGES) == sorted(YANGZHOU + NANJING)


# -- two counties called 江都区 (and two townships called 大桥镇) ----------------------------------------


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The row world with 南京市's county and township named like 扬州市's, stored and analysed once."""
    db = f"sqlite:///{tmp_path_factory.mktemp('twins') / 'twins.db'}"
    store = Store(db)
    store.create_schema()
    build_row_world(store, twins=True)
    store.dispose()
    return db


def _cli_codes(db: str, tmp_path: Path, *args: str) -> list[str]:
    out = tmp_path / "v.csv"
    result = runner.invoke(app, ["--db", db, "villages", *args, "--format", "csv", "-o", str(out), "--lang", "en"])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8-sig", newline="") as fh:
        return sorted(row["code"] for row in csv.DictReader(fh))


def test_the_resolver_names_both_counties_and_is_told_apart_by_code_or_city(twins: str) -> None:
    store = Store(twins)
    run_id = store.published_run(None)
    with pytest.raises(AmbiguousRegionError) as twice:
        resolve_division(store, "county", "江都区", run_id=run_id)
    assert str(twice.value) == TWIN_COUNTY_ERROR
    assert [(c.code, c.name, c.parents, c.parent_code) for c in twice.value.candidates] == [
        ("320115", "江都区", ("南京市",), "3201"), ("321012", "江都区", ("扬州市",), "3210")]
    assert resolve_division(store, "county", "江都", run_id=run_id, within=("3210",)) == "321012"
    assert resolve_division(store, "county", "320115", run_id=run_id) == "320115"
    townships = r"320115100 大桥镇（南京市江都区）、321012101 大桥镇（扬州市江都区）"
    with pytest.raises(AmbiguousRegionError, match=townships):
        resolve_division(store, "township", "大桥")
    store.dispose()


def test_the_cli_list_names_both_counties_and_lists_the_one_chosen(twins: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["--db", twins, "villages", "--county", "江都区"])
    assert isinstance(result.exception, AmbiguousRegionError)
    assert str(result.exception) == f"{TWIN_COUNTY_ERROR}: {CLI_CHOICE}"
    assert _cli_codes(twins, tmp_path, "--county", "321012") == YANGZHOU
    assert _cli_codes(twins, tmp_path, "--city", "扬州", "--county", "江都区") == YANGZHOU
    assert _cli_codes(twins, tmp_path, "--city", "3201", "--county", "江都") == NANJING


def test_the_api_names_both_counties_and_lists_the_one_chosen(twins: str, tmp_path: Path) -> None:
    store = Store(twins)
    with TestClient(app_for(store, tmp_path)) as client:
        items = "/collections/villages/items"
        refused = client.get(items, params={"county": "江都区"})
        assert refused.status_code == 400
        body = refused.json()
        assert body["message"] == f"{TWIN_COUNTY_ERROR}: 例如 e.g. county=320115 或 or city=南京市&county=江都区"
        assert [(d["location"], d["code"], d["message"]) for d in body["details"]] == [
            ("query.county", "320115", "320115 江都区（南京市）"),
            ("query.county", "321012", "321012 江都区（扬州市）")]
        refused = client.get("/exports/villages", params={"county": "江都", "format": "csv"})
        assert refused.status_code == 400 and TWIN_COUNTIES in refused.json()["message"]

        def codes(**params: str) -> list[str]:
            answer = client.get(items, params=params)
            assert answer.status_code == 200, answer.text
            return sorted(f["id"] for f in answer.json()["features"])

        assert codes(county="321012") == YANGZHOU
        assert codes(city="扬州", county="江都区") == YANGZHOU
        assert codes(city="南京市", county="江都") == NANJING
        township = client.get(items, params={"township": "大桥镇"})
        assert township.status_code == 400
        assert township.json()["message"].endswith(": 例如 e.g. township=320115100 或 or county=320115&township=大桥镇")
        assert codes(county="320115", township="大桥镇") == NANJING
        # a key limited to 扬州市 has one 江都区: the name is not ambiguous inside its region
        limited = client.get(items, params={"county": "江都区"}, headers=key(store, "viewer", "3210"))
        assert limited.status_code == 200 and sorted(f["id"] for f in limited.json()["features"]) == YANGZHOU
    store.dispose()


def test_maps_name_both_counties_and_draw_the_one_chosen(twins: str, tmp_path: Path) -> None:
    store = Store(twins)
    source = MapSource.load(store)
    with pytest.raises(AmbiguousRegionError, match=re.escape(TWIN_COUNTIES)):
        source.region(county="江都区")
    assert source.region_code(city="扬州市", county="江都") == ("county", "321012")
    m = source.region(city="扬州", county="江都区")
    store.dispose()
    villages = next(child for child in m._children.values() if getattr(child, "layer_name", "").startswith("村"))
    assert sorted(f["properties"]["code"] for f in villages.data["features"]) == YANGZHOU
    out = tmp_path / "map.html"
    result = runner.invoke(app, ["--db", twins, "map", "--county", "江都区", "-o", str(out)])
    assert isinstance(result.exception, AmbiguousRegionError) and not out.exists()
    assert str(result.exception).endswith(CLI_CHOICE)
    result = runner.invoke(app, ["--db", twins, "map", "--city", "南京", "--county", "江都区", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert all(code in page for code in NANJING) and not any(code in page for code in YANGZHOU)
