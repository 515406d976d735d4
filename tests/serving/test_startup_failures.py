"""A model that cannot be loaded ends `serve` with a non-zero exit and one clear log line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leafline.processes.server import ServerProcess, ServerStartError
from leafline.serving import artifacts


def _serve_until_exit(env: dict[str, str]) -> tuple[int, list[dict[str, object]]]:
    done = subprocess.run(
        [sys.executable, "-m", "leafline.serving", "serve"],
        env={"PATH": "/usr/bin:/bin", "LEAFLINE_HOST": "127.0.0.1", "SAGEMAKER_BIND_TO_PORT": "0", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert "Traceback" not in done.stdout + done.stderr
    return done.returncode, events


def test_missing_model_exits_non_zero_naming_the_file(tmp_path: Path) -> None:
    code, events = _serve_until_exit({"LEAFLINE_MODEL_DIR": str(tmp_path / "nowhere")})
    failure = [e for e in events if e.get("level") == "error"]
    assert code == 1 and len(failure) == 1
    assert failure[0]["event"] == "model_load_failed"
    assert f"{tmp_path / 'nowhere' / 'model.txt'}: no model file" in str(failure[0]["error"])


def test_corrupt_model_exits_non_zero_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "model.txt").write_text("tree\nversion=v4\nmax_feature_idx=3\n\nTree=0\nnum_leaves=banana\n")
    code, events = _serve_until_exit({"LEAFLINE_MODEL_DIR": str(tmp_path)})
    failure = [e for e in events if e.get("level") == "error"]
    assert code == 1 and len(failure) == 1
    assert f"{tmp_path / 'model.txt'}: the model file is truncated" in str(failure[0]["error"])


def test_a_model_lightgbm_refuses_exits_non_zero_with_lightgbms_reason(tmp_path: Path) -> None:
    text = "tree\nversion=v4\nmax_feature_idx=3\n\nTree=0\nnum_leaves=1\nleaf_value=banana\n\nend of trees\n"
    (tmp_path / "model.txt").write_text(text)
    code, events = _serve_until_exit({"LEAFLINE_MODEL_DIR": str(tmp_path)})
    failure = [e for e in events if e.get("level") == "error"]
    assert code == 1 and len(failure) == 1
    assert "LightGBM cannot load the model" in str(failure[0]["error"])


def test_invalid_environment_value_exits_2_naming_the_variable(binary_model_dir: Path) -> None:
    code, events = _serve_until_exit(
        {"LEAFLINE_MODEL_DIR": str(binary_model_dir), "SAGEMAKER_MAX_PAYLOAD_IN_MB": "lots"}
    )
    assert code == 2
    assert events[-1]["error"] == "SAGEMAKER_MAX_PAYLOAD_IN_MB='lots' is not an integer"


def test_serve_rejects_arguments_other_than_serve() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "leafline.serving", "train"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "usage: serve" in done.stderr


def test_server_start_error_carries_the_log(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match="no model file"):
        ServerProcess(tmp_path).start()


def _copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def _backend(model_dir: Path) -> tuple[str, str | None]:
    with ServerProcess(model_dir) as server:
        loaded = next(e for e in server.log_events() if e["event"] == "model_loaded")
        assert server.request("POST", "/invocations", b"1,2,3,4,5,6\n", {"Content-Type": "text/csv"})[0] == 200
    return loaded["backend"], loaded["fallback_reason"]


def test_compiled_artifact_is_used_when_it_matches(binary_model_dir: Path) -> None:
    backend, reason = _backend(binary_model_dir)
    assert backend.startswith("compiled (lleaves") and reason is None


def test_artifact_for_another_architecture_falls_back_and_says_why(binary_model_dir: Path, tmp_path: Path) -> None:
    model_dir = _copy_model(binary_model_dir, tmp_path / "m")
    manifest = artifacts.manifest_path(model_dir)
    manifest.write_text(manifest.read_text().replace(f'"arch": "{artifacts.machine_arch()}"', '"arch": "riscv64"'))
    backend, reason = _backend(model_dir)
    assert backend == "lightgbm"
    assert reason == f"compiled artifacts exist for riscv64, this CPU is {artifacts.machine_arch()}"


def test_artifact_for_another_model_falls_back(binary_model_dir: Path, tmp_path: Path) -> None:
    model_dir = _copy_model(binary_model_dir, tmp_path / "m")
    model = model_dir / "model.txt"
    model.write_text(model.read_text().replace("[seed: 0]", "[seed: 1]"))  # same trees, new hash
    backend, reason = _backend(model_dir)
    assert backend == "lightgbm" and reason is not None and "no compiled artifact for this model" in reason


def test_corrupt_library_falls_back(binary_model_dir: Path, tmp_path: Path) -> None:
    model_dir = _copy_model(binary_model_dir, tmp_path / "m")
    for library in (model_dir / "compiled").glob("*.so"):
        library.write_bytes(b"not an ELF file")
    backend, reason = _backend(model_dir)
    assert backend == "lightgbm" and reason is not None and "cannot load the compiled model" in reason


def test_artifact_that_disagrees_with_its_probe_falls_back(binary_model_dir: Path, tmp_path: Path) -> None:
    model_dir = _copy_model(binary_model_dir, tmp_path / "m")
    manifest = artifacts.manifest_path(model_dir)
    data = json.loads(manifest.read_text())
    data["artifacts"][0]["probe"]["expected"][0] += 0.01
    manifest.write_text(json.dumps(data))
    backend, reason = _backend(model_dir)
    assert backend == "lightgbm" and reason is not None and "disagrees with LightGBM on its probe rows" in reason
