"""The Airflow amazon provider against local AWS, in a real Airflow (dag.test, SQLite): its SageMaker
operators waiting in the worker (normal mode) and deferring to their trigger (deferrable mode: dag.test
runs the trigger in line, for real, on aiobotocore), and the transform part of the provider's own
SageMaker system-test DAG. The DAGs are in tests/compat/dags/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leafline import samples
from tests.compat.conftest import Stack
from tests.local_aws.helpers import BUCKET, create_endpoint

DAGS = Path(__file__).parent / "dags"
IMAGE = "123456789012.dkr.ecr.sa-east-1.amazonaws.com/leafline:latest"


@pytest.fixture(scope="module")
def dags(airflow_db: None) -> Iterator[Any]:
    """tests/compat/dags as Airflow's only DAG bundle (dag.test runs a DAG its bundle holds), parsed."""
    from airflow.dag_processing.dagbag import DagBag

    bundle = {"name": "compat", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
              "kwargs": {"path": str(DAGS), "refresh_interval": 0}}  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))
        bag = DagBag(dag_folder=str(DAGS))
        assert bag.import_errors == {}
        yield bag


def run(dags: Any, dag_id: str, **conf: Any) -> dict[str, str]:
    """One run of the DAG: each task's final state."""
    result = dags.get_dag(dag_id).test(run_conf=conf)
    return {ti.task_id: str(ti.state) for ti in result.get_task_instances()}


def _scores(stack: Stack, bucket: str, prefix: str) -> list[int]:
    """Scored lines per output object under prefix."""
    s3 = stack.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    return [len(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().split()) for o in listed]


def test_operators_in_normal_mode(stack: Stack, dags: Any) -> None:
    states = run(dags, "provider_normal", model_package=stack.package_arn)

    assert states == dict.fromkeys(["model", "transform", "endpoint_config"], "success")
    sagemaker = stack.client("sagemaker")
    assert sagemaker.describe_transform_job(TransformJobName="af-waited")["TransformJobStatus"] == "Completed"
    assert _scores(stack, BUCKET, "compat/output/af-waited/") == [50, 50]
    config = sagemaker.describe_endpoint_config(EndpointConfigName="af-endpoint")
    assert [v["ModelName"] for v in config["ProductionVariants"]] == ["af-model"]


def test_operators_in_deferrable_mode_run_their_trigger(
    stack: Stack, dags: Any, caplog: pytest.LogCaptureFixture
) -> None:
    states = run(dags, "provider_deferrable", model_package=stack.package_arn)

    assert states == {"transform": "success", "endpoint": "success"}
    inline = [r for r in caplog.records if r.getMessage() == "[DAG TEST] running trigger in line"]
    assert len(inline) == 2  # each task deferred, and its trigger's event resumed it
    sagemaker = stack.client("sagemaker")
    assert sagemaker.describe_transform_job(TransformJobName="af-deferred")["TransformJobStatus"] == "Completed"
    assert _scores(stack, BUCKET, "compat/output/af-deferred/") == [50, 50]
    answer = stack.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="af-deferred", ContentType="text/csv", Body=samples.csv_batch(2, 0, 6)
    )
    assert len(answer["Body"].read().split()) == 2
    sagemaker.delete_endpoint(EndpointName="af-deferred")


def test_the_endpoint_operator_redeploys_an_existing_endpoint(stack: Stack, dags: Any) -> None:
    sagemaker = stack.client("sagemaker")
    create_endpoint(sagemaker, "af-redeployed", stack.model_name)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName="af-redeployed", WaiterConfig={"Delay": 1})
    try:
        states = run(dags, "provider_redeploy")

        assert states == {"redeploy": "success"}
        described = sagemaker.describe_endpoint(EndpointName="af-redeployed")
        assert (described["EndpointConfigName"], described["EndpointStatus"]) == ("af-redeployed-2", "InService")
    finally:
        sagemaker.delete_endpoint(EndpointName="af-redeployed")


@pytest.fixture(scope="module")
def system_example(stack: Stack, dags: Any) -> dict[str, str]:
    """The system-test DAG run once; each task's state."""
    package = stack.client("sagemaker").describe_model_package(ModelPackageName=stack.package_arn)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in stack.aws.environment().items():
            patch.setenv(key, value)
        patch.setenv("AIRFLOW_CONN_AWS_DEFAULT", stack.aws.airflow_connection())
        return run(
            dags,
            "sagemaker_system_example",
            model_data_url=package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"],
            image_uri=IMAGE,
        )


BODY = ["set_up", "create_bucket", "upload_dataset", "create_model", "register_model", "test_model", "await_transform"]


def test_system_example_runs_a_real_transform_job_senses_it_and_tears_down(
    stack: Stack, system_example: dict[str, str]
) -> None:
    assert {task: system_example[task] for task in [*BODY, "delete_model", "delete_bucket"]} == dict.fromkeys(
        [*BODY, "delete_model", "delete_bucket"], "success"
    )
    sagemaker = stack.client("sagemaker")
    job = sagemaker.describe_transform_job(TransformJobName="compat-transform")
    assert job["TransformJobStatus"] == "Completed"
    assert job["TransformOutput"]["S3OutputPath"] == "s3://compat-sagemaker-example/compat/transform"
    assert "compat-model" not in {m["ModelName"] for m in sagemaker.list_models()["Models"]}
    assert "compat-sagemaker-example" not in {b["Name"] for b in stack.client("s3").list_buckets()["Buckets"]}


# The teardown calls DeleteModelPackage, then DeleteModelPackageGroup (local AWS answers both; moto has neither).
def test_system_example_teardown_deletes_the_model_package_version_and_the_run_succeeds(
    stack: Stack, system_example: dict[str, str]
) -> None:
    assert system_example["delete_model_group"] == "success"
    assert system_example["watcher"] == "skipped"
    groups = stack.client("sagemaker").list_model_package_groups(NameContains="compat-group")
    assert groups["ModelPackageGroupSummaryList"] == []
