"""A project's alerts, read back from local AWS's SNS (through an SQS queue subscribed to the topic, as an
on-call inbox would be): a failed night publishes one message with the run, the failing task and the
reason; a missed deadline publishes one through Airflow's deadline alert callback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from leafline.spec.jobspec import DEFAULT_SPEC, load_spec
from tests.dags.test_nightly_on_local_aws import Night, night  # noqa: F401  (the night fixture)


class Inbox:
    """An SQS queue subscribed to a new SNS topic in local AWS."""

    def __init__(self) -> None:
        self.sns = boto3.client("sns", region_name="sa-east-1")
        self.sqs = boto3.client("sqs", region_name="sa-east-1")
        self.topic_arn = self.sns.create_topic(Name="leafline-alerts")["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName="on-call")["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=attributes["Attributes"]["QueueArn"])

    def messages(self) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in got]


@pytest.fixture
def inbox(night: Night, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Inbox:  # noqa: F811
    box = Inbox()
    spec = tmp_path / "alerting.toml"
    spec.write_text(f'alert_topic_arn = "{box.topic_arn}"\ndeadline = "06:30"\n' + DEFAULT_SPEC.read_text())
    monkeypatch.setenv("LEAFLINE_SPEC", str(spec))
    return box


def test_a_failed_night_publishes_one_alert_with_run_task_and_reason(
    night: Night,  # noqa: F811
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    night.serve_a_container_answering(500, monkeypatch)

    run = night.run()

    assert str(run.state) == "failed"
    (alert,) = inbox.messages()  # one: the record task's own failure after it is not a second alert
    assert alert["Subject"] == "leafline: leafline-demo nightly scoring failed"
    lines = dict(line.split(": ", 1) for line in alert["Message"].splitlines())
    assert (lines["project"], lines["dag"], lines["run"]) == ("leafline-demo", "nightly_scoring", run.run_id)
    assert lines["failing task"] == "wait_for_transform"
    assert "500" in lines["reason"] and "transient failure" in lines["reason"]  # SageMaker's FailureReason
    assert alert["MessageAttributes"]["failing_task"]["Value"] == "wait_for_transform"


def test_a_missed_deadline_publishes_one_alert_through_airflows_deadline_callback(
    night: Night,  # noqa: F811
    inbox: Inbox,
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk._shared.module_loading import import_string

    from tests.dags.conftest import ROOT

    dag = DagBag(dag_folder=str(ROOT / "dags" / "nightly_scoring.py")).get_dag("nightly_scoring")
    (alert,) = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert alert.interval.total_seconds() == 4.5 * 3600  # 02:00 (the schedule) to 06:30 (the deadline)
    assert type(alert.reference).__name__ == "DagRunLogicalDateDeadline"
    assert alert.callback.path == "leafline.orchestration.airflow.alerts.deadline_missed"

    # What Airflow's scheduler hands the callback when the deadline passes: its kwargs and a small context.
    dag_run = {"dag_id": "nightly_scoring", "dag_run_id": "scheduled__2026-11-20T05:00:00+00:00", "state": "running"}
    import_string(alert.callback.path)(**alert.callback.kwargs, context={"dag_run": dag_run, "deadline": {}})

    (message,) = inbox.messages()
    lines = dict(line.split(": ", 1) for line in message["Message"].splitlines())
    assert (lines["dag"], lines["run"], lines["failing task"]) == (
        "nightly_scoring",
        "scheduled__2026-11-20T05:00:00+00:00",
        "validate",
    )
    assert lines["reason"] == (
        "the scores were not validated by the deadline 06:30 (America/Sao_Paulo); the run is running"
    )


def test_a_run_stopped_by_run_timeout_publishes_one_alert_and_other_run_failures_none(
    night: Night,  # noqa: F811
    inbox: Inbox,
) -> None:
    """The DAG's own failure callback, called as Airflow's DAG processor calls it (airflow/dag_processing/
    processor.py, _execute_dag_callbacks) for a run the scheduler stopped at dagrun_timeout (reason
    "timed_out") and for a run that failed in a task (which alerted from the task already)."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.conftest import ROOT

    dag = DagBag(dag_folder=str(ROOT / "dags" / "nightly_scoring.py")).get_dag("nightly_scoring")
    assert dag.dagrun_timeout.total_seconds() == load_spec(DEFAULT_SPEC).run_timeout_s
    callbacks = dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
    run_id = "scheduled__2026-11-20T05:00:00+00:00"
    for reason in ("task_failure", "timed_out"):
        for callback in callbacks:
            callback({"dag": dag, "run_id": run_id, "reason": reason})

    (message,) = inbox.messages()
    lines = dict(line.split(": ", 1) for line in message["Message"].splitlines())
    assert (lines["project"], lines["dag"], lines["run"]) == ("leafline-demo", "nightly_scoring", run_id)
    assert lines["reason"] == "the run exceeded the spec's run_timeout_s and was stopped"
