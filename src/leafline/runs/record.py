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
  cost              what the run's instances were billed, ESTIMATED from a price table (leafline.runs.cost;
                    None when the job never started on instances):
                      usd             instance_count x billed_s / 3600 x usd_per_hour (None: no price)
                      usd_per_hour    the table's price of one instance_type instance-hour
                      instance_hours  instance_count x billed_s / 3600
                      basis           how it was computed, for people: "ml.m5.xlarge x 1, 1.7 s billed
                                      (TransformStartTime to TransformEndTime) x $0.33/h; <price_source>"
                                      (before these fields were added: only the price table's provenance)
                      instance_type, instance_count   what was billed
                      billed_s        seconds billed per instance: TransformStartTime to TransformEndTime,
                                      as SageMaker bills (provisioning before TransformStartTime is not)
                      billed_from     "TransformStartTime to TransformEndTime"
                      price_source    the price table's provenance: region, date, source, ESTIMATED or not
                    Readers show this figure (the demo's summary, the dashboard); none recomputes it.
                    Older records carry only usd, usd_per_hour, instance_hours and basis.
  validation        {passed, report_uri, checks: [{name, status, reason}]}
  scores            the first score column: {count, mean, min, max, quantiles, histogram {edges, counts}}
  drift             {psi, previous_run_id, status: "stable" | "moderate" | "significant"} against the
                    previous run's scores, or None for a first run
  links             {airflow_run | pipeline_execution | ...: URL or path}
  outputs           {output_uri, report_uri, record_uri}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leafline.runs.cost import Cost

RUN_SCHEMA = "leafline.run/2"
TRIGGERS = ("scheduled", "manual", "pipeline", "transform")
_RUN_FIELDS = ("project_id", "experiment_id", "model_package", "instance_type", "instance_count", "settings")
PSI_MODERATE, PSI_SIGNIFICANT = 0.1, 0.25  # the usual reading of the population stability index


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
