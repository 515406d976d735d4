"""The SageMaker Pipeline of a scoring job, as data: its run parameters and each step's request.

The requests come from the same builders the DAG sends (`leafline.spec.aws_requests`), rendered once with
each run input left as a reference: "{Parameters.Name}" inside a string, "{Steps.Step.Property}" for
another step's output; leafline.orchestration.sagemaker_pipeline.builder turns the references into the SDK's
pipeline variables. A parameter's default is the value the builder rendered, so nothing is declared
as a parameter and then hard-coded. No SDK here: `leafline pipeline start` reads it without the SDK.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leafline.model.packaging import PackageInfo
from leafline.runs.index import runs_uri
from leafline.spec import aws_requests
from leafline.spec.jobspec import RUN_DATE_PARAMETER, JobSpec, safe_name
from leafline.validation import step as validation_step

REGISTER, CREATE_MODEL, TRANSFORM, VALIDATE, CHECK, FAIL = (
    "RegisterModel", "CreateModel", "BatchTransform", "ValidateOutput", "CheckValidation", "ValidationFailed",
)  # fmt: skip
REPORT_PROPERTY_FILE = "ValidationReport"
_REFERENCE = re.compile(r"\{((?:Parameters|Steps|Execution)\.[A-Za-z0-9_.]+)\}")


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # "String" | "Integer"
    default: str | int | None  # None: every execution must give it
    meaning: str

    @property
    def reference(self) -> str:
        return "{Parameters." + self.name + "}"


@dataclass(frozen=True)
class PipelinePlan:
    name: str
    spec: JobSpec
    parameters: tuple[Parameter, ...]
    setting_sources: dict[str, str]  # where MaxConcurrentTransforms / MaxPayloadInMB defaults came from
    register_model: dict[str, Any]  # CreateModelPackage
    create_model: dict[str, Any]  # CreateModel; the Pipeline names the model per execution
    transform: dict[str, Any]  # CreateTransformJob; the Pipeline names the job per execution
    validation: dict[str, Any]  # the processing job around the validator

    def parameter(self, name: str) -> Parameter:
        return next(p for p in self.parameters if p.name == name)


def pipeline_name(spec: JobSpec) -> str:
    return safe_name("leafline", spec.project_id, spec.experiment_id)


def plan_pipeline(spec: JobSpec, package: PackageInfo | None = None) -> PipelinePlan:
    """The pipeline for the spec's experiment; the package (when known) gives the artifact's hash, its
    metadata and the tuned profile the transform settings default to."""
    from leafline.model.registry import version_metadata
    from leafline.orchestration.steps import transform_settings
    from leafline.tuning.profile import compact_profile

    profile = compact_profile(package.tuning_profile) if package and package.tuning_profile else None
    settings, sources = transform_settings(spec, profile, set())
    metadata = version_metadata(package, profile) if package else {aws_requests.ARTIFACT_HASH_KEY: ""}
    parameters: dict[str, Parameter] = {"RunDate": Parameter("RunDate", "String", None, "the input date, YYYY-MM-DD")}

    def bind(request: dict[str, Any], path: Sequence[str | int], name: str, kind: str, meaning: str) -> None:
        default = _set(request, path, "{Parameters." + name + "}")
        declared = parameters.setdefault(name, Parameter(name, kind, default, meaning))
        if declared.default != default:
            raise ValueError(f"parameter {name}: {path} renders {default!r}, elsewhere {declared.default!r}")

    register = aws_requests.create_model_package(spec, spec.model_data_url, metadata)
    container = ("InferenceSpecification", "Containers", 0)
    bind(register, ("CustomerMetadataProperties", aws_requests.ARTIFACT_HASH_KEY), "ArtifactSha256", "String",
         "sha256 of model.tar.gz (from its leafline-package.json)")  # fmt: skip
    bind(register, ("ModelApprovalStatus",), "ModelApprovalStatus", "String",
         "Approved scores at once; PendingManualApproval stops at CreateModel until a person approves")  # fmt: skip
    bind(register, (*container, "Environment", "PREDICTION_THRESHOLD"), "Threshold", "String",
         "outputs labels at this threshold; empty for probabilities")  # fmt: skip
    bind(register, ("InferenceSpecification", "SupportedTransformInstanceTypes", 0), "TransformInstanceType",
         "String", "the transform's instance type")  # fmt: skip

    if package is None:  # no artifact to read the hash from: each execution gives it
        parameters["ArtifactSha256"] = Parameter("ArtifactSha256", "String", None, parameters["ArtifactSha256"].meaning)

    create = aws_requests.create_model(spec, "", "{Steps." + REGISTER + ".ModelPackageArn}")
    del create["ModelName"]

    transform = aws_requests.create_transform_job(
        spec, "", "{Steps." + CREATE_MODEL + ".ModelName}", RUN_DATE_PARAMETER, settings
    )
    del transform["TransformJobName"]
    bind(transform, ("TransformResources", "InstanceType"), "TransformInstanceType", "String", "")
    bind(transform, ("MaxConcurrentTransforms",), "MaxConcurrentTransforms", "Integer",
         f"payloads in flight per instance (default from {sources['max_concurrent_transforms']})")  # fmt: skip
    bind(transform, ("MaxPayloadInMB",), "MaxPayloadInMB", "Integer",
         f"payload size in MB (default from {sources['max_payload_mb']})")  # fmt: skip
    bind(transform, ("Environment", "PREDICTION_THRESHOLD"), "Threshold", "String", "")

    output = transform["TransformOutput"]["S3OutputPath"]
    folder = output.rstrip("/").rsplit("/", 1)[0] + "/"  # scoring/{RunDate}/, as the DAG lays it out
    runs = runs_uri(spec.bucket, spec.project_id)
    validation = {
        "ImageUri": spec.image_uri,
        "InstanceType": spec.validation_instance_type,
        "Arguments": validation_step.step_arguments(transform) + _record_arguments(spec, transform, folder, runs),
        "Inputs": {
            "data": transform["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"],
            "scores": "{Steps." + TRANSFORM + ".TransformOutput.S3OutputPath}",
            "model": spec.model_data_url,
        },
        "ReportUri": folder + "validation/",  # where the DAG writes its report
        "RecordUri": runs + RUN_DATE_PARAMETER + "/",  # the runs index, as the DAG's record task writes it
        "RunUri": folder,  # run.json beside the outputs
    }
    return PipelinePlan(
        name=pipeline_name(spec),
        spec=spec,
        parameters=tuple(parameters.values()),
        setting_sources=sources,
        register_model=register,
        create_model=create,
        transform=transform,
        validation=validation,
    )


def _record_arguments(spec: JobSpec, transform: dict[str, Any], folder: str, runs: str) -> list[str]:
    """What the validation step's run record needs; integers travel inside strings (arguments are strings)."""
    values = {
        "--record-run-id": "{Execution.PipelineExecutionId}",
        "--record-run-date": RUN_DATE_PARAMETER,
        "--record-project": spec.project_id,
        "--record-experiment": spec.experiment_id,
        "--record-model-package": "{Steps." + REGISTER + ".ModelPackageArn}",
        "--record-approval": "{Parameters.ModelApprovalStatus}",
        "--record-transform-job": "{Steps." + TRANSFORM + ".TransformJobName}",
        "--record-instance-type": transform["TransformResources"]["InstanceType"],
        "--record-instance-count": str(transform["TransformResources"]["InstanceCount"]),
        "--record-settings": "MaxConcurrentTransforms=" + str(transform["MaxConcurrentTransforms"])
        + ",MaxPayloadInMB=" + str(transform["MaxPayloadInMB"]),
        "--record-output": transform["TransformOutput"]["S3OutputPath"],
        "--record-report": folder + "validation/" + validation_step.REPORT_FILE,
        "--record-runs-index": runs,
        "--record-link": "{Execution.PipelineExecutionArn}",
    }  # fmt: skip
    assert set(values) == set(validation_step.RECORD_FLAGS)
    return [item for pair in values.items() for item in pair]


def split_references(text: str) -> list[tuple[str, str | None]]:
    """A string cut into (literal, None) and (text, "Parameters.X") parts, in order: what a Join needs."""
    parts: list[tuple[str, str | None]] = []
    position = 0
    for match in _REFERENCE.finditer(text):
        parts += [(text[position : match.start()], None), (match.group(0), match.group(1))]
        position = match.end()
    parts.append((text[position:], None))
    return [part for part in parts if part[0]]


def _set(request: dict[str, Any], path: Sequence[str | int], value: Any) -> Any:
    """Replace the value at path; return what was there (it becomes the parameter's default)."""
    *parents, last = path
    node: Any = request
    for key in parents:
        node = node[key]
    previous = node[last]
    node[last] = value
    return previous
