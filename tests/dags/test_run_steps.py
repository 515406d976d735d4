"""The run's steps the DAG's tasks call, against local AWS (jobs really run): retries reattach, an unapproved
model is refused, a corrupted output fails validation, settings keep their source."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from leafline.cli import main
from leafline.local_aws.server import LocalAws
from leafline.model.registry import ModelNotApprovedError
from leafline.orchestration.steps import (
    RunInputs,
    TransformJobFailedError,
    ValidationFailedError,
    ensure_model,
    plan_run,
    spec_for_run,
    submit_transform,
    transform_finished,
    validate_run,
)
from leafline.sagemaker.storage import Storage
from leafline.spec.jobspec import SpecError, load_spec
from tests.dags.conftest import ROOT

SPEC = ROOT / "dags" / "leafline-spec.toml"
PREFIX = "leafline-demo/exp-1/scoring/2026-11-20/"


@pytest.fixture
def stack(binary_model_dir: Path, tmp_path: Path, local_aws: LocalAws) -> Iterator[LocalAws]:
    """Local AWS with the demo bucket, the model packaged (with a tuning profile) and one input file."""
    model_dir = tmp_path / "model"
    shutil.copytree(binary_model_dir, model_dir)
    assert main(["tune", str(model_dir), "--payloads", "1,2", "--concurrency", "1,2", "--seconds", "0.1"]) == 0
    s3 = boto3.client("s3", region_name="sa-east-1")
    s3.create_bucket(Bucket="leafline-demo", CreateBucketConfiguration={"LocationConstraint": "sa-east-1"})
    assert main(["package", str(model_dir), "--spec", str(SPEC)]) == 0
    from leafline import samples

    s3.put_object(Bucket="leafline-demo", Key=f"{PREFIX}input/part-0.csv", Body=samples.csv_batch(2000, 1, 6))
    yield local_aws


def _jobs() -> list[str]:
    summaries = boto3.client("sagemaker", region_name="sa-east-1").list_transform_jobs()["TransformJobSummaries"]
    return [job["TransformJobName"] for job in summaries]


def _plan(overrides: dict[str, Any] | None = None, **inputs: Any) -> dict[str, Any]:
    spec, overridden = spec_for_run(load_spec(SPEC), overrides or {})
    run = RunInputs(run_id="manual__2026-11-20T05:00:00+00:00", run_date="2026-11-20", trigger="manual",
                    **{"register_if_missing": True, **inputs})  # fmt: skip
    sagemaker = boto3.client("sagemaker", region_name="sa-east-1")
    return plan_run(sagemaker, Storage(region="sa-east-1"), spec, run, overridden)


def test_retried_steps_reuse_the_model_and_reattach_to_the_job(stack: LocalAws) -> None:
    sagemaker = boto3.client("sagemaker", region_name="sa-east-1")
    plan = _plan()
    assert ensure_model(sagemaker, plan["requests"]["create_model"])["created"] is True
    assert ensure_model(sagemaker, plan["requests"]["create_model"])["created"] is False
    first = submit_transform(sagemaker, plan["requests"]["create_transform_job"])
    again = submit_transform(sagemaker, _plan()["requests"]["create_transform_job"])  # a retry plans the same names
    assert (first["reattached"], again["reattached"]) == (False, True)
    assert again["TransformJobName"] == first["TransformJobName"] and _jobs() == [first["TransformJobName"]]
    assert stack.app is not None
    stack.app.jobs.wait()
    job = sagemaker.describe_transform_job(TransformJobName=first["TransformJobName"])
    assert job["TransformJobStatus"] == "Completed" and job["TransformStartTime"] < job["TransformEndTime"]
    assert validate_run(Storage(region="sa-east-1"), plan)["passed"] is True


def test_settings_keep_their_source(stack: LocalAws) -> None:
    tuned = _plan()["settings"]
    assert tuned["MaxConcurrentTransforms"] == {"value": 4, "source": "tuned profile for ml.m5.xlarge"}
    form = _plan({"max_payload_mb": 2, "instance_type": "ml.c5.2xlarge"})["settings"]
    assert form["MaxPayloadInMB"] == {"value": 2, "source": "trigger form"}
    assert form["MaxConcurrentTransforms"] == {"value": 8, "source": "tuned profile for ml.c5.2xlarge"}
    with pytest.raises(SpecError, match=r"8 x 20 = 160 MB, over the 100 MB limit \(tuned profile .* x trigger form\)"):
        _plan({"max_payload_mb": 20, "instance_type": "ml.c5.2xlarge"})


def test_an_unapproved_version_is_not_scored(stack: LocalAws) -> None:
    assert main(["register", "--spec", str(SPEC), "--set", "auto_approve=false"]) == 0
    with pytest.raises(ModelNotApprovedError, match="no Approved version"):
        _plan(register_if_missing=False)
    with pytest.raises(ModelNotApprovedError, match="version 1 is PendingManualApproval"):
        _plan(model_version=1)


def test_a_corrupted_output_fails_validation_with_a_report(stack: LocalAws) -> None:
    sagemaker = boto3.client("sagemaker", region_name="sa-east-1")
    plan = _plan()
    ensure_model(sagemaker, plan["requests"]["create_model"])
    submit_transform(sagemaker, plan["requests"]["create_transform_job"])
    assert stack.app is not None
    stack.app.jobs.wait()
    s3 = boto3.client("s3", region_name="sa-east-1")
    key = f"{PREFIX}output/part-0.csv.out"
    lines = s3.get_object(Bucket="leafline-demo", Key=key)["Body"].read().splitlines(keepends=True)
    s3.put_object(Bucket="leafline-demo", Key=key, Body=b"".join(lines[:-5]))  # a truncated file
    with pytest.raises(ValidationFailedError, match=r"record_counts: .*report: s3://leafline-demo/.*/report.json"):
        validate_run(Storage(region="sa-east-1"), plan)
    assert s3.head_object(Bucket="leafline-demo", Key=f"{PREFIX}validation/report.json")["ContentLength"] > 0


@pytest.mark.parametrize(
    ("status", "done"),
    [("InProgress", False), ("Stopping", False), ("Completed", True), ("Failed", None), ("Stopped", None)],
)
def test_the_wait_looks_until_the_job_ends_and_a_failed_or_stopped_job_fails_it_with_its_reason(
    status: str, done: bool | None
) -> None:
    job = {"TransformJobName": "lgbm-1", "TransformJobStatus": status, "FailureReason": "ClientError: 500: boom"}
    if done is not None:
        assert transform_finished(job) is done
    else:
        with pytest.raises(TransformJobFailedError, match=f"transform job lgbm-1 ended {status}: ClientError: 500"):
            transform_finished(job)
