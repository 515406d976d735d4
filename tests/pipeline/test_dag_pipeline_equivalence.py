"""The DAG and the Pipeline send the same requests for the same run.

The DAG side is the DAG's own plan step (orchestration.steps.plan_run) under moto, registering the packaged model;
its CreateModelPackage is captured as boto3 sent it. The Pipeline side is the definition the SDK renders
from leafline.orchestration.sagemaker_pipeline.builder, evaluated for an execution with the same run
inputs. Only the names SageMaker Pipelines generates per execution (model, job, package ARN) are set aside.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from leafline.cli import main
from leafline.model.packaging import read_archive_info
from leafline.orchestration.sagemaker_pipeline.plan import plan_pipeline
from leafline.orchestration.steps import RunInputs, plan_run, report_uri, run_folder, spec_for_run
from leafline.runs.index import RunsIndex, runs_uri
from leafline.sagemaker.storage import Storage
from leafline.spec.jobspec import load_spec
from leafline.validation import step as validation_step
from leafline.validation.spec import ValidationSpec
from tests.pipeline.conftest import ROOT, definition_of, differences, evaluate, execution_values, steps

RUN_DATE = "2026-11-20"
BASE = ROOT / "dags" / "leafline-spec.toml"
# A spec that exercises every optional part of the requests: filters, a threshold, KMS keys, a VPC, tags.
EVERYTHING = {
    "threshold": 0.35,
    "transform.input_filter": "$[1:]",
    "transform.join_source": "Input",
    "transform.output_filter": "$[0,-1]",
    "transform.invocations_timeout_s": 900,
    "output_kms_key_id": "arn:aws:kms:sa-east-1:123456789012:key/out",
    "volume_kms_key_id": "arn:aws:kms:sa-east-1:123456789012:key/vol",
    "subnets": ["subnet-1"],
    "security_group_ids": ["sg-1"],
    "tags": {"team": "risk"},
    "instance_count": 2,
}


@pytest.fixture(scope="module")
def tuned_model_dir(binary_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model_dir = tmp_path_factory.mktemp("tuned") / "model"
    shutil.copytree(binary_model_dir, model_dir)
    assert main(["tune", str(model_dir), "--payloads", "1,2", "--concurrency", "1,2", "--seconds", "0.1"]) == 0
    return model_dir


@pytest.fixture
def aws(tuned_model_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """Local AWS with the demo bucket; yields a spec file the test may extend."""
    with mock_aws():
        boto3.client("s3", region_name="sa-east-1").create_bucket(
            Bucket="leafline-demo", CreateBucketConfiguration={"LocationConstraint": "sa-east-1"}
        )
        yield tmp_path


def dag_run(spec: Any, form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the DAG's plan step sends for this run: its plan and the CreateModelPackage boto3 sent."""
    sagemaker = boto3.client("sagemaker", region_name="sa-east-1")
    sent: dict[str, Any] = {}
    sagemaker.meta.events.register(
        "provide-client-params.sagemaker.CreateModelPackage", lambda params, **_: sent.update(params)
    )
    run_spec, overridden = spec_for_run(spec, form)
    inputs = RunInputs(run_id="scheduled__2026-11-20T05:00:00+00:00", run_date=RUN_DATE, trigger="scheduled",
                       register_if_missing=True)  # fmt: skip
    plan = plan_run(sagemaker, Storage(region="sa-east-1"), run_spec, inputs, overridden)
    return plan, sent


def pipeline_execution(module: ModuleType, spec: Any, parameters: dict[str, Any], dag_plan: dict[str, Any]) -> Any:
    """The Pipeline's steps for an execution started with these parameters, its generated names taken from the DAG."""
    package = read_archive_info(Storage(region="sa-east-1"), spec.model_data_url)
    definition = definition_of(module, plan_pipeline(spec, package))
    values = execution_values(definition, {"RunDate": RUN_DATE, **parameters})
    values["Steps.RegisterModel.ModelPackageArn"] = dag_plan["model_package"]["arn"]
    values["Steps.CreateModel.ModelName"] = dag_plan["names"]["model"]
    values["Steps.BatchTransform.TransformOutput.S3OutputPath"] = dag_plan["requests"]["create_transform_job"][
        "TransformOutput"]["S3OutputPath"]  # fmt: skip
    values["Steps.BatchTransform.TransformJobName"] = dag_plan["names"]["transform_job"]
    values["Execution.PipelineExecutionId"] = "exec-1"
    values["Execution.PipelineExecutionArn"] = "arn:aws:sagemaker:sa-east-1:123456789012:pipeline/p/execution/exec-1"
    compared = ("RegisterModel", "CreateModel", "BatchTransform", "ValidateOutput")
    return {name: evaluate(steps(definition)[name]["Arguments"], values) for name in compared}


