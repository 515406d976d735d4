"""The run record, `leafline.run/2`: what one scoring run did, for people, the dashboard and drift checks.

Fields (all present; None where a run did not get that far):
  schema            "leafline.run/2"
  run_id, run_date  the orchestrator's run id; the data's date (YYYY-MM-DD)
  trigger           "scheduled" | "manual" | "pipeline" | "transform"
  status            "succeeded" (scored, and validated: a `leafline transform` run need not be) | "failed"
  failure           why it failed (the job's FailureReason or the failing checks), else None
  recorded          when the record was written (ISO 8601, UTC)
  project_id, experiment_id
  model_package     {arn, version, approval, artifact_sha256, model_data_url}
  instance_type, instance_count
  settings          {MaxConcurrentTransforms: {value, source}, MaxPayloadInMB: {value, source}}
  transform_job     {name, status, started, ended, duration_s, failure_reason}
  totals            {files, input_records, rows (output records), bytes_in, bytes_out}
  rows_per_s        rows / the job's duration
  cost              what the run's instances were billed at the region's on-demand Batch Transform price
                    (leafline.runs.cost; None when the job never started on instances):
                      usd             instance_count x billed_s / 3600 x usd_per_hour (None: no price for the
                                      type in the region; displays then say "no price for <type> in <region>")
                      usd_per_hour    the price table's price of one instance_type instance-hour, or None
                      instance_hours  instance_count x billed_s / 3600
                      basis           how it was computed, for people: "ml.m5.xlarge: 2 instances x 72.0 s
                                      billed each (TransformStartTime to TransformEndTime: ...) = 0.04
                                      instance-hours x $0.23/h; price: <price_source>"
                                      (before these fields were added: only the price table's provenance)
                      instance_type, instance_count   what was billed
                      billed_s        seconds billed per instance: TransformStartTime to TransformEndTime,
                                      as SageMaker bills (the container's start-up included; provisioning
                                      before TransformStartTime is not)
                      billed_from     what billed_s is (leafline.runs.cost.BILLED_INTERVAL)
                      region          whose prices (the spec's region, else the job ARN's)
                      price_source    the price's source URL and retrieval date and the table's name, or why
                                      the table has no price for the type
                    Readers show this figure (the demo's summary, the dashboard); none recomputes it.
                    Older records carry only usd, usd_per_hour, instance_hours and basis.
  validation        {passed, report_uri, checks: [{name, status, reason}]}
  scores            the first score column: {count, mean, min, max, quantiles, histogram {edges, counts}}
  drift             {psi, previous_run_id, status: "stable" | "moderate" | "significant"} against the
                    previous run's scores, or None for a first run
  links             {airflow_run | pipeline_execution | ...: URL or path}
  outputs           {output_uri, report_uri, record_uri}

Reading is strict (parse_record, for the dashboard and drift checks; check_record, for every writer): a
record is at most 1 MiB of UTF-8 JSON nested at most 16 deep, run_id matches RUN_ID (Airflow's default run
id pattern: no path separator, no ".."), run_date is a date, and each field above has its type (numbers
are finite JSON numbers, never text or booleans). The parsed record holds only the fields above, each
top-level one present (None when absent, as in older records); a record that fails is refused whole, with
the key and the problem named.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from leafline.errors import LeaflineError

if TYPE_CHECKING:
    from leafline.runs.cost import Cost

RUN_SCHEMA = "leafline.run/2"
TRIGGERS = ("scheduled", "manual", "pipeline", "transform")
_RUN_FIELDS = ("project_id", "experiment_id", "model_package", "instance_type", "instance_count", "settings")
PSI_MODERATE, PSI_SIGNIFICANT = 0.1, 0.25  # the usual reading of the population stability index
STATUSES = ("succeeded", "failed")
DRIFT_STATUSES = ("stable", "moderate", "significant")
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.~:+-]{0,249}")  # Airflow's allowed_run_id_pattern, 250 at most
RUN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_RECORD_BYTES = 2**20  # a real record is a few KB; this bounds what one read can cost
MAX_DEPTH = 16  # a record nests 5 deep (validation.checks[i].reason)
MAX_TEXT = 64 * 1024  # characters in one string (a failure message lists the failing checks)
MAX_ITEMS = 10_000  # entries in one list or map (histogram bins, checks, links)


class RecordError(LeaflineError):
    """A run record that cannot be read or written: the message names where, the key and the problem."""


def drift_status(psi: float | None) -> str | None:
    if psi is None:
        return None
    return "stable" if psi < PSI_MODERATE else "moderate" if psi < PSI_SIGNIFICANT else "significant"


def job_seconds(started: Any, ended: Any) -> float | None:
    """Seconds between two DescribeTransformJob times (datetimes, or ISO strings as a record holds them)."""
    if not started or not ended:
        return None
    start = started if isinstance(started, datetime) else datetime.fromisoformat(str(started))
    end = ended if isinstance(ended, datetime) else datetime.fromisoformat(str(ended))
    return round((end - start).total_seconds(), 3)


def job_summary(job: Mapping[str, Any]) -> dict[str, Any]:
    started, ended = job.get("TransformStartTime"), job.get("TransformEndTime")
    return {
        "name": job.get("TransformJobName"),
        "status": job.get("TransformJobStatus"),
        "started": str(started) if started else None,
        "ended": str(ended) if ended else None,
        "duration_s": job_seconds(started, ended),
        "failure_reason": job.get("FailureReason") or None,
    }


def validation_summary(report: Mapping[str, Any] | None, report_uri: str | None) -> dict[str, Any] | None:
    if report is None:
        return None
    checks = [{"name": c["name"], "status": c["status"], "reason": c.get("reason", "")} for c in report["checks"]]
    return {"passed": bool(report["passed"]), "report_uri": report_uri, "checks": checks}


def scores_summary(report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    scores = (report or {}).get("scores") or {}
    columns = scores.get("columns") or []
    if not columns:
        return None
    first = columns[0]
    keys = ("count", "mean", "min", "max", "quantiles")
    return {**{key: first.get(key) for key in keys},
            "histogram": {k: first["histogram"].get(k) for k in ("edges", "counts")}}  # fmt: skip


def drift_summary(report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    drift = (report or {}).get("drift")
    if not drift:
        return None
    return {"psi": drift.get("psi"), "previous_run_id": drift.get("previous_run_id"),
            "status": drift_status(drift.get("psi"))}  # fmt: skip


def build_record(
    *,
    run: Mapping[str, Any],
    job: Mapping[str, Any] | None,
    report: Mapping[str, Any] | None,
    totals: Mapping[str, Any],
    cost: Cost | None,
    links: Mapping[str, str],
    outputs: Mapping[str, str | None],
    validation_required: bool = True,
) -> dict[str, Any]:
    """run: run_id, run_date, trigger, project_id, experiment_id, model_package, instance_type, instance_count,
    settings (the plan's); job: the final DescribeTransformJob; report: the validator's report, if it ran;
    cost: what the job was billed (leafline.runs.cost.job_cost), None when it never started on instances.
    An orchestrated run must be validated to succeed; a bare `leafline transform` need not be."""
    transform = job_summary(job or {})
    validation = validation_summary(report, outputs.get("report_uri"))
    failure = None
    if transform["status"] != "Completed":
        failure = transform["failure_reason"] or f"the transform job ended {transform['status']}"
    elif validation is None and validation_required:
        failure = "the output was not validated"
    elif validation is not None and not validation["passed"]:
        failing = [f"{c['name']}: {c['reason']}" for c in validation["checks"] if c["status"] == "failed"]
        failure = "validation failed: " + "; ".join(failing)
    duration = transform["duration_s"]
    rows = totals.get("rows")
    return {
        "schema": RUN_SCHEMA,
        **{key: run.get(key) for key in ("run_id", "run_date", "trigger")},
        "status": "failed" if failure else "succeeded",
        "failure": failure,
        "recorded": datetime.now(UTC).isoformat(),
        **{key: run.get(key) for key in _RUN_FIELDS},
        "transform_job": transform,
        "totals": dict(totals),
        "rows_per_s": round(rows / duration, 1) if rows and duration else None,
        "cost": cost.to_record() if cost else None,
        "validation": validation,
        "scores": scores_summary(report),
        "drift": drift_summary(report),
        "links": dict(links),
        "outputs": dict(outputs),
    }


def transform_record(
    request: Mapping[str, Any], describe: Mapping[str, Any], metrics: Mapping[str, Any], model: Mapping[str, Any],
    *, run_date: str, project_id: str,
) -> dict[str, Any]:  # fmt: skip
    """The record of a `leafline transform` run: the emulator's Describe and metrics, no validation."""
    from leafline.runs.cost import job_cost

    resources = request.get("TransformResources", {})
    cost = job_cost(resources.get("InstanceType", ""), int(resources.get("InstanceCount", 1)), describe)
    settings = {key: metrics.get("settings", {}).get(key) for key in ("MaxConcurrentTransforms", "MaxPayloadInMB")}
    run = {"run_id": request.get("TransformJobName"), "run_date": run_date, "trigger": "transform",
           "project_id": project_id, "experiment_id": None, "model_package": dict(model),
           "instance_type": resources.get("InstanceType"), "instance_count": resources.get("InstanceCount"),
           "settings": settings}  # fmt: skip
    totals = {"files": metrics.get("files"), "input_records": metrics.get("records"), "rows": metrics.get("records"),
              "bytes_in": metrics.get("bytes_in"), "bytes_out": metrics.get("bytes_out")}  # fmt: skip
    output = request.get("TransformOutput", {}).get("S3OutputPath")
    return build_record(run=run, job=describe, report=None, totals=totals, cost=cost, links={},
                        outputs={"output_uri": output, "report_uri": None}, validation_required=False)  # fmt: skip


# The strict reader -------------------------------------------------------------------------------------------

Check = Callable[[object, str], Any]  # (value, its key path) -> the checked value; raises _Invalid


class _Invalid(Exception):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)


