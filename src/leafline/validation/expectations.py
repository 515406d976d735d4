"""What the model says each output record must be: how many score columns, and which values are possible."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from leafline.serving.model_info import ModelInfo, read_model_info

_PROBABILITIES = ("binary", "multiclass", "multiclassova", "cross_entropy", "xentropy")
_NON_NEGATIVE = ("poisson", "gamma", "tweedie")
_SOFTMAX = ("multiclass", "softmax")


@dataclass(frozen=True)
class Expectations:
    columns: int | None  # None: learn it from the first output record
    low: float | None
    high: float | None
    labels: frozenset[float] | None  # thresholded outputs
    rows_sum_to_one: bool
    description: str
    info: ModelInfo | None = None

    def range_text(self) -> str:
        if self.labels is not None:
            return "labels " + ", ".join(f"{v:g}" for v in sorted(self.labels))
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"[{low}, {high}]" + (" with each row summing to 1" if self.rows_sum_to_one else "")


def expectations_for(model_dir: Path | None, threshold: float | None) -> Expectations:
    if model_dir is None:
        return Expectations(None, None, None, frozenset({0.0, 1.0}) if threshold is not None else None, False,
                            "no model given: columns learnt from the first record, range not checked")  # fmt: skip
    info = read_model_info(model_dir / "model.txt")
    objective = info.objective
    labelled = threshold is not None and info.is_binary
    low, high = (
        (0.0, 1.0) if objective in _PROBABILITIES else (0.0, None) if objective in _NON_NEGATIVE else (None, None)
    )
    return Expectations(
        columns=info.output_columns,
        low=low,
        high=high,
        labels=frozenset({0.0, 1.0}) if labelled else None,
        rows_sum_to_one=objective in _SOFTMAX and info.output_columns > 1,
        description=f"{info.objective_spec}: {info.output_columns} column(s)",
        info=info,
    )
