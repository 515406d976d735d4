"""Validate a whole output: every file, then the re-scoring sample, the distribution and drift; one report.

The report (schema "leafline.validation/1") lists every check with pass/fail/skipped, a reason, and the
first problems with file and record number; `passed` is true only when no check failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from leafline.errors import LeaflineError
from leafline.sagemaker.storage import InputObject, Storage, StorageError
from leafline.validation.checker import PROBLEMS_KEPT, FileResult, check_file
from leafline.validation.expectations import Expectations, expectations_for
from leafline.validation.rescoring import Rescorer
from leafline.validation.scores import ScoreSummary, previous_edges, probability_edges, psi
from leafline.validation.spec import ValidationSpec

SCHEMA = "leafline.validation/1"
CHECKS = (
    ("outputs_present", "every input file has its .out"),
    ("no_stray_outputs", "no .out without an input file"),
    ("record_counts", "output records == input records, per file"),
    ("parse", "every output line parses"),
    ("columns", "the model's number of score columns (plus joined input columns)"),
    ("join_alignment", "joined input columns equal the input record"),
    ("finite", "no NaN or infinity"),
    ("range", "values in the objective's range"),
    ("rescoring", "sampled records re-scored by LightGBM agree within atol"),
    ("drift", "PSI against the previous report under the bar"),
)


class ValidationError(LeaflineError):
    """The output could not be validated at all (unreadable locations, model, or previous report)."""


@dataclass
class ValidationReport:
    data: dict[str, Any]

    @property
    def passed(self) -> bool:
        return bool(self.data["passed"])

    @property
    def failures(self) -> list[str]:
        return [f"{c['name']}: {c['reason']}" for c in self.data["checks"] if c["status"] == "failed"]

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.data, indent=2) + "\n")


def validate_output(spec: ValidationSpec, storage: Storage | None = None) -> ValidationReport:
    storage = storage or Storage()
    expectations = expectations_for(spec.model_dir, spec.threshold)
    inputs, outputs = _listings(storage, spec)
    expected = {obj.relative_key + ".out": obj for obj in inputs}
    summaries: dict[int, ScoreSummary] = {}

    def summary(columns: int) -> ScoreSummary:
        if columns not in summaries:
            summaries[columns] = ScoreSummary(columns, _edges(spec, expectations, columns))
        return summaries[columns]

    files = [check_file(storage, spec, expectations, obj, outputs.get(obj.relative_key + ".out"), summary)
             for obj in inputs]  # fmt: skip
    stray = sorted(set(outputs) - set(expected))
    rescoring = _rescore(spec, expectations, files)
    scores = summaries[max(summaries)].to_json() if summaries else None
    drift = _drift(spec, scores)
    checks = _checks(files, stray, outputs, rescoring, drift, spec, expectations)
    return ValidationReport({
        "schema": SCHEMA,
        "passed": all(c["status"] != "failed" for c in checks),
        "created": datetime.now(UTC).isoformat(),
        "input": spec.input_uri,
        "output": spec.output_uri,
        "model": _model(expectations),
        "checks": checks,
        "totals": {"files": len(files), "input_records": sum(f.input_records for f in files),
                   "output_records": sum(f.output_records for f in files)},
        "files": [{"input": f.input_uri, "output": f.output_uri or None, "input_records": f.input_records,
                   "output_records": f.output_records, "problems": sum(f.problem_counts.values())} for f in files],
        "rescoring": {k: v for k, v in rescoring.items() if k != "problems"},
        "scores": scores,
        "drift": drift,
    })  # fmt: skip


def _listings(storage: Storage, spec: ValidationSpec) -> tuple[list[InputObject], dict[str, str]]:
    try:
        inputs = (
            storage.list_manifest(spec.input_uri) if spec.input_is_manifest else storage.list_prefix(spec.input_uri)
        )
        outputs = {o.relative_key: o.uri for o in storage.list_prefix(spec.output_uri.rstrip("/") + "/")}
    except StorageError as exc:
        raise ValidationError(str(exc)) from None
    if not inputs:
        raise ValidationError(f"{spec.input_uri}: no input files to validate against")
    return inputs, outputs


def _edges(spec: ValidationSpec, expectations: Expectations, columns: int) -> list[list[float]] | None:
    past = previous_edges(dict(spec.previous_report) if spec.previous_report else None, columns)
    if past is not None:
        return past
    if (expectations.high == 1.0 and expectations.low == 0.0) or expectations.labels is not None:
        return probability_edges(columns)
    return None


def _rescore(spec: ValidationSpec, expectations: Expectations, files: list[FileResult]) -> dict[str, Any]:
    sampled = [(f, number, record, served) for f in files for number, record, served in f.sample]
    base: dict[str, Any] = {"sampled": len(sampled), "atol": spec.atol, "min_similarity": spec.min_similarity}
    if spec.model_dir is None or expectations.info is None:
        return {**base, "skipped": "no --model-dir: nothing to re-score with"}
    if not sampled:
        return {**base, "skipped": "no record could be sampled"}
    rescorer = Rescorer(spec.model_dir, expectations.info.feature_names, spec.threshold)
    rows, kept, problems = [], [], []
    for item in sampled:
        try:
            rows.append(rescorer.features(item[2], spec.content_type, spec.input_filter, spec.slice_end_inclusive))
            kept.append(item)
        except (ValueError, TypeError) as exc:
            problems.append({"file": item[0].input_uri, "record": item[1], "message": f"unreadable features ({exc})"})
    agree = 0
    if rows:
        reference = rescorer.predict(rows)
        for (result, number, _, served), expected in zip(kept, reference, strict=True):
            if len(served) == len(expected) and np.allclose(served, expected, rtol=0, atol=spec.atol):
                agree += 1
            else:
                message = f"served {_short(served)}, LightGBM gives {_short(expected.tolist())}"
                problems.append({"file": result.output_uri, "record": number, "message": message})
    similarity = agree / len(sampled)
    return {**base, "within_atol": agree, "similarity": similarity, "problems": problems}


def _drift(spec: ValidationSpec, scores: dict[str, Any] | None) -> dict[str, Any] | None:
    previous = spec.previous_report
    if not previous or not scores:
        return None
    past = previous.get("scores") or {}
    past_columns, columns = past.get("columns", []), scores["columns"]
    if len(past_columns) != len(columns):
        return {"psi": None, "reason": "the previous report has a different number of score columns"}
    values: list[float | None] = []
    for old, new in zip(past_columns, columns, strict=True):
        if old["histogram"]["edges"] != new["histogram"]["edges"]:
            values.append(None)
        else:
            values.append(psi(old["histogram"]["counts"], new["histogram"]["counts"]))
    known = [v for v in values if v is not None]
    return {"psi": max(known) if known else None, "psi_per_column": values, "previous_created": previous.get("created"),
            "max_psi": spec.max_psi}  # fmt: skip


def _checks(
    files: list[FileResult],
    stray: list[str],
    outputs: dict[str, str],
    rescoring: dict[str, Any],
    drift: dict[str, Any] | None,
    spec: ValidationSpec,
    expectations: Expectations,
) -> list[dict[str, Any]]:
    checks = []
    for name, description in CHECKS:
        problems = [p for f in files for p in f.problems.get(name, [])]
        count = sum(f.problem_counts.get(name, 0) for f in files)
        status, reason = ("failed", _reason(count, problems)) if count else ("passed", "")
        if name == "no_stray_outputs" and stray:
            problems = [{"file": outputs[key], "record": None, "message": "no input file for it"} for key in stray]
            status, reason = "failed", f"{len(stray)} .out file(s) without an input: {', '.join(stray[:5])}"
        if name == "range" and expectations.info is None and expectations.labels is None:
            status, reason = "skipped", "no --model-dir: the objective's range is unknown"
        if name == "rescoring":
            status, reason, problems = _rescoring_status(rescoring)
        if name == "drift":
            status, reason = _drift_status(drift, spec)
        checks.append({"name": name, "description": description, "status": status, "reason": reason,
                       "problem_count": len(problems) if name == "rescoring" else count,
                       "problems": problems[:PROBLEMS_KEPT]})  # fmt: skip
    return checks


def _rescoring_status(rescoring: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
    if "skipped" in rescoring:
        return "skipped", rescoring["skipped"], []
    similarity, bar = rescoring["similarity"], rescoring["min_similarity"]
    text = (f"{rescoring['within_atol']} of {rescoring['sampled']} sampled records within atol {rescoring['atol']:g} "
            f"({similarity:.2%}, bar {bar:.2%})")  # fmt: skip
    problems: list[dict[str, Any]] = rescoring["problems"]
    return ("passed" if similarity >= bar else "failed"), text, problems


def _drift_status(drift: dict[str, Any] | None, spec: ValidationSpec) -> tuple[str, str]:
    if drift is None:
        return "skipped", "no previous report to compare with"
    value = drift.get("psi")
    if value is None:
        return "skipped", drift.get("reason", "the histograms do not share bins")
    if spec.max_psi is not None and value > spec.max_psi:
        return "failed", f"PSI {value:.4f} over the bar {spec.max_psi:g}"
    return "passed", f"PSI {value:.4f}"


def _reason(count: int, problems: list[dict[str, Any]]) -> str:
    first = problems[0] if problems else {}
    where = f"{first.get('file')}" + (f" record {first['record']}" if first.get("record") else "")
    return f"{count} problem(s); first: {where}: {first.get('message', '')}"


def _model(expectations: Expectations) -> dict[str, Any] | None:
    info = expectations.info
    if info is None:
        return None
    return {"sha256": info.sha256, "objective": info.objective_spec, "output_columns": info.output_columns,
            "features": info.num_features}  # fmt: skip


def _short(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in values) + "]" if len(values) != 1 else f"{values[0]:.9g}"
