"""What to validate: where the input and output are, how records are written, and the bars to meet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leafline.sagemaker.jsonpath import JsonPath, parse_jsonpath
from leafline.sagemaker.request import parse_request

DEFAULT_SAMPLE = 200
DEFAULT_ATOL = 1e-5  # the seeds' sanity check: LightGBM and the served scores agree within 1e-5


@dataclass(frozen=True)
class ValidationSpec:
    input_uri: str
    output_uri: str
    model_dir: Path | None = None
    content_type: str = "text/csv"
    accept: str = "text/csv"
    input_is_manifest: bool = False
    gzip_input: bool = False
    input_filter: JsonPath = field(default_factory=lambda: parse_jsonpath("$"))
    join_input: bool = False
    output_filter: JsonPath = field(default_factory=lambda: parse_jsonpath("$"))
    slice_end_inclusive: bool = True
    threshold: float | None = None  # the job's PREDICTION_THRESHOLD: outputs are labels
    sample: int = DEFAULT_SAMPLE  # records re-scored per file
    atol: float = DEFAULT_ATOL
    min_similarity: float = 1.0  # fraction of re-scored records within atol needed to pass
    previous_report: Mapping[str, Any] | None = None  # for drift
    max_psi: float | None = None  # fail above this PSI (default: report drift only)

    @classmethod
    def from_request(cls, request: Mapping[str, Any], **overrides: Any) -> ValidationSpec:
        """The locations and formats of a CreateTransformJob request (the job the output came from)."""
        parsed = parse_request(request)
        processing = parsed.data_processing
        values: dict[str, Any] = {
            "input_uri": parsed.input_uri,
            "output_uri": parsed.output_path,
            "content_type": _media(parsed.content_type, "text/csv"),
            "accept": _media(parsed.accept, _media(parsed.content_type, "text/csv")),
            "input_is_manifest": parsed.input_is_manifest,
            "gzip_input": parsed.gzip_input,
            "input_filter": processing.input_filter,
            "join_input": processing.join_input,
            "output_filter": processing.output_filter,
        }
        threshold = parsed.environment.get("PREDICTION_THRESHOLD")
        if threshold:
            values["threshold"] = float(threshold)
        values.update(overrides)
        return cls(**values)


def _media(value: str | None, default: str) -> str:
    return (value or default).split(";")[0].strip().lower()
