from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from leafline.local_aws.server import LocalAws
from leafline.model.compiler import compile_model_dir
from leafline.processes.server import ServerProcess, http_request, log_events
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


# Set by tests/image when it runs the HTTP contract tests against the running image instead of a process:
# the server's address (reached from inside the container's network namespace), the command printing its
# log, and the model directory mounted into it.
CONTRACT_URL = os.environ.get("LEAFLINE_CONTRACT_URL")


class RemoteServer:
    """A server another party started (the image): what the contract tests use of ServerProcess."""

    def __init__(self, url: str, logs_command: str) -> None:
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 8080
        self._logs_command = shlex.split(logs_command)

    def request(self, method: str, path: str, body: bytes | None = None, headers: Any = None,
                timeout: float = 120) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        return http_request(self.host, self.port, method, path, body, headers, timeout)

    def log_events(self) -> list[dict[str, Any]]:
        done = subprocess.run(self._logs_command, capture_output=True, text=True, check=True)
        return log_events(done.stdout + done.stderr)


@pytest.fixture(scope="session")
def binary_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small binary model, compiled: what most HTTP tests serve."""
    if os.environ.get("LEAFLINE_CONTRACT_MODEL_DIR"):
        return Path(os.environ["LEAFLINE_CONTRACT_MODEL_DIR"])
    directory = train(KINDS[0], tmp_path_factory.mktemp("binary"))
    compile_model_dir(directory)
    return directory


@pytest.fixture(scope="session")
def multiclass_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kind = next(k for k in KINDS if k.name == "multiclass")
    return train(kind, tmp_path_factory.mktemp("multiclass"))


@pytest.fixture(scope="module")
def server(binary_model_dir: Path) -> Iterator[ServerProcess]:
    if CONTRACT_URL:
        yield RemoteServer(CONTRACT_URL, os.environ["LEAFLINE_CONTRACT_LOGS"])  # type: ignore[misc]
        return
    with ServerProcess(binary_model_dir) as process:
        yield process


# The CSV readers a body may meet first (LEAFLINE_CSV_READER): the native one, and the pyarrow path it falls
# back to. The contract and hostile-body suites run against a server of each (csv_reader_server). Against
# the image (CONTRACT_URL) only its default runs, the native reader: the pyarrow path is the same code,
# tested here, and the image suite must run with nothing skipped.
CSV_READERS = ("native",) if CONTRACT_URL else ("native", "pyarrow")


def csv_reader_server(reader: str, model_dir: Path) -> Iterator[ServerProcess]:
    """A server whose CSV bodies meet `reader` first; the native reader skips, saying why, where it was
    not built."""
    from leafline.serving import native_csv

    if CONTRACT_URL:
        yield RemoteServer(CONTRACT_URL, os.environ["LEAFLINE_CONTRACT_LOGS"])  # type: ignore[misc]
        return
    if reader == "native" and (reason := native_csv.unavailable_reason()):
        pytest.skip(reason)
    env = {"LEAFLINE_CSV_READER": "auto" if reader == "native" else "pyarrow"}
    with ServerProcess(model_dir, env=env) as process:
        yield process


def kind_by_name(name: str) -> Kind:
    return next(k for k in KINDS if k.name == name)


def run_demo(root: Path) -> str:
    """`leafline demo` as `make demo` runs it: from `root` (standing for the checkout), into its default
    workdir, the relative demo-output/; fewer rows."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LEAFLINE_", "AWS_"))}
    done = subprocess.run(
        [sys.executable, "-m", "leafline", "demo", "--rows", "6000", "--shards", "3", "--run-date", "2026-11-20"],
        cwd=root, capture_output=True, text=True, env=env, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """`leafline demo` run twice from one folder: (its workdir, ROOT/demo-output; the first output; the second)."""
    root = tmp_path_factory.mktemp("demo")
    return root / "demo-output", run_demo(root), run_demo(root)