def check_run_id(value: object) -> str:
    """A run id that is safe in a path and a URL, else RecordError."""
    return _run_id(value, "run_id", RecordError)


def check_run_date(value: object) -> str:
    return _run_date(value, "run_date", RecordError)


def parse_record(body: bytes, where: str) -> dict[str, Any]:
    """A run record from its bytes (at most MAX_RECORD_BYTES), checked field by field; RecordError names where."""
    if len(body) > MAX_RECORD_BYTES:
        raise RecordError(f"{where}: {len(body):,} bytes, over the {MAX_RECORD_BYTES:,}-byte limit of a run record")
    offset = _too_deep_at(body)
    if offset is not None:
        raise RecordError(f"{where}: not a readable JSON run record (nested deeper than {MAX_DEPTH} at byte {offset})")
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError; so are 4,301-digit ints
        raise RecordError(f"{where}: not a readable JSON run record ({exc})") from None
    return check_record(document, where)


def check_record(document: object, where: str) -> dict[str, Any]:
    """The record with only the fields of leafline.run/2, each of its type; RecordError names where and the key."""
    if not isinstance(document, dict) or not str(document.get("schema", "")).startswith("leafline.run/"):
        raise RecordError(f"{where}: not a leafline run record (no leafline.run schema)")
    for key in ("run_id", "run_date"):
        if key not in document:
            raise RecordError(f"{where}: {key}: missing")
    try:
        checked: dict[str, Any] = _RECORD(document, "")
    except _Invalid as exc:
        raise RecordError(f"{where}: {exc}") from None
    return checked


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*+"?|[\[{]|[\]}]|[^"\[\]{}]++', re.S)  # a string (closed or not) is one token


