"""`leafline infra template`: the account's CloudFormation template, from the installed package
(leafline.infrastructure; infrastructure/leafline.yaml in a checkout links to it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from leafline.errors import UsageError
from leafline.infrastructure import template_text


def add_parser(commands: Any) -> None:
    infra = commands.add_parser(
        "infra",
        help="the AWS account's infrastructure as code (CloudFormation)",
        description="The CloudFormation template of the bucket, the ECR repository, the SageMaker execution "
        "role, the Airflow role, the optional KMS key and the failed-job alerts: see the README's 'Setting up "
        "an AWS account' for deploying it and which outputs go into the job spec.",
    )
    actions = infra.add_subparsers(dest="infra_command", required=True, metavar="ACTION")
    template = actions.add_parser("template", help="print the template (or write it with --output)")
    template.add_argument("--output", type=Path, default=None, metavar="FILE", help="write it here instead")


def run_infra_command(args: argparse.Namespace) -> int:
    text = template_text()
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text)
    except OSError as exc:
        raise UsageError(f"--output {args.output}: cannot write the template: {exc.strerror}") from exc
    print(f"leafline infra template: wrote {args.output}")
    return 0
