"""Issue 19, case 1: local AWS's state folder survives `kill -9` at any point, is held by one instance
only, and a damaged journal is either tolerated (a torn last line) or named (file and line)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from leafline import samples
from leafline.local_aws.app import s3_change
from tests.faults.processes import Command, alive, children, start_local_aws, wait_for
from tests.local_aws.helpers import BUCKET, create_model, register_model

BIG = hashlib.sha256(b"seed").digest() * (11 * 2**20 // 32)  # 11 MB: a three-part multipart upload
FINAL = ("Completed", "Failed", "Stopped")


@pytest.fixture
def started() -> Iterator[list[Command]]:
    commands: list[Command] = []
    yield commands
    for command in commands:
        command.kill()


def _job(name: str) -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": "scorer",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/jobs/input/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/jobs/{name}/", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }


def _session_writes(s3: Any) -> dict[str, bytes]:
    """Every kind of S3 write: put, multipart, copy, delete, batch delete, a folder marker; what should remain."""
    s3.put_object(Bucket=BUCKET, Key="jobs/input/part-0.csv", Body=samples.csv_batch(300, 0, 6))
    s3.upload_fileobj(_Reader(BIG), BUCKET, "big/blob.bin",
                      Config=TransferConfig(multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20))  # fmt: skip
    source = {"Bucket": BUCKET, "Key": "jobs/input/part-0.csv"}
    s3.copy_object(Bucket=BUCKET, Key="copies/part-0.csv", CopySource=source)
    s3.put_object(Bucket=BUCKET, Key="gone/one.txt", Body=b"1")
    s3.put_object(Bucket=BUCKET, Key="gone/two.txt", Body=b"2")
    s3.put_object(Bucket=BUCKET, Key="gone/three.txt", Body=b"3")
    s3.delete_object(Bucket=BUCKET, Key="gone/one.txt")
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "gone/two.txt"}, {"Key": "gone/three.txt"}]})
    s3.put_object(Bucket=BUCKET, Key="overwritten.txt", Body=b"old")
    s3.put_object(Bucket=BUCKET, Key="overwritten.txt", Body=b"new")
    s3.put_object(Bucket=BUCKET, Key="folder/", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="both", Body=b"a file")
    s3.put_object(Bucket=BUCKET, Key="both/inner", Body=b"and a folder")
    s3.create_bucket(Bucket="empty-bucket", CreateBucketConfiguration={"LocationConstraint": "sa-east-1"})
    return {
        "jobs/input/part-0.csv": samples.csv_batch(300, 0, 6),
        "big/blob.bin": BIG,
        "copies/part-0.csv": samples.csv_batch(300, 0, 6),
        "overwritten.txt": b"new",
        "folder/": b"",
        "both": b"a file",
        "both/inner": b"and a folder",
    }


class _Reader:
    """A plain stream (not a file), so boto3 really uploads it in parts."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._at + size
        chunk = self._data[self._at : end]
        self._at += len(chunk)
        return chunk


