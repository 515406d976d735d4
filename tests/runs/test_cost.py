"""One run, one cost: the record stores what the job's instances were billed and how that was computed, and the
demo's summary and the dashboard show that figure; the forecast (`leafline tune`) does the same arithmetic."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leafline.dashboard.app import create_app
from leafline.demo.summary import Locations, summary_lines
from leafline.prices import BUILT_IN, PriceTable
from leafline.runs.cost import BILLED_INTERVAL, cost_text, instance_cost, job_cost, usd_text
from leafline.runs.index import RunsIndex
from leafline.runs.record import build_record
from leafline.transform.storage import Storage
from leafline.tuning.choose import Choice
from leafline.tuning.cost import estimate
from leafline.tuning.profile import Summary

CREATED = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
# DescribeTransformJob as boto3 returns it: 3.5 min finding instances (not billed), then 72 s on them.
DESCRIBE = {
    "TransformJobName": "lgbm-scheduled-20261121",
    "TransformJobStatus": "Completed",
    "CreationTime": CREATED,
    "TransformStartTime": CREATED + timedelta(seconds=210),
    "TransformEndTime": CREATED + timedelta(seconds=282),
}
RUN = {
    "run_id": "scheduled__2026-11-21T05:00:00+00:00", "run_date": "2026-11-21", "trigger": "scheduled",
    "project_id": "churn", "experiment_id": "exp-1", "instance_type": "ml.m5.xlarge", "instance_count": 2,
    "model_package": {"arn": "arn:aws:sagemaker:sa-east-1:123456789012:model-package/churn/3", "version": 3,
                      "approval": "Approved", "artifact_sha256": "ab" * 32},
    "settings": {"MaxConcurrentTransforms": {"value": 4, "source": "tuned profile for ml.m5.xlarge"},
                 "MaxPayloadInMB": {"value": 6, "source": "tuned profile for ml.m5.xlarge"}},
}  # fmt: skip
REPORT = {"passed": True, "checks": [{"name": "record_counts", "status": "passed"}]}


def _record() -> dict[str, Any]:
    """As the DAG's record task builds it (leafline.orchestration.record_run)."""
    return build_record(run=RUN, job=DESCRIBE, report=REPORT, totals={"files": 6, "rows": 300_000},
                        cost=job_cost("ml.m5.xlarge", 2, DESCRIBE), links={},
                        outputs={"output_uri": "s3://b/out/", "report_uri": "s3://b/r.json",
                                 "record_uri": "s3://b/runs/r.json"})  # fmt: skip


def _summary_text(record: dict[str, Any]) -> str:
    choice = Choice("ml.m5.xlarge", 4, 6, 190_000.0, 300.0, ("one payload in flight per vCPU",))
    return "\n".join(summary_lines(record, 20.0, choice, Locations("s3://b/out/", "s3://b/r.json", "s3://b/x", "/l")))


def test_a_runs_cost_is_its_instances_billed_interval_times_the_price() -> None:
    cost = _record()["cost"]

    assert cost["billed_s"] == 72.0 and cost["billed_from"] == BILLED_INTERVAL  # not the 210 s before it
    assert (cost["instance_type"], cost["instance_count"], cost["usd_per_hour"]) == ("ml.m5.xlarge", 2, 0.33)
    assert cost["instance_hours"] == pytest.approx(2 * 72 / 3600)
    assert cost["usd"] == pytest.approx(2 * 72 / 3600 * 0.33)  # $0.0132, nothing assumed
    assert cost["price_source"] == BUILT_IN.provenance() and cost["price_source"].startswith("ESTIMATED")
    assert cost["basis"] == (
        f"ml.m5.xlarge x 2, 72.0 s billed (TransformStartTime to TransformEndTime) x $0.33/h; {BUILT_IN.provenance()}"
    )


def test_one_run_shows_the_same_cost_in_its_record_the_demo_summary_and_the_dashboard(tmp_path: Path) -> None:
    record = _record()
    RunsIndex(Storage(), str(tmp_path)).write(record)
    client = TestClient(create_app(RunsIndex(Storage(), str(tmp_path))))
    shown = usd_text(record["cost"]["usd"])
    assert shown == "$0.0132"

    summary = _summary_text(record)
    printed = re.search(r"estimated AWS cost (\S+) for 300,000 rows", summary)
    assert printed is not None and printed.group(1) == shown
    assert "72.0 s billed (TransformStartTime to TransformEndTime) x $0.33/h" in summary  # how, beside it

    page = client.get(f"/runs/{record['run_id']}")
    dashboard = re.search(r'<dd id="cost">(.*?)</dd>', page.text, re.S)
    assert dashboard is not None and html.unescape(dashboard.group(1)) == cost_text(record["cost"])
    assert html.unescape(dashboard.group(1)).startswith(f"{shown}: ml.m5.xlarge x 2, 72.0 s billed")
    table = client.get("/").text
    assert f'<td class="num">{shown}</td>' in table


def test_records_from_before_the_cost_basis_fields_still_show_their_cost(tmp_path: Path) -> None:
    record = _record()
    record["cost"] = {"usd": 0.000367, "usd_per_hour": 0.33, "instance_hours": 0.001111, "basis": "ESTIMATED prices"}
    RunsIndex(Storage(), str(tmp_path)).write(record)
    page = TestClient(create_app(RunsIndex(Storage(), str(tmp_path)))).get(f"/runs/{record['run_id']}")
    assert '<dd id="cost">$0.000367: ESTIMATED prices</dd>' in page.text
    assert "estimated AWS cost $0.000367 for 300,000 rows" in _summary_text(record)


def test_a_job_that_never_started_on_instances_has_no_cost() -> None:
    assert job_cost("ml.m5.xlarge", 1, {"TransformJobStatus": "NotSubmitted"}) is None
    assert "estimated AWS cost not known" in _summary_text({**_record(), "cost": None})


def test_the_forecast_uses_the_same_arithmetic_and_says_what_it_assumes() -> None:
    prices = PriceTable("sa-east-1", "2026-11-01", "test", True, {"ml.m5.xlarge": 0.4})
    summary = Summary(rows_per_s_per_vcpu=10_000.0, payload_mb=6, memory_mb_per_payload_mb=4.0, idle_rss_mb=60.0,
                      memory_fixed_mb=40.0, bytes_per_row=400.0, scaling=1.0)  # fmt: skip
    forecast = estimate(summary, "ml.m5.xlarge", 1, 2_400_000, prices, startup_min=5)  # 60 s scoring on 4 vCPUs
    same = instance_cost("ml.m5.xlarge", 1, forecast.minutes * 60, prices, "anything")
    assert forecast.usd == same.usd == pytest.approx(6 / 60 * 0.4)
    assert "60.0 s scoring + 5 min assumed start-up" in forecast.cost.basis()
