"""Helpers of the API tests: API keys, test apps and a live uvicorn server (the world they run on is
:mod:`tests.worlds.row`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from fastapi import FastAPI

from api.app import create_app
from api.service_settings import ServiceSettings
from coverage.store.keys import create_key
from coverage.store.storage import Store


def key(store: Store, role: str, region: str | None = None) -> dict[str, str]:
    """Headers carrying a new key of ``role`` (limited to ``region``)."""
    _, plain = create_key(store, role=role, region_code=region)
    return {"X-API-Key": plain}


def settings_for(store: Store, tmp_path: Path, **overrides: object) -> ServiceSettings:
    """Settings of a test app over ``store`` (its data folder under ``tmp_path``)."""
    return ServiceSettings(database_url=store.url, data_dir=tmp_path / "data", _env_file=None,  # type: ignore[call-arg]
                           **overrides)


def app_for(store: Store, tmp_path: Path, **overrides: object) -> FastAPI:
    """An app over ``store``."""
    return create_app(settings_for(store, tmp_path, **overrides), store=store)


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(database_url: str, data_dir: Path, **env: str) -> Iterator[str]:
    """Serve the API with uvicorn in a subprocess on a free loopback port; yield its base URL.

    A separate process, because GDAL (through pyogrio) keeps the GIL while it waits for HTTP
    answers: a server thread in the test process would never get to answer it.
    """
    port = free_port()
    environment = {**os.environ, "VILLAGE5G_DATABASE_URL": database_url, "VILLAGE5G_DATA_DIR": str(data_dir),
                   "VILLAGE5G_LOG_LEVEL": "WARNING", **{f"VILLAGE5G_{k.upper()}": v for k, v in env.items()}}
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:app_from_environment", "--host", "127.0.0.1",
               "--port", str(port), "--no-access-log"]
    log = data_dir / f"server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=Path(__file__).resolve().parents[2])
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the test server did not start:\n{log.read_text(errors='replace')}")
                time.sleep(0.1)
            yield url
        finally:
            stop_process(process)


def stop_process(process: subprocess.Popen[bytes], *, timeout: float = 20) -> None:
    """Ask a test's subprocess to stop (SIGTERM), and kill it when it has not after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def as_float(values: object) -> np.ndarray:
    """Values as a float array (None -> NaN)."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)  # type: ignore[attr-defined]
