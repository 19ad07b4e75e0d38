"""Load test of the HTTP API on loopback: requests per second and p50/p99 latency.

    python benchmarks/bench_api.py                   # seed + analyze a temporary SQLite database first
    python benchmarks/bench_api.py --db sqlite:///data/village5g.db   # an analysed database as it is

The server runs as ``village5g serve`` would (uvicorn, ``--workers`` processes, JSON logs to a file);
this script is the second process: ``--clients`` concurrent keep-alive connections, each sending its
next request as soon as the previous answer is in (a closed loop, the hardest case for latency),
bounded by ``--requests`` per scenario and ``--seconds``. The client is a few lines of asyncio over
raw sockets so that it costs the server's two cores as little as possible.

Scenarios:
    villages   a filtered village page: /collections/villages/items?city=C&status=S&limit=50, over
               every city and verdict (so pages differ), GeoJSON with polygons
    summary    /summary?level=county (cached per run after the first answer)
    cold       (reported, not part of the target) village pages that are never asked twice, so every
               answer is read from the database and encoded anew
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CITIES = ["3201", "3202", "3203", "3204", "3205", "3206", "3207", "3208", "3209", "3210", "3211", "3212", "3213"]


def seed_and_analyze(url: str, data_dir: Path) -> None:
    """Store the seed world and publish one analysis run (the README's main command does the same)."""
    from coverage.model.parameters import ModelParameters
    from coverage.model.rules import DEFAULT_RULES
    from coverage.runs.analysis import run_analysis
    from coverage.store.storage import Store
    from seeds.world import build_world, world_checksums

    started = time.perf_counter()
    store = Store(url)
    store.create_schema()
    world = build_world()
    store.seed(divisions_frame=world.divisions,
               frames={"villages": world.villages, "stations": world.stations, "measurements": world.measurements},
               fingerprint=world_checksums(world)["all"])
    print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)
    result = run_analysis(store, rules=DEFAULT_RULES, params=ModelParameters(), artifacts_dir=data_dir / "runs")
    store.dispose()
    print(f"analysed (run {result.run_id}) in {time.perf_counter() - started:.0f} s total", flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, data_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VILLAGE5G_DATABASE_URL": url, "VILLAGE5G_DATA_DIR": str(data_dir),
           "VILLAGE5G_LOG_LEVEL": os.environ.get("VILLAGE5G_LOG_LEVEL", "WARNING")}
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.app:app_from_environment", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--no-access-log"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the server did not start; see {data_dir / 'server.log'}")
        time.sleep(0.2)


class _Connection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads whole answers."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> bytes:
        """Send one GET; return the status code (b"200" ...)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAccept: application/json\r\n\r\n"
        self.writer.write(request.encode("ascii"))
        await self.writer.drain()
        status = (await self.reader.readline()).split(b" ", 2)
        length = 0
        close = False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"connection" and value.strip().lower() == b"close":
                close = True
        await self.reader.readexactly(length)
        if close:
            self.close()
        return status[1] if len(status) > 1 else b"?"

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _client(connection: _Connection, paths: list[str], ticket: itertools.count, total: int,
                  deadline: float, latencies: list[float], errors: list[str]) -> None:
    while (i := next(ticket)) < total and time.perf_counter() < deadline:
        path = paths[i % len(paths)]
        started = time.perf_counter()
        status = await connection.get(path)
        latencies.append(time.perf_counter() - started)
        if status != b"200":
            errors.append(f"{path}: HTTP {status.decode(errors='replace')}")


async def _load(port: int, paths: list[str], clients: int, total: int, seconds: float
                ) -> tuple[list[float], list[str], float]:
    """Open ``clients`` connections and send one request on each (not counted), then measure."""
    connections = [_Connection(port) for _ in range(clients)]
    warm_errors: list[str] = []
    await asyncio.gather(*(_client(c, paths[i:] + paths[:i], itertools.count(), 1, time.perf_counter() + seconds,
                                   [], warm_errors) for i, c in enumerate(connections)))
    ticket = itertools.count()
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(_client(c, paths, ticket, total, started + seconds, latencies, errors)
                           for c in connections))
    elapsed = time.perf_counter() - started
    for c in connections:
        c.close()
    return latencies, warm_errors + errors, elapsed


def run_scenario(name: str, port: int, paths: list[str], *, clients: int, total: int, seconds: float) -> dict:
    asyncio.run(_load(port, paths, min(clients, 10), 2 * len(paths), seconds))  # fills the caches, not counted
    latencies, errors, elapsed = asyncio.run(_load(port, paths, clients, total, seconds))
    ordered = sorted(latencies)
    result = {
        "scenario": name, "requests": len(latencies), "errors": len(errors), "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }
    print(f"{name:8s} {result['requests']:6d} requests in {result['seconds']:5.1f} s: {result['rps']:7.1f} req/s, "
          f"p50 {result['p50_ms']:6.1f} ms, p99 {result['p99_ms']:6.1f} ms, max {result['max_ms']:6.1f} ms, "
          f"{result['errors']} errors", flush=True)
    for error in errors[:5]:
        print(f"  {error}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="An analysed database URL (default: seed + analyze a temporary SQLite file)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent connections (default 50)")
    parser.add_argument("--requests", type=int, default=5000, help="requests per scenario at most (default 5000)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds per scenario at most (default 30)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="village5g-bench-") as tmp:
        data_dir = Path(tmp)
        url = args.db or f"sqlite:///{data_dir / 'bench.db'}"
        if not args.db:
            seed_and_analyze(url, data_dir)
        port = free_port()
        server = start_server(url, data_dir, port, args.workers)
        try:
            print(f"{os.cpu_count()} cores, {args.workers} worker(s), {args.clients} clients, "
                  f"at most {args.requests} requests or {args.seconds:g} s per scenario", flush=True)
            villages = [f"/collections/villages/items?city={city}&status={status}&limit=50"
                        for city in CITIES for status in ("covered", "weak", "uncovered")]
            results = [
                run_scenario("villages", port, villages, clients=args.clients, total=args.requests,
                             seconds=args.seconds),
                run_scenario("summary", port, ["/summary?level=county"], clients=args.clients,
                             total=args.requests, seconds=args.seconds),
            ]
            # Every request a different page: nothing comes from the page cache (only the count does).
            cold = [f"/collections/villages/items?city={city}&status={status}&limit={limit}&offset={offset}"
                    for limit in range(30, 70) for offset in (0, 7, 13) for city in CITIES
                    for status in ("covered", "weak", "uncovered")]
            run_scenario("cold", port, cold, clients=args.clients, total=min(args.requests, 5000),
                         seconds=args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
    slow = [r["scenario"] for r in results if r["p99_ms"] >= 100 or r["errors"]]
    print("target (p99 < 100 ms, no errors): " + ("met" if not slow else f"missed by {', '.join(slow)}"))


if __name__ == "__main__":
    main()
