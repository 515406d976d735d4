"""The nightly DAG's deployment settings, read once from the environment (an injectable mapping).

LEAFLINE_SPEC             the job spec file (default: leafline.jobspec.DEFAULT_SPEC, the local demo's spec
                          shipped in the package; dags/leafline-spec.toml is the same file)
LEAFLINE_AWS_CONN_ID      the Airflow AWS connection (default aws_default); its extra may point at a
                          local endpoint (endpoint_url / service_config), nothing else changes
LEAFLINE_SCHEDULE         cron expression (default "0 2 * * *": 02:00 every night)
LEAFLINE_TIMEZONE         the schedule's timezone (default America/Sao_Paulo)
LEAFLINE_POKE_INTERVAL_S  seconds between transform status checks (default 60; tests use 0)
LEAFLINE_CATCHUP          "true" to run missed nights (default false)
LEAFLINE_RETRIES          retries of each task (default 2)
LEAFLINE_RETRY_DELAY_S    seconds before a retry (default 120)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from leafline.jobspec import DEFAULT_SPEC, SpecError


@dataclass(frozen=True)
class DagSettings:
    spec_path: Path
    aws_conn_id: str
    schedule: str
    timezone: str
    poke_interval_s: float
    catchup: bool
    retries: int = 2
    retry_delay_s: float = 120.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DagSettings:
        env = os.environ if environ is None else environ
        poke = _number(env, "LEAFLINE_POKE_INTERVAL_S", "60", "seconds")
        retries = _number(env, "LEAFLINE_RETRIES", "2", "a whole number of retries")
        if retries != int(retries):
            raise SpecError(f"LEAFLINE_RETRIES={env['LEAFLINE_RETRIES']!r}: expected a whole number of retries")
        return cls(
            spec_path=Path(env.get("LEAFLINE_SPEC") or DEFAULT_SPEC),
            aws_conn_id=env.get("LEAFLINE_AWS_CONN_ID", "aws_default"),
            schedule=env.get("LEAFLINE_SCHEDULE", "0 2 * * *"),
            timezone=env.get("LEAFLINE_TIMEZONE", "America/Sao_Paulo"),
            poke_interval_s=max(0.0, poke),
            catchup=env.get("LEAFLINE_CATCHUP", "false").strip().lower() in ("1", "true", "yes"),
            retries=max(0, int(retries)),
            retry_delay_s=max(0.0, _number(env, "LEAFLINE_RETRY_DELAY_S", "120", "seconds")),
        )


def _number(env: Mapping[str, str], key: str, default: str, meaning: str) -> float:
    try:
        return float(env.get(key, default))
    except ValueError:
        raise SpecError(f"{key}={env[key]!r}: expected {meaning}") from None
