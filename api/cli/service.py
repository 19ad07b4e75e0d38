"""CLI commands of the HTTP service: ``village5g serve`` and ``village5g keys create|list|revoke``.

Registered on the main typer app in :mod:`api.cli.root`; the database comes from its global ``--db``
option (or ``VILLAGE5G_DATABASE_URL``), everything else from ``VILLAGE5G_*`` settings.
"""

from __future__ import annotations

import os
import socket
from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape

from api.cli.context import console, err_console, heading, print_rows, tag
from api.cli.context import open_service_store as _store
from api.cli.context import service_settings as _settings
from api.service_settings import ServiceSettings
from coverage.errors import bi

keys_app = typer.Typer(name="keys", help="HTTP 服务的 API 密钥：创建、列出、吊销。\n\n"
                                        "API keys of the HTTP service: create, list, revoke.",
                       no_args_is_help=True)


class Role(StrEnum):
    viewer = "viewer"
    auditor = "auditor"
    admin = "admin"


class LogFormat(StrEnum):
    json = "json"
    text = "text"


def port_in_use(host: str, port: int) -> str | None:
    """None when ``host:port`` can be listened on now, else why not (the system's words)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def refuse_port(host: str, port: int, busy: str) -> None:
    """End the command: ``host:port`` is taken (``busy``: the system's words), with the next port to try."""
    err_console.print(f"{tag('error')} 无法在 {host}:{port} 上提供服务：端口已被占用，请用 --port {port + 1} 换一个端口"
                      f"（make demo PORT={port + 1}） (cannot serve on {host}:{port}: {busy.lower()} (another server "
                      f"is listening there?); choose another port with --port {port + 1} (make demo PORT={port + 1}))",
                      soft_wrap=True, highlight=False)
    raise typer.Exit(1)


def serve(
    host: Annotated[str, typer.Option(help=bi("监听的网络接口",
                                              "Interface to listen on (0.0.0.0: every interface)"))] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=bi("TCP 端口", "TCP port"), min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help=bi("工作进程数",
                                                 "Worker processes (one per core is a good start)"), min=1)] = 1,
    log_format: Annotated[LogFormat | None, typer.Option(
        help=bi("日志格式",
                "Logs on standard error: json (one object per line, for log collectors) or text (for people); "
                "default VILLAGE5G_LOG_FORMAT, else json"))] = None,
) -> None:
    """启动 HTTP API 服务（uvicorn）。

    Serve the HTTP API (OGC API - Features, summaries, runs, exports, ingest) with uvicorn."""
    import uvicorn

    from api.app import create_app, settle_heap
    from api.logs import configure_logging

    settings = _settings()
    busy = port_in_use(host, port)
    if busy is not None:
        refuse_port(host, port, busy)
    configure_logging(settings.log_level, fmt=(log_format.value if log_format else settings.log_format))
    url = settings.resolved_database_url()
    with _store(settings):
        pass  # the schema exists before any worker starts, so workers never race to create it
    err_console.print(bi(f"在 http://{host}:{port}/ 提供服务，{workers} 个工作进程；网页控制台在 /，API 文档在 /docs；"
                         "按 Ctrl-C 停止",
                         f"serving http://{host}:{port}/ with {workers} worker(s); web console at /, API docs at "
                         "/docs; Ctrl-C stops"), soft_wrap=True, highlight=False)
    err_console.print(_scheduler_line(settings), soft_wrap=True, highlight=False)
    if workers == 1:
        app = create_app(settings)
        settle_heap()
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
        return
    os.environ["VILLAGE5G_DATABASE_URL"] = url  # each worker builds its settings from the environment
    uvicorn.run("api.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
                log_config=None, access_log=False)


def _scheduler_line(settings: ServiceSettings) -> str:
    """What the in-process scheduler will run, or that it is off."""
    if not settings.scheduler:
        return "定时任务 (scheduler)：关闭 (off) (VILLAGE5G_SCHEDULER=0)"
    drop = settings.resolved_drop_dir
    jobs = {"refresh": (settings.refresh_schedule, bi(f"导入 {drop} 中的新导出文件，分析并发布",
                                                      f"ingests new exports from {drop}, analyses and publishes")),
            "snapshot": (settings.snapshot_schedule, bi("记录通达率历史", "records the 通达率 history")),
            "report": (settings.report_schedule, bi("写出报告", "writes the reports"))}
    parts = [f"{name} '{when}'：{what}" for name, (when, what) in jobs.items() if when != "off"]
    return (f"定时任务 (scheduler, {settings.schedule_timezone})：" + "；".join(parts) if parts
            else "定时任务 (scheduler)：所有作业均关闭 (every job off)"
            ) + "；VILLAGE5G_SCHEDULER=0 可关闭 (turns it off)"


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help=bi("角色",
                                               "viewer: reads; auditor: reads and measurements; admin: everything"))],
    region: Annotated[str | None, typer.Option(
        help=bi("把密钥限于该区划代码前缀",
                "Limit the key to this division code prefix (2, 4, 6, 9 or 12 digits, e.g. 3201 for 南京市)"))] = None,
    label: Annotated[str | None, typer.Option(help=bi("密钥持有人备注", "A note on who holds the key"))] = None,
) -> None:
    """生成 API 密钥并只显示一次（只存储其哈希）。

    Make an API key and print it once (only a hash of it is stored)."""
    from coverage.store.keys import create_key

    with _store(_settings()) as store:
        record, plain = create_key(store, role=role.value, region_code=region, label=label)
    region = record.region_code
    err_console.print(bi(f"密钥 {record.id}：角色 {record.role}" + (f"，限于区域 {region}" if region else "")
                         + "。只显示这一次，请立即保存。",
                         f"key {record.id}: role {record.role}" + (f", limited to region {region}" if region else "")
                         + ". It is shown once; store it now."), soft_wrap=True)
    print(plain)


@keys_app.command("list")
def keys_list() -> None:
    """列出所有密钥（从不显示密钥本身）。

    Every key: id, role, region, label, when made and revoked (never the key itself)."""
    from coverage.store.keys import list_keys

    with _store(_settings()) as store:
        records = list_keys(store)
    rows = [[r.id, r.role, r.region_code or "", escape(r.label or ""), f"{r.created_at:%Y-%m-%d %H:%M}",
             f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else ""] for r in records]
    print_rows(bi(f"{len(records)} 个 API 密钥", f"{len(records)} API key(s)"),
               [heading("编号", "id"), heading("角色", "role"), heading("区域", "region"), heading("备注", "label"),
                heading("创建 (UTC)", "created (UTC)"), heading("吊销 (UTC)", "revoked (UTC)")], rows, left=6)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help=bi("密钥编号",
                                                              "The key's id (the part after v5g_)"))]) -> None:
    """吊销密钥。

    Revoke a key; running servers stop accepting it within VILLAGE5G_KEY_CACHE_S seconds."""
    from coverage.store.keys import revoke_key

    with _store(_settings()) as store:
        record = revoke_key(store, key_id)
    console.print(bi(f"已吊销密钥 {record.id}（{record.role}）", f"revoked key {record.id} ({record.role})"))
