"""``village5g status``: what is stored (counts, villages per city, cells per operator and band, last
ingests, the latest run), its tables Chinese over English like every table the CLI prints."""

from __future__ import annotations

from rich.markup import escape

from api.cli.context import console, counts_text, heading, open_store, print_rows, state
from coverage.errors import bi


def status() -> None:
    """已存储的内容：数量、各地市行政村、各运营商频段小区、最近导入和运行。

    What is stored: counts, villages per city, cells per operator and band, last ingests and runs."""
    with open_store() as store:
        counts = store.counts()
        cities = store.counts_by_city()
        cells = store.station_counts()
        last = store.last_ingests()
        latest = store.latest_run_id()
        run = store.read_run(latest) if latest is not None else None
        from api.cli.mr import mr_status_line

        mr_line = mr_status_line(store)
    console.print(f"数据库 (database)：{_redact(state.url)}", soft_wrap=True)
    console.print(counts_text(counts), soft_wrap=True)
    if mr_line:
        console.print(mr_line, soft_wrap=True)
    if run is not None:
        when = f"{run['finished_at']:%Y-%m-%d %H:%M:%S} UTC"
        console.print(bi(f"最新发布的运行：{run['id']}（{when}）", f"latest published run: {run['id']} ({when})")
                      + "：" + counts_text(run["counts"] or {}), soft_wrap=True)
    if not cities.empty:
        print_rows(bi("各地市行政村", "villages per city"),
                   [heading("地市代码", "city code"), heading("地市", "city"),
                    heading("村级单位", "village-level units"), heading("村委会", "village committees")],
                   [[str(row.city_code), str(row.city_name or ""), f"{row.units:,}", f"{row.village_committees:,}"]
                    for row in cities.itertuples(index=False)], left=2)
    if not cells.empty:
        pivot = cells.pivot_table(index=["operator", "band"], columns="status", values="cells",
                                  aggfunc="sum", fill_value=0)
        rows = []
        for key, values in pivot.iterrows():
            labels = [str(k) for k in key] if isinstance(key, tuple) else [str(key), ""]
            rows.append([*labels, *(f"{int(v):,}" for v in values)])
        print_rows(bi("各运营商、频段的小区数", "cells per operator and band"),
                   [heading("运营商", "operator"), heading("频段", "band"),
                    *(heading(STATUS_ZH.get(str(name), str(name)), str(name)) for name in pivot.columns)],
                   rows, left=2)
    if not last.empty:
        print_rows(bi("最近导入", "last ingests"),
                   [heading("时间 (UTC)", "when (UTC)"), heading("类型", "kind"), heading("文件", "file"),
                    heading("行数", "rows"), heading("方式", "mode"), "sha256"],
                   [[f"{row.created_at:%Y-%m-%d %H:%M:%S}", str(row.kind), escape(str(row.file_name)),
                     f"{row.rows:,}", str(row.mode), str(row.sha256)[:12]] for row in last.itertuples(index=False)],
                   left=3, also_left=(4, 5))


#: The Chinese of the stations' statuses, over the English in the status table.
STATUS_ZH = {"active": "在网", "planned": "规划", "retired": "退网"}


def _redact(url: str) -> str:
    """The URL without a password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url
