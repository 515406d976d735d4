"""One scoring run as steps any orchestrator calls: plan, create the model, submit, validate, record.

The Airflow DAG's tasks (and the Pipeline's validation step) are thin wrappers over these. Every step
takes its AWS clients from the caller, so the orchestrator's connection decides where they point.
Steps are safe to retry: the model and the job are named from the run id, an existing model is reused
and an existing job is reattached, never submitted twice.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from leafline.errors import LeaflineError
from leafline.model.registry import ModelVersion, register_version, resolve_approved, version_metadata
from leafline.sagemaker.storage import Storage, join_uri
from leafline.spec import aws_requests
from leafline.spec.jobspec import JobSpec, SpecError, TransformSettings, run_names, validate_spec

PLAN_SCHEMA = "leafline.plan/1"
# Trigger-form fields that override the spec; None (or "") leaves the spec's value.
RUN_OVERRIDES = ("project_id", "experiment_id", "input_prefix", "instance_type", "instance_count", "threshold")
TRANSFORM_OVERRIDES = ("max_concurrent_transforms", "max_payload_mb")


class ValidationFailedError(LeaflineError):
    """The scores did not pass validation; the report was written and names each failing check."""


class RunFailedError(LeaflineError):
    """The run failed (job or validation); its record was written all the same."""


class TransformJobFailedError(LeaflineError):
    """The transform job ended Failed or Stopped; the message carries SageMaker's FailureReason."""


TRANSFORM_RUNNING = ("InProgress", "Stopping")  # DescribeTransformJob's non-terminal states


@dataclass(frozen=True)
class RunInputs:
    run_id: str  # the orchestrator's run: names the model and the job
    run_date: str  # YYYY-MM-DD: which input prefix is scored
    trigger: str  # "scheduled" | "manual" | "pipeline"
    model_version: int | None = None  # None: the newest Approved version
    register_if_missing: bool = False  # register the experiment's package when the group has no Approved one


def spec_for_run(base: JobSpec, overrides: Mapping[str, Any]) -> tuple[JobSpec, set[str]]:
    """The base spec with the trigger form's values; returns which keys the form set."""
    given = {key: value for key, value in overrides.items() if value is not None and value != ""}
    unknown = sorted(set(given) - set(RUN_OVERRIDES) - set(TRANSFORM_OVERRIDES))
    if unknown:
        raise SpecError(f"unknown run override(s): {', '.join(unknown)}")
    top = {key: given[key] for key in RUN_OVERRIDES if key in given}
    transform = {key: given[key] for key in TRANSFORM_OVERRIDES if key in given}
    spec = replace(base, **top, transform=replace(base.transform, **transform))
    validate_spec(spec)
    return spec, set(given)


def plan_run(
    sagemaker: Any, storage: Storage, spec: JobSpec, inputs: RunInputs, overridden: set[str]
) -> dict[str, Any]:
    """Resolve the model version, choose the settings, render every request: what the later steps need."""
    version = _resolve_or_register(sagemaker, storage, spec, inputs)
    names = run_names(spec, inputs.run_id)
    settings, sources = transform_settings(spec, version.tuning, overridden)
    return {
        "schema": PLAN_SCHEMA,
        "run_id": inputs.run_id,
        "run_date": inputs.run_date,
        "trigger": inputs.trigger,
        "spec": _spec_json(spec),
        "model_package": {
            "arn": version.arn,
            "version": version.version,
            "approval": version.approval,
            "artifact_sha256": version.artifact_sha256,
            "model_data_url": version.model_data_url,
        },
        "names": names,
        "settings": {
            "MaxConcurrentTransforms": {
                "value": settings.max_concurrent_transforms,
                "source": sources["max_concurrent_transforms"],
            },
            "MaxPayloadInMB": {"value": settings.max_payload_mb, "source": sources["max_payload_mb"]},
        },
        "requests": {
            "create_model": aws_requests.create_model(spec, names["model"], version.arn),
            "create_transform_job": aws_requests.create_transform_job(
                spec, names["transform_job"], names["model"], inputs.run_date, settings
            ),
        },
    }