def _objects(s3: Any, bucket: str) -> dict[str, bytes]:
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]  # fmt: skip
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def test_kill_9_mid_session_loses_no_object_and_no_job_record(
    started: list[Command], tmp_path: Path, binary_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    aws, url = start_local_aws(state, started)
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    sagemaker = boto3.client("sagemaker")
    arn = register_model(binary_model_dir)
    create_model(sagemaker, "scorer", arn)
    s3 = boto3.client("s3")
    kept = _session_writes(s3)
    sagemaker.create_transform_job(**_job("first"))
    wait_for(lambda: sagemaker.describe_transform_job(TransformJobName="first")["TransformJobStatus"] in FINAL,
             "the first job to end")  # fmt: skip
    first = sagemaker.describe_transform_job(TransformJobName="first")
    assert first["TransformJobStatus"] == "Completed", first.get("FailureReason")
    before = _objects(s3, BUCKET)
    sagemaker.create_transform_job(**_job("second"))  # InProgress when the kill comes
    instances = children(aws.pid)

    os.kill(aws.pid, signal.SIGKILL)
    aws.wait()

    wait_for(lambda: not any(alive(pid) for pid in instances), "the killed local AWS's children to end")
    aws, url = start_local_aws(state, started)
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    s3, sagemaker = boto3.client("s3"), boto3.client("sagemaker")
    after = _objects(s3, BUCKET)
    assert after == before
    assert {key: after[key] for key in kept} == kept
    assert not any(key.startswith("gone/") for key in after)
    assert any(key.startswith("jobs/first/") and key.endswith(".csv.out") for key in after)
    assert "empty-bucket" in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    package = sagemaker.describe_model(ModelName="scorer")["Containers"][0]["ModelPackageName"]
    assert package == arn
    data_url = sagemaker.describe_model_package(ModelPackageName=arn)["InferenceSpecification"]["Containers"][0][
        "ModelDataUrl"
    ]
    assert data_url.removeprefix(f"s3://{BUCKET}/") in after  # the model points at an archive that is there
    restored = sagemaker.describe_transform_job(TransformJobName="first")
    assert restored["TransformJobStatus"] == "Completed"
    assert restored["TransformEndTime"] == first["TransformEndTime"]
    second = sagemaker.describe_transform_job(TransformJobName="second")
    assert second["TransformJobStatus"] == "Failed"
    assert "local AWS stopped while the job was InProgress" in second["FailureReason"]


def test_a_second_instance_on_the_same_state_dir_refuses_to_start(started: list[Command], tmp_path: Path) -> None:
    state = tmp_path / "state"
    first, _ = start_local_aws(state, started)

    second = Command(["local-aws", "--port", "0", "--state-dir", str(state)], tmp_path)
    started.append(second)

    assert second.wait() == 1
    message = "".join(second.errors).strip()
    assert message == (f"leafline local-aws: error: the state dir {state} is in use by another local AWS "
                       f"(PID {first.pid}); stop it or choose another --state-dir")  # fmt: skip
    assert alive(first.pid)


def _journal_entry(action: str, body: dict[str, Any]) -> str:
    return json.dumps({"region": "sa-east-1", "action": action, "body": json.dumps(body)})


GROUP = {"ModelPackageGroupName": "kept"}


def test_a_torn_last_journal_line_is_dropped_with_a_warning(
    started: list[Command], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    journal = state / "sagemaker-journal.jsonl"
    torn = _journal_entry("CreateModelPackageGroup", {"ModelPackageGroupName": "torn"})[:40]
    journal.write_text(_journal_entry("CreateModelPackageGroup", GROUP) + "\n" + torn)

    aws, url = start_local_aws(state, started)

    assert any(f"{journal}, line 2: an incomplete last entry" in line for line in aws.output)
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="after")
    groups = sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert sorted(g["ModelPackageGroupName"] for g in groups) == ["after", "kept"]
    lines = journal.read_text().splitlines()
    assert [json.loads(json.loads(line)["body"])["ModelPackageGroupName"] for line in lines] == ["kept", "after"]


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        pytest.param(["{", _journal_entry("CreateModelPackageGroup", GROUP)], "line 1: not a JSON journal entry",
                     id="malformed_first"),
        pytest.param([_journal_entry("CreateModelPackageGroup", GROUP), '{"region": 1}',
                      _journal_entry("CreateModelPackageGroup", {"ModelPackageGroupName": "b"})],
                     'line 2: not a journal entry (expected string "region", "action" and "body")',
                     id="wrong_shape_middle"),
        pytest.param([_journal_entry("CreateModelPackageGroup", GROUP), _journal_entry("DeleteModel",
                      {"ModelName": "never-made"}), _journal_entry("CreateModelPackageGroup", {"ModelPackageGroupName":
                      "b"})], "line 2: DeleteModel does not replay", id="fails_to_replay"),
    ],
)  # fmt: skip
def test_a_damaged_journal_entry_stops_start_up_naming_file_and_line(
    started: list[Command], tmp_path: Path, lines: list[str], problem: str
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    journal = state / "sagemaker-journal.jsonl"
    journal.write_text("\n".join(lines) + "\n")

    command = Command(["local-aws", "--port", "0", "--state-dir", str(state)], tmp_path)
    started.append(command)

    assert command.wait() == 1
    errors = "".join(command.errors)
    assert f"cannot restore the state in {state}: {journal}, {problem}" in errors, errors
    assert "Traceback" not in errors


def test_kill_9_amid_a_stream_of_writes_keeps_every_acknowledged_one(
    started: list[Command], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    aws, url = start_local_aws(state, started)
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    no_retries = Config(retries={"max_attempts": 1})
    boto3.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "sa-east-1"})
    acknowledged: dict[str, list[str]] = {"s3": [], "sagemaker": []}
    enough = threading.Event()

    def write(service: str) -> None:
        client: Any = boto3.client(service, config=no_retries)  # type: ignore[call-overload]
        for number in range(10_000):
            name = f"w{number}"
            try:
                if service == "s3":
                    client.put_object(Bucket=BUCKET, Key=f"stream/{name}", Body=name.encode() * 1000)
                else:
                    client.create_model_package_group(ModelPackageGroupName=name)
            except Exception:
                return  # local AWS is gone
            acknowledged[service].append(name)
            if all(len(done) >= 20 for done in acknowledged.values()):
                enough.set()

    writers = [threading.Thread(target=write, args=(service,)) for service in acknowledged]
    for writer in writers:
        writer.start()
    assert enough.wait(60), "the writers did not get going"

    os.kill(aws.pid, signal.SIGKILL)

    aws.wait()
    for writer in writers:
        writer.join(60)
    aws, url = start_local_aws(state, started)
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    stored = _objects(boto3.client("s3"), BUCKET)
    for name in acknowledged["s3"]:
        assert stored[f"stream/{name}"] == name.encode() * 1000
    assert len(stored) - len(acknowledged["s3"]) in (0, 1)  # at most the one in flight, and then whole
    assert all(body == key.removeprefix("stream/").encode() * 1000 for key, body in stored.items())
    groups = _all_groups()
    assert set(acknowledged["sagemaker"]) <= groups
    assert len(groups) - len(acknowledged["sagemaker"]) in (0, 1)


