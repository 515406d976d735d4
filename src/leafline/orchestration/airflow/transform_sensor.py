"""The DAG's wait for the transform job: leafline's own small sensor.

The provider's SageMakerTransformSensor would import boto3 and botocore whenever the DAG file is parsed
(about a second each time); this one loads the provider's hook only when it looks.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseSensorOperator

from leafline.orchestration.settings import DagSettings


class TransformJobSensor(BaseSensorOperator):
    """Looks at the transform job until it ends: done when it Completed; Failed or Stopped fail the task with
    SageMaker's FailureReason. It only looks, so a retried wait never submits a second job."""

    template_fields = ("job_name",)

    def __init__(self, *, job_name: str, settings: DagSettings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.settings = settings

    def poke(self, context: Any) -> bool:
        from leafline.orchestration.airflow import tasks as dag_tasks

        return dag_tasks.transform_done(self.settings, self.job_name)
