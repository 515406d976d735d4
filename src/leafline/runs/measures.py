"""What a run measured: its files, records and bytes (what it cost: leafline.runs.cost)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leafline.sagemaker.storage import Storage


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
