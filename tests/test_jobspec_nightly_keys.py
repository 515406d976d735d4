"""The spec's nightly keys (schedule, owner, retries, alerts, timeouts): defaults, deployment-wide defaults
from the environment, and refusals that name the key and the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leafline.orchestration.settings import DagSettings
from leafline.spec.jobspec import SpecError, load_spec

SPEC_TOML = """
project_id = "churn"
experiment_id = "exp-1"
bucket = "models-bucket"
role_arn = "arn:aws:iam::123456789012:role/leafline-scoring"
image_uri = "123456789012.dkr.ecr.sa-east-1.amazonaws.com/leafline:1.0"
"""


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "churn.toml"
    path.write_text(SPEC_TOML)
    return path


def test_a_spec_without_nightly_keys_gets_the_documented_defaults(spec_file: Path) -> None:
    spec = load_spec(spec_file)

    assert (spec.schedule, spec.timezone, spec.owner) == ("0 2 * * *", "America/Sao_Paulo", "leafline")
    assert spec.dag_tags == ()
    assert (spec.retries, spec.retry_delay_s, spec.alert_topic_arn, spec.deadline) == (2, 120, None, None)
    assert (spec.transform_timeout_s, spec.run_timeout_s) == (12 * 3600, 24 * 3600)


def test_the_spec_carries_its_own_schedule_owner_tags_alerts_and_timeouts(spec_file: Path) -> None:
    spec_file.write_text(
        SPEC_TOML
        + 'schedule = "30 1 * * 1-5"\ntimezone = "Europe/Lisbon"\nowner = "risk-team"\ndag_tags = ["risk", "churn"]\n'
        + "retries = 0\nretry_delay_s = 30\n"
        + 'alert_topic_arn = "arn:aws:sns:sa-east-1:123456789012:leafline-alerts"\ndeadline = "06:30"\n'
        + "transform_timeout_s = 7200\nrun_timeout_s = 14400\n"
    )
    spec = load_spec(spec_file)

    assert (spec.schedule, spec.timezone, spec.owner, spec.dag_tags) == (
        "30 1 * * 1-5",
        "Europe/Lisbon",
        "risk-team",
        ("risk", "churn"),
    )
    assert (spec.retries, spec.retry_delay_s, spec.deadline) == (0, 30, "06:30")
    assert spec.alert_topic_arn == "arn:aws:sns:sa-east-1:123456789012:leafline-alerts"
    assert (spec.transform_timeout_s, spec.run_timeout_s) == (7200, 14400)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"schedule": "0 2 * *"}, "schedule '0 2 * *': expected 5 cron fields (minute hour day month weekday)"),
        ({"schedule": "61 2 * * *"}, "schedule '61 2 * * *': minute '61' is not within 0..59"),
        ({"schedule": "0 2 * * mon-fri/x"}, "schedule '0 2 * * mon-fri/x': weekday 'mon-fri/x' is not a cron field"),
        ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus': not an IANA time zone name"),
        ({"owner": ""}, "owner '': must not be empty"),
        ({"dag_tags": "risk"}, "dag_tags = 'risk': expected a list of strings"),
        ({"dag_tags": ["x" * 101]}, "dag_tags: tag 'xxxx"),
        ({"retries": -1}, "retries = -1: must be an integer in 0..100"),
        ({"retries": "2"}, "retries = '2': expected an integer"),
        ({"retry_delay_s": 90000}, "retry_delay_s = 90000: must be an integer in 0..86400"),
        ({"alert_topic_arn": "arn:aws:sqs:sa-east-1:123456789012:q"}, "alert_topic_arn 'arn:aws:sqs:sa-east-1"),
        ({"deadline": "25:00"}, "deadline '25:00': expected local time HH:MM (00:00..23:59)"),
        ({"deadline": "6:30"}, "deadline '6:30': expected local time HH:MM"),
        (
            {"deadline": "06:30", "schedule": "0 */4 * * *"},
            "deadline '06:30': counts from the run's time of day, and schedule '0 */4 * * *' has none",
        ),
        ({"transform_timeout_s": 0}, "transform_timeout_s = 0: must be an integer in 1..604800"),
        (
            {"transform_timeout_s": 7200, "run_timeout_s": 3600},
            "transform_timeout_s = 7200 is longer than run_timeout_s = 3600",
        ),
    ],
)
def test_invalid_nightly_keys_are_refused_naming_key_and_file(
    spec_file: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(spec_file, overrides)

    assert str(caught.value).startswith(f"spec {spec_file}: ") and message in str(caught.value)


def test_the_old_environment_variables_are_defaults_only_where_the_spec_is_silent(spec_file: Path) -> None:
    env = {
        "LEAFLINE_SCHEDULE": "0 4 * * *",
        "LEAFLINE_TIMEZONE": "UTC",
        "LEAFLINE_RETRIES": "0",
        "LEAFLINE_RETRY_DELAY_S": "5",
    }
    defaults = DagSettings.from_env(env).spec_defaults
    silent = load_spec(spec_file, defaults=defaults)
    assert (silent.schedule, silent.timezone, silent.retries, silent.retry_delay_s) == ("0 4 * * *", "UTC", 0, 5)

    spec_file.write_text(SPEC_TOML + 'schedule = "15 3 * * *"\nretries = 3\n')
    spoken = load_spec(spec_file, defaults=defaults)
    assert (spoken.schedule, spoken.timezone, spoken.retries) == ("15 3 * * *", "UTC", 3)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LEAFLINE_SCHEDULE": "nightly"}, "LEAFLINE_SCHEDULE='nightly': expected 5 cron fields"),
        ({"LEAFLINE_TIMEZONE": "Nowhere"}, "LEAFLINE_TIMEZONE='Nowhere': not an IANA time zone name"),
        ({"LEAFLINE_RETRIES": "1.5"}, "LEAFLINE_RETRIES='1.5': expected a whole number of retries"),
        ({"LEAFLINE_RETRY_DELAY_S": "soon"}, "LEAFLINE_RETRY_DELAY_S='soon': expected whole seconds"),
    ],
)
def test_a_bad_deployment_default_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        DagSettings.from_env(env)

    assert message in str(caught.value)


def _every_key() -> list[str]:
    from dataclasses import fields

    from leafline.spec.jobspec import JobSpec, TransformSettings

    top = [f.name for f in fields(JobSpec) if f.name != "transform"]
    return top + [f"transform.{f.name}" for f in fields(TransformSettings)]


@pytest.mark.parametrize("key", _every_key())
@pytest.mark.parametrize("value", [None, "text", 7, 1.5, True, ["a", 1], {"k": [1]}], ids=repr)
def test_any_value_of_any_key_is_either_taken_or_refused_naming_the_key_never_a_type_error(
    spec_file: Path, key: str, value: Any
) -> None:
    try:
        load_spec(spec_file, {key: value})
    except SpecError as exc:
        assert str(exc).startswith(f"spec {spec_file}: ") and key.rsplit(".", maxsplit=1)[-1] in str(exc)
