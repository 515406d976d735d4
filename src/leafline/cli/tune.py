"""`leafline tune` and `leafline prices`: measure, choose, price, explain."""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

from leafline.errors import UsageError
from leafline.spec.instance_types import INSTANCE_TYPES
from leafline.spec.prices import DEFAULT_REGION, PRICED_REGIONS, PriceTable

DEFAULT_PAYLOADS = "1,2,4,6,10"
DEFAULT_ROWS = 1_000_000
DEFAULT_DEADLINE_MIN = 60.0
_CONTENT_TYPES = ("text/csv", "application/x-parquet", "application/vnd.apache.arrow.stream")


def add_parsers(commands: Any) -> None:
    from leafline.cli.model import add_spec_arguments

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
    tune.add_argument(
        "--sample",
        type=Path,
        help="real input rows: a headerless CSV, or a .parquet/.arrow file (default: synthetic rows)",
    )
    tune.add_argument("--content-type", default=None, choices=sorted(_CONTENT_TYPES), metavar="TYPE",
                      help="the payloads' format: text/csv packs records as MultiRecord does; application/x-parquet "
                      "or application/vnd.apache.arrow.stream makes each payload one object (SplitType None) "
                      "(default: the spec's transform.content_type, else text/csv)")  # fmt: skip
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
    tune.add_argument(
        "--prices",
        type=Path,
        default=None,
        help="price tables from `leafline prices refresh` (default: $LEAFLINE_PRICES, else built-in)",
    )
    tune.add_argument("--region", default=None, help="whose prices (default: the spec's region, else sa-east-1)")
    tune.add_argument("--json", action="store_true", help="print the choice and estimates as JSON")
    add_spec_arguments(tune)

    prices = commands.add_parser(
        "prices",
        help="show the Batch Transform price tables, or refresh them from AWS's Price List API",
        description="`show` prints the on-demand Batch Transform price per instance-hour of every instance type "
        "leafline offers, with each price's source and date, and the types without a price and why; `refresh` "
        "reads them from AWS's Price List API (boto3 `pricing`, needs pricing:GetProducts) or from a downloaded "
        "public offer file (--offer) and writes tables to pass as --prices.",
    )
    action = prices.add_subparsers(dest="prices_action", required=True, metavar="ACTION")
    show = action.add_parser("show", help="print the price tables")
    show.add_argument("--prices", type=Path, default=None, help="refreshed tables (default: the built-in ones)")
    show.add_argument("--region", action="append", default=None, help="only this region (repeatable)")
    refresh = action.add_parser("refresh", help="build price tables from AWS's Price List API or an offer file")
    refresh.add_argument("--region", action="append", default=None,
                         help=f"a region to price (repeatable; default {' and '.join(PRICED_REGIONS)})")  # fmt: skip
    refresh.add_argument("--offer", type=Path, default=None,
                         help=f"a downloaded offer file for one region (default {DEFAULT_REGION})")  # fmt: skip
    refresh.add_argument("--output", type=Path, required=True, help="where to write the tables (JSON)")


def run_tune_command(args: argparse.Namespace) -> int:
    from leafline.spec.prices import configured_tables, price_table
    from leafline.tuning.cost import DEFAULT_STARTUP_MIN, cheapest_meeting, estimate
    from leafline.tuning.profile import Summary

    spec = None
    if args.spec or args.set:
        from leafline.cli.model import spec_from_args

        spec = spec_from_args(args)
    instance_type = args.instance_type or (spec.instance_type if spec else "ml.m5.xlarge")
    count = args.instance_count or (spec.instance_count if spec else 1)
    if count < 1 or args.rows < 1 or args.deadline_min <= 0:
        raise UsageError("--instance-count and --rows must be positive, --deadline-min above zero")
    content_type = args.content_type or (spec.transform.content_type if spec else "text/csv")
    if content_type not in _CONTENT_TYPES:
        raise UsageError(f"content type {content_type!r}: `leafline tune` measures {', '.join(_CONTENT_TYPES)}")
    profile = _profile(args, content_type)
    summary = Summary(**profile["summary"])
    prices = price_table(args.region or (spec.region if spec else DEFAULT_REGION), args.prices or configured_tables())
    startup = DEFAULT_STARTUP_MIN if args.startup_min is None else args.startup_min
    chosen = estimate(summary, instance_type, count, args.rows, prices, startup)
    options = cheapest_meeting(summary, args.rows, args.deadline_min, prices, startup_min=startup)
    if args.json:
        print(json.dumps({"summary": profile["summary"], "estimate": _estimate_json(chosen),
                          "cheapest": [_estimate_json(o) for o in options[:5]],
                          "prices": {"region": prices.region, "table": prices.name, **prices.to_json()}},
                         indent=2))  # fmt: skip
        return 0
    _print_report(profile, chosen, options, args, prices, startup)
    return 0


