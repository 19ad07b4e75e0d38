"""The command line's MR grid statistics (``ingest mr``, ``export mr``): thin adapters over coverage.ingest.mr."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from coverage.errors import bi
from coverage.store.storage import Store


def ingest_mr_file(store: Store, file: Path, *, crs: str | None, encoding: str | None, sheet: str | None,
                   threshold_dbm: float | None, replace: bool, step: Callable[[str], None]) -> str:
    """Validate and store an MR file; the line to print."""
    from coverage.ingest.mr import ingest_mr

    step(bi(f"分块读取、校验并存储 {file.name}（MR 栅格统计）",
            f"reading, validating and storing {file.name} (MR grid statistics, in chunks)"))
    result = ingest_mr(store, file, crs=crs, encoding=encoding, sheet=sheet, threshold_dbm=threshold_dbm,
                       replace=replace, progress=step)
    periods = ", ".join(f"{a}..{b}" for a, b in result.periods[:4]) + (" ..." if len(result.periods) > 4 else "")
    level = result.threshold_dbm
    operators = ", ".join(result.operators)
    return bi(f"已从 {file.name} 存储 {result.rows:,} 行 MR 栅格数据（{operators}；{periods}"
              + (f"；占比按 >= {level:g} dBm 统计" if level is not None else "") + "）"
              + ("，替换原有 MR" if replace else ""),
              f"stored {result.rows:,} MR grid rows from {file.name} ({operators}; {periods}"
              + (f"; share counted at >= {level:g} dBm" if level is not None else "") + ")"
              + (" (replacing the stored MR)" if replace else ""))


def export_mr_file(store: Store, output: Path, fmt: str | None) -> str:
    """Write the stored MR rows; the line to print."""
    from coverage.ingest.mr import export_mr

    rows = export_mr(store, output, fmt=fmt)
    return bi(f"已写出 {rows:,} 行 MR 栅格数据到 {output}", f"wrote {rows:,} MR grid rows to {output}")


def seed_mr(store: Store, world: object, *, seed: int, step: Callable[[str], None]) -> int:
    """Draw the seed world's month of MR grid statistics from its true field and store them (replacing)."""
    import hashlib

    from coverage.ingest.mr import write_mr_frame
    from seeds.mr import world_mr

    step(bi("生成运营商 MR 栅格统计", "drawing the operators' MR grid statistics"))
    frame = world_mr(world, seed)
    step(bi(f"存储 {len(frame):,} 行 MR 栅格数据", f"storing {len(frame):,} MR grid rows"))
    digest = hashlib.sha256(f"seeds.mr seed={seed} rows={len(frame)}".encode()).hexdigest()
    return write_mr_frame(store, frame, file_name="seed world MR", sha256=digest)


def mr_status_line(store: Store) -> str | None:
    """MR grid rows and samples stored per period (None when there are none)."""
    from coverage.ingest.mr import mr_summary

    summary = mr_summary(store)
    if summary.empty:
        return None
    per_period = summary.groupby(["period_start", "period_end"], sort=True)[["rows", "samples"]].sum().reset_index()
    periods = list(per_period[["period_start", "period_end", "rows", "samples"]].itertuples(index=False))
    return bi("MR 栅格统计：" + "；".join(f"{a}..{b}：{int(n):,} 行，{int(k):,} 个采样" for a, b, n, k in periods),
              "MR grid statistics: " + "; ".join(f"{a}..{b}: {int(n):,} rows, {int(k):,} samples"
                                                 for a, b, n, k in periods))
