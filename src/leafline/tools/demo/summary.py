"""The demo's closing summary, from what the run wrote (its run record) and the model's tuning profile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leafline.runs.cost import amount_text
from leafline.tuning.choose import Choice


@dataclass(frozen=True)
class Locations:
    outputs: str
    report: str
    record: str
    local_root: str  # where the state folder mirrors s3:// (after local AWS stops)


def _local(uri: str, root: str) -> str:
    return root.rstrip("/") + "/" + uri.removeprefix("s3://")


def summary_lines(
    record: Mapping[str, Any],
    dag_seconds: float,
    choice: Choice,
    locations: Locations,
) -> list[str]:
    package = record["model_package"]
    totals = record["totals"]
    rows = int(totals.get("rows") or 0)
    transform_s = record["transform_job"].get("duration_s") or 0.0
    rate = f" = {record['rows_per_s']:,.0f} rows/s" if record.get("rows_per_s") else ""
    settings = record["settings"]
    checks = (record.get("validation") or {}).get("checks", [])
    passed = [c["name"] for c in checks if c["status"] == "passed"]
    lines = [
        f"  run                {record['run_id']} (run date {record['run_date']}): Airflow run succeeded in "
        f"{dag_seconds:.1f} s",
        f"  model              {package['arn'].split('/', 1)[1]} ({package['approval']}), artifact sha256 "
        f"{str(package['artifact_sha256'])[:12]}",
        f"  rows scored        {rows:,} in {totals.get('files', '?')} files; transform job {transform_s:.1f} s{rate}",
        f"  instance           {record['instance_count']} x {record['instance_type']}",
    ]
    for label, key in (("settings", "MaxConcurrentTransforms"), ("", "MaxPayloadInMB")):
        lines.append(f"  {label:<18} {key} {settings[key]['value']} ({settings[key]['source']})")
    lines.append("  why                " + choice.reasons[0])
    lines.extend("                     " + reason for reason in choice.reasons[1:])
    # The run record's figure and how it was computed, as recorded (and as the dashboard shows it).
    cost = record.get("cost")
    lines.append(f"  estimated AWS cost {amount_text(cost)} (the run record's, for {rows:,} rows)")
    if cost and cost.get("basis"):  # how it was computed; then the price's source and date, or why none
        lines.extend(f"{'':21}{part}" for part in str(cost["basis"]).split("; ", 1))
    lines.append(f"{'':21}(local AWS emulates no instance start-up: on AWS the billed time also includes starting "
                 "the container on the instance)")  # fmt: skip
    verdict = "passed" if record["validation"].get("passed") else "FAILED"
    lines.append(f"  validation         {verdict}: {', '.join(passed) or 'no checks'}")
    drift = record.get("drift")
    if drift and drift.get("psi") is not None:
        lines.append(f"  score drift        PSI {drift['psi']:.4f} against run {drift['previous_run_id']} "
                     f"({drift['status']})")  # fmt: skip
    else:
        lines.append("  score drift        none measured (the project's first validated run)")
    for label, uri in (("outputs", locations.outputs), ("validation report", locations.report),
                       ("run record", locations.record)):  # fmt: skip
        lines.append(f"  {label:<18} {uri}")
        lines.append(f"  {'':<18} {_local(uri, locations.local_root)}")
    return lines