def _too_deep_at(body: bytes) -> int | None:
    """The byte offset where nesting passes MAX_DEPTH, before the decoder recurses into it; None if it does not."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return None
    depth = 0
    for token in _TOKEN.finditer(body):
        first = body[token.start()]
        if first in b"[{":
            depth += 1
            if depth > MAX_DEPTH:
                return token.start()
        elif first in b"]}":
            depth -= 1
    return None


def _shown(value: object) -> str:
    kind = {bool: "a boolean", str: "text", list: "a list", dict: "an object", type(None): "null"}.get(type(value))
    text = repr(value)
    return f"{kind or 'a number'} {text[:40] + '...' if len(text) > 40 else text}"


def _text(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _Invalid(path, f"expected text, got {_shown(value)}")
    if len(value) > MAX_TEXT:
        raise _Invalid(path, f"{len(value):,} characters, over the limit of {MAX_TEXT:,}")
    if _CONTROL.search(value):
        raise _Invalid(path, "contains a control character or a lone surrogate (not text a page can show)")
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _number(value: object, path: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Invalid(path, f"expected a number, got {_shown(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Invalid(path, f"expected a finite number, got {value}")
    return value


def _count(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Invalid(path, f"expected a whole number >= 0, got {_shown(value)}")
    return value


def _flag(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(path, f"expected true or false, got {_shown(value)}")
    return value


def _scalar(value: object, path: str) -> Any:
    return _text(value, path) if isinstance(value, str) else _number(value, path)


def _run_id(value: object, path: str, error: Callable[[str], Exception] | None = None) -> str:
    if not isinstance(value, str) or not RUN_ID.fullmatch(value) or ".." in value:
        problem = f"{_shown(value)} is not a run id ({RUN_ID.pattern}, no '..')"
        raise (error(f"{path}: {problem}") if error else _Invalid(path, problem))
    return value


def _run_date(value: object, path: str, error: Callable[[str], Exception] | None = None) -> str:
    try:
        if isinstance(value, str) and RUN_DATE.fullmatch(value):
            date.fromisoformat(value)
            return value
    except ValueError:
        pass
    problem = f"{_shown(value)} is not a date (YYYY-MM-DD)"
    raise (error(f"{path}: {problem}") if error else _Invalid(path, problem))


def _one_of(*choices: str) -> Check:
    def check(value: object, path: str) -> str:
        if value not in choices:
            raise _Invalid(path, f"expected one of {', '.join(choices)}, got {_shown(value)}")
        return str(value)

    return check


def _word(value: object, path: str) -> str:  # shown as a CSS class too
    if not isinstance(value, str) or not re.fullmatch(r"[a-z][a-z_-]{0,31}", value):
        raise _Invalid(path, f"expected a lower-case word, got {_shown(value)}")
    return value


def _optional(check: Check) -> Check:
    def optional(value: object, path: str) -> Any:
        return None if value is None else check(value, path)

    return optional


def _object(fields: Mapping[str, Check], fill: bool = False) -> Check:
    """A JSON object: the known keys checked (absent ones absent, or None with fill), unknown ones left out."""

    def check(value: object, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Invalid(path, f"expected an object, got {_shown(value)}")
        return {key: checker(value[key], _at(path, key)) if key in value else None
                for key, checker in fields.items() if fill or key in value}  # fmt: skip

    return check


def _map(values: Check) -> Check:
    """A JSON object whose keys are free text (shown on the page) and whose values are all of one kind."""

    def check(value: object, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Invalid(path, f"expected an object, got {_shown(value)}")
        if len(value) > MAX_ITEMS:
            raise _Invalid(path, f"{len(value):,} keys, over the limit of {MAX_ITEMS:,}")
        return {_text(key, path): values(item, _at(path, key)) for key, item in value.items()}

    return check


def _list(items: Check) -> Check:
    def check(value: object, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise _Invalid(path, f"expected a list, got {_shown(value)}")
        if len(value) > MAX_ITEMS:
            raise _Invalid(path, f"{len(value):,} items, over the limit of {MAX_ITEMS:,}")
        return [items(item, f"{path}[{index}]") for index, item in enumerate(value)]

    return check


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_TEXT, _NUMBER, _COUNT = _optional(_text), _optional(_number), _optional(_count)
_HISTOGRAM = _object({"edges": _list(_number), "counts": _list(_number)})
_RECORD = _object({
    "schema": _text,
    "run_id": _run_id,
    "run_date": _run_date,
    "trigger": _optional(_one_of(*TRIGGERS)),
    "status": _optional(_one_of(*STATUSES)),
    "failure": _TEXT,
    "recorded": _TEXT,
    "project_id": _TEXT,
    "experiment_id": _TEXT,
    "model_package": _optional(_object({"arn": _TEXT, "version": _COUNT, "approval": _TEXT,
                                        "artifact_sha256": _TEXT, "model_data_url": _TEXT})),
    "instance_type": _TEXT,
    "instance_count": _COUNT,
    "settings": _optional(_map(_optional(_object({"value": _optional(_scalar), "source": _TEXT})))),
    "transform_job": _optional(_object({"name": _TEXT, "status": _TEXT, "started": _TEXT, "ended": _TEXT,
                                        "duration_s": _NUMBER, "failure_reason": _TEXT})),
    "totals": _optional(_object({key: _COUNT for key in ("files", "input_records", "rows", "bytes_in", "bytes_out")})),
    "rows_per_s": _NUMBER,
    "cost": _optional(_object({"usd": _NUMBER, "usd_per_hour": _NUMBER, "instance_hours": _NUMBER, "basis": _TEXT,
                               "instance_type": _TEXT, "instance_count": _COUNT, "billed_s": _NUMBER,
                               "billed_from": _TEXT, "region": _TEXT, "price_source": _TEXT})),
    "validation": _optional(_object({"passed": _flag, "report_uri": _TEXT,
                                     "checks": _list(_object({"name": _text, "status": _word, "reason": _TEXT}))})),
    "scores": _optional(_object({"count": _COUNT, "mean": _NUMBER, "min": _NUMBER, "max": _NUMBER,
                                 "quantiles": _optional(_map(_NUMBER)), "histogram": _optional(_HISTOGRAM)})),
    "drift": _optional(_object({"psi": _NUMBER, "previous_run_id": _optional(_run_id),
                                "status": _optional(_one_of(*DRIFT_STATUSES))})),
    "links": _optional(_map(_text)),
    "outputs": _optional(_map(_TEXT)),
}, fill=True)  # fmt: skip
