"""The nightly scoring DAGs: score the night's input with the newest Approved LightGBM model on SageMaker
Batch Transform, one DAG per project spec. The DAG file (leafline.orchestration.airflow.dag_file) calls nightly_dags().

plan (resolve or register the version, choose the settings, render the requests) -> create_model ->
submit_transform -> wait_for_transform -> validate -> record. Submit and wait are separate tasks: a
retried wait never submits again, and a retried submit reattaches to this run's job (names come from
the run id). Every task calls leafline's core through the provider's hooks. The provider's
SageMakerModelOperator has no handling for an existing model and SageMakerTransformOperator either
fails or renames on an existing job, so those two steps use its hook instead; the wait is leafline's own
small sensor (leafline.orchestration.airflow.transform_sensor), which loads the hook only when it looks.

One DAG per project: LEAFLINE_SPEC gives one DAG, `nightly_scoring`; LEAFLINE_SPECS_DIR, a folder of specs,
gives one `nightly_scoring__{project_id}` per spec, each with its spec's schedule, timezone, owner, tags,
retries, timeouts and alerts. A spec that does not validate (or repeats a project id) is reported as the
DAG file's import error, naming the file and the key, while the other projects' DAGs still load.

This module imports only Airflow's Task SDK and leafline's light modules (no boto3 or botocore, no SageMaker
SDK, no numpy): tests check the import graph of the DAG file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, chain, get_current_context, task
from airflow.sdk.definitions.callback import SyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference
from airflow.timetables.trigger import CronTriggerTimetable

from leafline.orchestration.airflow.alerts import SnsAlerts, deadline_missed
from leafline.orchestration.airflow.transform_sensor import TransformJobSensor
from leafline.orchestration.settings import DagSettings
from leafline.orchestration.spec_folder import Project, load_projects
from leafline.spec.instance_types import INSTANCE_TYPES
from leafline.spec.jobspec import JobSpec, SpecError
from leafline.spec.schedule_checks import deadline_after_s

INVALID_SPECS_DAG_ID = "nightly_scoring__invalid_specs"


class InvalidSpecs(DAG):
    """Stands for the specs that did not load: Airflow validates every DAG a file defines and records a
    failure as that file's import error, while it still loads the file's other DAGs."""

    def validate(self) -> None:
        raise SpecError(self.description or "invalid specs")


def _optional(kind: str, description: str, **bounds: Any) -> Param:
    return Param(None, type=["null", kind], description=description, **bounds)


def _alerting(spec: JobSpec, settings: DagSettings) -> dict[str, Any]:
    """The DAG's alert callbacks and deadline, when the spec names a topic."""
    if spec.alert_topic_arn is None:
        return {}
    alerts = SnsAlerts(spec.alert_topic_arn, settings.aws_conn_id, spec.region, spec.project_id)
    found: dict[str, Any] = {"task_callback": alerts.task_failed, "on_failure_callback": alerts.run_failed}
    if spec.deadline is not None:
        after = deadline_after_s(spec.schedule, spec.deadline)
        assert after is not None  # the spec's validation refuses a deadline without a time of day
        kwargs = {"topic_arn": spec.alert_topic_arn, "aws_conn_id": settings.aws_conn_id, "region": spec.region,
                  "project_id": spec.project_id, "deadline": spec.deadline, "timezone": spec.timezone}  # fmt: skip
        found["deadline"] = DeadlineAlert(
            # A scheduled run's logical date is its cron time: the deadline is that much later.
            reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
            interval=timedelta(seconds=after),  # a plain timedelta: the serializer refuses pendulum types
            callback=SyncCallback(deadline_missed, kwargs=kwargs),
        )
    return found


