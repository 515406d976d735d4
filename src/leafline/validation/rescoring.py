"""Re-score sampled input records with LightGBM in-process: the reference the served scores must match."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from leafline.sagemaker.jsonpath import JsonPath
from leafline.serving import numbers
from leafline.serving.decoding import csv_fields
from leafline.serving.errors import InvalidInputError


class Rescorer:
    def __init__(self, model_dir: Path, feature_names: tuple[str, ...], threshold: float | None) -> None:
        import lightgbm

        self._booster = lightgbm.Booster(model_file=str(model_dir / "model.txt"))
        self._names = feature_names
        self._threshold = threshold

    def features(self, record: bytes, content_type: str, input_filter: JsonPath, inclusive: bool) -> list[float]:
        """One input record as the container saw it (after InputFilter), as floats read as the server reads
        them (leafline.serving.numbers); a value the server refuses is a ValueError."""
        text = record.decode("utf-8")
        value: Any = _csv_record(text) if content_type == "text/csv" else json.loads(text, **numbers.JSON_OPTIONS)
        value = input_filter.apply(value, slice_end_inclusive=inclusive)
        if isinstance(value, dict):
            value = [value.get(name) for name in self._names]
        to_float = _csv_float if content_type == "text/csv" else _json_float
        return [to_float(v) for v in value]

    def predict(self, rows: list[list[float]]) -> npt.NDArray[np.float64]:
        matrix = np.asarray(rows, dtype=np.float64)
        scores = np.asarray(self._booster.predict(matrix), dtype=np.float64)
        if scores.ndim == 1:
            scores = scores[:, None]
        if self._threshold is not None and scores.shape[1] == 1:
            scores = (scores >= self._threshold).astype(np.float64)
        return scores


def _csv_record(text: str) -> list[str]:
    """Split as the server splits (no csv module field-size limit: a 200 KB field the server scored must
    not stop the validator)."""
    try:
        return csv_fields(text)
    except InvalidInputError as exc:
        raise ValueError(exc.message) from None


def _csv_float(field: str) -> float:
    value = numbers.field_value(field)
    if value is None:
        raise ValueError(f"{numbers.clip(field)!r} is not a number")
    return value


def _json_float(value: Any) -> float:
    """A number (a float, by JSON_OPTIONS) or null; booleans and strings are refused, as by the server."""
    if value is None:
        return float("nan")
    if type(value) is not float:
        raise ValueError(f"{numbers.describe_json_value(value)} is not a number")
    return float(value)
