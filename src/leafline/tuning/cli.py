"""`leafline tune` and `leafline prices`: measure, choose, price, explain."""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

from leafline.errors import UsageError
from leafline.instance_types import INSTANCE_TYPES

DEFAULT_PAYLOADS = "1,2,4,6,10"
DEFAULT_ROWS = 1_000_000
DEFAULT_DEADLINE_MIN = 60.0


def add_parsers(commands: Any) -> None:
    from leafline.model_cli import add_spec_arguments

    tune = commands.add_parser(
        "tune",
        help="measure the server on a model; choose MaxConcurrentTransforms/MaxPayloadInMB; estimate cost",
        description="Measure the real server on MODEL_DIR (rows/s and resident memory across payload sizes and "
        "concurrency), store the profile as MODEL_DIR/tuning-profile.json (`leafline package` ships it and "
        "`leafline register` records it with the version), then choose MaxConcurrentTransforms and MaxPayloadInMB "
        "for the instance type within SageMaker's limits, explain why, estimate the run's cost and name the "
        "cheapest instance type that meets the deadline.",
    )
    tune.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    tune.add_argument("--sample", type=Path, help="a headerless CSV of real input rows (default: synthetic rows)")
    tune.add_argument("--payloads", default=DEFAULT_PAYLOADS, help=f"payload sizes in MB (default {DEFAULT_PAYLOADS})")
    tune.add_argument("--concurrency", default=None, help="levels to measure (default: 1 and this machine's cores)")
    tune.add_argument("--seconds", type=float, default=1.5, help="time per measured point (default 1.5)")
    tune.add_argument("--reuse", action="store_true", help="use MODEL_DIR/tuning-profile.json instead of measuring")
    tune.add_argument("--instance-type", choices=sorted(INSTANCE_TYPES), default=None, metavar="TYPE",
                      help="target instance type (default: the spec's, else ml.m5.xlarge)")  # fmt: skip
    tune.add_argument("--instance-count", type=int, default=None, help="instances (default: the spec's, else 1)")
    tune.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"rows a run scores (default {DEFAULT_ROWS:,})")
    tune.add_argument("--deadline-min", type=float, default=DEFAULT_DEADLINE_MIN,
                      help=f"finish within this many minutes (default {DEFAULT_DEADLINE_MIN:g})")  # fmt: skip
    tune.add_argument("--startup-min", type=float, default=None, help="assumed instance start-up (default 5 min)")
    tune.add_argument("--prices", type=Path, default=None, help="a price table from `leafline prices refresh`")
    tune.add_argument("--json", action="store_true", help="print the choice and estimates as JSON")
    add_spec_arguments(tune)

    prices = commands.add_parser(
        "prices",
        help="show the instance price table, or refresh it from AWS's public Price List offer file",
        description="`show` prints the table the cost model uses; `refresh` reads AWS's public SageMaker offer "
        "file for a region (downloaded, or --offer FILE) and writes the Batch Transform hourly prices of "
        "leafline's instance types, with the offer's publication date, to --output.",
    )
    action = prices.add_subparsers(dest="prices_action", required=True, metavar="ACTION")
    show = action.add_parser("show", help="print the price table")
    show.add_argument("--prices", type=Path, default=None, help="a refreshed table (default: the built-in one)")
    refresh = action.add_parser("refresh", help="build a price table from AWS's offer file")
    refresh.add_argument("--region", default="sa-east-1")
    refresh.add_argument("--offer", type=Path, default=None, help="a downloaded offer file (default: download it)")
    refresh.add_argument("--output", type=Path, required=True, help="where to write the table (JSON)")


