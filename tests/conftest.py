from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from leafline.compiler import compile_model_dir
from leafline.local_aws.server import LocalAws
from leafline.server_process import ServerProcess
from tests.model_kinds import KINDS, Kind, train


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see real credentials or a real region/endpoint from the machine."""
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "sa-east-1")


@pytest.fixture
def local_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAws]:
    """Local AWS on a free port, empty; boto3 (AWS_ENDPOINT_URL) and Airflow's aws_default point at it."""
    with LocalAws() as aws:
        for key, value in aws.environment().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws.airflow_connection())
        yield aws


@pytest.fixture(scope="session")
def binary_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small binary model, compiled: what most HTTP tests serve."""
    directory = train(KINDS[0], tmp_path_factory.mktemp("binary"))
    compile_model_dir(directory)
    return directory


@pytest.fixture(scope="session")
def multiclass_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kind = next(k for k in KINDS if k.name == "multiclass")
    return train(kind, tmp_path_factory.mktemp("multiclass"))


@pytest.fixture(scope="module")
def server(binary_model_dir: Path) -> Iterator[ServerProcess]:
    with ServerProcess(binary_model_dir) as process:
        yield process


def kind_by_name(name: str) -> Kind:
    return next(k for k in KINDS if k.name == name)


def run_demo(workdir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LEAFLINE_", "AWS_"))}
    done = subprocess.run(
        [sys.executable, "-m", "leafline", "demo", "--workdir", str(workdir), "--rows", "6000", "--shards", "3",
         "--run-date", "2026-11-20"],
        capture_output=True, text=True, env=env, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """`leafline demo` run twice in one folder: (the folder, the first output, the second output)."""
    workdir = tmp_path_factory.mktemp("demo")
    return workdir, run_demo(workdir), run_demo(workdir)
