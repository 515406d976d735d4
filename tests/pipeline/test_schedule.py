"""`leafline pipeline schedule`: the spec's cron and timezone as an EventBridge Scheduler schedule whose start
function runs each night's execution with that night's local date, through moto's Scheduler, Lambda and
SageMaker."""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from leafline.cli import main
from leafline.orchestration.sagemaker_pipeline.schedule import (
    START_FUNCTION,
    ScheduleError,
    eventbridge_cron,
    function_package,
)
from leafline.orchestration.sagemaker_pipeline.scheduled_start import (
    SCHEDULED_TIME,
    BadScheduledEvent,
    run_date,
    start_request,
)
from tests.pipeline.conftest import SPEC

SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/leafline-scheduler"
START_ROLE = "arn:aws:iam::123456789012:role/leafline-scheduled-start"
ROLES = ["--scheduler-role-arn", SCHEDULER_ROLE, "--start-role-arn", START_ROLE]
PIPELINE = "leafline-leafline-demo-exp-1"


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 2 * * *", "cron(0 2 * * ? *)"),  # the spec's default: 02:00 every night
        ("30 1 * * 1-5", "cron(30 1 ? * MON,TUE,WED,THU,FRI *)"),  # EventBridge counts weekdays from 1 = SUN
        ("0 3 * * 0,7", "cron(0 3 ? * SUN *)"),  # cron's 0 and 7 are both Sunday
        ("0 3 * * sat-sun", "cron(0 3 ? * SAT,SUN *)"),
        ("15 */6 1,15 * *", "cron(15 */6 1,15 * ? *)"),
        ("0 4 * jan-mar *", "cron(0 4 * JAN-MAR ? *)"),
    ],
)
def test_a_spec_cron_becomes_the_eventbridge_expression_that_fires_at_the_same_times(cron: str, expected: str) -> None:
    assert eventbridge_cron(cron) == expected


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 2 1 * 1", "cannot restrict both the day of the month and the weekday"),
        ("0 2 * * */2", "weekday '*/2' is not 0-7 or SUN-SAT (steps are not supported)"),
        ("0 2 * * 5-1", "the weekday range '5-1' runs backwards"),
        ("0 2 * *", "expected 5 cron fields"),
    ],
)
def test_a_cron_eventbridge_cannot_express_is_refused_naming_the_key(cron: str, message: str) -> None:
    with pytest.raises(ScheduleError, match="schedule = ") as raised:
        eventbridge_cron(cron)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("scheduled", "timezone", "day"),
    [
        ("2026-12-03T05:00:00Z", "America/Sao_Paulo", "2026-12-03"),  # 02:00 in São Paulo
        ("2026-12-03T01:30:00Z", "America/Sao_Paulo", "2026-12-02"),  # 22:30 the evening before
        ("2026-12-02T17:00:00Z", "Asia/Tokyo", "2026-12-03"),  # 02:00 the next day in Tokyo
        ("2026-03-29T00:30:00Z", "Europe/Berlin", "2026-03-29"),  # the night clocks go forward
        ("2026-12-03T00:00:00+00:00", "UTC", "2026-12-03"),
    ],
)
def test_the_run_date_is_the_nights_date_in_the_specs_timezone(scheduled: str, timezone: str, day: str) -> None:
    assert run_date(scheduled, timezone) == day


def test_an_event_without_its_keys_or_with_a_bad_time_says_what() -> None:
    with pytest.raises(BadScheduledEvent, match="lacks Timezone, ScheduledTime"):
        start_request({"PipelineName": PIPELINE})
    with pytest.raises(BadScheduledEvent, match="'yesterday' is not an ISO 8601 timestamp"):
        start_request({"PipelineName": PIPELINE, "Timezone": "UTC", "ScheduledTime": "yesterday"})
    # The context attribute left unsubstituted (the schedule's target is not a templated one) is refused too.
    with pytest.raises(BadScheduledEvent, match="is not an ISO 8601 timestamp"):
        start_request({"PipelineName": PIPELINE, "Timezone": "UTC", "ScheduledTime": SCHEDULED_TIME})


