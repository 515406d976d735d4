"""Re-score sampled input records with LightGBM in-process: the reference the served scores must match."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from leafline.transform.jsonpath import JsonPath


class Rescorer:
    def __init__(self, model_dir: Path, feature_names: tuple[str, ...], threshold: float | None) -> None:
        import lightgbm

        self._booster = lightgbm.Booster(model_file=str(model_dir / "model.txt"))
        self._names = feature_names
        self._threshold = threshold

    def features(self, record: bytes, content_type: str, input_filter: JsonPath, inclusive: bool) -> list[float]:
        """One input record as the container saw it (after InputFilter), as floats; empty fields are missing."""
        text = record.decode("utf-8")
        value: Any = (next(csv.reader([text]), None) or [""]) if content_type == "text/csv" else json.loads(text)
        value = input_filter.apply(value, slice_end_inclusive=inclusive)
        if isinstance(value, dict):
            value = [value.get(name) for name in self._names]
        return [_to_float(v) for v in value]

    def predict(self, rows: list[list[float]]) -> npt.NDArray[np.float64]:
        matrix = np.asarray(rows, dtype=np.float64)
        scores = np.asarray(self._booster.predict(matrix), dtype=np.float64)
        if scores.ndim == 1:
            scores = scores[:, None]
        if self._threshold is not None and scores.shape[1] == 1:
            scores = (scores >= self._threshold).astype(np.float64)
        return scores


def _to_float(value: Any) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return float("nan")
    return float(value)
