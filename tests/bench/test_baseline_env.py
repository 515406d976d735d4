"""The baseline's own virtual environment: how bench builds it and when it rebuilds it."""

import os
from pathlib import Path

from bench.baseline_env import PACKAGES, build_commands, needs_build


def test_the_venv_is_built_with_uv_from_the_machine_python_and_the_newest_unpinned_packages(tmp_path: Path) -> None:
    venv = tmp_path / "baseline-venv"
    create, install = build_commands(Path(".tools/bin/uv"), "/usr/bin/python3.11", venv)
    assert create == [".tools/bin/uv", "venv", "--python", "/usr/bin/python3.11", str(venv)]
    assert install[:4] == [".tools/bin/uv", "pip", "install", "--python"]
    assert install[4] == str(venv / "bin" / "python")
    names = install[5:]
    assert set(names) == set(PACKAGES)
    assert set(PACKAGES) >= {"pandas", "flask", "gunicorn", "lightgbm", "numpy", "pyarrow", "polars", "duckdb"}
    assert not any(c in n for n in names for c in "=<>~")  # unpinned: the newest releases


def test_it_is_rebuilt_when_missing_old_or_asked(tmp_path: Path) -> None:
    venv = tmp_path / "baseline-venv"
    assert needs_build(venv, max_age_days=7, refresh=False)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / ".built").write_text(" ".join(PACKAGES) + "\n")
    assert not needs_build(venv, max_age_days=7, refresh=False)
    assert needs_build(venv, max_age_days=7, refresh=True)
    eight_days_ago = (venv / ".built").stat().st_mtime - 8 * 86400
    os.utime(venv / ".built", (eight_days_ago, eight_days_ago))
    assert needs_build(venv, max_age_days=7, refresh=False)


def test_a_venv_built_for_other_packages_is_rebuilt(tmp_path: Path) -> None:
    """A venv from before polars and duckdb joined the list would make the parse stage fail late."""
    venv = tmp_path / "baseline-venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / ".built").write_text("pandas flask gunicorn lightgbm numpy pyarrow\n")
    assert needs_build(venv, max_age_days=7, refresh=False)
