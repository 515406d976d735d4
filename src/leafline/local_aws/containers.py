"""What container a SageMaker Model runs: its model.tar.gz and environment, read through the public API.

local AWS asks itself (a loopback boto3 client) rather than reading moto's internals, so what a job or
an endpoint runs is exactly what DescribeModel / DescribeModelPackage say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leafline.local_aws.protocol import AwsError, validation

APPROVED = "Approved"


@dataclass(frozen=True)
class ModelContainer:
    model_name: str
    model_data_url: str
    environment: dict[str, str] = field(default_factory=dict)


def _containers(request_or_model: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    containers = list(request_or_model.get("Containers") or [])
    primary = request_or_model.get("PrimaryContainer")
    return containers or ([primary] if primary else [])


def resolve_model(sagemaker: Any, model_name: str) -> ModelContainer:
    """The first container of the model; a model made from a package takes the package's data and environment
    (the model's own Environment wins, as in SageMaker)."""
    try:
        model = sagemaker.describe_model(ModelName=model_name)
    except sagemaker.exceptions.ClientError:
        raise validation(f'Could not find model "{model_name}".') from None
    containers = _containers(model)
    if not containers:
        raise validation(f"model {model_name} has no container")
    container = containers[0]
    environment: dict[str, str] = {}
    url = container.get("ModelDataUrl")
    package_name = container.get("ModelPackageName")
    if package_name:
        package = sagemaker.describe_model_package(ModelPackageName=package_name)
        package_container = package["InferenceSpecification"]["Containers"][0]
        environment.update(package_container.get("Environment") or {})
        url = url or package_container.get("ModelDataUrl")
    environment.update(container.get("Environment") or {})
    if not url:
        raise validation(f"model {model_name} names no ModelDataUrl (nor a model package with one)")
    return ModelContainer(model_name, url, environment)


def check_packages_approved(sagemaker: Any, create_model_request: Mapping[str, Any]) -> None:
    """CreateModel from a versioned model package is refused unless the version is Approved."""
    for container in _containers(create_model_request):
        arn = container.get("ModelPackageName")
        if not arn:
            continue
        try:
            package = sagemaker.describe_model_package(ModelPackageName=arn)
        except sagemaker.exceptions.ClientError:
            raise validation(f"Model package {arn} does not exist.") from None
        status = package.get("ModelApprovalStatus")
        if status != APPROVED:
            raise AwsError(
                "ValidationException",
                f"Model package {arn} is not approved (ModelApprovalStatus {status}): only an Approved "
                "model package version can be used to create a model.",
            )
