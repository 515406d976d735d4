"""The nightly DAG's deployment settings, read once from the environment (an injectable mapping).

LEAFLINE_SPEC             one job spec file: one DAG, dag_id nightly_scoring (default:
                          leafline.spec.jobspec.DEFAULT_SPEC, the local demo's spec shipped in the package;
                          dags/leafline-spec.toml is the same file)
LEAFLINE_SPECS_DIR        a folder of spec files (*.toml, *.json): one DAG per spec, dag_id
                          nightly_scoring__{project_id}; when set, LEAFLINE_SPEC is not read
LEAFLINE_AWS_CONN_ID      the Airflow AWS connection (default aws_default); its extra may point at a
                          local endpoint (endpoint_url / service_config), nothing else changes
LEAFLINE_POKE_INTERVAL_S  seconds between transform status checks (default 60; tests use 0)
LEAFLINE_CATCHUP          "true" to run missed nights (default false)

Schedule, timezone, retries and retry delay belong to each spec (keys schedule, timezone, retries,
retry_delay_s). These variables remain only as the deployment's defaults for a spec that omits the key;
a key the spec sets always wins:
LEAFLINE_SCHEDULE         cron expression (built-in default "0 2 * * *": 02:00 every night)
LEAFLINE_TIMEZONE         the schedule's timezone (built-in default America/Sao_Paulo)
LEAFLINE_RETRIES          retries of each task (built-in default 2)
LEAFLINE_RETRY_DELAY_S    seconds before a retry (built-in default 120)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leafline.spec.jobspec import DEFAULT_SPEC, SpecError
from leafline.spec.schedule_checks import cron_problem, timezone_problem


@dataclass(frozen=True)
class DagSettings:
    spec_path: Path
    aws_conn_id: str
    poke_interval_s: float
    catchup: bool
    specs_dir: Path | None = None
    # Spec keys the deployment defaults (from LEAFLINE_SCHEDULE and friends), for specs that omit them.
    spec_defaults: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DagSettings:
        env = os.environ if environ is None else environ
        poke = _number(env, "LEAFLINE_POKE_INTERVAL_S", "60", "seconds")
        return cls(
            spec_path=Path(env.get("LEAFLINE_SPEC") or DEFAULT_SPEC),
            aws_conn_id=env.get("LEAFLINE_AWS_CONN_ID", "aws_default"),
            poke_interval_s=max(0.0, poke),
            catchup=env.get("LEAFLINE_CATCHUP", "false").strip().lower() in ("1", "true", "yes"),
            specs_dir=Path(env["LEAFLINE_SPECS_DIR"]) if env.get("LEAFLINE_SPECS_DIR") else None,
            spec_defaults=_spec_defaults(env),
        )


def dag_spec(environ: Mapping[str, str] | None = None) -> Path:
    """The one spec the DAG reads, for commands that default to it (`leafline pipeline definition`): the
    folder's only spec when LEAFLINE_SPECS_DIR is set, else LEAFLINE_SPEC, else the package's DEFAULT_SPEC."""
    env = os.environ if environ is None else environ
    if not env.get("LEAFLINE_SPECS_DIR"):
        return Path(env.get("LEAFLINE_SPEC") or DEFAULT_SPEC)
    from leafline.orchestration.spec_folder import spec_files

    folder = env["LEAFLINE_SPECS_DIR"]
    files = spec_files(Path(folder))
    if len(files) > 1:
        names = ", ".join(f.name for f in files[:5]) + (", ..." if len(files) > 5 else "")
        raise SpecError(f"LEAFLINE_SPECS_DIR={folder!r} holds {len(files)} specs ({names}): name one with --spec FILE")
    return files[0]


def _spec_defaults(env: Mapping[str, str]) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for key, name, problem in (
        ("LEAFLINE_SCHEDULE", "schedule", cron_problem),
        ("LEAFLINE_TIMEZONE", "timezone", timezone_problem),
    ):
        if key in env:
            reason = problem(env[key])
            if reason:
                raise SpecError(f"{key}={env[key]!r}: {reason}")
            defaults[name] = env[key]
    for key, name, meaning in (
        ("LEAFLINE_RETRIES", "retries", "a whole number of retries"),
        ("LEAFLINE_RETRY_DELAY_S", "retry_delay_s", "whole seconds"),
    ):
        if key in env:
            value = env[key].strip()
            if not value.isdigit():
                raise SpecError(f"{key}={env[key]!r}: expected {meaning}")
            defaults[name] = int(value)
    return defaults


def _number(env: Mapping[str, str], key: str, default: str, meaning: str) -> float:
    try:
        return float(env.get(key, default))
    except ValueError:
        raise SpecError(f"{key}={env[key]!r}: expected {meaning}") from None
