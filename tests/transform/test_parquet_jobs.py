"""Parquet inputs with SplitType None: through `leafline transform` and through local AWS, against the real
`serve` process: one request per object, a CSV .out per object, an over-limit object failing its file."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import lightgbm
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from leafline.cli import main
from leafline.local_aws.server import LocalAws
from leafline.sagemaker.request import TransformRequestError, parse_request
from tests.local_aws.helpers import BUCKET, create_model, register_model
from tests.transform.helpers import request

PARQUET_INPUT = {"ContentType": "application/x-parquet", "SplitType": "None"}
NAMES = [f"Column_{i}" for i in range(6)]


def _rows(rows: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(rows, 6))
    x[np.random.default_rng(seed + 1).random(size=x.shape) < 0.1] = np.nan
    return x


def _parquet(x: np.ndarray, names: list[str] | None = None, **extra: pa.Array) -> bytes:
    columns = {name: pa.array(x[:, i], from_pandas=True) for i, name in enumerate(names or NAMES)}  # NaN as null
    sink = io.BytesIO()
    pq.write_table(pa.table({**extra, **columns}), sink, row_group_size=1000)
    return sink.getvalue()


def _scores(model_dir: Path, x: np.ndarray) -> np.ndarray:
    return np.asarray(lightgbm.Booster(model_file=str(model_dir / "model.txt")).predict(x))


def _read(data: bytes) -> np.ndarray:
    return np.array([float(line) for line in data.decode().splitlines()])


def test_leafline_transform_scores_each_parquet_object_whole_and_fails_one_over_the_limit(
    tmp_path: Path, binary_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in" / "dt=2026-11-20"
    folder.mkdir(parents=True)
    by_name, by_position = _rows(3000, 1), _rows(1200, 2)
    (folder / "part-00000.parquet").write_bytes(_parquet(by_name, customer=pa.array([f"c{i}" for i in range(3000)])))
    (folder / "part-00001.parquet").write_bytes(_parquet(by_position, [f"f{i}" for i in range(6)]))
    large = np.random.default_rng(3).normal(size=(30_000, 6))  # ~1.4 MB of incompressible doubles
    (folder / "part-00002.parquet").write_bytes(_parquet(large))
    assert (folder / "part-00002.parquet").stat().st_size > 2**20
    out = tmp_path / "out"
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(request((tmp_path / "in").as_uri() + "/", out.as_uri(), MaxPayloadInMB=1,
                                               TransformInput=PARQUET_INPUT)))  # fmt: skip

    code = main(["transform", str(request_file), "--model-dir", str(binary_model_dir), "--no-progress"])
    printed = json.loads(capsys.readouterr().out)

    assert code == 1 and printed["TransformJobStatus"] == "Failed"
    reason = printed["FailureReason"]
    assert "1 of 3 input files failed" in reason
    assert "part-00002.parquet: with SplitType None the whole object is one payload, and it is over the 1 MB" in reason
    assert not (out / "dt=2026-11-20" / "part-00002.parquet.out").exists()
    for name, x in (("part-00000.parquet", by_name), ("part-00001.parquet", by_position)):
        written = (out / "dt=2026-11-20" / f"{name}.out").read_bytes()
        assert written.count(b"\n") == len(x) and written.endswith(b"\n")  # one CSV line per row
        np.testing.assert_allclose(_read(written), _scores(binary_model_dir, x), rtol=0, atol=1e-12)
    files = {Path(f["input_uri"]).name: f for f in printed["Metrics"]["per_file"]}
    assert (files["part-00000.parquet"]["payloads"], files["part-00000.parquet"]["records"]) == (1, 3000)
    assert (files["part-00001.parquet"]["payloads"], files["part-00001.parquet"]["records"]) == (1, 1200)


def test_an_object_that_is_not_parquet_fails_its_file_with_the_containers_400(
    tmp_path: Path, binary_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "part-0.parquet").write_bytes(b"1,2,3,4,5,6\n")
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(request((tmp_path / "in").as_uri(), (tmp_path / "out").as_uri(),
                                               TransformInput=PARQUET_INPUT)))  # fmt: skip

    assert main(["transform", str(request_file), "--model-dir", str(binary_model_dir), "--no-progress"]) == 1

    reason = json.loads(capsys.readouterr().out)["FailureReason"]
    assert "part-0.parquet: records 1-1: ClientError: 400: the body is not a Parquet file (" in reason


@pytest.mark.parametrize(
    "processing",
    [{"JoinSource": "Input"}, {"InputFilter": "$[1:]"}, {"OutputFilter": "$[-1]"}],
    ids=["join", "input_filter", "output_filter"],
)
def test_data_processing_on_parquet_input_is_refused_as_sagemaker_does(processing: dict[str, str]) -> None:
    raw = request("file:///in/", "file:///out/", TransformInput=PARQUET_INPUT, DataProcessing=processing)

    with pytest.raises(TransformRequestError) as caught:
        parse_request(raw)

    assert (
        "DataProcessing (InputFilter, JoinSource, OutputFilter) needs TransformInput.ContentType to be one of "
        "text/csv, application/json, application/jsonlines (got 'application/x-parquet'): SageMaker associates "
        "inferences with input records in CSV and JSON input only"
    ) in str(caught.value)


def test_a_parquet_prefix_runs_through_local_aws(local_aws: LocalAws, binary_model_dir: Path) -> None:
    sagemaker, s3 = boto3.client("sagemaker"), boto3.client("s3")
    create_model(sagemaker, "scorer", register_model(binary_model_dir))
    parts = {f"nightly/dt=2026-11-20/part-{i:05d}.snappy.parquet": _rows(800 + i, 10 + i) for i in range(2)}
    for key, x in parts.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=_parquet(x))
    job: dict[str, Any] = request(f"s3://{BUCKET}/nightly/dt=2026-11-20/", f"s3://{BUCKET}/scores/dt=2026-11-20/",
                                  TransformInput=PARQUET_INPUT)  # fmt: skip
    job["ModelName"] = "scorer"
    joined = {**job, "TransformJobName": "joined", "DataProcessing": {"JoinSource": "Input"}}
    with pytest.raises(ClientError, match="SageMaker associates inferences with input records in CSV and JSON"):
        sagemaker.create_transform_job(**joined)

    sagemaker.create_transform_job(**job)
    assert local_aws.app is not None
    local_aws.app.jobs.wait()

    described = sagemaker.describe_transform_job(TransformJobName=job["TransformJobName"])
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    for key, x in parts.items():
        name = key.rsplit("/", 1)[1]
        served = s3.get_object(Bucket=BUCKET, Key=f"scores/dt=2026-11-20/{name}.out")["Body"].read()
        np.testing.assert_allclose(_read(served), _scores(binary_model_dir, x), rtol=0, atol=1e-12)
