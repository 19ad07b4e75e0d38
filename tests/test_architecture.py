"""The domain library never imports web, map or scheduler code (checked in a fresh interpreter)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import coverage

FORBIDDEN = (
    "fastapi", "starlette", "folium", "branca", "apscheduler", "uvicorn", "typer", "rich", "api", "maps",
)


def test_coverage_imports_no_outer_layer() -> None:
    modules = [f"coverage.{m.name}" for m in pkgutil.iter_modules(coverage.__path__)]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        + "print(','.join(bad))\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert out.stdout.strip() == "", f"coverage/ pulled in {out.stdout.strip()}"


def test_coverage_is_our_package_not_coverage_py() -> None:
    assert Path(coverage.__file__).resolve().parent == Path(__file__).resolve().parents[1] / "coverage"
