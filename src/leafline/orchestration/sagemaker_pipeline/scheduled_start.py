"""The AWS Lambda function EventBridge Scheduler calls to start one night's SageMaker Pipeline execution.

Why a function at all: a Pipeline's RunDate is the calendar date in the spec's timezone, and neither the
Scheduler (its `<aws.scheduler.scheduled-time>` is a UTC timestamp, substituted only into a target's input)
nor a Pipeline definition (Join and JsonGet, no date arithmetic) can turn a timestamp into a local date.

This file is the whole deployment package (`leafline pipeline schedule` zips it alone), so it imports only
the standard library and boto3, which every Lambda Python runtime carries.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"  # the Scheduler puts the invocation's UTC time here


class BadScheduledEvent(ValueError):
    """The event does not say which pipeline to start, for when, in which timezone."""


def run_date(scheduled_time: str, timezone: str) -> str:
    """The calendar date, in `timezone`, of the Scheduler's UTC `scheduled_time` (2026-12-03T05:00:00Z)."""
    try:
        moment = datetime.fromisoformat(scheduled_time.replace("Z", "+00:00"))
    except ValueError:
        raise BadScheduledEvent(f"ScheduledTime {scheduled_time!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise BadScheduledEvent(f"ScheduledTime {scheduled_time!r} has no UTC offset")
    return moment.astimezone(ZoneInfo(timezone)).date().isoformat()


def start_request(event: dict[str, Any]) -> dict[str, Any]:
    """StartPipelineExecution's request for the event the schedule's input renders."""
    missing = [key for key in ("PipelineName", "Timezone", "ScheduledTime") if not event.get(key)]
    if missing:
        raise BadScheduledEvent(f"the schedule's input lacks {', '.join(missing)}: {json.dumps(event)[:300]}")
    name, scheduled = str(event["PipelineName"]), str(event["ScheduledTime"])
    day = run_date(scheduled, str(event["Timezone"]))
    # The Scheduler retries an invocation; the same token makes a retry reattach instead of starting twice.
    token = hashlib.sha256(f"{name}|{scheduled}".encode()).hexdigest()[:64]
    return {
        "PipelineName": name,
        "PipelineExecutionDisplayName": f"nightly-{day}",
        "PipelineExecutionDescription": f"scheduled for {scheduled} ({event['Timezone']} {day})",
        "PipelineParameters": [{"Name": "RunDate", "Value": day}],
        "ClientRequestToken": token,
    }


def handler(event: dict[str, Any], context: Any = None, client: Any = None) -> dict[str, str]:
    """Lambda's entry point: start the execution and say which one (the Scheduler logs a failure's text)."""
    request = start_request(event)
    if client is None:
        import boto3

        client = boto3.client("sagemaker")
    response = client.start_pipeline_execution(**request)
    return {
        "PipelineExecutionArn": str(response["PipelineExecutionArn"]),
        "RunDate": request["PipelineParameters"][0]["Value"],
        "StartedAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
