"""Peak memory of the server for the uploads that used to take it down (issue 21), against the
figures measured before the limits existed.

    python benchmarks/bench_limits.py            # files generated in a temporary folder, then removed

A server runs as ``village5g serve`` would (uvicorn, one process, a fresh SQLite database with the
small test world's villages) and receives, in turn:

    bomb      a zip of about 2.6 MB holding a 1 GiB measurements CSV (the same row over and over)
    big       a 200 MB measurements CSV (about 8.3 million rows), sent as a multipart upload
    anonymous the same 200 MB upload without a key
    accepted  a CSV at the row limit (500,000 rows, 12 MB), which is parsed and stored

For each the script prints the status, the seconds, the server's peak resident memory (VmHWM:
the process's high-water mark since start, so each line includes the previous ones' peaks) and
its resident memory afterwards, beside the baseline measured on the code before the limits (the
probe of issue 21).
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROW = b"119.401,32.401,CMCC,-90\n"
HEADER = b"lon,lat,operator,rsrp_dbm\n"
BASELINE = {  # before the limits (issue 21's probe on the seed world's server)
    "bomb": "500 MemoryError after 0.4 -> 6.5 GB",
    "big": "201 after 66 s, +2.8 GB (3.2 GB kept)",
    "anonymous": "401 after the whole 200 MB was received",
    "accepted": "(not measured before)",
}


def write_rows(path: Path, size: int) -> None:
    """A measurements CSV of about ``size`` bytes."""
    block = ROW * (1 << 16)
    with path.open("wb") as out:
        out.write(HEADER)
        written = len(HEADER)
        while written < size:
            out.write(block)
            written += len(block)


def write_bomb(path: Path, size: int) -> None:
    """A zip whose one member is a ``size``-byte CSV, streamed in so nothing big is held."""
    block = ROW * (1 << 16)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive, \
            archive.open("measurements.csv", "w", force_zip64=True) as member:
        member.write(HEADER)
        written = len(HEADER)
        while written < size:
            member.write(block)
            written += len(block)


def upload(port: int, path: Path, name: str, api_key: str | None) -> tuple[int, float]:
    """POST ``path`` as the multipart ``file`` of /ingest/measurements, streamed; status and seconds."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + path.stat().st_size + len(tail)
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(length)}
    if api_key:
        headers["X-API-Key"] = api_key
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.putrequest("POST", "/ingest/measurements")
        for k, v in headers.items():
            connection.putheader(k, v)
        connection.endheaders()
        try:
            connection.send(head)
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    connection.send(chunk)
            connection.send(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before the whole body was sent
        status = connection.getresponse().status
    finally:
        connection.close()
    return status, time.perf_counter() - started


def peak_mb(pid: int, field: str = "VmHWM") -> float:
    """The process's peak resident memory (VmHWM; VmRSS: the present one), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def main() -> None:
    from coverage.store.keys import create_key
    from coverage.store.storage import IngestRecord, Store
    from tests.utils.api import free_port
    from tests.worlds.row import row_villages

    folder = Path(tempfile.mkdtemp(prefix="village5g-bench-limits-"))
    process = None
    try:
        url = f"sqlite:///{folder / 'bench.db'}"
        store = Store(url)
        store.create_schema()
        store.write("villages", row_villages(), record=IngestRecord(kind="villages", file_name="v", sha256="0" * 64))
        _, auditor = create_key(store, role="auditor")
        store.dispose()
        bomb, big, accepted = folder / "bomb.zip", folder / "big.csv", folder / "accepted.csv"
        write_bomb(bomb, 1 << 30)
        write_rows(big, 200 * 1000 * 1000)
        with accepted.open("wb") as out:
            out.write(HEADER + ROW * 499_999)
        print(f"files: bomb {bomb.stat().st_size / 1e6:.1f} MB (1 GiB inside), big {big.stat().st_size / 1e6:.0f} MB, "
              f"accepted {accepted.stat().st_size / 1e6:.0f} MB", flush=True)
        port = free_port()
        env = {**os.environ, "VILLAGE5G_DATABASE_URL": url, "VILLAGE5G_DATA_DIR": str(folder / "data"),
               "VILLAGE5G_SCHEDULER": "0", "VILLAGE5G_LOG_LEVEL": "WARNING"}
        process = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "api.app:app_from_environment",
                                    "--port", str(port), "--no-access-log"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        print(f"server started: peak {peak_mb(process.pid):,.0f} MB")
        print(f"{'case':<10} {'status':>6} {'seconds':>8} {'server peak':>12} {'after':>9}   before the limits")
        for case, path, name, api_key in (("bomb", bomb, "m.zip", auditor), ("big", big, "m.csv", auditor),
                                          ("anonymous", big, "m.csv", None),
                                          ("accepted", accepted, "m.csv", auditor)):
            status, seconds = upload(port, path, name, api_key)
            print(f"{case:<10} {status:>6} {seconds:>8.1f} {peak_mb(process.pid):>9,.0f} MB "
                  f"{peak_mb(process.pid, 'VmRSS'):>6,.0f} MB   {BASELINE[case]}", flush=True)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
