"""One input file and its .out, read in lockstep: every output record is checked against its input record.

Record n of the output must be the score of record n of the input. Counts, parsing, column counts, finite
values and the objective's range are checked for every record; joined columns must equal the input's;
a deterministic sample (the same records on every run of the same files) is kept for re-scoring.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

import numpy as np

from leafline.sagemaker.jsonpath import JsonPathError
from leafline.sagemaker.storage import InputObject, Storage
from leafline.serving.media import columnar_format
from leafline.serving.records import blank_lines_are_records
from leafline.validation.expectations import Expectations
from leafline.validation.scores import ScoreSummary
from leafline.validation.spec import ValidationSpec
from leafline.validation.streams import input_records, output_lines

PROBLEMS_KEPT = 5
_BATCH = 8192
_SUM_TOLERANCE = 1e-6
_MARKER = "\x00leafline-score-"


@dataclass
class FileResult:
    input_uri: str
    output_uri: str
    input_records: int = 0
    output_records: int = 0
    problems: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    problem_counts: dict[str, int] = field(default_factory=dict)
    sample: list[tuple[int, bytes, list[float]]] = field(default_factory=list)

    def problem(self, check: str, record: int | None, message: str) -> None:
        self.problem_counts[check] = self.problem_counts.get(check, 0) + 1
        kept = self.problems.setdefault(check, [])
        if len(kept) < PROBLEMS_KEPT:
            kept.append({"file": self.output_uri, "record": record, "message": message})


class Reservoir:
    """Algorithm L: a uniform sample of `size` records, seeded by the file name, so reruns pick the same ones."""

    def __init__(self, size: int, seed: str) -> None:
        self.size = size
        self.items: list[tuple[int, bytes, list[float]]] = []
        self._rng = random.Random(seed)  # noqa: S311 - sampling, not secrets
        self._seen = 0
        self._next = size
        self._weight = 1.0

    def offer(self, number: int, record: bytes, scores: list[float]) -> None:
        position = self._seen
        self._seen += 1
        if self.size <= 0:
            return
        if position < self.size:
            self.items.append((number, record, scores))
            if position == self.size - 1:
                self._weight = math.exp(math.log(self._rng.random()) / self.size)
                self._advance(position)
        elif position == self._next:
            self.items[self._rng.randrange(self.size)] = (number, record, scores)
            self._weight *= math.exp(math.log(self._rng.random()) / self.size)
            self._advance(position)

    def _advance(self, position: int) -> None:
        if self._weight >= 1.0:
            self._next = position + 1
            return
        self._next = position + math.floor(math.log(self._rng.random()) / math.log(1 - self._weight)) + 1


class OutputParser:
    """Turns one output line (and its input record, for joins) into the record's score values."""

    def __init__(self, spec: ValidationSpec, expectations: Expectations) -> None:
        self.spec = spec
        self.columns = expectations.columns
        structured = spec.join_input or not spec.output_filter.is_root
        self.parse: Callable[[bytes, bytes, int, FileResult], list[float] | None]
        if spec.accept == "text/csv":
            self.parse = self._csv_structured if structured else self._csv_plain
        else:
            self.parse = self._json

    def _csv_plain(self, line: bytes, record: bytes, number: int, result: FileResult) -> list[float] | None:
        return self._floats(line.split(b","), number, result)

    def _csv_structured(self, line: bytes, record: bytes, number: int, result: FileResult) -> list[float] | None:
        try:
            row = next(csv.reader([line.decode("utf-8")]), [])
            source = next(csv.reader([record.decode("utf-8")]), None) or [""]  # a blank record: one empty field
        except (UnicodeDecodeError, csv.Error) as exc:
            result.problem("parse", number, f"not a CSV record ({exc})")
            return None
        if self.columns is None:
            self.columns = max(1, len(row) - len(source)) if self.spec.join_input else len(row)
        base = source if self.spec.join_input else []
        try:
            expected = self.spec.output_filter.apply(
                base + [f"{_MARKER}{k}" for k in range(self.columns)],
                slice_end_inclusive=self.spec.slice_end_inclusive,
            )
        except JsonPathError as exc:
            result.problem("join_alignment", number, f"the OutputFilter cannot apply to the input record ({exc})")
            return None
        if len(row) != len(expected):
            result.problem("columns", number, f"{len(row)} columns, expected {len(expected)}")
            return None
        scores = []
        for position, (got, want) in enumerate(zip(row, expected, strict=True), start=1):
            if isinstance(want, str) and want.startswith(_MARKER):
                scores.append(got.encode())
            elif got != want:
                message = f"column {position} is {_clip(got)!r} but the input record has {_clip(str(want))!r}"
                result.problem("join_alignment", number, message)
                return None
        return self._floats(scores, number, result)

    def _json(self, line: bytes, record: bytes, number: int, result: FileResult) -> list[float] | None:
        try:
            value = json.loads(line)
        except ValueError as exc:
            result.problem("parse", number, f"not valid JSON ({exc})")
            return None
        if isinstance(value, dict):
            if "SageMakerOutput" not in value:
                result.problem("parse", number, "a JSON object output without SageMakerOutput")
                return None
            value = value["SageMakerOutput"]
        values = value if isinstance(value, list) else [value]
        if not all((isinstance(v, (int, float)) and not isinstance(v, bool)) or v is None for v in values):
            result.problem(
                "parse", number, f"not a number or an array of numbers: {_clip(line.decode(errors='replace'))}"
            )
            return None
        return self._check_width([math.nan if v is None else float(v) for v in values], number, result)

    def _floats(self, fields: list[bytes], number: int, result: FileResult) -> list[float] | None:
        try:
            values = [float(f) for f in fields]
        except ValueError:
            shown = b",".join(fields).decode(errors="replace")
            result.problem("parse", number, f"not a number: {_clip(shown)!r}")
            return None
        return self._check_width(values, number, result)

    def _check_width(self, values: list[float], number: int, result: FileResult) -> list[float] | None:
        if self.columns is None:
            self.columns = len(values)
        if len(values) != self.columns:
            result.problem("columns", number, f"{len(values)} score columns, expected {self.columns}")
            return None
        return values


