"""``village5g map``: write a coverage map as HTML.

Registered in :mod:`api.cli.root` with ``app.command("map")(map_command)``; the store and the console
come from :mod:`api.cli.context`.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.context import console, open_store, region_options, resolve_cities, wrote
from coverage.errors import bi

if TYPE_CHECKING:
    from maps import MapOptions


class BasemapArg(StrEnum):
    osm = "osm"
    tianditu = "tianditu"
    amap = "amap"
    none = "none"


def map_command(
    output: Annotated[Path, typer.Option("-o", "--output", help=bi("要写出的 HTML 文件", "HTML file to write"))],
    city: Annotated[str | None, typer.Option(help=bi("地市代码或名称",
                                                     "City code or name (default: the province map)"))] = None,
    county: Annotated[str | None, typer.Option(
        help=bi("区县代码或名称",
                "County code or name (a name two counties carry: give the code, or --city too)"))] = None,
    basemap: Annotated[BasemapArg, typer.Option(
        help=bi("底图",
                "none (default: our own boundaries, works with no network); osm; tianditu (needs --tianditu-key); "
                "amap (features shifted to GCJ-02 for display)"))] = BasemapArg.none,
    tianditu_key: Annotated[str | None, typer.Option(
        "--tianditu-key", envvar="VILLAGE5G_TIANDITU_KEY", help=bi("天地图浏览器密钥",
                                                                   "Tianditu (天地图) browser key"))] = None,
    offline: Annotated[bool, typer.Option(
        "--offline/--assets-folder", help=bi("单个离线文件，或资源放在旁边的文件夹",
                                             "--offline (default): one self-contained file with every script and "
                                             "style inlined, fit to mail; --assets-folder: smaller pages sharing a "
                                             "village5g-static folder copied next to FILE. Either way nothing comes "
                                             "from a CDN; with --basemap none no network is needed at all"))] = True,
    drill_down: Annotated[bool, typer.Option(
        "--drill-down", help=bi("仅全省地图：同时写出各地市、区县的地图",
                                "Province map only: also write map_<code>.html for every city and county "
                                "next to FILE, linked both ways"))] = False,
    run: Annotated[int | None, typer.Option(help=bi("运行编号", "Run id (default: the latest published)"))] = None,
    stations: Annotated[bool, typer.Option(help=bi("绘制在网 5G 站点", "Draw the active 5G sites"))] = True,
    raster: Annotated[bool, typer.Option(help=bi("叠加预测 RSRP",
                                                 "Add the predicted RSRP overlay (when the run has one)"))] = True,
    audit: Annotated[int | None, typer.Option(
        "--audit", metavar="ROUND", help=bi("改为某轮抽查样本的地图",
                                            "The map of an audit round's sample instead: villages by field outcome "
                                            "(--city narrows it to one city)"))] = None,
) -> None:
    """写出覆盖地图：全省各地市通达率（默认），或一个地市、区县及其行政村。

    Write a coverage map: the province by 5G通达率 (default), or a city or county with its villages."""
    from maps import MapOptions, MapSource, drill_down_maps, write_html

    if drill_down and (city or county):
        raise typer.BadParameter(bi("--drill-down 写出全省地图及其下各区域的地图：请去掉 --city 和 --county",
                                    "--drill-down writes the province map and every region below it; "
                                    "leave out --city and --county"), param_hint="--drill-down")
    options = MapOptions(basemap=basemap.value, tianditu_key=tianditu_key, stations=stations, raster=raster)
    if audit is not None:
        _audit_map(audit, output, city=city, county=county, drill_down=drill_down, options=options, offline=offline)
        return
    regional = bool(city or county)
    with open_store() as store:
        source = MapSource.load(store, run)
        if drill_down:
            written = []
            for name, m in drill_down_maps(source, output.name, options):
                written.append(write_html(m, output.parent / name, offline=offline))
            console.print(bi(f"已写出运行 {source.run_id} 的 {len(written)} 张地图到 {output.parent}（全省：{output}）",
                             f"wrote {len(written)} maps of run {source.run_id} to {output.parent} "
                             f"(province: {output})"), soft_wrap=True)
            return
        with region_options():
            m = source.region(city=city, county=county, options=options) if regional else source.province(options)
    path = write_html(m, output, offline=offline)
    size_mb = path.stat().st_size / 1e6
    wrote(path, f"（{size_mb:.1f} MB，运行 {source.run_id}，" + ("自包含" if offline else "资源在 village5g-static/")
          + "）", f" ({size_mb:.1f} MB, run {source.run_id}"
          + (", self-contained" if offline else ", assets in village5g-static/") + ")")


def _audit_map(round_number: int, output: Path, *, city: str | None, county: str | None, drill_down: bool,
               options: MapOptions, offline: bool) -> None:
    from maps import write_html
    from maps.audit import build_audit_map

    if county or drill_down:
        raise typer.BadParameter(bi("抽查地图最多只接受 --city", "an audit map takes --city at most"),
                                 param_hint="--audit")
    with open_store() as store:
        codes = resolve_cities(store, [city] if city else None)
        m = build_audit_map(store, round_number, city=codes[0] if codes else None, options=options)
    path = write_html(m, output, offline=offline)
    size_mb = path.stat().st_size / 1e6
    wrote(path, f"（{size_mb:.1f} MB，第 {round_number} 轮抽查，"
          + ("自包含" if offline else "资源在 village5g-static/") + "）",
          f" ({size_mb:.1f} MB, audit round {round_number}"
          + (", self-contained" if offline else ", assets in village5g-static/") + ")")
