"""The SageMaker Pipeline's nightly schedule: EventBridge Scheduler requests rendered from the job spec.

The spec's `schedule` (a 5-field cron, as the DAG reads it) and `timezone` become one schedule per pipeline.
Its target is leafline's small start function (`leafline.orchestration.sagemaker_pipeline.scheduled_start`), which turns
the Scheduler's UTC invocation time into the run date in the spec's timezone and starts the execution with
it, so the Pipeline scores the same night's prefix the DAG would.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leafline.errors import UsageError
from leafline.orchestration.sagemaker_pipeline import scheduled_start
from leafline.orchestration.sagemaker_pipeline.plan import pipeline_name
from leafline.spec.jobspec import JobSpec

START_FUNCTION = "leafline-scheduled-start"  # one per account and region, shared by every project's schedule
START_RUNTIME = "python3.12"
SCHEDULE_GROUP = "default"
_PRESETS = {
    "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
}  # fmt: skip
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_FIELD = re.compile(r"^[0-9*,/\-]+$")
_MONTH_FIELD = re.compile(r"^[0-9A-Z*,/\-]+$")


class ScheduleError(UsageError):
    """The spec's schedule cannot be expressed as an EventBridge Scheduler cron; the message says why."""


@dataclass(frozen=True)
class ScheduleRequests:
    """What `leafline pipeline schedule` sends: the start function's code and the schedule itself."""

    function: dict[str, Any]  # CreateFunction's request without Code
    code: bytes  # the function's deployment package (a zip holding scheduled_start.py)
    schedule: dict[str, Any]  # CreateSchedule's (and UpdateSchedule's) request


def eventbridge_cron(expression: str, key: str = "schedule") -> str:
    """A 5-field cron (minute hour day-of-month month day-of-week) as EventBridge's cron(...) expression.

    EventBridge numbers weekdays 1-7 from Sunday and needs `?` in one of the two day fields; a standard cron
    restricting both days (which means either day) has no EventBridge form and is refused."""
    text = _PRESETS.get(expression.strip(), expression.strip())
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(f"{key} = {expression!r}: expected 5 cron fields (minute hour day month weekday)")
    minute, hour, day, month, weekday = fields
    for name, value in (("minute", minute), ("hour", hour), ("day-of-month", day)):
        if not _FIELD.match(value):
            raise ScheduleError(f"{key} = {expression!r}: the {name} field {value!r} is not a cron field")
    if not _MONTH_FIELD.match(month.upper()):
        raise ScheduleError(f"{key} = {expression!r}: the month field {month!r} is not a cron field")
    if weekday == "*":
        return f"cron({minute} {hour} {day} {month.upper()} ? *)"
    if day != "*":
        raise ScheduleError(f"{key} = {expression!r}: EventBridge Scheduler cannot restrict both the day of the "
                            "month and the weekday; keep one of them '*'")  # fmt: skip
    return f"cron({minute} {hour} ? {month.upper()} {_weekdays(weekday, expression, key)} *)"


def _weekdays(field: str, expression: str, key: str) -> str:
    """A cron weekday field (0-7 or SUN-SAT, lists and ranges) as EventBridge's day names."""
    days: list[str] = []
    for part in field.upper().split(","):
        low, _, high = part.partition("-")
        first, last = _day(low, expression, key), _day(high or low, expression, key)
        if high == "SUN":  # FRI-SUN: a range may end on the Sunday that closes the week
            last = 7
        if last < first:
            raise ScheduleError(f"{key} = {expression!r}: the weekday range {part!r} runs backwards")
        days += [_DAYS[d % 7] for d in range(first, last + 1) if _DAYS[d % 7] not in days]
    return ",".join(days)


def _day(token: str, expression: str, key: str) -> int:
    if token.isdigit() and int(token) <= 7:
        return int(token)
    if token in _DAYS:
        return _DAYS.index(token)
    raise ScheduleError(f"{key} = {expression!r}: weekday {token!r} is not 0-7 or SUN-SAT (steps are not supported)")


def function_package() -> bytes:
    """The start function's deployment package: scheduled_start.py alone, byte for byte the same each time."""
    source = Path(scheduled_start.__file__).read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        entry = zipfile.ZipInfo("scheduled_start.py", date_time=(2020, 1, 1, 0, 0, 0))
        entry.external_attr = 0o644 << 16
        archive.writestr(entry, source)
    return buffer.getvalue()


def schedule_requests(spec: JobSpec, *, scheduler_role_arn: str, start_role_arn: str, function_arn: str | None = None,
                      enabled: bool = True) -> ScheduleRequests:  # fmt: skip
    """The start function and the schedule for the spec's pipeline. `function_arn` is known once the
    function exists; before that the schedule names the function's ARN as AWS will build it."""
    code = function_package()
    name = pipeline_name(spec)
    function = {
        "FunctionName": START_FUNCTION,
        "Runtime": START_RUNTIME,
        "Handler": "scheduled_start.handler",
        "Role": start_role_arn,
        "Timeout": 30,
        "Description": f"leafline: starts a scheduled Pipeline execution (code sha256 {_short_sha(code)})",
    }
    account = start_role_arn.split(":")[4]
    target_arn = function_arn or f"arn:aws:lambda:{spec.region}:{account}:function:{START_FUNCTION}"
    event = {"PipelineName": name, "Timezone": spec.timezone, "ScheduledTime": scheduled_start.SCHEDULED_TIME}
    schedule = {
        "Name": name,
        "GroupName": SCHEDULE_GROUP,
        "Description": f"leafline nightly scoring of {spec.project_id}/{spec.experiment_id}: starts pipeline {name}",
        "ScheduleExpression": eventbridge_cron(spec.schedule),
        "ScheduleExpressionTimezone": spec.timezone,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED" if enabled else "DISABLED",
        "Target": {
            "Arn": target_arn,
            "RoleArn": scheduler_role_arn,
            "Input": json.dumps(event, sort_keys=True),
            # A night missed for over 6 hours is left to a person: its inputs may have moved on.
            "RetryPolicy": {"MaximumEventAgeInSeconds": 6 * 3600, "MaximumRetryAttempts": 5},
        },
    }
    return ScheduleRequests(function, code, schedule)


def _short_sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def apply_schedule(requests: ScheduleRequests, lambda_client: Any, scheduler_client: Any) -> tuple[str, str]:
    """Create or update the start function and the schedule; returns (function ARN, schedule ARN)."""
    function = requests.function
    try:
        found = lambda_client.get_function(FunctionName=function["FunctionName"])["Configuration"]
    except lambda_client.exceptions.ResourceNotFoundException:
        function_arn = lambda_client.create_function(**function, Code={"ZipFile": requests.code})["FunctionArn"]
    else:
        lambda_client.update_function_code(FunctionName=function["FunctionName"], ZipFile=requests.code)
        function_arn = found["FunctionArn"]
    schedule = {**requests.schedule, "Target": {**requests.schedule["Target"], "Arn": function_arn}}
    try:
        scheduler_client.get_schedule(Name=schedule["Name"], GroupName=schedule["GroupName"])
    except scheduler_client.exceptions.ResourceNotFoundException:
        arn = scheduler_client.create_schedule(**schedule)["ScheduleArn"]
    else:
        arn = scheduler_client.update_schedule(**schedule)["ScheduleArn"]
    return str(function_arn), str(arn)
