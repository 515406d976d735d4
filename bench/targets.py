"""Issue 15's targets, each with the value measured in this `make bench` run and met or missed.

Same-run ratios only (the machine is shared, absolute rates drift). A stage that did not run is reported
as not measured rather than missed, so the table never claims a verdict it has no number for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NATIVE_READER = "leafline (native reader)"  # parse_stage.NATIVE; not imported: targets stays numpy-free

BASELINE_RATIO = 4.0
PARSE_MB_PER_S = 500.0
FORMAT_MB_PER_S = 1000.0
MAX_OVERHEAD = 0.10
PARQUET_RATIO = 2.0


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    met: bool | None  # None: the stage did not run in this report


def evaluate(reports: list[dict[str, Any]], parse: dict[int, Any], format_mb_per_s: float | None) -> list[Target]:
    """Targets from bench_model reports (one per model), the parse stage and the format stage's MB/s."""
    out: list[Target] = []
    for report in reports:
        # The target is on 9-digit CSV; a report without that row falls back to the standard workload.
        nine = report.get("digits_rows_per_s", {}).get(9)
        if nine:
            leaf, base = nine.values()
            ratio, workload = leaf / base, "9-digit CSV"
        else:
            ratio, workload = report["ratio_vs_baseline"][2], "standard CSV"
        out.append(Target(f"leafline / baseline, {report['model']} model, c=2", f">= {BASELINE_RATIO:g}x",
                          f"{ratio:.2f}x ({workload})", ratio >= BASELINE_RATIO))  # fmt: skip
    if 9 in parse:
        rate = parse[9]["mb_per_s"][NATIVE_READER]
        out.append(Target("CSV parse, 9 significant digits", f">= {PARSE_MB_PER_S:g} MB/s/core",
                          f"{rate:.0f} MB/s", rate >= PARSE_MB_PER_S))  # fmt: skip
    if format_mb_per_s is None:
        out.append(Target("format", f">= {FORMAT_MB_PER_S:g} MB/s/core", "not measured", None))
    else:
        out.append(Target("format", f">= {FORMAT_MB_PER_S:g} MB/s/core", f"{format_mb_per_s:.0f} MB/s",
                          format_mb_per_s >= FORMAT_MB_PER_S))  # fmt: skip
    for report in reports:
        overhead = report["overhead_vs_in_process_c2"]
        measured = f"{overhead:.1%}"
        if "cpu_per_row_vs_in_process_c2" in report:  # the server's own part of it
            measured += f" (server CPU per row {report['cpu_per_row_vs_in_process_c2']:+.1%})"
        out.append(Target(f"server overhead vs in-process, {report['model']} model, c=2", f"<= {MAX_OVERHEAD:.0%}",
                          measured, overhead <= MAX_OVERHEAD))  # fmt: skip
    for report in reports:
        if report["model"] == "small":
            ratio = report["parquet_vs_csv"][2]
            out.append(Target("Parquet / own CSV, small model, c=2", f">= {PARQUET_RATIO:g}x", f"{ratio:.2f}x",
                              ratio >= PARQUET_RATIO))  # fmt: skip
    return out


def targets_table(targets: list[Target]) -> str:
    lines = ["| issue-15 target | goal | measured | verdict |", "|---|---|---|---|"]
    for t in targets:
        verdict = "not measured" if t.met is None else ("met" if t.met else "missed")
        lines.append(f"| {t.name} | {t.goal} | {t.measured} | {verdict} |")
    return "\n".join(lines)