def run_tune_command(args: argparse.Namespace) -> int:
    from leafline.prices import load_price_table
    from leafline.tuning.cost import DEFAULT_STARTUP_MIN, cheapest_meeting, estimate
    from leafline.tuning.profile import Summary

    spec = None
    if args.spec or args.set:
        from leafline.model_cli import spec_from_args

        spec = spec_from_args(args)
    instance_type = args.instance_type or (spec.instance_type if spec else "ml.m5.xlarge")
    count = args.instance_count or (spec.instance_count if spec else 1)
    if count < 1 or args.rows < 1 or args.deadline_min <= 0:
        raise UsageError("--instance-count and --rows must be positive, --deadline-min above zero")
    profile = _profile(args)
    summary = Summary(**profile["summary"])
    prices = load_price_table(args.prices)
    startup = DEFAULT_STARTUP_MIN if args.startup_min is None else args.startup_min
    chosen = estimate(summary, instance_type, count, args.rows, prices, startup)
    options = cheapest_meeting(summary, args.rows, args.deadline_min, prices, startup_min=startup)
    if args.json:
        print(json.dumps({"summary": profile["summary"], "estimate": _estimate_json(chosen),
                          "cheapest": [_estimate_json(o) for o in options[:5]], "prices": prices.to_json()},
                         indent=2))  # fmt: skip
        return 0
    _print_report(profile, chosen, options, args, prices.provenance(), startup)
    return 0


def _profile(args: argparse.Namespace) -> dict[str, Any]:
    from leafline.packaging import PROFILE_FILE
    from leafline.serving.errors import ModelLoadError
    from leafline.serving.model_info import MODEL_FILE_NAME, read_model_info

    try:
        info = read_model_info(args.model_dir / MODEL_FILE_NAME)
    except ModelLoadError as exc:
        raise UsageError(exc.message) from None
    path = args.model_dir / PROFILE_FILE
    if args.reuse:
        if not path.is_file():
            raise UsageError(f"--reuse: {path} does not exist; run `leafline tune` without --reuse first")
        stored: dict[str, Any] = json.loads(path.read_text())
        if stored.get("model_sha256") != info.sha256:
            raise UsageError(f"--reuse: {path} was measured on another model")
        return stored
    from leafline.tuning.measure import measure
    from leafline.tuning.profile import profile_document, summarize

    lines, source = _sample_lines(args.sample, info.num_features)
    payloads = _int_list(args.payloads, "--payloads", 1, 100)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    levels = _int_list(args.concurrency, "--concurrency", 1, 100) if args.concurrency else sorted({1, cores})
    print(f"measuring {info.path} ({source}) at payloads {payloads} MB x concurrency {levels}, "
          f"{args.seconds:g} s per point")  # fmt: skip
    points = measure(args.model_dir, lines, payloads, levels, args.seconds, report=_print_point)
    bytes_per_row = sum(len(line) for line in lines) / len(lines)
    machine = {"cores": cores, "arch": platform.machine(), "processor": platform.processor() or "unknown"}
    document = profile_document(info.sha256, points, summarize(points, bytes_per_row), machine, source)
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"profile written to {path}")
    return document


def _print_point(p: Any) -> None:
    print(f"  {p.payload_mb:3d} MB x {p.concurrency}: {p.rows_per_s:12,.0f} rows/s, "
          f"peak {p.peak_rss_mb:,.0f} MB (idle {p.idle_rss_mb:,.0f} MB)")  # fmt: skip


def _sample_lines(sample: Path | None, num_features: int) -> tuple[list[bytes], str]:
    if sample is None:
        from leafline.samples import csv_batch

        return csv_batch(20_000, seed=11, num_features=num_features).splitlines(keepends=True), "synthetic rows"
    try:
        lines = [line if line.endswith(b"\n") else line + b"\n" for line in sample.read_bytes().splitlines() if line]
    except OSError as exc:
        raise UsageError(f"--sample {sample}: cannot read ({exc.strerror})") from None
    if not lines:
        raise UsageError(f"--sample {sample}: no records")
    return lines, f"sample {sample}"


def _int_list(text: str, flag: str, low: int, high: int) -> list[int]:
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise UsageError(f"{flag} {text!r}: expected comma-separated integers") from None
    if not values or values[0] < low or values[-1] > high:
        raise UsageError(f"{flag} {text!r}: each value must be in {low}..{high}")
    return values


