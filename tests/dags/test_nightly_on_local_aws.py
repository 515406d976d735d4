"""The nightly_scoring DAG end to end against local AWS: real Airflow (dag.test, SQLite), the real server
scoring in a real transform job, local S3 and the Model Registry. Only the aws_default connection differs
from production (its endpoint_url)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from leafline.local_aws.protocol import AwsError
from leafline.local_aws.server import LocalAws
from leafline.spec.prices import price_table
from tests.dags.conftest import ROOT
from tests.transform.helpers import FAKE_CONTAINER

DAG_FILE = ROOT / "dags" / "nightly_scoring.py"
SPEC = ROOT / "dags" / "leafline-spec.toml"
BUCKET = "leafline-demo"
PREFIX = "leafline-demo/exp-1/scoring/2026-11-20/"
SHARDS = (3000, 1200)


@dataclass
class Night:
    aws: LocalAws
    s3: Any
    sagemaker: Any

    def run(self, **conf: Any) -> Any:
        from airflow.dag_processing.dagbag import DagBag

        dag = DagBag(dag_folder=str(DAG_FILE)).get_dag("nightly_scoring")  # parsed now: LEAFLINE_* settings apply
        return dag.test(run_conf={"run_date": "2026-11-20", **conf})

    def serve_a_container_answering(self, status: int, monkeypatch: pytest.MonkeyPatch) -> None:
        """Every invocation of the night's transform jobs answers `status` (the fake container)."""
        monkeypatch.setenv("FAKE_FAIL_FIRST", "1000000")
        monkeypatch.setenv("FAKE_FAIL_STATUS", str(status))
        assert self.aws.app is not None
        self.aws.app.jobs.host.serve_command = [*FAKE_CONTAINER]

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.sagemaker.list_transform_jobs()["TransformJobSummaries"])

    def read(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=BUCKET, Key=PREFIX + key)["Body"].read()
        return body


def _states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


@pytest.fixture
def night(
    airflow_db: None, local_aws: LocalAws, binary_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Night:
    """The model tuned and packaged in local S3 (not yet registered: the DAG registers it), two input shards."""
    from leafline import samples
    from leafline.cli import main

    monkeypatch.setenv("LEAFLINE_RETRIES", "0")
    model_dir = tmp_path / "model"
    shutil.copytree(binary_model_dir, model_dir)
    assert main(["tune", str(model_dir), "--payloads", "1", "--concurrency", "1,2", "--seconds", "0.2"]) == 0
    s3 = boto3.client("s3", region_name="sa-east-1")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "sa-east-1"})
    assert main(["package", str(model_dir), "--spec", str(SPEC)]) == 0
    for part, rows in enumerate(SHARDS):
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}input/part-{part}.csv", Body=samples.csv_batch(rows, part, 6))
    return Night(local_aws, s3, boto3.client("sagemaker", region_name="sa-east-1"))