def compare(executed: dict[str, Any], plan: dict[str, Any], registered: dict[str, Any]) -> list[str]:
    dag_model = {k: v for k, v in plan["requests"]["create_model"].items() if k != "ModelName"}
    dag_job = {k: v for k, v in plan["requests"]["create_transform_job"].items() if k != "TransformJobName"}
    return (
        differences(executed["RegisterModel"], registered, "RegisterModel")
        + differences(executed["CreateModel"], dag_model, "CreateModel")
        + differences(executed["BatchTransform"], dag_job, "BatchTransform")
    )


@pytest.mark.parametrize("extra", [{}, EVERYTHING], ids=["demo-spec", "every-option"])
def test_the_dag_and_the_pipeline_send_the_same_requests(
    aws: Path, tuned_model_dir: Path, pipeline_module: ModuleType, extra: dict[str, Any]
) -> None:
    spec = load_spec(BASE, extra)
    assert main(["package", str(tuned_model_dir), "--to", spec.model_data_url]) == 0
    plan, registered = dag_run(spec, {})
    assert registered, "the DAG registered the package"
    executed = pipeline_execution(pipeline_module, spec, {}, plan)

    assert compare(executed, plan, registered) == []
    # The settings came from the package's tuned profile on both sides, not from a default.
    assert plan["settings"]["MaxConcurrentTransforms"]["source"] == "tuned profile for ml.m5.xlarge"
    # The validation step checks the DAG's job with the DAG's formats and writes the report where the DAG does.
    validation = executed["ValidateOutput"]
    local = validation_step.request_from_arguments(validation["AppSpecification"]["ContainerArguments"])
    job = plan["requests"]["create_transform_job"]
    assert _formats(ValidationSpec.from_request(local)) == _formats(ValidationSpec.from_request(job))
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in validation["ProcessingInputs"]}
    assert inputs == {"data": job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"],
                      "scores": job["TransformOutput"]["S3OutputPath"], "model": spec.model_data_url}  # fmt: skip
    outputs = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in validation["ProcessingOutputConfig"]["Outputs"]}
    assert outputs["validation"] + validation_step.REPORT_FILE == report_uri(plan)
    # Its run record lands where the DAG's record task writes one, and says what the DAG's plan says.
    index = RunsIndex(Storage(), runs_uri(spec.bucket, spec.project_id))
    assert outputs["record"] == index.record_uri(plan).rsplit("/", 1)[0] + "/"
    assert outputs["run"] == run_folder(plan)
    recorded = validation_step.parse_arguments(validation["AppSpecification"]["ContainerArguments"])
    settings = {key: value["value"] for key, value in plan["settings"].items()}
    assert recorded["record_settings"] == ",".join(f"{k}={v}" for k, v in settings.items())
    assert (recorded["record_transform_job"], recorded["record_model_package"], recorded["record_run_date"]) == (
        plan["names"]["transform_job"], plan["model_package"]["arn"], plan["run_date"])  # fmt: skip


def test_a_form_input_and_its_pipeline_parameter_change_the_same_fields(
    aws: Path, tuned_model_dir: Path, pipeline_module: ModuleType
) -> None:
    spec = load_spec(BASE)
    assert main(["package", str(tuned_model_dir), "--to", spec.model_data_url]) == 0
    form = {"max_payload_mb": 3, "instance_type": "ml.c5.2xlarge", "threshold": 0.5}  # tuning measured 1 and 2 MB
    plan, registered = dag_run(spec, form)

    # Started with the defaults, the Pipeline disagrees with that manual run, field by field: the test can fail.
    found = compare(pipeline_execution(pipeline_module, spec, {}, plan), plan, registered)
    assert {line.split(":")[0] for line in found} == {
        "RegisterModel.InferenceSpecification.Containers[0].Environment.PREDICTION_THRESHOLD",
        "RegisterModel.InferenceSpecification.SupportedTransformInstanceTypes[0]",
        "BatchTransform.Environment.PREDICTION_THRESHOLD",
        "BatchTransform.MaxConcurrentTransforms",
        "BatchTransform.MaxPayloadInMB",
        "BatchTransform.TransformResources.InstanceType",
    }
    # Started with the matching parameters, it agrees (MaxConcurrentTransforms: the DAG's tuned value for c5.2xlarge).
    parameters = {"MaxPayloadInMB": 3, "TransformInstanceType": "ml.c5.2xlarge", "Threshold": "0.5",
                  "MaxConcurrentTransforms": plan["settings"]["MaxConcurrentTransforms"]["value"]}  # fmt: skip
    assert compare(pipeline_execution(pipeline_module, spec, parameters, plan), plan, registered) == []


def _formats(spec: ValidationSpec) -> tuple[Any, ...]:
    return (spec.content_type, spec.accept, spec.gzip_input, spec.input_filter, spec.join_input, spec.output_filter,
            spec.threshold)  # fmt: skip