def transform_settings(
    spec: JobSpec, tuning: Mapping[str, Any] | None, overridden: set[str]
) -> tuple[TransformSettings, dict[str, str]]:
    """The trigger form's values, else the spec's, else the version's tuned profile, else the container's rule.

    Always explicit numbers, so the record says what ran and the DAG and the Pipeline send the same request;
    the container's rule is what its /execution-parameters would answer on that instance type."""
    from leafline.tuning.choose import choose_settings
    from leafline.tuning.profile import Summary

    tuned = choose_settings(Summary.from_compact(tuning), spec.instance_type) if tuning else None
    container = container_settings(spec.instance_type)
    values: dict[str, int] = {}
    sources: dict[str, str] = {}
    for key, tuned_value in (
        ("max_concurrent_transforms", tuned and tuned.max_concurrent_transforms),
        ("max_payload_mb", tuned and tuned.max_payload_mb),
    ):
        value = getattr(spec.transform, key)
        if key in overridden:
            values[key], sources[key] = value, "trigger form"
        elif value is not None:
            values[key], sources[key] = value, "job spec"
        elif tuned_value:
            values[key], sources[key] = tuned_value, f"tuned profile for {spec.instance_type}"
        else:
            values[key], sources[key] = container[key], f"the container's rule for {spec.instance_type}"
    mct, mb = values["max_concurrent_transforms"], values["max_payload_mb"]
    if mct and mb and mct * mb > 100:  # a form value meeting a tuned one
        raise SpecError(
            f"MaxConcurrentTransforms x MaxPayloadInMB = {mct} x {mb} = {mct * mb} MB, over the 100 MB "
            f"limit ({sources['max_concurrent_transforms']} x {sources['max_payload_mb']})"
        )
    return replace(spec.transform, max_concurrent_transforms=mct, max_payload_mb=mb), sources


def container_settings(instance_type: str) -> dict[str, int]:
    """What leafline's container answers on /execution-parameters on this instance type (model size aside)."""
    from leafline.serving.resources import Resources, default_concurrency, default_payload_mb
    from leafline.spec.instance_types import INSTANCE_TYPES

    shape = INSTANCE_TYPES[instance_type]
    resources = Resources(cpus=shape.vcpus, memory_bytes=shape.memory_gib * 2**30)
    concurrency = default_concurrency(resources)
    return {"max_concurrent_transforms": concurrency, "max_payload_mb": default_payload_mb(resources, concurrency, 0)}


def ensure_model(sagemaker: Any, request: Mapping[str, Any]) -> dict[str, Any]:
    """CreateModel, unless this run's model exists (a retry): then it is reused."""
    name = request["ModelName"]
    try:
        sagemaker.describe_model(ModelName=name)
        return {"ModelName": name, "created": False}
    except sagemaker.exceptions.ClientError as exc:
        if "Could not find model" not in str(exc) and "does not exist" not in str(exc):
            raise
    sagemaker.create_model(**request)
    return {"ModelName": name, "created": True}


def submit_transform(
    sagemaker: Any, request: Mapping[str, Any], create: Callable[[dict[str, Any]], Any] | None = None
) -> dict[str, Any]:
    """CreateTransformJob without waiting, or reattach when this run's job exists (a retried submit)."""
    name = request["TransformJobName"]
    try:
        existing = sagemaker.describe_transform_job(TransformJobName=name)
        return {"TransformJobName": name, "reattached": True, "status": existing["TransformJobStatus"]}
    except sagemaker.exceptions.ClientError as exc:
        if "Could not find" not in str(exc) and "does not exist" not in str(exc):
            raise
    (create or (lambda config: sagemaker.create_transform_job(**config)))(dict(request))
    return {"TransformJobName": name, "reattached": False, "status": "InProgress"}


def transform_finished(job: Mapping[str, Any]) -> bool:
    """A look at the job (its DescribeTransformJob): False while it runs, True once it Completed; Failed or
    Stopped raise with SageMaker's FailureReason (a stopped job's outputs are partial: nothing to validate)."""
    status = job["TransformJobStatus"]
    if status in TRANSFORM_RUNNING:
        return False
    if status == "Completed":
        return True
    reason = job.get("FailureReason") or "SageMaker gave no FailureReason"
    raise TransformJobFailedError(f"transform job {job.get('TransformJobName')} ended {status}: {reason}")


