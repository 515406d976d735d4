"""The Airflow amazon provider's SageMaker operators as a user wires them, against whatever aws_default
points at (local AWS in tests/compat): one DAG waiting in the worker, one deferring to the triggers.
The sensor, after an operator that does not wait, is in sagemaker_system_example.py; SageMakerEndpointOperator
runs deferred only (waiting in the worker it is boto3's endpoint_in_service waiter, which
tests/compat/test_boto3_clients.py runs on a real endpoint).

Run with the model package to serve: dag.test(run_conf={"model_package": "<model package version ARN>"})."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.operators.sagemaker import (
    SageMakerEndpointConfigOperator,
    SageMakerEndpointOperator,
    SageMakerModelOperator,
    SageMakerTransformOperator,
)
from airflow.sdk import DAG, Param, chain

BUCKET = "leafline-demo"
ROLE = "arn:aws:iam::123456789012:role/leafline-scoring"
INPUT = f"s3://{BUCKET}/compat/input/"
CHECK_S = 1  # the provider polls every 30 s by default; a local job ends in seconds
PARAMS = {"model_package": Param(type="string", description="the model package version the model serves")}


def transform_config(name: str, model_name: str) -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": model_name,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": INPUT}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/compat/output/{name}/", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }


def model_config(name: str) -> dict[str, Any]:
    return {"ModelName": name, "ExecutionRoleArn": ROLE,
            "PrimaryContainer": {"ModelPackageName": "{{ params.model_package }}"}}  # fmt: skip


def endpoint_config(name: str, model_name: str) -> dict[str, Any]:
    variant = {"VariantName": "main", "ModelName": model_name, "InitialInstanceCount": 1,
               "InstanceType": "ml.m5.large"}  # fmt: skip
    return {"EndpointConfigName": name, "ProductionVariants": [variant]}


with DAG("provider_normal", schedule=None, params=PARAMS) as normal:
    chain(
        SageMakerModelOperator(task_id="model", config=model_config("af-model")),
        SageMakerTransformOperator(task_id="transform", config=transform_config("af-waited", "af-model"),
                                   check_interval=CHECK_S),
        SageMakerEndpointConfigOperator(task_id="endpoint_config", config=endpoint_config("af-endpoint", "af-model")),
    )  # fmt: skip

with DAG("provider_deferrable", schedule=None, params=PARAMS) as deferrable:
    chain(
        SageMakerTransformOperator(
            task_id="transform", deferrable=True, check_interval=CHECK_S,
            config={"Model": model_config("af-deferred"), "Transform": transform_config("af-deferred", "af-deferred")},
        ),
        SageMakerEndpointOperator(
            task_id="endpoint", deferrable=True, check_interval=CHECK_S,
            config={"EndpointConfig": endpoint_config("af-deferred", "af-deferred"),
                    "Endpoint": {"EndpointName": "af-deferred", "EndpointConfigName": "af-deferred"}},
        ),
    )  # fmt: skip

# Redeploying: CreateEndpoint on an existing endpoint is refused, and the operator updates it instead.
with DAG("provider_redeploy", schedule=None) as redeploy:
    SageMakerEndpointOperator(
        task_id="redeploy", check_interval=CHECK_S,
        config={"EndpointConfig": endpoint_config("af-redeployed-2", "scorer"),
                "Endpoint": {"EndpointName": "af-redeployed", "EndpointConfigName": "af-redeployed-2"}},
    )  # fmt: skip
