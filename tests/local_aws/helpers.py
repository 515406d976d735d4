"""Steps several local AWS tests share: the model registered the way users do it, a model and an endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from leafline.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "dags" / "leafline-spec.toml")
BUCKET = "leafline-demo"
ROLE = "arn:aws:iam::123456789012:role/leafline-scoring"


def register_model(model_dir: Path, *spec_overrides: str) -> str:
    """The demo bucket, the model packaged and registered with `leafline`; the version's ARN."""
    boto3.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "sa-east-1"})
    assert main(["package", str(model_dir), "--spec", SPEC]) == 0
    assert main(["register", "--spec", SPEC, *(item for o in spec_overrides for item in ("--set", o))]) == 0
    versions = boto3.client("sagemaker").list_model_packages(ModelPackageGroupName="leafline-demo")
    arn: str = versions["ModelPackageSummaryList"][0]["ModelPackageArn"]
    return arn


def create_model(sagemaker: Any, name: str, package_arn: str) -> None:
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, Containers=[{"ModelPackageName": package_arn}])


def create_endpoint(sagemaker: Any, name: str, model_name: str) -> None:
    """An endpoint config (one ml.m5.large variant, "main") and the endpoint, both named name."""
    variant = {"VariantName": "main", "ModelName": model_name, "InitialInstanceCount": 1,
               "InstanceType": "ml.m5.large"}  # fmt: skip
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
