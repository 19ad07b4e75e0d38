"""Legitimate throughput while other clients send random API keys (issue 21: 245 -> 97 requests/s
before invalid keys were remembered and rate-limited per address).

    python benchmarks/bench_keys.py [--seconds 10] [--attackers 10]

A server runs as ``village5g serve`` would (uvicorn, one process) over the small test world. One
client with a valid viewer key asks ``/runs?limit=1`` in a closed loop for ``--seconds``, first
alone, then while ``--attackers`` threads send random keys in closed loops (each attacker from
the same loopback address, as the probe's did). Prints the legitimate requests per second of both
phases, and how the attackers were answered (401 with a key check, 429 without). On Linux also the
server's CPU time: per legitimate request alone, and what the random keys cost it (the attacked
phase's CPU time less its legitimate requests at the lone price); these vary less on a busy machine,
where the requests per second of two phases a few seconds apart can differ by a third either way.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def loop(port: int, headers_of: object, until: float, statuses: Counter[int], lock: threading.Lock) -> int:
    """GET /runs?limit=1 until ``until``; count statuses; return the number of answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    done = 0
    try:
        while time.monotonic() < until:
            connection.request("GET", "/runs?limit=1", headers=headers_of())  # type: ignore[operator]
            response = connection.getresponse()
            response.read()
            with lock:
                statuses[response.status] += 1
            done += 1
    finally:
        connection.close()
    return done


def phase(port: int, viewer: str, seconds: float, attackers: int) -> tuple[float, Counter[int]]:
    """Legitimate requests per second with ``attackers`` random-key clients; the attackers' statuses."""
    lock = threading.Lock()
    bad: Counter[int] = Counter()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=loop, args=(port, lambda: {"X-API-Key": "v5g_" + secrets.token_urlsafe(24)},
                                                   until, bad, lock)) for _ in range(attackers)]
    for thread in threads:
        thread.start()
    good: Counter[int] = Counter()
    started = time.monotonic()
    answered = loop(port, lambda: {"X-API-Key": viewer}, until, good, lock)
    rate = answered / (time.monotonic() - started)
    for thread in threads:
        thread.join()
    assert set(good) == {200}, good
    return rate, bad


def server_cpu_s(pid: int) -> float:
    """CPU seconds (user and system) the process ``pid`` has used so far; NaN where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--attackers", type=int, default=10)
    args = parser.parse_args()
    from coverage.store.keys import create_key
    from coverage.store.storage import Store
    from tests.utils.api import free_port
    from tests.worlds.row import build_row_world

    folder = Path(tempfile.mkdtemp(prefix="village5g-bench-keys-"))
    process = None
    try:
        url = f"sqlite:///{folder / 'bench.db'}"
        store = Store(url)
        store.create_schema()
        build_row_world(store)
        _, viewer = create_key(store, role="viewer")
        store.dispose()
        port = free_port()
        env = {**os.environ, "VILLAGE5G_DATABASE_URL": url, "VILLAGE5G_DATA_DIR": str(folder / "data"),
               "VILLAGE5G_SCHEDULER": "0", "VILLAGE5G_LOG_LEVEL": "ERROR"}
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
        cpu = server_cpu_s(process.pid)
        alone, _ = phase(port, viewer, args.seconds, 0)
        cpu_alone, cpu = server_cpu_s(process.pid) - cpu, server_cpu_s(process.pid)
        attacked, bad = phase(port, viewer, args.seconds, args.attackers)
        cpu_attacked = server_cpu_s(process.pid) - cpu
        print(f"legitimate requests/s alone: {alone:,.0f}; with {args.attackers} random-key clients: {attacked:,.0f} "
              f"({attacked / alone:.0%}; before the limit: 245 and 97)")
        print("random keys answered: " + ", ".join(f"{n:,} x {status}" for status, n in sorted(bad.items())))
        per_request = cpu_alone / (alone * args.seconds)
        print(f"server CPU: {per_request * 1000:.2f} ms per legitimate request alone; the random keys cost it "
              f"{cpu_attacked - per_request * attacked * args.seconds:.2f} s of the {args.seconds:.0f} s attacked")
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