def validate_run(storage: Storage, plan: Mapping[str, Any]) -> dict[str, Any]:
    """The validator on this run's output, re-scoring a sample with the version's own model.txt.

    The report goes under scoring/{run_date}/validation/report.json either way; a failure raises."""
    from leafline.transform.instances import fetch_model
    from leafline.validation.spec import ValidationSpec
    from leafline.validation.validate import validate_output

    request = plan["requests"]["create_transform_job"]
    previous_id, previous_report = _previous_run(storage, plan)
    with tempfile.TemporaryDirectory(prefix="leafline-validate-") as workdir:
        model_dir = fetch_model(plan["model_package"]["model_data_url"], storage, Path(workdir))
        spec = ValidationSpec.from_request(request, model_dir=model_dir, previous_report=previous_report)
        report = validate_output(spec, storage)
        if report.data.get("drift") is not None:
            report.data["drift"]["previous_run_id"] = previous_id
        local = Path(workdir) / "report.json"
        report.write(local)
        uri = report_uri(plan)
        storage.publish_bytes(local.read_bytes(), uri)
    failed = [check for check in report.data["checks"] if check["status"] == "failed"]
    if failed:
        reasons = "; ".join(f"{check['name']}: {check['reason']}" for check in failed)
        raise ValidationFailedError(f"the scores failed validation ({reasons}); report: {uri}")
    return {
        "passed": True,
        "report_uri": uri,
        "totals": report.data["totals"],
        "checks": [{"name": c["name"], "status": c["status"]} for c in report.data["checks"]],
    }


def run_folder(plan: Mapping[str, Any]) -> str:
    """scoring/{run_date}/: the folder holding the run's output/, validation/ and run.json."""
    output = str(plan["requests"]["create_transform_job"]["TransformOutput"]["S3OutputPath"])
    return output.rstrip("/").rsplit("/", 1)[0] + "/"


def report_uri(plan: Mapping[str, Any]) -> str:
    return join_uri(run_folder(plan), "validation/report.json")


def record_run(
    storage: Storage, plan: Mapping[str, Any], job: Mapping[str, Any], links: Mapping[str, str]
) -> dict[str, Any]:
    """The run's record (leafline.run/2, failed runs too) into the project's runs index and beside the outputs."""
    from leafline.runs.cost import job_cost
    from leafline.runs.index import RunsIndex, runs_uri
    from leafline.runs.measures import run_totals
    from leafline.runs.record import build_record

    spec, request = plan["spec"], plan["requests"]["create_transform_job"]
    output = request["TransformOutput"]["S3OutputPath"]
    report_location = report_uri(plan)
    report = json.loads(storage.read_bytes(report_location)) if storage.exists(report_location) else None
    run = {key: plan[key] for key in ("run_id", "run_date", "trigger", "model_package", "settings")}
    run.update({key: spec[key] for key in ("project_id", "experiment_id", "instance_type", "instance_count")})
    totals = run_totals(storage, request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"], output, report)
    index = RunsIndex(storage, runs_uri(spec["bucket"], spec["project_id"]))
    outputs = {"output_uri": output, "report_uri": report_location if report else None,
               "record_uri": index.record_uri(plan)}  # fmt: skip
    cost = job_cost(spec["instance_type"], spec["instance_count"], job, region=spec.get("region"))
    record = build_record(run=run, job=job, report=report, totals=totals, cost=cost, links=links, outputs=outputs)
    index.write(record, also=[join_uri(run_folder(plan), "run.json")])
    return record


def _previous_run(storage: Storage, plan: Mapping[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    from leafline.runs.index import previous_report, runs_uri

    spec = plan["spec"]
    return previous_report(storage, runs_uri(spec["bucket"], spec["project_id"]), plan["run_id"])


def _resolve_or_register(sagemaker: Any, storage: Storage, spec: JobSpec, inputs: RunInputs) -> ModelVersion:
    try:
        return resolve_approved(sagemaker, spec, inputs.model_version)
    except LeaflineError:
        if not inputs.register_if_missing or inputs.model_version is not None:
            raise
    from leafline.model.packaging import read_archive_info
    from leafline.tuning.profile import compact_profile

    package = read_archive_info(storage, spec.model_data_url)
    if package is None:
        raise LeaflineError(f"no Approved version to score, and no package at {spec.model_data_url} to register")
    profile = package.tuning_profile
    register_version(
        sagemaker, spec, spec.model_data_url, version_metadata(package, compact_profile(profile) if profile else None)
    )
    return resolve_approved(sagemaker, spec)


def _spec_json(spec: JobSpec) -> dict[str, Any]:
    data = asdict(spec)
    data["subnets"], data["security_group_ids"] = list(spec.subnets), list(spec.security_group_ids)
    return data