def check_file(
    storage: Storage,
    spec: ValidationSpec,
    expectations: Expectations,
    obj: InputObject,
    output_uri: str | None,
    summary: Callable[[int], ScoreSummary],
) -> FileResult:
    result = FileResult(obj.uri, output_uri or "")
    info = expectations.info
    features = info.num_features if info is not None else None
    blanks = blank_lines_are_records(features, spec.content_type, not spec.input_filter.is_root)
    columnar = columnar_format(spec.content_type)
    names = info.feature_names if info is not None else None

    def records(names: tuple[str, ...] | None) -> Iterator[bytes]:
        return input_records(storage, obj.uri, spec.gzip_input, blanks, columnar, names)

    if output_uri is None:
        result.problem("outputs_present", None, f"{obj.uri} has no .out (expected {obj.relative_key}.out)")
        result.input_records = sum(1 for _ in records(None))
        return result
    parser = OutputParser(spec, expectations)
    reservoir = Reservoir(spec.sample, obj.relative_key)
    numbers: list[int] = []
    rows: list[list[float]] = []
    pairs = zip_longest(records(names), _outputs(storage, output_uri, spec))
    for number, (record, line) in enumerate(pairs, start=1):
        result.input_records += record is not None
        result.output_records += line is not None
        if record is None or line is None:
            continue
        if not line.strip():
            result.problem("parse", number, "an empty line where a record's output should be")
            continue
        values = parser.parse(line, record, number, result)
        if values is None:
            continue
        reservoir.offer(number, record, values)
        numbers.append(number)
        rows.append(values)
        if len(rows) >= _BATCH:
            _check_values(numbers, rows, expectations, result, summary)
            numbers, rows = [], []
    if rows:
        _check_values(numbers, rows, expectations, result, summary)
    if result.input_records != result.output_records:
        result.problem("record_counts", min(result.input_records, result.output_records) + 1,
                       f"{result.output_records} output records for {result.input_records} input records")  # fmt: skip
    result.sample = sorted(reservoir.items)
    return result


def _outputs(storage: Storage, uri: str, spec: ValidationSpec) -> Iterator[bytes]:
    """Output records: lines, except application/json, where each line is one payload's array of records."""
    if spec.accept != "application/json":
        yield from output_lines(storage, uri)
        return
    for line in output_lines(storage, uri):
        try:
            values = json.loads(line)
        except ValueError:
            yield line  # reported as unparsable, record by record
            continue
        for value in values if isinstance(values, list) else [values]:
            yield json.dumps(value).encode()


def _check_values(
    numbers: list[int],
    rows: list[list[float]],
    expectations: Expectations,
    result: FileResult,
    summary: Callable[[int], ScoreSummary],
) -> None:
    scores = np.asarray(rows, dtype=np.float64)
    finite = np.isfinite(scores).all(axis=1)
    for index in np.flatnonzero(~finite)[:PROBLEMS_KEPT]:
        result.problem("finite", numbers[index], f"not finite: {_values(rows[index])}")
    if (~finite).sum() > PROBLEMS_KEPT:
        result.problem_counts["finite"] += int((~finite).sum()) - PROBLEMS_KEPT
    bad = ~_in_range(scores, expectations) & finite
    for index in np.flatnonzero(bad)[:PROBLEMS_KEPT]:
        result.problem("range", numbers[index], f"{_values(rows[index])} outside {expectations.range_text()}")
    if bad.sum() > PROBLEMS_KEPT:
        result.problem_counts["range"] += int(bad.sum()) - PROBLEMS_KEPT
    summary(scores.shape[1]).add(scores)


def _in_range(scores: np.ndarray, expectations: Expectations) -> np.ndarray:
    ok = np.ones(len(scores), dtype=bool)
    if expectations.labels is not None:
        ok &= np.isin(scores, list(expectations.labels)).all(axis=1)
        return ok
    if expectations.low is not None:
        ok &= (scores >= expectations.low).all(axis=1)
    if expectations.high is not None:
        ok &= (scores <= expectations.high).all(axis=1)
    if expectations.rows_sum_to_one:
        ok &= np.abs(scores.sum(axis=1) - 1.0) <= _SUM_TOLERANCE
    return ok


def _values(row: list[float]) -> str:
    return ", ".join(repr(v) for v in row)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
