"""Run records as the orchestrators write them (leafline.runs.record.build_record), for dashboard tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from leafline.runs.cost import job_cost
from leafline.runs.record import build_record
from leafline.spec.prices import Price, PriceTable

EDGES = [i / 10 for i in range(11)]
# A priced type, so the records have a figure to plot (the built-in table may price none: it invents nothing).
PRICES = PriceTable(
    "sa-east-1", "a test table", {"ml.m5.xlarge": Price(0.33, "https://example.test", "2026-11-01")}, {}
)


def record(
    run_id: str, run_date: str, *, project: str = "churn", version: int = 1, passed: bool = True,
    counts: list[int] | None = None, previous: str | None = None, rows: int = 1000, seconds: float = 2.0,
) -> dict[str, Any]:  # fmt: skip
    start = datetime(2026, 11, 1, 2, 0, tzinfo=UTC) + timedelta(days=int(run_date[-2:]))
    job = {"TransformJobName": f"job-{run_id}", "TransformJobStatus": "Completed",
           "CreationTime": start - timedelta(minutes=4), "TransformStartTime": start,
           "TransformEndTime": start + timedelta(seconds=seconds)}  # fmt: skip
    report = {
        "passed": passed,
        "checks": [{"name": "record_counts", "status": "passed" if passed else "failed",
                    "reason": "" if passed else "part-0.csv.out: 990 records, expected 1000"}],
        "scores": {"columns": [{"count": rows, "mean": 0.4, "min": 0.0, "max": 1.0, "quantiles": {"0.5": 0.4},
                                "histogram": {"edges": EDGES, "counts": counts or [100] * 10}}]},
        "drift": {"psi": 0.3, "previous_run_id": previous} if previous else None,
    }  # fmt: skip
    run = {"run_id": run_id, "run_date": run_date, "trigger": "scheduled", "project_id": project,
           "experiment_id": "exp-1", "instance_type": "ml.m5.xlarge", "instance_count": 1,
           "model_package": {"arn": f"arn:aws:sagemaker:sa-east-1:123456789012:model-package/{project}/{version}",
                             "version": version, "approval": "Approved", "artifact_sha256": "ab" * 32},
           "settings": {"MaxConcurrentTransforms": {"value": 4, "source": "tuned profile for ml.m5.xlarge"},
                        "MaxPayloadInMB": {"value": 6, "source": "tuned profile for ml.m5.xlarge"}}}  # fmt: skip
    built = build_record(run=run, job=job, report=report, totals={"files": 2, "rows": rows, "bytes_in": 9000},
                         cost=job_cost("ml.m5.xlarge", 1, job, prices=PRICES), links={},
                         outputs={"output_uri": "s3://b/out/", "report_uri": "s3://b/report.json"})  # fmt: skip
    built["recorded"] = (start + timedelta(seconds=seconds)).isoformat()
    return built


def write(folder: Path, *records: dict[str, Any]) -> None:
    for item in records:
        path = folder / item["run_date"] / f"{item['run_id']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(item))
