"""nightly_scoring: score the night's input with the newest Approved LightGBM model on SageMaker Batch Transform.

plan (resolve or register the version, choose the settings, render the requests) -> create_model ->
submit_transform -> wait_for_transform -> validate -> record. Submit and wait are separate tasks: a
retried wait never submits again, and a retried submit reattaches to this run's job (names come from
the run id). Every task calls leafline's core through the provider's hooks. The provider's
SageMakerModelOperator has no handling for an existing model and SageMakerTransformOperator either
fails or renames on an existing job, so those two steps use its hook instead; its SageMakerTransformSensor
would import boto3 and botocore whenever this file is parsed (about a second each time), so the wait is
leafline's own small sensor, which loads the hook only when it looks.

This file imports only Airflow's Task SDK and leafline's light modules (no boto3 or botocore, no SageMaker
SDK, no numpy): tests check the import graph.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, BaseSensorOperator, Param, chain, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable

from leafline.dag_settings import DagSettings
from leafline.instance_types import INSTANCE_TYPES
from leafline.jobspec import load_spec

SETTINGS = DagSettings.from_env()
SPEC = load_spec(SETTINGS.spec_path, defaults=SETTINGS.spec_defaults)
# An x- scheme: Airflow normalizes an s3:// asset URI with the amazon provider's handler, and finding it
# imports every provider's asset handlers, boto3 among them (seconds on each parse); x- URIs it leaves as
# they are. Consumers find the asset by its name.
SCORES = Asset(name=f"leafline-scores-{SPEC.project_id}", uri=f"x-leafline://{SPEC.bucket}/{SPEC.project_id}/scores")


class TransformJobSensor(BaseSensorOperator):
    """Looks at the transform job until it ends: done when it Completed; Failed or Stopped fail the task with
    SageMaker's FailureReason. It only looks, so a retried wait never submits a second job."""

    template_fields = ("job_name",)

    def __init__(self, *, job_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name

    def poke(self, context: Any) -> bool:
        from leafline import dag_tasks

        return dag_tasks.transform_done(SETTINGS, self.job_name)


def _optional(kind: str, description: str, **bounds: Any) -> Param:
    return Param(None, type=["null", kind], description=description, **bounds)


with DAG(
    dag_id="nightly_scoring",
    description="Nightly LightGBM batch scoring on SageMaker (leafline)",
    # Runs at the spec's cron time in the spec's timezone; the run's date is that night's date.
    schedule=CronTriggerTimetable(SPEC.schedule, timezone=SPEC.timezone),
    start_date=pendulum.datetime(2026, 1, 1, tz=SPEC.timezone),
    catchup=SETTINGS.catchup,
    max_active_runs=1,
    dagrun_timeout=pendulum.duration(seconds=SPEC.run_timeout_s),
    tags=["leafline", "sagemaker", "scoring", *SPEC.dag_tags],
    default_args={
        "owner": SPEC.owner,
        "retries": SPEC.retries,
        "retry_delay": pendulum.duration(seconds=SPEC.retry_delay_s),
    },
    params={
        "project_id": Param(
            SPEC.project_id,
            type="string",
            pattern="^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
            description="project: names the model package group",
        ),
        "experiment_id": Param(
            SPEC.experiment_id,
            type="string",
            minLength=1,
            maxLength=63,
            description="experiment registered when no version is Approved",
        ),
        "model_version": _optional("integer", "model package version to score (empty: the newest Approved)", minimum=1),
        "input_prefix": _optional(
            "string", "input prefix (s3://...; {run_date} allowed; empty: the layout's)", pattern="^s3://"
        ),
        "run_date": _optional("string", "the data's date, YYYY-MM-DD (empty: the run's logical date)", format="date"),
        "instance_type": Param(SPEC.instance_type, type="string", enum=sorted(INSTANCE_TYPES)),
        "instance_count": Param(SPEC.instance_count, type="integer", minimum=1, maximum=100),
        "max_concurrent_transforms": _optional("integer", "override the tuned value", minimum=1, maximum=100),
        "max_payload_mb": _optional("integer", "override the tuned value (MB)", minimum=1, maximum=100),
        "threshold": _optional("number", "label scores at this probability (binary models)", minimum=0, maximum=1),
        "register_if_missing": Param(
            SPEC.auto_approve,
            type="boolean",
            description="register the experiment's package if none is Approved",
        ),
    },
) as dag:

    @task
    def plan() -> dict[str, Any]:
        from leafline import dag_tasks

        return dag_tasks.plan(get_current_context(), SETTINGS, SPEC)

    @task
    def create_model(run_plan: dict[str, Any]) -> dict[str, Any]:
        from leafline import dag_tasks

        return dag_tasks.create_model(SETTINGS, run_plan)

    @task
    def submit_transform(run_plan: dict[str, Any]) -> dict[str, Any]:
        from leafline import dag_tasks

        return dag_tasks.submit_transform(SETTINGS, run_plan)

    wait_for_transform = TransformJobSensor(
        task_id="wait_for_transform",
        job_name="{{ ti.xcom_pull(task_ids='submit_transform')['TransformJobName'] }}",
        mode="reschedule",
        poke_interval=SETTINGS.poke_interval_s,
        timeout=SPEC.transform_timeout_s,
    )

    @task(outlets=[SCORES])
    def validate(run_plan: dict[str, Any]) -> dict[str, Any]:
        from leafline import dag_tasks

        return dag_tasks.validate(get_current_context(), SETTINGS, run_plan, SCORES)

    @task(trigger_rule="all_done")  # failed runs are recorded too (the task then fails, so the run does)
    def record(run_plan: dict[str, Any]) -> dict[str, Any]:
        from leafline import dag_tasks

        return dag_tasks.record(get_current_context(), SETTINGS, run_plan)

    run_plan = plan()
    submitted = submit_transform(run_plan)
    checked = validate(run_plan)
    chain(run_plan, create_model(run_plan), submitted, wait_for_transform, checked, record(run_plan))
