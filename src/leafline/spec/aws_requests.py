"""The boto3 requests of a scoring run, rendered from the job spec: what the DAG and the Pipeline both send.

Pure functions, no AWS calls. Each returns the keyword arguments of one SageMaker API call, exactly as
boto3 takes them (tests check them against botocore's service model).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leafline.spec.jobspec import JobSpec, TransformSettings, split_type

SUPPORTED_CONTENT_TYPES = ["text/csv", "application/jsonlines", "application/json"]
# What the container reads besides: columnar bodies, one object per request (it never writes them).
SUPPORTED_INPUT_TYPES = [*SUPPORTED_CONTENT_TYPES, "application/x-parquet", "application/vnd.apache.arrow.stream"]
ARTIFACT_HASH_KEY = "leafline:artifact_sha256"  # marks a version, so the same artifact is never registered twice


def _tags(spec: JobSpec) -> list[dict[str, str]]:
    tags = {"leafline:project": spec.project_id, "leafline:experiment": spec.experiment_id, **spec.tags}
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def create_model_package_group(spec: JobSpec) -> dict[str, Any]:
    return {
        "ModelPackageGroupName": spec.model_package_group,
        "ModelPackageGroupDescription": f"leafline: LightGBM models of project {spec.project_id}",
        "Tags": _tags(spec),
    }


def create_model_package(spec: JobSpec, model_data_url: str, metadata: Mapping[str, str]) -> dict[str, Any]:
    """A version in the project's group; metadata carries the artifact's sha256 (idempotency) and its profile."""
    if ARTIFACT_HASH_KEY not in metadata:
        raise ValueError(f"metadata must carry {ARTIFACT_HASH_KEY}")
    return {
        "ModelPackageGroupName": spec.model_package_group,
        "ModelPackageDescription": f"experiment {spec.experiment_id}, artifact {metadata[ARTIFACT_HASH_KEY][:12]}",
        "InferenceSpecification": {
            "Containers": [
                {"Image": spec.image_uri, "ModelDataUrl": model_data_url, "Environment": _environment(spec)}
            ],
            "SupportedContentTypes": SUPPORTED_INPUT_TYPES,
            "SupportedResponseMIMETypes": SUPPORTED_CONTENT_TYPES,
            "SupportedTransformInstanceTypes": [spec.instance_type],
        },
        "ModelApprovalStatus": "Approved" if spec.auto_approve else "PendingManualApproval",
        "CustomerMetadataProperties": {**metadata, "leafline:experiment": spec.experiment_id},
    }


def create_model(spec: JobSpec, model_name: str, model_package_arn: str) -> dict[str, Any]:
    """A SageMaker Model from a registered version, so the registry's approval gate applies."""
    request: dict[str, Any] = {
        "ModelName": model_name,
        "ExecutionRoleArn": spec.role_arn,
        "Containers": [{"ModelPackageName": model_package_arn}],
        "EnableNetworkIsolation": spec.enable_network_isolation,
        "Tags": _tags(spec),
    }
    if spec.subnets:
        request["VpcConfig"] = {"Subnets": list(spec.subnets), "SecurityGroupIds": list(spec.security_group_ids)}
    return request


def create_transform_job(
    spec: JobSpec, job_name: str, model_name: str, run_date: str, settings: TransformSettings | None = None
) -> dict[str, Any]:
    """The transform job for one run date; `settings` (the tuned or overridden ones) defaults to the spec's."""
    settings = settings or spec.transform
    request: dict[str, Any] = {
        "TransformJobName": job_name,
        "ModelName": model_name,
        "BatchStrategy": settings.batch_strategy,
        "ModelClientConfig": {
            "InvocationsTimeoutInSeconds": settings.invocations_timeout_s,
            "InvocationsMaxRetries": settings.invocations_max_retries,
        },
        "Environment": _environment(spec),
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": spec.input_uri(run_date)}},
            "ContentType": settings.content_type,
            "SplitType": split_type(settings.content_type),
        },
        "TransformOutput": {
            "S3OutputPath": spec.output_uri(run_date),
            "Accept": settings.accept,
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": spec.instance_type, "InstanceCount": spec.instance_count},
        "Tags": _tags(spec),
    }
    if settings.max_concurrent_transforms is not None:
        request["MaxConcurrentTransforms"] = settings.max_concurrent_transforms
    if settings.max_payload_mb is not None:
        request["MaxPayloadInMB"] = settings.max_payload_mb
    if spec.output_kms_key_id:
        request["TransformOutput"]["KmsKeyId"] = spec.output_kms_key_id
    if spec.volume_kms_key_id:
        request["TransformResources"]["VolumeKmsKeyId"] = spec.volume_kms_key_id
    processing = {key: value for key, value in (("InputFilter", settings.input_filter),
                  ("JoinSource", settings.join_source), ("OutputFilter", settings.output_filter)) if value}  # fmt: skip
    if processing:
        request["DataProcessing"] = processing
    return request


def _environment(spec: JobSpec) -> dict[str, str]:
    """The container's environment. PREDICTION_THRESHOLD is always there, empty for probabilities, so the
    Pipeline can make it a run parameter and still send what the DAG sends."""
    threshold = "" if spec.threshold is None else repr(spec.threshold)
    return {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": spec.transform.accept, "PREDICTION_THRESHOLD": threshold}
