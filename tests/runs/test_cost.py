"""One run, one cost: the record stores what the job's instances were billed and how that was computed, and the
demo's summary and the dashboard show that figure; the forecast (`leafline tune`) does the same arithmetic."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leafline.dashboard.app import create_app
from leafline.errors import UsageError
from leafline.runs.cost import BILLED_INTERVAL, amount_text, cost_text, instance_cost, job_cost, usd_text
from leafline.runs.index import RunsIndex
from leafline.runs.record import build_record
from leafline.sagemaker.storage import Storage
from leafline.spec.prices import PRICES_ENV, Price, PriceTable, Unpriced, price_table, tables_document
from leafline.tools.demo.summary import Locations, summary_lines
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


PRICED = PriceTable(
    "sa-east-1",
    "a test table",
    {"ml.m5.xlarge": Price(0.33, "https://example.test/p", "2026-11-01")},
    {"ml.c5.xlarge": Unpriced("no AWS-published price was found", "a search", "2026-12-02")},
)


def _record(prices: PriceTable | None = PRICED, instance_type: str = "ml.m5.xlarge") -> dict[str, Any]:
    """As the DAG's record task builds it (leafline.orchestration.steps.record_run)."""
    return build_record(run={**RUN, "instance_type": instance_type}, job=DESCRIBE, report=REPORT,
                        totals={"files": 6, "rows": 300_000},
                        cost=job_cost(instance_type, 2, DESCRIBE, region="sa-east-1", prices=prices), links={},
                        outputs={"output_uri": "s3://b/out/", "report_uri": "s3://b/r.json",
                                 "record_uri": "s3://b/runs/r.json"})  # fmt: skip


def _summary_text(record: dict[str, Any]) -> str:
    choice = Choice("ml.m5.xlarge", 4, 6, 190_000.0, 300.0, ("one payload in flight per vCPU",))
    return "\n".join(summary_lines(record, 20.0, choice, Locations("s3://b/out/", "s3://b/r.json", "s3://b/x", "/l")))


def _shown(record: dict[str, Any], tmp_path: Path) -> tuple[str, str, str]:
    """The run's cost as the demo's summary, the dashboard's run page and its runs table print it."""
    RunsIndex(Storage(), str(tmp_path)).write(record)
    client = TestClient(create_app(RunsIndex(Storage(), str(tmp_path))))
    printed = re.search(r"estimated AWS cost (.+) \(the run record's, for 300,000 rows\)", _summary_text(record))
    page = re.search(r'<dd id="cost">(.*?)</dd>', client.get(f"/runs/{record['run_id']}").text, re.S)
    row = re.search(r'<td class="num cost">(.*?)</td>', client.get("/").text, re.S)
    assert printed is not None and page is not None and row is not None
    return printed.group(1), html.unescape(page.group(1)), html.unescape(row.group(1))


def test_a_runs_cost_is_its_instances_billed_interval_times_the_price() -> None:
    cost = _record()["cost"]

    assert cost["billed_s"] == 72.0 and cost["billed_from"] == BILLED_INTERVAL  # not the 210 s before it
    assert (cost["instance_type"], cost["instance_count"], cost["usd_per_hour"]) == ("ml.m5.xlarge", 2, 0.33)
    assert cost["region"] == "sa-east-1"
    assert cost["instance_hours"] == pytest.approx(2 * 72 / 3600)
    assert cost["usd"] == pytest.approx(2 * 72 / 3600 * 0.33)  # $0.0132, nothing assumed
    assert cost["price_source"] == "https://example.test/p, retrieved 2026-11-01 (a test table, sa-east-1)"
    assert cost["basis"] == (
        "ml.m5.xlarge: 2 instances x 72.0 s billed each (TransformStartTime to TransformEndTime: the container's "
        "start-up included, the wait for instances before it not) = 0.04 instance-hours x $0.33/h; price: "
        "https://example.test/p, retrieved 2026-11-01 (a test table, sa-east-1)"
    )


