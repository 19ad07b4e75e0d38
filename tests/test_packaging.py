"""The wheel builds without packaging warnings and ships the product and its assets, not the tests."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked(*folders: str) -> set[str]:
    out = subprocess.run(["git", "ls-files", *folders], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(out.stdout.split())


@pytest.mark.slow
def test_wheel_builds_quietly_with_every_asset(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w", str(tmp_path),
         str(ROOT)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    output = build.stdout + build.stderr
    # setuptools warned nine times for api/static, maps/static and their sub-folders before
    assert "absent from the `packages` configuration" not in output
    assert "BuildBackendWarning" not in output
    (wheel,) = tmp_path.glob("village5g-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assets = _tracked("maps/static", "api/static", "seeds/data")
    assert assets, "no tracked assets found"
    assert assets - names == set(), "assets missing from the wheel"
    tops = {n.split("/")[0] for n in names if not n.startswith("village5g-")}
    assert tops == {"api", "coverage", "maps", "seeds"}
    modules = {n for n in _tracked("api", "coverage", "maps", "seeds") if n.endswith(".py")}
    assert modules - names == set()
