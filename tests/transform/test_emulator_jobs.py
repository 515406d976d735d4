"""Whole jobs against the real `serve` process: files, folders, manifests, gzip, S3, DataProcessing."""

from __future__ import annotations

import gzip
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto.server import ThreadedMotoServer

from leafline.cli import main
from leafline.transform.job import ModelSource, run_transform_job
from tests.transform.helpers import lightgbm_scores, read_scores, request


def features_csv(rows: int, seed: int) -> bytes:
    x = np.random.default_rng(seed).normal(size=(rows, 6))
    return ("\n".join(",".join(repr(float(v)) for v in row) for row in x) + "\n").encode()


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "day=1" / "late").mkdir(parents=True)
    (folder / "a.csv").write_bytes(features_csv(3000, 1))
    (folder / "b.csv").write_bytes(features_csv(1000, 2))
    (folder / "day=1" / "late" / "c.csv").write_bytes(features_csv(500, 3))
    return folder


def test_every_file_under_the_prefix_is_scored_in_order_with_mirrored_names(
    inputs: Path, tmp_path: Path, binary_model_dir: Path
) -> None:
    out = tmp_path / "out"
    req = request(inputs.as_uri() + "/", out.as_uri(), MaxPayloadInMB=1, MaxConcurrentTransforms=2,
                  TransformResources={"InstanceCount": 2})  # fmt: skip

    result = run_transform_job(req, ModelSource(binary_model_dir))

    assert result.status == "Completed", result.describe.get("FailureReason")
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.csv.out", "b.csv.out", "day=1/late/c.csv.out"]  # subfolders kept, no job-name segment
    for name in ("a.csv", "b.csv", "day=1/late/c.csv"):
        expected = lightgbm_scores(binary_model_dir, (inputs / name).read_bytes())
        np.testing.assert_allclose(read_scores(out / (name + ".out")), expected, rtol=0, atol=1e-12)
    assert result.metrics["records"] == 4500
    assert {i["files"] for i in result.metrics["instances"]} == {1, 2}  # files spread over both instances


def test_a_manifest_names_the_files_to_score(inputs: Path, tmp_path: Path, binary_model_dir: Path) -> None:
    manifest = tmp_path / "inputs.manifest"
    manifest.write_text(json.dumps([{"prefix": inputs.as_uri() + "/"}, "b.csv", "day=1/late/c.csv"]))
    out = tmp_path / "out"
    req = request(manifest.as_uri(), out.as_uri(),
                  TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "ManifestFile",
                                                                  "S3Uri": manifest.as_uri()}}})  # fmt: skip

    result = run_transform_job(req, ModelSource(binary_model_dir))

    assert result.status == "Completed"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.out")) == ["b.csv.out", "day=1/late/c.csv.out"]


def test_gzip_input_is_scored_decompressed(tmp_path: Path, binary_model_dir: Path) -> None:
    data = features_csv(800, 4)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "part.csv.gz").write_bytes(gzip.compress(data))
    req = request((tmp_path / "in").as_uri(), (tmp_path / "out").as_uri(), TransformInput={"CompressionType": "Gzip"})

    result = run_transform_job(req, ModelSource(binary_model_dir))

    assert result.status == "Completed"
    scores = read_scores(tmp_path / "out" / "part.csv.gz.out")
    np.testing.assert_allclose(scores, lightgbm_scores(binary_model_dir, data), rtol=0, atol=1e-12)


def test_csv_filters_and_join_keep_an_id_beside_its_score(tmp_path: Path, binary_model_dir: Path) -> None:
    features = features_csv(300, 5)
    rows = [f"id-{i},{line}" for i, line in enumerate(features.decode().splitlines())]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "part.csv").write_text("\n".join(rows) + "\n")
    processing = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
    req = request((tmp_path / "in").as_uri(), (tmp_path / "out").as_uri(), DataProcessing=processing)

    result = run_transform_job(req, ModelSource(binary_model_dir))

    assert result.status == "Completed", result.describe.get("FailureReason")
    lines = (tmp_path / "out" / "part.csv.out").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == [f"id-{i}" for i in range(300)]
    scores = np.array([float(line.split(",")[1]) for line in lines])
    np.testing.assert_allclose(scores, lightgbm_scores(binary_model_dir, features), rtol=0, atol=1e-12)


def test_json_lines_filters_and_join_put_the_score_under_sagemaker_output(
    tmp_path: Path, binary_model_dir: Path
) -> None:
    features = features_csv(50, 6)
    records = [{"id": i, "features": [float(v) for v in line.split(",")]}
               for i, line in enumerate(features.decode().splitlines())]  # fmt: skip
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "part.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    req = request((tmp_path / "in").as_uri(), (tmp_path / "out").as_uri(),
                  TransformInput={"ContentType": "application/jsonlines"},
                  TransformOutput={"Accept": "application/jsonlines"},
                  DataProcessing={"InputFilter": "$.features", "JoinSource": "Input",
                                  "OutputFilter": "$['id','SageMakerOutput']"})  # fmt: skip

    result = run_transform_job(req, ModelSource(binary_model_dir))

    assert result.status == "Completed", result.describe.get("FailureReason")
    joined = [json.loads(line) for line in (tmp_path / "out" / "part.jsonl.out").read_text().splitlines()]
    assert [set(r) for r in joined] == [{"id", "SageMakerOutput"}] * 50
    assert [r["id"] for r in joined] == list(range(50))
    expected = lightgbm_scores(binary_model_dir, features)
    np.testing.assert_allclose([r["SageMakerOutput"] for r in joined], expected, rtol=0, atol=1e-12)


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    try:
        yield endpoint
    finally:
        server.stop()