def test_one_run_shows_the_same_cost_in_its_record_the_demo_summary_and_the_dashboard(tmp_path: Path) -> None:
    record = _record()
    shown = amount_text(record["cost"])
    assert shown == usd_text(record["cost"]["usd"]) == "$0.0132"
    summary, page, row = _shown(record, tmp_path)
    assert summary == row == shown
    assert page == cost_text(record["cost"]) and page.startswith(f"{shown}: ml.m5.xlarge: 2 instances x 72.0 s")
    assert "72.0 s billed each (TransformStartTime to TransformEndTime" in _summary_text(record)  # how, beside it
    assert "price: https://example.test/p, retrieved 2026-11-01" in _summary_text(record)  # and which table


@pytest.mark.parametrize("instance_type", ["ml.c5.xlarge", "ml.m5.2xlarge"])  # unpriced; not in the table at all
def test_a_type_without_a_price_says_so_everywhere_and_invents_none(instance_type: str, tmp_path: Path) -> None:
    record = _record(instance_type=instance_type)
    assert record["cost"]["usd"] is None and record["cost"]["usd_per_hour"] is None
    assert record["cost"]["instance_hours"] == pytest.approx(2 * 72 / 3600)  # the billed time is still known
    summary, page, row = _shown(record, tmp_path)
    expected = f"no price for {instance_type} in sa-east-1"
    assert summary == row == amount_text(record["cost"]) == expected
    assert page.startswith(f"{expected}: {instance_type}: 2 instances x 72.0 s billed each")
    assert "$" not in summary + page + row


def test_the_built_in_table_is_the_default_for_the_runs_region() -> None:
    cost = job_cost("ml.m5.xlarge", 1, DESCRIBE, region="us-east-1")
    assert cost is not None and cost.region == "us-east-1"
    assert cost.usd_per_hour == price_table("us-east-1").price("ml.m5.xlarge")


def test_a_refreshed_table_named_by_leafline_prices_prices_the_runs(tmp_path: Path, monkeypatch) -> None:
    refreshed = tmp_path / "prices.json"
    refreshed.write_text(json.dumps(tables_document([PRICED])))
    monkeypatch.setenv(PRICES_ENV, str(refreshed))
    cost = job_cost("ml.m5.xlarge", 2, DESCRIBE, region="sa-east-1")
    assert cost is not None and cost.usd_per_hour == 0.33 and str(refreshed) in cost.price_source
    monkeypatch.setenv(PRICES_ENV, str(tmp_path / "missing.json"))
    with pytest.raises(UsageError, match=r"missing\.json: cannot read the price table"):
        job_cost("ml.m5.xlarge", 2, DESCRIBE, region="sa-east-1")


def test_records_from_before_the_cost_basis_fields_still_show_their_cost(tmp_path: Path) -> None:
    record = _record()
    record["cost"] = {"usd": 0.000367, "usd_per_hour": 0.33, "instance_hours": 0.001111, "basis": "ESTIMATED prices"}
    RunsIndex(Storage(), str(tmp_path)).write(record)
    page = TestClient(create_app(RunsIndex(Storage(), str(tmp_path)))).get(f"/runs/{record['run_id']}")
    assert '<dd id="cost">$0.000367: ESTIMATED prices</dd>' in page.text
    assert "estimated AWS cost $0.000367 (the run record's, for 300,000 rows)" in _summary_text(record)


def test_a_job_that_never_started_on_instances_has_no_cost() -> None:
    assert job_cost("ml.m5.xlarge", 1, {"TransformJobStatus": "NotSubmitted"}, region="sa-east-1") is None
    assert "estimated AWS cost not known" in _summary_text({**_record(), "cost": None})


def test_the_forecast_uses_the_same_arithmetic_and_says_what_it_assumes() -> None:
    prices = PriceTable("sa-east-1", "test", {"ml.m5.xlarge": Price(0.4, "https://example.test", "2026-11-01")}, {})
    summary = Summary(rows_per_s_per_vcpu=10_000.0, payload_mb=6, memory_mb_per_payload_mb=4.0, idle_rss_mb=60.0,
                      memory_fixed_mb=40.0, bytes_per_row=400.0, scaling=1.0)  # fmt: skip
    forecast = estimate(summary, "ml.m5.xlarge", 1, 2_400_000, prices, startup_min=5)  # 60 s scoring on 4 vCPUs
    same = instance_cost("ml.m5.xlarge", 1, forecast.minutes * 60, prices, "anything")
    assert forecast.usd == same.usd == pytest.approx(6 / 60 * 0.4)
    assert "60.0 s scoring + 5 min assumed start-up" in forecast.cost.basis()
