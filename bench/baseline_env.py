"""The baseline's own virtual environment: the newest released pandas, Flask, gunicorn, LightGBM, numpy
and pyarrow, not leafline's pins, so the "standard Python" server is what a team would build today; and
the CSV readers a team would pick instead of leafline's (polars, duckdb), for the parse stage.

Built once with uv under .cache/bench/baseline-venv and rebuilt when older than MAX_AGE_DAYS or when
`python -m bench --refresh-baseline` asks. The machine's python, never a downloaded one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = ("pandas", "flask", "gunicorn", "lightgbm", "numpy", "pyarrow", "polars", "duckdb")
VENV = Path(".cache/bench/baseline-venv")
UV = Path(".tools/bin/uv")
MAX_AGE_DAYS = 7
STAMP = ".built"  # written last, holding PACKAGES: a half-built venv, or one of other packages, counts as missing


def build_commands(uv: Path, python: str, venv: Path) -> list[list[str]]:
    return [
        [str(uv), "venv", "--python", python, str(venv)],
        [str(uv), "pip", "install", "--python", str(venv / "bin" / "python"), *PACKAGES],
    ]


def needs_build(venv: Path, max_age_days: float, refresh: bool) -> bool:
    stamp = venv / STAMP
    if refresh or not stamp.exists() or not (venv / "bin" / "python").exists():
        return True
    if stamp.read_text().split() != list(PACKAGES):
        return True
    return time.time() - stamp.stat().st_mtime > max_age_days * 86400


def ensure(refresh: bool = False, venv: Path = VENV, max_age_days: float = MAX_AGE_DAYS) -> Path:
    """The baseline venv's python, building the venv first if needed."""
    if needs_build(venv, max_age_days, refresh):
        shutil.rmtree(venv, ignore_errors=True)
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
        for command in build_commands(UV, _base_python(), venv):
            subprocess.run(command, check=True, env=env)
        (venv / STAMP).write_text(" ".join(PACKAGES) + "\n")
    return venv / "bin" / "python"


def _base_python() -> str:
    # The interpreter the project venv was made from: the machine's python, not the project venv's.
    return str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")


def versions(venv: Path = VENV) -> dict[str, str]:
    """Installed release of each baseline package, as `uv pip list` reports it, for the report."""
    out = subprocess.run(
        [str(UV), "pip", "list", "--python", str(venv / "bin" / "python"), "--format", "json"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return {p["name"].lower(): p["version"] for p in json.loads(out) if p["name"].lower() in PACKAGES}