def _estimate_json(option: Any) -> dict[str, Any]:
    choice = option.choice
    return {"instance_type": choice.instance_type, "instance_count": option.instance_count,
            "MaxConcurrentTransforms": choice.max_concurrent_transforms, "MaxPayloadInMB": choice.max_payload_mb,
            "rows_per_s_per_instance": round(choice.rows_per_s), "minutes": round(option.minutes, 2),
            "usd": None if option.usd is None else round(option.usd, 4), "usd_per_hour": option.usd_per_hour,
            "basis": option.cost.basis(), "reasons": list(choice.reasons)}  # fmt: skip


def _print_report(profile: dict[str, Any], chosen: Any, options: list[Any], args: argparse.Namespace,
                  provenance: str, startup: float) -> None:  # fmt: skip
    summary = profile["summary"]
    choice = chosen.choice
    print(f"\nmeasured: {summary['rows_per_s_per_vcpu']:,.0f} rows/s per core at {summary['payload_mb']} MB "
          f"payloads; memory {summary['memory_fixed_mb']:,.0f} MB + "
          f"{summary['memory_mb_per_payload_mb']:.1f} MB per MB in flight; model loaded "
          f"{summary['idle_rss_mb']:,.0f} MB; scaling over {profile['machine']['cores']} cores "
          f"{summary['scaling']:.0%}")  # fmt: skip
    print(
        f"\n{choice.instance_type} x {chosen.instance_count}: "
        f"MaxConcurrentTransforms={choice.max_concurrent_transforms} MaxPayloadInMB={choice.max_payload_mb}"
    )
    for reason in choice.reasons:
        print(f"  - {reason}")
    cost = "no price in the table" if chosen.usd is None else f"${chosen.usd:,.4f} at ${chosen.usd_per_hour}/h"
    print(f"\n{args.rows:,} rows: about {chosen.minutes:,.1f} min ({startup:g} min start-up assumed), {cost}")
    if options:
        best = options[0]
        print(f"cheapest within {args.deadline_min:g} min: {best.choice.instance_type} x {best.instance_count}, "
              f"{best.minutes:,.1f} min, ${best.usd:,.4f}")  # fmt: skip
        for other in options[1:4]:
            print(f"  then {other.choice.instance_type} x {other.instance_count}: {other.minutes:,.1f} min, "
                  f"${other.usd:,.4f}")  # fmt: skip
    else:
        print(f"no instance type (up to 4 instances) finishes {args.rows:,} rows within {args.deadline_min:g} min")
    print(f"prices: {provenance}")


def run_prices_command(args: argparse.Namespace) -> int:
    from leafline.prices import OFFER_URL, load_price_table, table_from_offer

    if args.prices_action == "show":
        table = load_price_table(args.prices)
        print(table.provenance())
        for name, usd in sorted(table.usd_per_hour.items(), key=lambda item: (item[0].split(".")[1], item[1])):
            kind = INSTANCE_TYPES.get(name)
            shape = f"{kind.vcpus:3d} vCPU {kind.memory_gib:4d} GiB" if kind else ""
            print(f"  {name:18s} {shape}  ${usd:.4f}/h")
        return 0
    url = OFFER_URL.format(region=args.region)
    if args.offer is not None:
        try:
            offer = json.loads(args.offer.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"--offer {args.offer}: cannot read the offer file ({exc})") from None
        source = f"AWS Price List offer file {args.offer.name} ({url})"
    else:
        offer = _download(url)
        source = f"AWS Price List offer file {url}"
    table = table_from_offer(offer, args.region, source)
    args.output.write_text(json.dumps(table.to_json(), indent=2) + "\n")
    print(f"{len(table.usd_per_hour)} prices written to {args.output}: {table.provenance()}")
    return 0


def _download(url: str) -> dict[str, Any]:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 - a fixed https URL
            data: dict[str, Any] = json.load(response)
            return data
    except OSError as exc:
        raise UsageError(f"cannot download {url} ({exc}); download it elsewhere and pass --offer FILE") from None
