"""The issue-15 targets table says met or missed from a `make bench` report, and says so for each target."""

from bench.targets import NATIVE_READER, Target, evaluate, targets_table


def _report(model: str, ratio: float, overhead: float = 0.05, parquet_vs_csv: float = 2.5) -> dict[str, object]:
    return {
        "model": model,
        "ratio_vs_baseline": {1: 1.0, 2: ratio, 4: 1.0},
        "overhead_vs_in_process_c2": overhead,
        "parquet_vs_csv": {1: 1.0, 2: parquet_vs_csv},
    }


PARSE = {9: {"mb_per_s": {"pyarrow.csv": 130.0, NATIVE_READER: 520.0}}}


def _by_name(targets: list[Target]) -> dict[str, Target]:
    return {t.name: t for t in targets}


def test_each_target_is_met_or_missed_by_its_own_threshold() -> None:
    reports = [_report("big", 3.9, overhead=0.12), _report("small", 4.1, parquet_vs_csv=1.9)]
    got = _by_name(evaluate(reports, PARSE, format_mb_per_s=1100.0))
    assert got["leafline / baseline, big model, c=2"].met is False
    assert got["leafline / baseline, small model, c=2"].met is True
    assert got["CSV parse, 9 significant digits"].met is True
    assert got["format"].met is True
    assert got["server overhead vs in-process, big model, c=2"].met is False
    assert got["server overhead vs in-process, small model, c=2"].met is True
    assert got["Parquet / own CSV, small model, c=2"].met is False


def test_an_unmeasured_stage_is_reported_as_not_measured_not_met() -> None:
    got = _by_name(evaluate([_report("small", 5.0)], PARSE, format_mb_per_s=None))
    assert got["format"].met is None
    assert "not measured" in targets_table(list(got.values()))
    assert "leafline / baseline, big model, c=2" not in got


def test_the_table_names_target_value_and_verdict() -> None:
    text = targets_table(evaluate([_report("big", 3.0)], PARSE, format_mb_per_s=900.0))
    row = next(line for line in text.splitlines() if "big model" in line and "baseline" in line)
    assert ">= 4x" in row and "3.00x" in row and "missed" in row


def test_the_baseline_target_uses_the_9_digit_rows_when_the_report_has_them() -> None:
    report = _report("small", 5.0)
    report["digits_rows_per_s"] = {9: {"leafline": 300.0, "baseline": 100.0}, 17: {"leafline": 1.0, "baseline": 1.0}}
    got = _by_name(evaluate([report], PARSE, format_mb_per_s=None))["leafline / baseline, small model, c=2"]
    assert got.met is False and got.measured == "3.00x (9-digit CSV)"