def test_dry_run_prints_the_requests_and_calls_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["pipeline", "schedule", "--spec", str(SPEC), *ROLES, "--set", "schedule=30 1 * * 1-5", "--dry-run"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    schedule = printed["CreateSchedule"]
    assert schedule["Name"] == PIPELINE and schedule["ScheduleExpressionTimezone"] == "America/Sao_Paulo"
    assert schedule["ScheduleExpression"] == "cron(30 1 ? * MON,TUE,WED,THU,FRI *)"
    assert schedule["Target"]["Arn"] == f"arn:aws:lambda:sa-east-1:123456789012:function:{START_FUNCTION}"
    assert json.loads(schedule["Target"]["Input"]) == {
        "PipelineName": PIPELINE, "ScheduledTime": SCHEDULED_TIME, "Timezone": "America/Sao_Paulo"}  # fmt: skip
    assert printed["CreateFunction"]["Role"] == START_ROLE


def test_a_role_that_is_not_a_role_arn_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["pipeline", "schedule", "--spec", str(SPEC), "--scheduler-role-arn", "scheduler",
            "--start-role-arn", START_ROLE, "--dry-run"]  # fmt: skip
    assert main(argv) == 2
    assert "--scheduler-role-arn 'scheduler': expected an IAM role ARN" in capsys.readouterr().err


def _deployed_module(lambda_client: Any) -> ModuleType:
    """The start function's code as Lambda holds it, imported from its deployment package."""
    configuration = lambda_client.get_function(FunctionName=START_FUNCTION)["Configuration"]
    code = function_package()
    assert configuration["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    assert zipfile.ZipFile(io.BytesIO(code)).namelist() == ["scheduled_start.py"]  # alone: no leafline import
    module = ModuleType("deployed_scheduled_start")
    source = zipfile.ZipFile(io.BytesIO(code)).read("scheduled_start.py")
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import)
                for alias in node.names} | {node.module.split(".")[0] for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.ImportFrom) and node.module}  # fmt: skip
    assert imported <= set(sys.stdlib_module_names) | {"__future__", "boto3"}, imported  # what Lambda has
    exec(compile(source, "scheduled_start.py", "exec"), module.__dict__)
    return module


def _fire(schedule: dict[str, Any], at: str, module: ModuleType) -> dict[str, str]:
    """What the Scheduler does at `at`: substitute its context attribute into the input and invoke."""
    event = json.loads(schedule["Target"]["Input"].replace(SCHEDULED_TIME, at))
    return dict(module.handler(event, None))


def test_the_schedule_starts_each_nights_execution_with_that_nights_local_date(
    packaged: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "sa-east-1")  # as Lambda's runtime sets it
    iam = boto3.client("iam", region_name="sa-east-1")
    for arn in (SCHEDULER_ROLE, START_ROLE):
        iam.create_role(RoleName=arn.rsplit("/", 1)[1], AssumeRolePolicyDocument="{}")
    assert main(["pipeline", "upsert", "--spec", str(SPEC)]) == 0
    assert main(["pipeline", "schedule", "--spec", str(SPEC), *ROLES]) == 0
    out = capsys.readouterr().out
    assert f"scheduled {PIPELINE} (enabled): cron(0 2 * * ? *) in America/Sao_Paulo" in out

    scheduler = boto3.client("scheduler", region_name="sa-east-1")
    schedule = scheduler.get_schedule(Name=PIPELINE)
    assert schedule["State"] == "ENABLED" and schedule["ScheduleExpressionTimezone"] == "America/Sao_Paulo"
    assert schedule["Target"]["RoleArn"] == SCHEDULER_ROLE
    lambda_client = boto3.client("lambda", region_name="sa-east-1")
    assert schedule["Target"]["Arn"] == lambda_client.get_function(FunctionName=START_FUNCTION)[
        "Configuration"]["FunctionArn"]  # fmt: skip
    module = _deployed_module(lambda_client)

    started = _fire(schedule, "2026-12-03T05:00:00Z", module)  # 02:00 local
    assert started["RunDate"] == "2026-12-03"
    sagemaker = boto3.client("sagemaker", region_name="sa-east-1")
    given = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=started["PipelineExecutionArn"])
    assert given["PipelineParameters"] == [{"Name": "RunDate", "Value": "2026-12-03"}]
    executions = sagemaker.list_pipeline_executions(PipelineName=PIPELINE)["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionDisplayName"] for e in executions] == ["nightly-2026-12-03"]

    # Run again (a new spec schedule, paused): the same function and schedule are updated, not duplicated.
    argv = ["pipeline", "schedule", "--spec", str(SPEC), *ROLES, "--set", "schedule=45 23 * * *", "--disable"]
    assert main(argv) == 0
    assert f"scheduled {PIPELINE} (paused): cron(45 23 * * ? *)" in capsys.readouterr().out
    schedule = scheduler.get_schedule(Name=PIPELINE)
    assert schedule["State"] == "DISABLED" and schedule["ScheduleExpression"] == "cron(45 23 * * ? *)"
    assert [s["Name"] for s in scheduler.list_schedules()["Schedules"]] == [PIPELINE]
    assert [f["FunctionName"] for f in lambda_client.list_functions()["Functions"]] == [START_FUNCTION]
    # 23:45 in São Paulo is 02:45 UTC the next day: the run date is still the local one.
    assert _fire(schedule, "2026-12-04T02:45:00Z", module)["RunDate"] == "2026-12-03"
