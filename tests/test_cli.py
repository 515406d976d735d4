"""The `leafline` command as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from leafline.cli import main
from tests.conftest import kind_by_name
from tests.model_kinds import train


def _leafline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "leafline", *args], capture_output=True, text=True, check=False)


def test_help_lists_the_commands() -> None:
    done = _leafline("--help")
    assert done.returncode == 0
    for command in ("serve", "compile", "demo"):
        assert command in done.stdout


def test_compile_writes_a_keyed_artifact_and_says_how_close_it_is(tmp_path: Path, capsys) -> None:
    model_dir = train(kind_by_name("binary"), tmp_path / "m")
    assert main(["compile", str(model_dir)]) == 0
    out = capsys.readouterr().out
    manifest = json.loads((model_dir / "compiled" / "manifest.json").read_text())
    entry = manifest["artifacts"][0]
    assert out.startswith(f"compiled {model_dir / 'model.txt'} -> ")
    assert "max |diff| vs LightGBM" in out
    assert (model_dir / "compiled" / entry["library"]).is_file()
    assert entry["library"].startswith(f"model-{entry['model_sha256'][:16]}-{entry['arch']}-lleaves")


def test_compile_leaves_models_it_cannot_reproduce_to_lightgbm(tmp_path: Path, capsys) -> None:
    model_dir = train(kind_by_name("linear_trees"), tmp_path / "m")
    assert main(["compile", str(model_dir)]) == 0
    assert capsys.readouterr().out.startswith("not compiled: linear trees")
    assert not (model_dir / "compiled" / "manifest.json").exists()


def test_compile_without_a_model_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert main(["compile", str(tmp_path)]) == 2
    assert f"leafline compile: error: {tmp_path / 'model.txt'}: cannot read the model file" in capsys.readouterr().err
