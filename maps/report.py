"""The HTML report of a region and run: KPIs, a chart of 通达率 over runs against the target, the villages
newly flagged or cleared since the previous run, and the coverage map, in one self-contained page.

The data come from :func:`coverage.reports.workbook.report_data` (the XLSX report shows the same). The chart
is an inline SVG drawn here (:func:`reach_chart_svg`), so the page needs no charting library. The map
is the map of ``village5g map`` rendered offline (every script and stylesheet inlined) and embedded
as the ``srcdoc`` of an iframe: the report is one file that opens from disk with no network (with the
default ``basemap="none"``; a tile basemap needs its tile server).
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from coverage.errors import ConfigError, NotFoundError
from coverage.reports.workbook import CHANGE_LABELS, VERDICT_LABELS, ReportData, local_time, report_data
from coverage.store.storage import Store
from coverage.writers import atomic_write
from maps.assets import render_html
from maps.build import MapOptions, MapSource
from maps.style import reach_rate_steps, step_index

__all__ = ["ChartPoint", "chart_y", "reach_chart_svg", "render_report_html", "write_report_html"]

#: Chart geometry (SVG user units = CSS pixels at 100%).
CHART_WIDTH, CHART_HEIGHT = 760, 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 24, 24, 64


@dataclass(frozen=True)
class ChartPoint:
    """One run on the chart: its id, finish time (Beijing time) and 通达率 (0-1)."""

    run_id: int
    finished_at: dt.datetime | None
    rate: float


def chart_y(rate: float) -> float:
    """Vertical position of a rate (0 at the bottom axis, 1 at the top)."""
    return _TOP + (1.0 - rate) * (CHART_HEIGHT - _TOP - _BOTTOM)


def _x(i: int, n: int) -> float:
    """Horizontal position of the i-th of n runs (evenly spaced: runs come at irregular times)."""
    inner = CHART_WIDTH - _LEFT - _RIGHT
    return _LEFT + inner / 2 if n == 1 else _LEFT + 16 + i * (inner - 32) / (n - 1)


def reach_chart_svg(points: Sequence[ChartPoint], *, target_rate: float, title: str = "5G通达率") -> str:
    """An SVG line chart of 通达率 per run (0-100 %) with the target as a dashed line.

    Runs are evenly spaced left to right in the order given, each a dot labelled with its run id and
    date; the y axis has gridlines every 10 %. Elements carry classes for tests and styling:
    ``point`` (one per run, with ``data-run`` and ``data-rate``), ``series``, ``target``.
    """
    e = html.escape
    n = len(points)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="reach-chart" viewBox="0 0 {CHART_WIDTH} '
             f'{CHART_HEIGHT}" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" role="img" '
             f'aria-label="{e(title)}">', f"<title>{e(title)}</title>"]
    bottom, right = CHART_HEIGHT - _BOTTOM, CHART_WIDTH - _RIGHT
    for k in range(11):
        y = chart_y(k / 10)
        parts.append(f'<line class="grid" x1="{_LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" '
                     f'stroke="#e3e3e3" stroke-width="1"/>')
        if k % 2 == 0:
            parts.append(f'<text class="ytick" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
                         f'font-size="11" fill="#444">{k * 10}%</text>')
    parts.append(f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}" stroke="#333"/>')
    parts.append(f'<line class="axis" x1="{_LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>')
    parts.append(f'<text x="14" y="{(_TOP + bottom) / 2:.1f}" font-size="12" fill="#333" text-anchor="middle" '
                 f'transform="rotate(-90 14 {(_TOP + bottom) / 2:.1f})">通达率 reach rate</text>')
    ty = chart_y(target_rate)
    parts.append(f'<line class="target" data-rate="{target_rate:.6f}" x1="{_LEFT}" y1="{ty:.1f}" x2="{right}" '
                 f'y2="{ty:.1f}" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="6 4"/>')
    parts.append(f'<text class="target-label" x="{right - 4}" y="{ty - 5:.1f}" text-anchor="end" font-size="12" '
                 f'fill="#c0392b">目标 target {target_rate:.0%}</text>')
    if n == 0:
        parts.append(f'<text x="{CHART_WIDTH / 2}" y="{(_TOP + bottom) / 2}" text-anchor="middle" font-size="13" '
                     f'fill="#777">no published run yet</text>')
    coords = [(_x(i, n), chart_y(p.rate)) for i, p in enumerate(points)]
    if n > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline class="series" points="{path}" fill="none" stroke="#1f6fb2" stroke-width="2"/>')
    label_every = max(1, math.ceil(n / 12))  # at most about 12 x labels
    for i, (p, (x, y)) in enumerate(zip(points, coords, strict=True)):
        when = p.finished_at.strftime("%Y-%m-%d %H:%M") if p.finished_at else "?"
        parts.append(f'<circle class="point" data-run="{p.run_id}" data-rate="{p.rate:.6f}" cx="{x:.1f}" '
                     f'cy="{y:.1f}" r="4" fill="#1f6fb2"><title>run {p.run_id} · {e(when)} · '
                     f'{p.rate:.1%}</title></circle>')
        if i % label_every == 0 or i == n - 1:
            date = p.finished_at.strftime("%m-%d") if p.finished_at else "?"
            parts.append(f'<text class="xtick" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" font-size="11" '
                         f'fill="#444">#{p.run_id}</text>')
            parts.append(f'<text class="xdate" x="{x:.1f}" y="{bottom + 30}" text-anchor="middle" font-size="10" '
                         f'fill="#666">{e(date)}</text>')
        if n <= 12:
            parts.append(f'<text class="value" x="{x:.1f}" y="{y - 8:.1f}" text-anchor="middle" font-size="10" '
                         f'fill="#1f6fb2">{p.rate:.1%}</text>')
    parts.append(f'<text x="{(_LEFT + right) / 2:.1f}" y="{CHART_HEIGHT - 8}" text-anchor="middle" font-size="12" '
                 f'fill="#333">分析运行 run (北京时间 Beijing time)</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _chart_points(history: pd.DataFrame) -> list[ChartPoint]:
    return [ChartPoint(int(r["run_id"]), local_time(r["finished_at"]), float(r["reach_rate"]))
            for r in history.to_dict("records")]


def _pct(value: object) -> str:
    return "–" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.1%}"


def _signed_pct(value: object) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:+.1%}"


def _kpi_table(frame: pd.DataFrame, *, target_rate: float, caption: str) -> str:
    e = html.escape
    steps = reach_rate_steps(target_rate, frame["reach_rate"].to_numpy(dtype=float) if len(frame) else None)
    colors = [steps[i].color for i in step_index(frame["reach_rate"].to_numpy(dtype=float), steps)] if len(frame) \
        else []
    head = ("<tr><th>代码</th><th>名称</th><th>行政村</th><th>5G通达</th><th>弱覆盖</th><th>无覆盖</th><th>无站址</th>"
            "<th>通达率</th><th>距目标差</th><th>上期</th><th>变化</th></tr>")
    rows = []
    for rec, color in zip(frame.to_dict("records"), colors, strict=True):
        rows.append(
            f'<tr data-code="{e(str(rec["code"]))}"><td>{e(str(rec["code"]))}</td><td>{e(str(rec["name"] or ""))}</td>'
            f'<td>{rec["villages"]:,}</td><td>{rec["covered"]:,}</td><td>{rec["weak"]:,}</td>'
            f'<td>{rec["uncovered"]:,}</td><td>{rec["no_site"]:,}</td>'
            f'<td class="rate"><span class="swatch" style="background:{color}"></span>{_pct(rec["reach_rate"])}</td>'
            f'<td>{rec["gap_villages"]:,}</td><td>{_pct(rec["reach_rate_before"])}</td>'
            f'<td>{_signed_pct(rec["change"])}</td></tr>')
    return f'<table class="kpi"><caption>{e(caption)}</caption>{head}{"".join(rows)}</table>'


def _changes_table(frame: pd.DataFrame, kind: str) -> str:
    e = html.escape
    part = frame[frame["change"] == kind] if len(frame) else frame
    title = f"{CHANGE_LABELS[kind]} ({kind}): {len(part):,}"
    if part.empty:
        return f'<h3>{e(title)}</h3><p class="none">—</p>'

    def verdict(value: object) -> str:
        text = VERDICT_LABELS.get(str(value), "") if value is not None and value == value else ""
        return e(text)

    def flag(value: object) -> str:
        return "是" if value is True else ""

    rows = "".join(
        f'<tr class="{e(kind)}"><td>{e(str(r["code"]))}</td><td>{e(str(r["name"] or ""))}</td>'
        f'<td>{e(str(r["county_name"] or ""))}</td><td>{verdict(r["before_verdict"])}</td>'
        f'<td>{verdict(r["after_verdict"])}</td><td>{flag(r["before_no_site"])}</td><td>{flag(r["after_no_site"])}</td>'
        f"</tr>" for r in part.to_dict("records"))
    return (f'<h3>{e(title)}</h3><div class="scroll"><table class="changes" data-kind="{e(kind)}"><tr><th>村代码</th>'
            f"<th>村名称</th><th>区县</th><th>上期结论</th><th>本期结论</th><th>上期无站址</th><th>本期无站址</th></tr>"
            f"{rows}</table></div>")


_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ccc}
h3{font-size:14px;margin:16px 0 6px} .meta{color:#555;font-size:13px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0}
.card{border:1px solid #d5d5d5;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:20px} .card span{font-size:12px;color:#555}
table{border-collapse:collapse;font-size:12px;margin:6px 0} caption{text-align:left;font-weight:bold;padding:4px 0}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right} th{background:#ddebf7}
td:nth-child(2),td:first-child{text-align:left}
.swatch{display:inline-block;width:10px;height:10px;margin-right:5px;border:1px solid #888}
.none{color:#777} iframe.map{width:100%;height:640px;border:1px solid #bbb}
.scroll{max-height:320px;overflow-y:auto;display:inline-block} table.changes td{text-align:left}
"""


