"""One local AWS per test module, the way a new user meets it: the demo model registered and approved, a
SageMaker model "scorer" made from it, and a small CSV input; clients nobody here wrote then drive it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from leafline import samples
from leafline.local_aws.server import LocalAws
from tests.dags.conftest import airflow_db  # noqa: F401  (sets Airflow's test settings before Airflow is imported)
from tests.local_aws.helpers import BUCKET, create_model, register_model

INPUT_PREFIX = "compat/input/"
# The discrepancies of issue 18 another branch fixes: such a test states AWS's behaviour and flips when merged.


@dataclass(frozen=True)
class Stack:
    aws: LocalAws
    package_arn: str
    model_name: str

    def client(self, service: str, **config: Any) -> Any:
        """A plain boto3 client from the environment (AWS_ENDPOINT_URL points at local AWS)."""
        make: Any = boto3.client  # any service by name: the stubs type each literal name only
        return make(service, config=Config(**config) if config else None)

    def wait_for_jobs(self) -> None:
        """Every transform job started so far has ended (a job left running would outlive the test)."""
        assert self.aws.app is not None
        self.aws.app.jobs.wait()


# Clients nobody here wrote (the provider's hooks, the SDKs, aiobotocore) leave sockets for the garbage
# collector to close, which makes a ResourceWarning in whichever later test the collection lands. Each
# compat module collects its own garbage at its end, and there only are those warnings ignored.
_THIRD_PARTY_SOCKETS = [
    "ignore:unclosed <socket:ResourceWarning",
    "ignore:Exception ignored in. <socket:pytest.PytestUnraisableExceptionWarning",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith("tests/compat/"):
            for rule in _THIRD_PARTY_SOCKETS:
                item.add_marker(pytest.mark.filterwarnings(rule))


@pytest.fixture(scope="module", autouse=True)
def _collect_their_sockets() -> Iterator[None]:
    yield
    gc.collect()


@pytest.fixture(scope="module")
def stack(binary_model_dir: Path) -> Iterator[Stack]:
    with pytest.MonkeyPatch.context() as patch, LocalAws() as aws:
        for key, value in aws.environment().items():
            patch.setenv(key, value)
        arn = register_model(binary_model_dir)
        create_model(boto3.client("sagemaker"), "scorer", arn)
        s3 = boto3.client("s3")
        for part in range(2):
            s3.put_object(Bucket=BUCKET, Key=f"{INPUT_PREFIX}part-{part}.csv", Body=samples.csv_batch(50, part, 6))
        yield Stack(aws, arn, "scorer")


@pytest.fixture(autouse=True)
def _environment(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test again, since tests/conftest.py clears the AWS_* variables before every test; Airflow's
    aws_default connection points at local AWS too."""
    for key, value in stack.aws.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", stack.aws.airflow_connection())


def transform_job(
    name: str, model_name: str = "scorer", input_prefix: str = INPUT_PREFIX, **extra: Any
) -> dict[str, Any]:
    """A small CreateTransformJob request over the module's input (two CSV files of 50 rows)."""
    return {
        "TransformJobName": name,
        "ModelName": model_name,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{input_prefix}"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/compat/output/{name}/", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    }
