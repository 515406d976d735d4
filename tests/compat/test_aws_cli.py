"""The AWS CLI (awscli, v1) against local AWS with --endpoint-url, as a user types it: a separate process,
dummy credentials, no configuration files and no network beyond 127.0.0.1."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from leafline import samples
from tests.compat.conftest import Stack, transform_job
from tests.local_aws.helpers import BUCKET

SERVICE_ERROR = 255  # AWS CLI v1's exit status for an error the service answered (v2 uses 254)
CLI_TIMEOUT_S = 120  # one command, at most: the waiter below polls every second, 60 times


@pytest.fixture(scope="module")
def fast_waiters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """AWS_DATA_PATH with the CLI's own SageMaker waiters, polling every second instead of every 60 s.

    The CLI has no option for the delay; botocore reads a model from AWS_DATA_PATH before its own, so the
    acceptors stay the CLI's, only the delay changes."""
    spec = importlib.util.find_spec("awscli")
    assert spec is not None and spec.origin is not None, "awscli is a dev dependency: run `make lint` to install it"
    source = Path(spec.origin).parent / "botocore" / "data" / "sagemaker"
    (version,) = [p for p in source.iterdir() if (p / "waiters-2.json").is_file()]
    model = json.loads((version / "waiters-2.json").read_text())
    for waiter in model["waiters"].values():
        waiter["delay"] = 1
    root = tmp_path_factory.mktemp("aws-data")
    target = root / "sagemaker" / version.name / "waiters-2.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(model))
    return root


def aws(stack: Stack, home: Path, *args: str, data_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`aws --endpoint-url <local AWS> ARGS` run in the folder `home`, in a clean environment: any request
    leaving 127.0.0.1 meets a dead proxy, so a command that would reach real AWS fails instead."""
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": stack.aws.region,
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1",
    }
    if data_path is not None:
        env["AWS_DATA_PATH"] = str(data_path)
    command = [sys.executable, "-m", "awscli", "--endpoint-url", stack.aws.url, "--output", "json", *args]
    return subprocess.run(command, cwd=home, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                          check=False)  # fmt: skip


def _ok(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_s3_cp_up_and_down(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    source.write_bytes(samples.csv_batch(20, 0, 6))
    uploaded = aws(stack, tmp_path, "s3", "cp", "rows.csv", f"s3://{BUCKET}/compat/cli/rows.csv")
    assert uploaded.returncode == 0, uploaded.stderr
    assert f"upload: ./rows.csv to s3://{BUCKET}/compat/cli/rows.csv" in uploaded.stdout
    downloaded = aws(stack, tmp_path, "s3", "cp", f"s3://{BUCKET}/compat/cli/rows.csv", "back.csv")
    assert downloaded.returncode == 0, downloaded.stderr
    assert f"download: s3://{BUCKET}/compat/cli/rows.csv to ./back.csv" in downloaded.stdout
    assert (tmp_path / "back.csv").read_bytes() == source.read_bytes()
    listed = aws(stack, tmp_path, "s3", "ls", f"s3://{BUCKET}/compat/cli/")
    assert listed.returncode == 0 and "rows.csv" in listed.stdout, listed.stderr


def test_create_describe_and_wait_for_a_transform_job(stack: Stack, tmp_path: Path, fast_waiters: Path) -> None:
    request = tmp_path / "job.json"
    request.write_text(json.dumps(transform_job("cli-job")))
    created = _ok(aws(stack, tmp_path, "sagemaker", "create-transform-job", "--cli-input-json", f"file://{request}"))
    assert created["TransformJobArn"].endswith(":transform-job/cli-job")
    waited = aws(stack, tmp_path, "sagemaker", "wait", "transform-job-completed-or-stopped",
                 "--transform-job-name", "cli-job", data_path=fast_waiters)  # fmt: skip
    assert waited.returncode == 0, waited.stderr
    job = _ok(aws(stack, tmp_path, "sagemaker", "describe-transform-job", "--transform-job-name", "cli-job"))
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TransformResources"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1}
    listed = aws(stack, tmp_path, "s3", "ls", f"s3://{BUCKET}/compat/output/cli-job/")
    assert "part-0.csv.out" in listed.stdout and "part-1.csv.out" in listed.stdout, listed.stderr


def test_the_cli_waiter_fails_on_a_failed_job(stack: Stack, tmp_path: Path, fast_waiters: Path) -> None:
    request = tmp_path / "job.json"
    request.write_text(json.dumps(transform_job("cli-empty", input_prefix="compat/none/")))
    _ok(aws(stack, tmp_path, "sagemaker", "create-transform-job", "--cli-input-json", f"file://{request}"))
    waited = aws(stack, tmp_path, "sagemaker", "wait", "transform-job-completed-or-stopped",
                 "--transform-job-name", "cli-empty", data_path=fast_waiters)  # fmt: skip
    assert waited.returncode == 255
    assert "Waiter TransformJobCompletedOrStopped failed: Waiter encountered a terminal failure state" in waited.stderr


def test_describing_a_job_that_does_not_exist_is_aws_s_error(stack: Stack, tmp_path: Path) -> None:
    done = aws(stack, tmp_path, "sagemaker", "describe-transform-job", "--transform-job-name", "never-made")
    assert done.returncode == SERVICE_ERROR
    assert "(ValidationException) when calling the DescribeTransformJob operation" in done.stderr
    assert "Could not find requested job with name never-made" in done.stderr


def _refused(stack: Stack, tmp_path: Path, name: str, **extra: Any) -> subprocess.CompletedProcess[str]:
    request = tmp_path / "job.json"
    request.write_text(json.dumps(transform_job(name, **extra)))
    done = aws(stack, tmp_path, "sagemaker", "create-transform-job", "--cli-input-json", f"file://{request}")
    stack.wait_for_jobs()  # accepted today: let it end before the module's local AWS stops
    return done


def test_an_unknown_instance_type_is_refused(stack: Stack, tmp_path: Path) -> None:
    done = _refused(stack, tmp_path, "cli-foo", TransformResources={"InstanceType": "ml.foo.bar", "InstanceCount": 1})
    assert done.returncode == SERVICE_ERROR
    assert "(ValidationException) when calling the CreateTransformJob operation" in done.stderr
    assert "ml.foo.bar" in done.stderr


def test_the_container_s_spelling_of_batch_strategy_is_refused_in_a_request(stack: Stack, tmp_path: Path) -> None:
    done = _refused(stack, tmp_path, "cli-multi", BatchStrategy="MULTI_RECORD")
    assert done.returncode == SERVICE_ERROR
    assert "(ValidationException) when calling the CreateTransformJob operation" in done.stderr
    assert "MULTI_RECORD" in done.stderr