def test_s3_input_and_output_through_a_local_s3(s3_endpoint: str, binary_model_dir: Path) -> None:
    s3 = boto3.client("s3", region_name="sa-east-1")
    s3.create_bucket(Bucket="scoring", CreateBucketConfiguration={"LocationConstraint": "sa-east-1"})
    data = {
        "input/2026-11-20/part-0.csv": features_csv(700, 7),
        "input/2026-11-20/more/part-1.csv": features_csv(60, 8),
    }
    for key, body in data.items():
        s3.put_object(Bucket="scoring", Key=key, Body=body)
    s3.put_object(Bucket="scoring", Key="input/2026-11-20/more/", Body=b"")  # a folder marker is not an input
    req = request("s3://scoring/input/2026-11-20/", "s3://scoring/output/2026-11-20")

    result = run_transform_job(req, ModelSource(binary_model_dir))

    assert result.status == "Completed", result.describe.get("FailureReason")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="scoring", Prefix="output/")["Contents"])
    assert keys == ["output/2026-11-20/more/part-1.csv.out", "output/2026-11-20/part-0.csv.out"]
    body = s3.get_object(Bucket="scoring", Key="output/2026-11-20/part-0.csv.out")["Body"].read()
    scores = np.array([float(v) for v in body.decode().split()])
    np.testing.assert_allclose(
        scores, lightgbm_scores(binary_model_dir, data["input/2026-11-20/part-0.csv"]), atol=1e-12
    )


def test_cli_runs_a_request_from_a_model_archive_and_prints_the_describe_result(
    inputs: Path, tmp_path: Path, binary_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(binary_model_dir / "model.txt", arcname="model.txt")
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(request(inputs.as_uri(), (tmp_path / "out").as_uri())))

    code = main(["transform", str(request_file), "--model-data", archive.as_uri(), "--no-progress"])

    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert printed["TransformJobStatus"] == "Completed"
    assert printed["Metrics"]["records"] == 4500
    assert printed["Metrics"]["settings"]["MaxConcurrentTransforms"]["source"] == "container"
    assert "TransformEndTime" in printed and "FailureReason" not in printed


def test_cli_writes_a_run_record_the_dashboard_reads(
    inputs: Path, tmp_path: Path, binary_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from leafline.runs.index import RunsIndex
    from leafline.sagemaker.storage import Storage

    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(request(inputs.as_uri(), (tmp_path / "out").as_uri())))
    runs = tmp_path / "runs"

    code = main(["transform", str(request_file), "--model-dir", str(binary_model_dir), "--no-progress",
                 "--runs", str(runs), "--project", "churn", "--run-date", "2026-11-20"])  # fmt: skip

    assert code == 0
    (record,) = RunsIndex(Storage(), str(runs)).load().records
    assert (record["schema"], record["status"], record["trigger"]) == ("leafline.run/2", "succeeded", "transform")
    assert (record["project_id"], record["run_date"], record["totals"]["rows"]) == ("churn", "2026-11-20", 4500)
    assert record["settings"]["MaxConcurrentTransforms"]["source"] == "container"
    assert record["rows_per_s"] > 0 and record["validation"] is None
    assert f"run record: {runs}/2026-11-20/" in capsys.readouterr().err


def test_cli_takes_paths_relative_to_the_working_directory_and_records_them_absolute(
    inputs: Path, tmp_path: Path, binary_model_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from leafline.runs.index import RunsIndex
    from leafline.sagemaker.storage import Storage

    monkeypatch.chdir(tmp_path)
    shutil.copytree(binary_model_dir, "model")
    with tarfile.open("model.tar.gz", "w:gz") as tar:
        tar.add("model/model.txt", arcname="model.txt")
    Path("request.json").write_text(json.dumps(request("file://in/", "file://out/")))

    by_dir = main(["transform", "request.json", "--model-dir", "model", "--no-progress", "--logs", "logs",
                   "--runs", "runs", "--run-date", "2026-11-20"])  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    by_archive = main(["transform", "request.json", "--model-data", "model.tar.gz", "--no-progress"])

    assert by_dir == 0 and by_archive == 0
    assert printed["TransformOutput"]["S3OutputPath"] == (tmp_path / "out").as_uri() + "/"
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.out")) == ["a.csv.out", "b.csv.out", "c.csv.out"]
    assert list((tmp_path / "logs").iterdir())
    (recorded,) = RunsIndex(Storage(), "runs").load().records
    assert recorded["outputs"]["output_uri"] == (tmp_path / "out").as_uri() + "/"
    assert recorded["model_package"]["model_data_url"] == str(tmp_path / "model")


def test_cli_exit_codes_for_failed_jobs_and_invalid_requests(
    tmp_path: Path, binary_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.csv").write_text("1,2,3\n")  # 3 features for a 6-feature model
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(request((tmp_path / "in").as_uri(), (tmp_path / "out").as_uri())))
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps(request("file:///x", "file:///y", MaxConcurrentTransforms=20, MaxPayloadInMB=6)))

    failed = main(["transform", str(request_file), "--model-dir", str(binary_model_dir), "--no-progress"])
    printed = json.loads(capsys.readouterr().out)
    refused = main(["transform", str(invalid), "--model-dir", str(binary_model_dir)])

    assert failed == 1
    assert printed["TransformJobStatus"] == "Failed"
    assert "bad.csv: records 1-1: ClientError: 400" in printed["FailureReason"]
    assert "line 1" in printed["FailureReason"]  # the container's own message says where
    assert not (tmp_path / "out" / "bad.csv.out").exists()
    assert refused == 2
    assert "20 x 6 = 120 MB, over the 100 MB limit" in capsys.readouterr().err
