"""A project's SNS alerts: a failed run, or scores not validated by the spec's deadline, publish one message
(project, DAG, run, failing task, reason) to the spec's alert_topic_arn through the amazon provider's
SnsNotifier.

Light at import (the DAG file holds these callbacks): the provider, and so boto3, load when an alert is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_REASON = 4000  # characters: an alert is read by people, the run record holds the rest


@dataclass(frozen=True)
class Alert:
    project_id: str
    dag_id: str
    run_id: str
    failing_task: str
    reason: str

    @property
    def subject(self) -> str:
        return f"leafline: {self.project_id} nightly scoring failed"[:100]  # SNS's limit on a subject

    @property
    def message(self) -> str:
        reason = self.reason if len(self.reason) <= MAX_REASON else self.reason[:MAX_REASON] + " [...]"
        return (
            f"project: {self.project_id}\ndag: {self.dag_id}\nrun: {self.run_id}\n"
            f"failing task: {self.failing_task}\nreason: {reason}\n"
        )


@dataclass(frozen=True)
class SnsAlerts:
    """The DAG's callbacks for one project (on_failure_callback of the tasks and of the DAG)."""

    topic_arn: str
    aws_conn_id: str
    region: str
    project_id: str

    def task_failed(self, context: Mapping[str, Any]) -> None:
        """A task failed for good (its retries spent): the run fails with it, so this is the run's alert.
        The record task fails after an upstream failure too; that run has had its alert already."""
        error = context.get("exception")
        if type(error).__name__ == "RunFailedError":
            return
        ti = context["ti"]
        reason = str(error) or type(error).__name__ if error is not None else "the task failed"
        self.send(Alert(self.project_id, ti.dag_id, context["run_id"], ti.task_id, reason), context)

    def run_failed(self, context: Mapping[str, Any]) -> None:
        """The DAG's own failure callback: only a run stopped by run_timeout_s has not alerted from a task."""
        if context.get("reason") != "timed_out":
            return
        ti = context.get("ti")
        dag = context.get("dag")
        self.send(
            Alert(
                self.project_id,
                getattr(dag, "dag_id", "") or getattr(ti, "dag_id", ""),
                str(context.get("run_id")),
                getattr(ti, "task_id", None) or "(the run)",
                "the run exceeded the spec's run_timeout_s and was stopped",
            ),
            context,
        )

    def send(self, alert: Alert, context: Mapping[str, Any]) -> None:
        publish(self.topic_arn, self.aws_conn_id, self.region, alert, context)


def publish(topic_arn: str, aws_conn_id: str, region: str, alert: Alert, context: Mapping[str, Any]) -> None:
    from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

    notifier = SnsNotifier(
        aws_conn_id=aws_conn_id,
        target_arn=topic_arn,
        subject=alert.subject,
        message=alert.message,
        region_name=region,
        message_attributes={"project_id": alert.project_id, "failing_task": alert.failing_task},
    )
    notifier.notify(dict(context))  # type: ignore[no-untyped-call]  # not __call__: "{{" in a reason stays text


def deadline_missed(
    *,
    context: Mapping[str, Any],
    topic_arn: str,
    aws_conn_id: str,
    region: str,
    project_id: str,
    deadline: str,
    timezone: str,
) -> None:
    """Airflow's deadline alert callback (a SyncCallback's path): the run has not ended by the deadline."""
    run = context.get("dag_run") or {}
    alert = Alert(
        project_id,
        str(run.get("dag_id", "")),
        str(run.get("dag_run_id") or run.get("run_id") or ""),
        "validate",
        f"the scores were not validated by the deadline {deadline} ({timezone}); the run is {run.get('state')}",
    )
    publish(topic_arn, aws_conn_id, region, alert, context)