def nightly_dag(project: Project, settings: DagSettings) -> DAG:
    spec = project.spec
    # An x- scheme: Airflow normalizes an s3:// asset URI with the amazon provider's handler, and finding it
    # imports every provider's asset handlers, boto3 among them (seconds on each parse); x- URIs it leaves as
    # they are. Consumers find the asset by its name.
    scores = Asset(
        name=f"leafline-scores-{spec.project_id}", uri=f"x-leafline://{spec.bucket}/{spec.project_id}/scores"
    )
    alerting = _alerting(spec, settings)
    default_args: dict[str, Any] = {
        "owner": spec.owner,
        "retries": spec.retries,
        "retry_delay": pendulum.duration(seconds=spec.retry_delay_s),
    }
    if "task_callback" in alerting:
        default_args["on_failure_callback"] = alerting["task_callback"]
    extra: dict[str, Any] = {k: alerting[k] for k in ("on_failure_callback", "deadline") if k in alerting}
    with DAG(
        dag_id=project.dag_id,
        description=f"Nightly LightGBM batch scoring on SageMaker (leafline): {spec.project_id}, spec {project.path}",
        # Runs at the spec's cron time in the spec's timezone; the run's date is that night's date.
        schedule=CronTriggerTimetable(spec.schedule, timezone=spec.timezone),
        start_date=pendulum.datetime(2026, 1, 1, tz=spec.timezone),
        catchup=settings.catchup,
        max_active_runs=1,
        dagrun_timeout=pendulum.duration(seconds=spec.run_timeout_s),
        tags=["leafline", "sagemaker", "scoring", *spec.dag_tags],
        default_args=default_args,
        params={
            "project_id": Param(
                spec.project_id,
                type="string",
                pattern="^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
                description="project: names the model package group",
            ),
            "experiment_id": Param(
                spec.experiment_id,
                type="string",
                minLength=1,
                maxLength=63,
                description="experiment registered when no version is Approved",
            ),
            "model_version": _optional(
                "integer", "model package version to score (empty: the newest Approved)", minimum=1
            ),
            "input_prefix": _optional(
                "string", "input prefix (s3://...; {run_date} allowed; empty: the layout's)", pattern="^s3://"
            ),
            "run_date": _optional(
                "string", "the data's date, YYYY-MM-DD (empty: the run's logical date)", format="date"
            ),
            "instance_type": Param(spec.instance_type, type="string", enum=sorted(INSTANCE_TYPES)),
            "instance_count": Param(spec.instance_count, type="integer", minimum=1, maximum=100),
            "max_concurrent_transforms": _optional("integer", "override the tuned value", minimum=1, maximum=100),
            "max_payload_mb": _optional("integer", "override the tuned value (MB)", minimum=1, maximum=100),
            "threshold": _optional("number", "label scores at this probability (binary models)", minimum=0, maximum=1),
            "register_if_missing": Param(
                spec.auto_approve,
                type="boolean",
                description="register the experiment's package if none is Approved",
            ),
        },
        **extra,
    ) as dag:

        @task
        def plan() -> dict[str, Any]:
            from leafline.orchestration.airflow import tasks as dag_tasks

            return dag_tasks.plan(get_current_context(), settings, spec)

        @task
        def create_model(run_plan: dict[str, Any]) -> dict[str, Any]:
            from leafline.orchestration.airflow import tasks as dag_tasks

            return dag_tasks.create_model(settings, run_plan)

        @task
        def submit_transform(run_plan: dict[str, Any]) -> dict[str, Any]:
            from leafline.orchestration.airflow import tasks as dag_tasks

            return dag_tasks.submit_transform(settings, run_plan)

        wait_for_transform = TransformJobSensor(
            task_id="wait_for_transform",
            job_name="{{ ti.xcom_pull(task_ids='submit_transform')['TransformJobName'] }}",
            mode="reschedule",
            poke_interval=settings.poke_interval_s,
            timeout=spec.transform_timeout_s,
            settings=settings,
        )

        @task(outlets=[scores])
        def validate(run_plan: dict[str, Any]) -> dict[str, Any]:
            from leafline.orchestration.airflow import tasks as dag_tasks

            return dag_tasks.validate(get_current_context(), settings, run_plan, scores)

        @task(trigger_rule="all_done")  # failed runs are recorded too (the task then fails, so the run does)
        def record(run_plan: dict[str, Any]) -> dict[str, Any]:
            from leafline.orchestration.airflow import tasks as dag_tasks

            return dag_tasks.record(get_current_context(), settings, run_plan)

        run_plan = plan()
        submitted = submit_transform(run_plan)
        checked = validate(run_plan)
        chain(run_plan, create_model(run_plan), submitted, wait_for_transform, checked, record(run_plan))
    return dag


def nightly_dags(settings: DagSettings | None = None) -> dict[str, DAG]:
    """Every project's DAG by dag_id, from the specs as they are now (settings: default from the environment).

    Specs that did not load become one InvalidSpecs DAG, which Airflow reports as the DAG file's import error
    beside the good projects' DAGs. A single LEAFLINE_SPEC that does not validate raises: nothing else to show.
    """
    settings = settings or DagSettings.from_env()
    projects = load_projects(settings)
    dags = {project.dag_id: nightly_dag(project, settings) for project in projects.projects}
    if projects.errors:
        description = "\n".join(projects.errors)
        dags[INVALID_SPECS_DAG_ID] = InvalidSpecs(dag_id=INVALID_SPECS_DAG_ID, schedule=None, description=description)
    return dags
