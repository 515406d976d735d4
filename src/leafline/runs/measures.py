"""What a run measured: its files, records and bytes, and what its instance-time cost (estimated)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leafline.transform.storage import Storage


def run_totals(storage: Storage, input_uri: str, output_uri: str, report: Mapping[str, Any] | None) -> dict[str, Any]:
    """Files and records as the validator counted them; bytes from the listings."""
    counted = (report or {}).get("totals") or {}
    inputs = storage.list_prefix(input_uri)
    outputs = storage.list_prefix(output_uri)
    return {
        "files": counted.get("files", len(inputs)),
        "input_records": counted.get("input_records"),
        "rows": counted.get("output_records"),
        "bytes_in": sum(obj.size for obj in inputs),
        "bytes_out": sum(obj.size for obj in outputs),
    }


def run_cost(instance_type: str, instance_count: int, job: Mapping[str, Any]) -> dict[str, Any] | None:
    """Instances x the job's duration x the hourly price: what the job's instance-time cost (estimated)."""
    from leafline.prices import load_price_table
    from leafline.runs.record import job_summary

    seconds = job_summary(job)["duration_s"]
    prices = load_price_table(None)
    price = prices.price(instance_type)
    if seconds is None:
        return None
    hours = instance_count * seconds / 3600.0
    return {"usd": None if price is None else round(hours * price, 6), "usd_per_hour": price,
            "instance_hours": round(hours, 6), "basis": prices.provenance()}  # fmt: skip
