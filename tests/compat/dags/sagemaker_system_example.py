"""The transform part of the Airflow amazon provider's own SageMaker system test (its example_sagemaker DAG),
written anew for leafline's model: set up names and configs, create a bucket and upload a dataset, create
a model and register it as a model package version, start a transform job without waiting and sense it,
then tear everything down whatever happened, with a watcher failing the run if any task failed.

What differs from the provider's DAG: no training (the model is a leafline package already in S3, passed
as model_data_url with the image that serves it), and the environment id is a param instead of coming
from the system-test context."""

from __future__ import annotations

import random
from typing import Any, cast

from airflow.providers.amazon.aws.operators.s3 import (
    S3CreateBucketOperator,
    S3CreateObjectOperator,
    S3DeleteBucketOperator,
)
from airflow.providers.amazon.aws.operators.sagemaker import (
    SageMakerDeleteModelOperator,
    SageMakerModelOperator,
    SageMakerRegisterModelVersionOperator,
    SageMakerTransformOperator,
)
from airflow.providers.amazon.aws.sensors.sagemaker import SageMakerTransformSensor
from airflow.sdk import DAG, Param, TriggerRule, chain, task

ROWS = 300
FEATURES = 6  # what the demo model takes


def generate_data() -> str:
    """Headerless CSV rows for the model: a transform job's input, as the example's preprocessed test set."""
    rng = random.Random(7)
    return "".join(",".join(f"{rng.uniform(-3, 3):.4f}" for _ in range(FEATURES)) + "\n" for _ in range(ROWS))


@task
def set_up(env_id: str, role_arn: str, model_data_url: str, image_uri: str) -> dict[str, Any]:
    """Every name and request of the run, from the environment id, as the example's set_up pushes them."""
    bucket = f"{env_id}-sagemaker-example"
    names = {"model_name": f"{env_id}-model", "transform_job_name": f"{env_id}-transform",
             "model_package_group_name": f"{env_id}-group"}  # fmt: skip
    return {
        **names,
        "bucket_name": bucket,
        "input_key": f"{env_id}/processed-input-data/test.csv",
        "model_config": {
            "ModelName": names["model_name"],
            "ExecutionRoleArn": role_arn,
            "PrimaryContainer": {"Mode": "SingleModel", "Image": image_uri, "ModelDataUrl": model_data_url},
        },
        "transform_config": {
            "TransformJobName": names["transform_job_name"],
            "ModelName": names["model_name"],
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                "S3Uri": f"s3://{bucket}/{env_id}/processed-input-data/test.csv"}},
                "SplitType": "Line",
                "ContentType": "text/csv",
            },
            "TransformOutput": {"S3OutputPath": f"s3://{bucket}/{env_id}/transform"},
            "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
        },
    }  # fmt: skip


@task(trigger_rule=TriggerRule.ALL_DONE)
def delete_model_group(group_name: str, model_version_arn: str) -> None:
    """The registered version first (a group with versions cannot be deleted), then the group."""
    import boto3

    sagemaker = boto3.client("sagemaker")
    sagemaker.delete_model_package(ModelPackageName=model_version_arn)
    sagemaker.delete_model_package_group(ModelPackageGroupName=group_name)


@task(trigger_rule=TriggerRule.ONE_FAILED, retries=0)
def watcher() -> None:
    """Teardown tasks run ALL_DONE and succeed, so the run's state would hide a failed body without this."""
    raise RuntimeError("a task upstream of the watcher failed")


with DAG(
    "sagemaker_system_example",
    schedule=None,
    params={
        "env_id": Param("compat", type="string"),
        "role_arn": Param("arn:aws:iam::123456789012:role/leafline-scoring", type="string"),
        "model_data_url": Param(type="string", description="the leafline package (model.tar.gz) in S3"),
        "image_uri": Param(type="string", description="the inference image serving it"),
    },
) as dag:
    # TaskFlow hands a task's XComArg where its value is meant (indexed, passed on); its stubs cannot say so.
    setup: Any = set_up("{{ params.env_id }}", "{{ params.role_arn }}", "{{ params.model_data_url }}",
                        "{{ params.image_uri }}")  # fmt: skip
    create_bucket = S3CreateBucketOperator(task_id="create_bucket", bucket_name=setup["bucket_name"])
    upload_dataset = S3CreateObjectOperator(task_id="upload_dataset", s3_bucket=setup["bucket_name"],
                                            s3_key=setup["input_key"], data=generate_data(), replace=True)  # fmt: skip
    create_model = SageMakerModelOperator(task_id="create_model", config=setup["model_config"])
    register_model = SageMakerRegisterModelVersionOperator(
        task_id="register_model", image_uri="{{ params.image_uri }}", model_url="{{ params.model_data_url }}",
        package_group_name=setup["model_package_group_name"],
    )  # fmt: skip
    test_model = SageMakerTransformOperator(task_id="test_model", config=setup["transform_config"],
                                            wait_for_completion=False)  # fmt: skip
    await_transform = SageMakerTransformSensor(task_id="await_transform", job_name=setup["transform_job_name"],
                                               poke_interval=1)  # fmt: skip
    delete_model = SageMakerDeleteModelOperator(task_id="delete_model", config={"ModelName": setup["model_name"]},
                                                trigger_rule=TriggerRule.ALL_DONE)  # fmt: skip
    delete_bucket = S3DeleteBucketOperator(task_id="delete_bucket", bucket_name=setup["bucket_name"],
                                           force_delete=True, trigger_rule=TriggerRule.ALL_DONE)  # fmt: skip

    chain(
        setup,
        create_bucket,
        upload_dataset,
        create_model,
        register_model,
        test_model,
        await_transform,
        delete_model_group(setup["model_package_group_name"], cast(Any, register_model.output)),
        delete_model,
        delete_bucket,
    )
    list(dag.tasks) >> watcher()