def render_report_html(store: Store, *, region: str | None = None, run_id: int | None = None,
                       basemap: str = "none") -> str:
    """The HTML report of ``region`` (None/``province``, a city or a county code) for a published run.

    ``basemap`` is the map's background (``none``: our own boundaries, no network; or a tile
    provider of :data:`maps.BASEMAPS`). Raises :class:`~coverage.errors.NotFoundError` for an
    unknown run or a region without villages.
    """
    data = report_data(store, region=region, run_id=run_id, village_lists=False)
    return _page(data, _map_html(store, data, basemap=basemap))


def _map_html(store: Store, data: ReportData, *, basemap: str) -> str | None:
    """The offline map page, or None when the map cannot be drawn (no division polygons for a
    province map): the rest of the report stands without it."""
    source = MapSource.load(store, data.run_id)
    options = MapOptions(basemap=basemap)
    if data.level == "city":
        m = source.region(city=data.code, options=options)
    elif data.level == "county":
        m = source.region(county=data.code, options=options)
    else:
        try:
            m = source.province(options)
        except NotFoundError:
            return None
    return render_html(m, offline=True)


def _page(data: ReportData, map_html: str | None) -> str:
    e = html.escape
    t = data.totals
    finished = local_time(data.finished_at)
    when = finished.strftime("%Y-%m-%d %H:%M") if finished else "?"
    previous = f"run {data.previous_run_id}" if data.previous_run_id is not None else "none (first run)"
    cards = [("行政村 villages", f"{t['villages']:,}"), ("5G通达 covered", f"{t['covered']:,}"),
             ("弱覆盖 weak", f"{t['weak']:,}"), ("无覆盖 uncovered", f"{t['uncovered']:,}"),
             ("无站址 no site", f"{t['no_site']:,}"), ("通达率 reach rate", _pct(t["reach_rate"])),
             (f"目标 target {data.target_rate:.0%}: 缺口 gap", f"{t['gap_villages']:,}"),
             ("较上期 vs previous", _signed_pct(t["change"]))]
    card_html = "".join(f'<div class="card"><b>{e(v)}</b><span>{e(k)}</span></div>' for k, v in cards)
    level_names = {"city": "分市 by city", "county": "分县 by county"}
    kpis = "".join(_kpi_table(frame, target_rate=data.target_rate, caption=level_names[level])
                   for level, frame in data.kpis.items())
    counts = ", ".join(f"{CHANGE_LABELS[k]} {v:,}" for k, v in data.change_counts.items() if v)
    changes = "".join(_changes_table(data.changes, kind) for kind in ("flagged", "cleared"))
    if data.previous_run_id is None:
        changes = '<p class="none">This is the first published run: nothing to compare with.</p>'
    chart = reach_chart_svg(_chart_points(data.history), target_rate=data.target_rate,
                            title=f"{data.name} 5G通达率 over runs")
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(data.title)} · run {data.run_id}</title>
<style>{_CSS}</style></head>
<body>
<h1>{e(data.title)}</h1>
<div class="meta">{e(data.level)} {e(data.code)} · run {data.run_id} finished {e(when)} (北京时间) ·
rules {e(data.rules)} · previous {e(previous)}</div>
<div class="cards">{card_html}</div>
<h2>通达率历史 reach rate over runs</h2>
{chart}
<h2>指标 KPIs</h2>
{kpis or '<p class="none">(a county report has no lower level here: see the map)</p>'}
<h2>较上期变化 changes since the previous run</h2>
<div class="meta">{e(counts) if counts else "no village changed"}</div>
{changes}
<h2>覆盖地图 coverage map</h2>
{_map_frame(map_html)}
<p class="meta">Uncovered and weak village lists: the XLSX report of the same region and run.</p>
</body></html>
"""


def _map_frame(map_html: str | None) -> str:
    if map_html is None:
        return ('<p class="none">No map: the division reference holds no city polygons for these villages '
                "(load divisions, e.g. with <code>village5g seed</code>).</p>")
    return f'<iframe class="map" title="coverage map" srcdoc="{html.escape(map_html, quote=True)}"></iframe>'


def write_report_html(store: Store, path: str | Path, *, region: str | None = None, run_id: int | None = None,
                      basemap: str = "none") -> Path:
    """Write :func:`render_report_html` to ``path`` (a ``.html`` file); the file appears complete or not at all."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"cannot write an HTML report to {path.name!r}: use a .html file name")
    text = render_report_html(store, region=region, run_id=run_id, basemap=basemap)
    with atomic_write(path, suffix=".html") as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
