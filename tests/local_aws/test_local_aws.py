"""Local AWS as a client sees it through boto3: transform jobs that really run and can be stopped, the
registry's approval gate, endpoints served by the real server, and a `leafline local-aws` process that
keeps its state in a folder and leaves nothing running when stopped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from leafline import samples
from leafline.cli import main
from leafline.local_aws.server import LocalAws
from tests.local_aws.helpers import BUCKET, SPEC, create_endpoint, create_model, register_model
from tests.transform.helpers import FAKE_CONTAINER

INPUT = "s3://leafline-demo/jobs/input/"


def _children(pid: int) -> set[int]:
    """PIDs whose parent is pid (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


@pytest.fixture
def registered(local_aws: LocalAws, binary_model_dir: Path) -> dict[str, Any]:
    """The binary model packaged and registered (Approved) in local AWS, and a model created from it."""
    arn = register_model(binary_model_dir)
    sagemaker = boto3.client("sagemaker")
    create_model(sagemaker, "scorer", arn)
    return {"s3": boto3.client("s3"), "sagemaker": sagemaker, "package_arn": arn, "aws": local_aws}


def _job(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": "scorer",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": INPUT}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": "s3://leafline-demo/jobs/output/", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    }


def _put_input(s3: Any, parts: int, rows: int) -> None:
    for part in range(parts):
        s3.put_object(Bucket=BUCKET, Key=f"jobs/input/part-{part}.csv", Body=samples.csv_batch(rows, part, 6))


def test_a_transform_job_runs_in_progress_to_completed_with_real_outputs(
    registered: dict[str, Any], binary_model_dir: Path
) -> None:
    import lightgbm

    s3, sagemaker = registered["s3"], registered["sagemaker"]
    _put_input(s3, parts=2, rows=500)

    sagemaker.create_transform_job(**_job("night-1"))

    assert sagemaker.describe_transform_job(TransformJobName="night-1")["TransformJobStatus"] == "InProgress"
    registered["aws"].app.jobs.wait()
    job = sagemaker.describe_transform_job(TransformJobName="night-1")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["CreationTime"] <= job["TransformStartTime"] < job["TransformEndTime"]
    booster = lightgbm.Booster(model_file=str(binary_model_dir / "model.txt"))
    for part in range(2):
        served = s3.get_object(Bucket=BUCKET, Key=f"jobs/output/part-{part}.csv.out")["Body"].read()
        expected = booster.predict(np.genfromtxt(samples.csv_batch(500, part, 6).splitlines(), delimiter=","))
        np.testing.assert_allclose([float(v) for v in served.splitlines()], expected, atol=1e-6)
    summaries = sagemaker.list_transform_jobs(StatusEquals="Completed")["TransformJobSummaries"]
    assert [s["TransformJobName"] for s in summaries] == ["night-1"]


def test_create_transform_job_refuses_what_sagemaker_refuses(registered: dict[str, Any]) -> None:
    sagemaker = registered["sagemaker"]
    _put_input(registered["s3"], parts=1, rows=10)
    with pytest.raises(ClientError, match='Could not find model "nobody"'):
        sagemaker.create_transform_job(**_job("orphan", ModelName="nobody"))
    with pytest.raises(ClientError, match="MaxPayloadInMB"):
        sagemaker.create_transform_job(**_job("too-big", MaxPayloadInMB=60, MaxConcurrentTransforms=2))
    sagemaker.create_transform_job(**_job("once"))
    with pytest.raises(ClientError, match="a job with this name already exists"):
        sagemaker.create_transform_job(**_job("once"))
    with pytest.raises(ClientError, match="Could not find requested job with name never"):
        sagemaker.describe_transform_job(TransformJobName="never")
    registered["aws"].app.jobs.wait()


def test_a_job_with_nothing_to_read_fails_with_the_reason(registered: dict[str, Any]) -> None:
    sagemaker = registered["sagemaker"]
    sagemaker.create_transform_job(**_job("empty"))
    registered["aws"].app.jobs.wait()
    job = sagemaker.describe_transform_job(TransformJobName="empty")
    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"] == f"ClientError: no objects found under {INPUT}"


def test_stop_transform_job_stops_it_and_its_container(
    registered: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sagemaker, aws = registered["sagemaker"], registered["aws"]
    _put_input(registered["s3"], parts=3, rows=20_000)
    monkeypatch.setenv("FAKE_SLEEP_S", "0.2")  # every payload takes a while: the job is still running when stopped
    aws.app.jobs.host.serve_command = [*FAKE_CONTAINER]
    sagemaker.create_transform_job(**_job("long", MaxPayloadInMB=1, MaxConcurrentTransforms=1))
    while not _children(os.getpid()):
        time.sleep(0.05)  # until the container process exists

    sagemaker.stop_transform_job(TransformJobName="long")

    assert sagemaker.describe_transform_job(TransformJobName="long")["TransformJobStatus"] in ("Stopping", "Stopped")
    aws.app.jobs.wait()
    assert sagemaker.describe_transform_job(TransformJobName="long")["TransformJobStatus"] == "Stopped"
    assert _children(os.getpid()) == set()
    with pytest.raises(ClientError, match="not in progress: its status is Stopped"):
        sagemaker.stop_transform_job(TransformJobName="long")


def test_a_model_from_an_unapproved_version_is_refused_until_approved(
    local_aws: LocalAws, binary_model_dir: Path
) -> None:
    arn = register_model(binary_model_dir, "auto_approve=false")
    sagemaker = boto3.client("sagemaker")
    request = {"ModelName": "gated", "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r",
               "Containers": [{"ModelPackageName": arn}]}  # fmt: skip

    with pytest.raises(ClientError, match=r"is not approved \(ModelApprovalStatus PendingManualApproval\)"):
        sagemaker.create_model(**request)

    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    sagemaker.create_model(**request)
    with pytest.raises(ClientError, match="Cannot create already existing model"):
        sagemaker.create_model(**request)


def test_an_endpoint_serves_the_model_through_invoke_endpoint(
    registered: dict[str, Any], binary_model_dir: Path
) -> None:
    import lightgbm

    sagemaker, aws = registered["sagemaker"], registered["aws"]
    runtime = boto3.client("sagemaker-runtime")
    create_endpoint(sagemaker, "search", "scorer")
    aws.app.endpoints.wait_ready("sa-east-1", "search", timeout=120)
    assert sagemaker.describe_endpoint(EndpointName="search")["EndpointStatus"] == "InService"
    rows = samples.csv_batch(5, 3, 6)

    answer = runtime.invoke_endpoint(EndpointName="search", ContentType="text/csv", Accept="text/csv", Body=rows)

    booster = lightgbm.Booster(model_file=str(binary_model_dir / "model.txt"))
    expected = booster.predict(np.genfromtxt(rows.splitlines(), delimiter=","))
    np.testing.assert_allclose([float(v) for v in answer["Body"].read().splitlines()], expected, atol=1e-6)
    assert answer["ContentType"].startswith("text/csv") and answer["InvokedProductionVariant"] == "main"
    with pytest.raises(ClientError) as bad:
        runtime.invoke_endpoint(EndpointName="search", ContentType="text/csv", Body=b"1,2,x,4,5,6\n")
    assert bad.value.response["Error"]["Code"] == "ModelError"
    assert bad.value.response["OriginalStatusCode"] == 400  # type: ignore[typeddict-item]
    assert re.search(r"Received client error \(400\) from primary with message .*line 1.*column 3", str(bad.value))

    server_pids = _children(os.getpid())
    sagemaker.delete_endpoint(EndpointName="search")

    assert server_pids and not (server_pids & _children(os.getpid()))
    with pytest.raises(ClientError, match="Endpoint search of account 123456789012 not found"):
        runtime.invoke_endpoint(EndpointName="search", ContentType="text/csv", Body=rows)


@pytest.fixture
def command() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _start_command(started: list[subprocess.Popen[str]], state: Path) -> tuple[subprocess.Popen[str], str]:
    """`leafline local-aws --state-dir` given as a path relative to the working directory, as people type it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "leafline", "local-aws", "--port", "0", "--state-dir", state.name],
        cwd=state.parent, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    started.append(process)
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if found:
            return process, found.group(1)
    raise AssertionError(f"local-aws exited with {process.wait()} before listening")


def _stop_command(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    return rest


def test_the_command_keeps_state_in_a_folder_and_leaves_no_process_behind(
    command: list[subprocess.Popen[str]], tmp_path: Path, binary_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    process, url = _start_command(command, state)
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    sagemaker = boto3.client("sagemaker")
    arn = register_model(binary_model_dir)
    create_model(sagemaker, "scorer", arn)
    create_endpoint(sagemaker, "search", "scorer")
    while sagemaker.describe_endpoint(EndpointName="search")["EndpointStatus"] == "Creating":
        time.sleep(0.1)  # the endpoint's server starting in the other process
    assert _children(process.pid), "the endpoint runs a server process"
    grandchildren = _children(process.pid)

    output = _stop_command(process)

    assert "state kept in" in output
    assert all(not Path(f"/proc/{pid}").exists() for pid in grandchildren)
    assert (state / "s3" / BUCKET / "leafline-demo" / "exp-1" / "model.tar.gz").is_file()  # browsable as files
    process, url = _start_command(command, state)
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    sagemaker = boto3.client("sagemaker")
    versions = sagemaker.list_model_packages(ModelPackageGroupName="leafline-demo")["ModelPackageSummaryList"]
    assert [(v["ModelPackageVersion"], v["ModelApprovalStatus"]) for v in versions] == [(1, "Approved")]
    assert sagemaker.describe_model(ModelName="scorer")["Containers"][0]["ModelPackageName"] == arn
    assert main(["register", "--spec", SPEC]) == 0  # the same artifact: still one version
    assert len(sagemaker.list_model_packages(ModelPackageGroupName="leafline-demo")["ModelPackageSummaryList"]) == 1
    _stop_command(process)


def test_a_damaged_state_folder_is_named_not_a_traceback(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "sagemaker-journal.jsonl").write_text('{"region": "sa-east-1"\n')

    done = subprocess.run([sys.executable, "-m", "leafline", "local-aws", "--port", "0", "--state-dir", str(state)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip

    assert done.returncode == 1
    assert f"cannot restore the state in {state}" in done.stderr and "line 1" in done.stderr
    assert "Traceback" not in done.stderr
