"""Issue 19, case 9: killing `leafline transform` or local AWS leaves no `serve` process running; SIGTERM
also leaves no `.partial` file and no temporary folder, and a SIGKILL's partial outputs go at the next run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from leafline import samples
from leafline.sagemaker.storage import sweep_partials
from tests.faults.processes import WITH_FAKE_CONTAINER, Command, alive, children, start_local_aws, wait_for
from tests.local_aws.helpers import BUCKET, create_endpoint, create_model, register_model
from tests.transform.helpers import id_lines, request

SLOW = {"FAKE_SLEEP_S": "0.2"}  # each invocation of the fake container takes a while: the job is mid-file


@pytest.fixture
def started() -> Iterator[list[Command]]:
    commands: list[Command] = []
    yield commands
    for command in commands:
        command.kill()


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The child's environment, with its own TMPDIR so that what it leaves in temporary space can be listed."""
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(temp), **extra}


def _leftovers(tmp_path: Path, output: Path) -> list[str]:
    partials = [str(p) for p in output.rglob("*.partial")] if output.exists() else []
    return partials + [str(p) for p in (tmp_path / "tmp").iterdir()]


def _slow_job(tmp_path: Path, name: str = "slow") -> tuple[Path, Path]:
    """A request over two files sent one record per invocation, and its output folder."""
    data = tmp_path / "input"
    data.mkdir(exist_ok=True)
    for part in range(2):
        (data / f"part-{part}.csv").write_bytes(id_lines(part * 100, 100))
    output = tmp_path / "output"
    req = request(data.as_uri() + "/", output.as_uri() + "/", TransformJobName=name, BatchStrategy="SingleRecord",
                  MaxConcurrentTransforms=1)  # fmt: skip
    path = tmp_path / "request.json"
    path.write_text(json.dumps(req))
    return path, output


def _transform(tmp_path: Path, started: list[Command], env: dict[str, str], *extra: str) -> Command:
    req, _ = _slow_job(tmp_path)
    command = Command(["transform", str(req), "--model-dir", str(tmp_path), "--no-progress", *extra], tmp_path,
                      env, python=("-c", WITH_FAKE_CONTAINER))  # fmt: skip
    started.append(command)
    return command


def _instances_of(command: Command) -> set[int]:
    wait_for(lambda: bool(children(command.pid)), f"the instances of PID {command.pid}")
    return children(command.pid)


def test_sigterm_of_leafline_transform_stops_its_instances_and_removes_partials_and_temp_folders(
    started: list[Command], tmp_path: Path
) -> None:
    command = _transform(tmp_path, started, _environment(tmp_path, **SLOW))
    instances = _instances_of(command)
    output = tmp_path / "output"
    wait_for(lambda: any(output.rglob("*.partial")), "a partial output")

    os.kill(command.pid, signal.SIGTERM)

    assert command.wait() == 128 + signal.SIGTERM
    assert not [pid for pid in instances if alive(pid)]
    assert _leftovers(tmp_path, output) == []
    assert "leafline transform: stopped by SIGTERM" in "".join(command.errors)


def test_sigkill_of_leafline_transform_kills_its_instances_and_the_next_run_removes_its_partials(
    started: list[Command], tmp_path: Path
) -> None:
    command = _transform(tmp_path, started, _environment(tmp_path, **SLOW), "--logs", str(tmp_path / "logs"))
    instances = _instances_of(command)
    output = tmp_path / "output"
    wait_for(lambda: any(output.rglob("*.partial")), "a partial output")

    os.kill(command.pid, signal.SIGKILL)

    command.wait()
    wait_for(lambda: not any(alive(pid) for pid in instances), "the killed command's instances to end")
    again = _transform(tmp_path, started, _environment(tmp_path), "--logs", str(tmp_path / "logs"))
    assert again.wait() == 0, again.text()
    assert sorted(p.name for p in output.iterdir()) == ["part-0.csv.out", "part-1.csv.out"]


