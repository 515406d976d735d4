"""`leafline pipeline schedule`: start the spec's SageMaker Pipeline every night with EventBridge Scheduler.

Wiring only: the requests come from leafline.orchestration.sagemaker_pipeline.schedule; the roles come
from the infrastructure template's outputs (SchedulerRoleArn, ScheduledStartRoleArn).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from leafline.errors import UsageError
from leafline.orchestration.sagemaker_pipeline.schedule import apply_schedule, schedule_requests
from leafline.spec.jobspec import JobSpec

_ROLE_HELP = "the infrastructure template's output {output} (`leafline infra template` prints the template)"


def add_schedule_parser(actions: Any) -> argparse.ArgumentParser:
    schedule: argparse.ArgumentParser = actions.add_parser(
        "schedule",
        help="start the upserted pipeline every night (EventBridge Scheduler, the spec's schedule and timezone)",
        description="Create or update an EventBridge Scheduler schedule from the spec's `schedule` (5-field cron) "
        "and `timezone`, named like the pipeline. Its target is leafline's start function "
        "(leafline-scheduled-start, AWS Lambda, created or updated here), which starts the pipeline with "
        "RunDate = the night's date in the spec's timezone, once per night even when the Scheduler retries.",
    )
    schedule.add_argument("--scheduler-role-arn", required=True, metavar="ARN",
                          help="the role the Scheduler assumes to call the start function: "
                          + _ROLE_HELP.format(output="SchedulerRoleArn"))  # fmt: skip
    schedule.add_argument("--start-role-arn", required=True, metavar="ARN",
                          help="the start function's own role (it may only start leafline pipelines): "
                          + _ROLE_HELP.format(output="ScheduledStartRoleArn"))  # fmt: skip
    schedule.add_argument("--disable", action="store_true", help="keep the schedule but pause it")
    schedule.add_argument("--dry-run", action="store_true",
                          help="print the requests as JSON and call nothing (no credentials needed)")  # fmt: skip
    return schedule


def run_schedule(args: argparse.Namespace, spec: JobSpec) -> int:
    for flag, arn in (("--scheduler-role-arn", args.scheduler_role_arn), ("--start-role-arn", args.start_role_arn)):
        if not arn.startswith("arn:") or ":role/" not in arn:
            raise UsageError(f"{flag} {arn!r}: expected an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    requests = schedule_requests(spec, scheduler_role_arn=args.scheduler_role_arn,
                                 start_role_arn=args.start_role_arn, enabled=not args.disable)  # fmt: skip
    if args.dry_run:
        json.dump({"CreateFunction": requests.function, "CreateSchedule": requests.schedule}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    import boto3

    function_arn, schedule_arn = apply_schedule(
        requests, boto3.client("lambda", region_name=spec.region), boto3.client("scheduler", region_name=spec.region)
    )
    schedule = requests.schedule
    state = "paused" if args.disable else "enabled"
    print(f"scheduled {schedule['Name']} ({state}): {schedule['ScheduleExpression']} in "
          f"{schedule['ScheduleExpressionTimezone']}: {schedule_arn}")  # fmt: skip
    print(f"  target {function_arn}: starts pipeline {schedule['Name']} with RunDate = that night's date "
          f"in {spec.timezone}")  # fmt: skip
    return 0
