"""moto's SageMaker with leafline's emulator behind CreateTransformJob: jobs really score, in S3.

moto records a transform job as Completed at once and writes nothing; here the job runs first, on the
real server, with the model registered behind the job's ModelName, and ends Completed or Failed with
the emulator's FailureReason. (Issue 5 turns this into `leafline local-aws`.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import boto3
import pytest


def install(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    from moto.sagemaker import models

    from leafline.transform.instances import fetch_model
    from leafline.transform.job import EmulatorOptions, ModelSource, run_transform_job
    from leafline.transform.storage import Storage

    original = models.SageMakerModelBackend.create_transform_job
    requests: list[dict[str, Any]] = []

    def create_transform_job(self: Any, **kwargs: Any) -> Any:
        job = original(self, **kwargs)
        names = {"transform_job_name": "TransformJobName", "model_name": "ModelName",
                 "max_concurrent_transforms": "MaxConcurrentTransforms", "model_client_config": "ModelClientConfig",
                 "max_payload_in_mb": "MaxPayloadInMB", "batch_strategy": "BatchStrategy",
                 "environment": "Environment", "transform_input": "TransformInput",
                 "transform_output": "TransformOutput", "transform_resources": "TransformResources",
                 "data_processing": "DataProcessing"}  # fmt: skip
        request = {api: kwargs[key] for key, api in names.items() if kwargs.get(key) is not None}
        requests.append(request)
        sagemaker = boto3.client("sagemaker", region_name="sa-east-1")
        container = sagemaker.describe_model(ModelName=request["ModelName"])["Containers"][0]
        package = sagemaker.describe_model_package(ModelPackageName=container["ModelPackageName"])
        model_data = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        with tempfile.TemporaryDirectory(prefix="emulated-sagemaker-") as workdir:
            model_dir = fetch_model(model_data, Storage(), Path(workdir))
            result = run_transform_job(request, ModelSource(model_dir, {}), EmulatorOptions(log_dir=Path(workdir)))
        job.transform_job_status = result.describe["TransformJobStatus"]
        job.failure_reason = result.describe.get("FailureReason", "")
        return job

    monkeypatch.setattr(models.SageMakerModelBackend, "create_transform_job", create_transform_job)
    return requests