def _all_groups() -> set[str]:
    paginator = boto3.client("sagemaker").get_paginator("list_model_package_groups")
    return {g["ModelPackageGroupName"] for page in paginator.paginate() for g in page["ModelPackageGroupSummaryList"]}


S3_SCOPE = "AWS4-HMAC-SHA256 Credential=local/20260101/sa-east-1/s3/aws4_request, SignedHeaders=host"


@pytest.mark.parametrize(
    ("method", "uri", "host", "expected"),
    [
        pytest.param("PUT", "/b/a/k.csv", "127.0.0.1:5055", ("b", "a/k.csv"), id="put_object"),
        pytest.param("PUT", "/b/a%20b", "127.0.0.1:5055", ("b", "a b"), id="quoted_key"),
        pytest.param("DELETE", "/b/k", "localhost:5055", ("b", "k"), id="delete_object"),
        pytest.param("POST", "/b/k?uploadId=u", "127.0.0.1", ("b", "k"), id="complete_multipart"),
        pytest.param("PUT", "/b/k?partNumber=1&uploadId=u", "127.0.0.1", None, id="upload_part"),
        pytest.param("POST", "/b/k?uploads", "127.0.0.1", None, id="create_multipart"),
        pytest.param("DELETE", "/b/k?uploadId=u", "127.0.0.1", None, id="abort_multipart"),
        pytest.param("PUT", "/b/k?tagging", "127.0.0.1", None, id="tagging"),
        pytest.param("POST", "/b?delete", "127.0.0.1", ("b", None), id="delete_objects"),
        pytest.param("PUT", "/b", "127.0.0.1", ("b", None), id="create_bucket"),
        pytest.param("GET", "/b/k", "127.0.0.1", None, id="get_object"),
        pytest.param("PUT", "/k", "b.example.test", ("b", "k"), id="virtual_hosted"),
        pytest.param("POST", "/moto-api/reset", "127.0.0.1", None, id="moto_api"),
    ],
)
def test_the_s3_requests_written_through_are_those_that_change_an_object_or_a_bucket(
    method: str, uri: str, host: str, expected: tuple[str, str | None] | None
) -> None:
    path, _, query = uri.partition("?")
    environ = {"REQUEST_METHOD": method, "RAW_URI": uri, "PATH_INFO": path, "QUERY_STRING": query,
               "HTTP_HOST": host, "HTTP_AUTHORIZATION": S3_SCOPE}  # fmt: skip

    assert s3_change(environ) == expected
    assert s3_change({**environ, "HTTP_AUTHORIZATION": S3_SCOPE.replace("/s3/", "/sagemaker/")}) is None