def test_a_night_scores_validates_and_records_and_a_rerun_registers_nothing_new(night: Night) -> None:
    run = night.run()

    assert str(run.state) == "success", _states(run)
    (job,) = night.jobs()  # one job, submitted once, really run
    described = night.sagemaker.describe_transform_job(TransformJobName=job["TransformJobName"])
    assert described["TransformJobStatus"] == "Completed"
    assert described["CreationTime"] <= described["TransformStartTime"] < described["TransformEndTime"]
    assert (described["MaxConcurrentTransforms"], described["MaxPayloadInMB"]) == (4, 1)  # tuned for ml.m5.xlarge
    for part, rows in enumerate(SHARDS):
        assert len(night.read(f"output/part-{part}.csv.out").splitlines()) == rows
    assert json.loads(night.read("validation/report.json"))["passed"] is True
    record = json.loads(night.read("run.json"))
    assert (record["schema"], record["status"], record["trigger"]) == ("leafline.run/2", "succeeded", "manual")
    assert record["model_package"]["version"] == 1
    assert record["settings"]["MaxPayloadInMB"] == {"value": 1, "source": "tuned profile for ml.m5.xlarge"}
    assert record["transform_job"]["status"] == "Completed" and record["transform_job"]["duration_s"] > 0
    assert record["totals"]["rows"] == sum(SHARDS) and record["totals"]["bytes_in"] > record["totals"]["bytes_out"]
    assert record["rows_per_s"] > 0 and record["cost"]["region"] == "sa-east-1"  # the spec's region's prices
    price = price_table("sa-east-1").price(record["instance_type"])
    assert record["cost"]["usd_per_hour"] == price  # the table's figure, or None: never an invented one
    assert sum(record["scores"]["histogram"]["counts"]) == sum(SHARDS) and record["drift"] is None  # a first run
    assert {c["name"] for c in record["validation"]["checks"]} >= {"record_counts", "rescoring"}
    index = night.s3.list_objects_v2(Bucket=BUCKET, Prefix="leafline-demo/runs/2026-11-20/")
    assert [o["Key"] for o in index["Contents"]] == [record["outputs"]["record_uri"].removeprefix(f"s3://{BUCKET}/")]

    again = night.run()

    assert str(again.state) == "success", _states(again)
    versions = night.sagemaker.list_model_packages(ModelPackageGroupName="leafline-demo")["ModelPackageSummaryList"]
    assert [v["ModelPackageVersion"] for v in versions] == [1]  # the same artifact is not registered again
    assert len(night.jobs()) == 2  # a new run is a new job
    assert night.s3.list_objects_v2(Bucket=BUCKET, Prefix="leafline-demo/runs/2026-11-20/")["KeyCount"] == 2
    second = json.loads(night.read("run.json"))
    assert second["drift"]["previous_run_id"] == record["run_id"]  # the same input scored again: no drift
    assert second["drift"]["psi"] < 1e-9 and second["drift"]["status"] == "stable"


def test_a_corrupted_output_fails_validation_and_the_run(night: Night) -> None:
    def truncate_one_output(describe: dict[str, Any]) -> None:
        key = f"{PREFIX}output/part-1.csv.out"
        lines = night.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines(keepends=True)
        night.s3.put_object(Bucket=BUCKET, Key=key, Body=b"".join(lines[:-3]))

    assert night.aws.app is not None
    night.aws.app.jobs.on_finished.append(truncate_one_output)

    run = night.run()

    states = _states(run)
    assert str(run.state) == "failed"
    assert (states["wait_for_transform"], states["validate"], states["record"]) == ("success", "failed", "failed")
    report = json.loads(night.read("validation/report.json"))
    assert report["passed"] is False
    failed = {check["name"] for check in report["checks"] if check["status"] == "failed"}
    assert "record_counts" in failed
    record = json.loads(night.read("run.json"))  # the failed run is recorded, with why
    assert record["status"] == "failed" and record["failure"].startswith("validation failed: record_counts")


def test_a_container_answering_500_fails_the_job_and_the_run_with_its_message(
    night: Night, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    night.serve_a_container_answering(500, monkeypatch)

    run = night.run()

    states = _states(run)
    assert str(run.state) == "failed"
    assert (states["submit_transform"], states["wait_for_transform"], states["validate"], states["record"]) == (
        "success",
        "failed",
        "upstream_failed",
        "failed",
    )
    (job,) = night.jobs()
    reason = night.sagemaker.describe_transform_job(TransformJobName=job["TransformJobName"])["FailureReason"]
    assert "500" in reason and "transient failure" in reason  # the container's own answer
    assert "transient failure" in capfd.readouterr().out  # and the wait task's error says it too
    record = json.loads(night.read("run.json"))
    assert record["status"] == "failed" and record["failure"] == reason and record["validation"] is None


def test_a_retried_wait_does_not_submit_again(night: Night, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAFLINE_RETRIES", "1")
    monkeypatch.setenv("LEAFLINE_RETRY_DELAY_S", "0")
    assert night.aws.app is not None
    # The wait task's first look fails (as when credentials rotate mid-night); its retry looks again.
    # (The first Describe is submit_transform's own check for an existing job.)
    expired = AwsError("AccessDeniedException", "credentials expired")
    night.aws.app.faults.fail_next("DescribeTransformJob", expired, after=1)

    run = night.run()

    assert str(run.state) == "success", _states(run)
    wait = next(ti for ti in run.get_task_instances() if ti.task_id == "wait_for_transform")
    assert wait.try_number == 2
    submit = next(ti for ti in run.get_task_instances() if ti.task_id == "submit_transform")
    assert submit.try_number == 1
    assert night.aws.app.calls["CreateTransformJob"] == 1
    assert len(night.jobs()) == 1