def test_sigkill_of_leafline_transform_with_the_real_server_leaves_no_serve_process(
    started: list[Command], tmp_path: Path, binary_model_dir: Path
) -> None:
    data = tmp_path / "input"
    data.mkdir()
    (data / "rows.csv").write_bytes(samples.csv_batch(20_000, 0, 6))
    req = tmp_path / "request.json"
    two = {"InstanceType": "ml.m5.large", "InstanceCount": 2}
    req.write_text(json.dumps(request(data.as_uri() + "/", (tmp_path / "output").as_uri() + "/",
                                      TransformResources=two)))  # fmt: skip
    command = Command(["transform", str(req), "--model-dir", str(binary_model_dir), "--no-progress"], tmp_path,
                      _environment(tmp_path))  # fmt: skip
    started.append(command)
    instances = _instances_of(command)

    os.kill(command.pid, signal.SIGKILL)

    command.wait()
    wait_for(lambda: not any(alive(pid) for pid in instances), "the killed command's serve processes to end")


def test_sigkill_of_local_aws_kills_its_endpoint_servers(
    started: list[Command], tmp_path: Path, binary_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws, url = start_local_aws(tmp_path / "state", started)
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    sagemaker = boto3.client("sagemaker")
    create_model(sagemaker, "scorer", register_model(binary_model_dir))
    create_endpoint(sagemaker, "search", "scorer")
    wait_for(lambda: sagemaker.describe_endpoint(EndpointName="search")["EndpointStatus"] != "Creating",
             "the endpoint to start")  # fmt: skip
    servers = children(aws.pid)
    assert servers, "the endpoint runs a server process"

    os.kill(aws.pid, signal.SIGKILL)

    aws.wait()
    wait_for(lambda: not any(alive(pid) for pid in servers), "the killed local AWS's serve processes to end")


def _local_job(name: str) -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": "scorer",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                           "S3Uri": f"s3://{BUCKET}/in/"}}, "ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/out/", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "BatchStrategy": "SingleRecord",
        "MaxConcurrentTransforms": 1,
    }  # fmt: skip


def test_sigterm_of_local_aws_mid_job_stops_its_instances_and_leaves_no_partials_or_temp_folders(
    started: list[Command], tmp_path: Path, binary_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws, url = start_local_aws(None, started, tmp_path, env=_environment(tmp_path, **SLOW),
                               python=("-c", WITH_FAKE_CONTAINER))  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    sagemaker, s3 = boto3.client("sagemaker"), boto3.client("s3")
    create_model(sagemaker, "scorer", register_model(binary_model_dir))
    s3.put_object(Bucket=BUCKET, Key="in/part-0.csv", Body=id_lines(0, 100))
    sagemaker.create_transform_job(**_local_job("slow"))
    instances = _instances_of(aws)
    wait_for(lambda: any((tmp_path / "tmp").rglob("*.partial")), "a partial output")

    os.kill(aws.pid, signal.SIGTERM)

    assert aws.wait() == 0, aws.text()
    assert not [pid for pid in instances if alive(pid)]
    assert [str(p) for p in (tmp_path / "tmp").iterdir()] == []


def test_only_the_staging_files_of_processes_that_no_longer_run_are_swept(tmp_path: Path) -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)  # fmt: skip
    dead, live = int(ended.stdout), os.getpid()
    for name in (f".a.csv.out.{dead}-abc123_x.partial", f".a.csv.out.{live}-abc123_x.partial",
                 f"leafline-out-{dead}-abc123_x.partial", ".a.csv.out.abc123_x.partial", "a.csv.out"):  # fmt: skip
        (tmp_path / name).write_bytes(b"")

    sweep_partials(tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f".a.csv.out.{live}-abc123_x.partial", ".a.csv.out.abc123_x.partial", "a.csv.out"]
    )