def _profile(args: argparse.Namespace, content_type: str) -> dict[str, Any]:
    from leafline.model.packaging import PROFILE_FILE
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

    payloads = _int_list(args.payloads, "--payloads", 1, 100)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    levels = _int_list(args.concurrency, "--concurrency", 1, 100) if args.concurrency else sorted({1, cores})
    if content_type == "text/csv":
        lines, source = _sample_lines(args.sample, info.num_features)
        build = None
        bytes_per_row = sum(len(line) for line in lines) / len(lines)
    else:
        from leafline.tuning.columnar_sample import columnar_builder

        lines = []
        build, source = columnar_builder(args.sample, info.feature_names, content_type, max(payloads))
        body, rows = build(payloads[0])
        bytes_per_row = len(body) / rows
        source += f", one {content_type} object per payload"
    print(f"measuring {info.path} ({source}) at payloads {payloads} MB x concurrency {levels}, "
          f"{args.seconds:g} s per point")  # fmt: skip
    points = measure(args.model_dir, lines, payloads, levels, args.seconds, report=_print_point,
                     content_type=content_type, build=build)  # fmt: skip
    machine = {"cores": cores, "arch": platform.machine(), "processor": platform.processor() or "unknown"}
    document = profile_document(info.sha256, points, summarize(points, bytes_per_row), machine, source, content_type)
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
            "cost": option.cost.amount(), "price_region": option.cost.region, "basis": option.cost.basis(),
            "reasons": list(choice.reasons)}  # fmt: skip


def _print_report(profile: dict[str, Any], chosen: Any, options: list[Any], args: argparse.Namespace,
                  prices: PriceTable, startup: float) -> None:  # fmt: skip
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
    if profile.get("content_type", "text/csv") != "text/csv":
        print(f"  - with {profile['content_type']} (SplitType None) each object is one payload: MaxPayloadInMB must "
              f"be at least the largest object (up to 100 MB); objects of about {summary['payload_mb']} MB scored "
              "fastest here")  # fmt: skip
    # The figure and its basis as the run record will write them (leafline.runs.cost).
    print(f"\n{args.rows:,} rows: about {chosen.minutes:,.1f} min ({startup:g} min start-up assumed), "
          f"{chosen.cost.amount()}")  # fmt: skip
    print(f"  {chosen.cost.basis()}")
    if options:
        best = options[0]
        print(f"cheapest within {args.deadline_min:g} min: {best.choice.instance_type} x {best.instance_count}, "
              f"{best.minutes:,.1f} min, {best.cost.amount()}")  # fmt: skip
        for other in options[1:4]:
            print(f"  then {other.choice.instance_type} x {other.instance_count}: {other.minutes:,.1f} min, "
                  f"{other.cost.amount()}")  # fmt: skip
    elif not prices.prices:
        print(f"cheapest: not known: the price table has no price for any instance type in {prices.region}")
    else:
        print(
            f"no priced instance type (up to 4 instances) finishes {args.rows:,} rows within {args.deadline_min:g} min"
        )
    print(f"prices: {prices.provenance()}")


def run_prices_command(args: argparse.Namespace) -> int:
    from leafline.spec.prices import configured_tables, load_price_tables, price_table, tables_document

    if args.prices_action == "show":
        path = args.prices or configured_tables()
        for region in args.region or sorted(load_price_tables(path)) or list(PRICED_REGIONS):
            _print_table(price_table(region, path))
        return 0
    regions = args.region or ([DEFAULT_REGION] if args.offer else list(PRICED_REGIONS))
    tables = [_refreshed(region, args.offer) for region in regions]
    if args.offer is not None and len(tables) != 1:
        raise UsageError("--offer: an offer file holds one region's prices; pass exactly one --region")
    args.output.write_text(json.dumps(tables_document(tables), indent=2) + "\n")
    for table in tables:
        print(f"{table.region}: {len(table.prices)} prices, {len(table.unpriced)} types unpriced, "
              f"written to {args.output}")  # fmt: skip
    return 0


def _print_table(table: PriceTable) -> None:
    print(table.provenance())
    for name, price in sorted(table.prices.items(), key=lambda item: (item[0].split(".")[1], item[1].usd_per_hour)):
        kind = INSTANCE_TYPES.get(name)
        shape = f"{kind.vcpus:3d} vCPU {kind.memory_gib:4d} GiB" if kind else ""
        print(f"  {name:18s} {shape}  ${price.usd_per_hour:.4f}/h  {price.source}, retrieved {price.retrieved}")
    for name in sorted(table.unpriced):
        print(f"  {name:18s} {table.no_price(name)}")


def _refreshed(region: str, offer_file: Path | None) -> PriceTable:
    from leafline.spec.prices import OFFER_URL, table_from_offer, table_from_price_list_api

    if offer_file is None:
        import boto3

        # The Price List API answers in us-east-1 (and ap-south-1, eu-central-1) for every region's prices.
        return table_from_price_list_api(boto3.client("pricing", region_name="us-east-1"), region)
    try:
        offer = json.loads(offer_file.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--offer {offer_file}: cannot read the offer file ({exc})") from None
    return table_from_offer(
        offer, region, f"AWS Price List offer file {offer_file.name} ({OFFER_URL.format(region=region)})"
    )
