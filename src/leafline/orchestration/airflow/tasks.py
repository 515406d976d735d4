"""The nightly DAG's task bodies: Airflow context and connections in, leafline's core out.

Imported only when a task runs (never when the DAG file is parsed), so the provider's hooks, boto3
and the validator's numpy stay out of the DAG processor.
"""

from __future__ import annotations

import logging
from typing import Any

from leafline.orchestration.settings import DagSettings
from leafline.orchestration.steps import (
    RUN_OVERRIDES,
    TRANSFORM_OVERRIDES,
    RunFailedError,
    RunInputs,
    ensure_model,
    plan_run,
    record_run,
    spec_for_run,
    transform_finished,
    validate_run,
)
from leafline.orchestration.steps import (
    submit_transform as submit,
)
from leafline.sagemaker.storage import Storage
from leafline.spec.jobspec import JobSpec

_log = logging.getLogger(__name__)


def _sagemaker(settings: DagSettings) -> Any:
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    return SageMakerHook(aws_conn_id=settings.aws_conn_id)  # type: ignore[no-untyped-call]


def _storage(settings: DagSettings, region: str) -> Storage:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return Storage(region=region, client=S3Hook(aws_conn_id=settings.aws_conn_id).get_conn())


def run_inputs(context: Any, timezone: str) -> RunInputs:
    params = context["params"]
    dag_run = context["dag_run"]
    when = context.get("logical_date") or dag_run.run_after  # manual runs may have no logical date
    run_date = params.get("run_date") or when.in_timezone(timezone).date().isoformat()
    run_type = str(getattr(dag_run, "run_type", "manual")).lower()
    return RunInputs(
        run_id=context["run_id"],
        run_date=str(run_date),
        trigger="scheduled" if "scheduled" in run_type else "manual",
        model_version=params.get("model_version"),
        register_if_missing=bool(params.get("register_if_missing")),
    )


def plan(context: Any, settings: DagSettings, base: JobSpec) -> dict[str, Any]:
    params = context["params"]
    spec, overridden = spec_for_run(base, {key: params.get(key) for key in RUN_OVERRIDES + TRANSFORM_OVERRIDES})
    return plan_run(
        _sagemaker(settings).conn,
        _storage(settings, spec.region),
        spec,
        run_inputs(context, spec.timezone),
        overridden,
    )


def create_model(settings: DagSettings, run_plan: dict[str, Any]) -> dict[str, Any]:
    return ensure_model(_sagemaker(settings).conn, run_plan["requests"]["create_model"])


def submit_transform(settings: DagSettings, run_plan: dict[str, Any]) -> dict[str, Any]:
    hook = _sagemaker(settings)
    # The hook checks that the input prefix exists before submitting: a clear error, not a failed job.
    return submit(
        hook.conn,
        run_plan["requests"]["create_transform_job"],
        create=lambda config: hook.create_transform_job(config, wait_for_completion=False),
    )


def transform_done(settings: DagSettings, job_name: str) -> bool:
    """The wait task's look: DescribeTransformJob through the provider's hook (boto3 loads here, at run time)."""
    job = _sagemaker(settings).describe_transform_job(job_name)
    _log.info("transform job %s: %s", job_name, job["TransformJobStatus"])
    return transform_finished(job)


def validate(context: Any, settings: DagSettings, run_plan: dict[str, Any], scores: Any) -> dict[str, Any]:
    result = validate_run(_storage(settings, run_plan["spec"]["region"]), run_plan)
    output = run_plan["requests"]["create_transform_job"]["TransformOutput"]["S3OutputPath"]
    context["outlet_events"][scores].extra = {
        "output_uri": output,
        "run_date": run_plan["run_date"],
        "model_version": run_plan["model_package"]["version"],
        "report_uri": result["report_uri"],
    }
    return result


def record(context: Any, settings: DagSettings, run_plan: dict[str, Any]) -> dict[str, Any]:
    """Runs whatever happened upstream (trigger rule all_done): a failed run is recorded, then fails here too."""
    sagemaker = _sagemaker(settings).conn
    try:
        job = sagemaker.describe_transform_job(TransformJobName=run_plan["names"]["transform_job"])
    except sagemaker.exceptions.ClientError:
        job = {"TransformJobStatus": "NotSubmitted", "FailureReason": "the transform job was never submitted"}
    links = {"airflow_run": f"/dags/{context['dag'].dag_id}/runs/{context['run_id']}"}
    document = record_run(_storage(settings, run_plan["spec"]["region"]), run_plan, job, links)
    if document["status"] != "succeeded":
        raise RunFailedError(f"the run failed ({document['failure']}); recorded at {document['outputs']['record_uri']}")
    return {"status": document["status"], "record_uri": document["outputs"]["record_uri"]}
