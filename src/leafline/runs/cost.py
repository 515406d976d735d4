"""What a run's instances cost: the one place the arithmetic is done, and the text saying how.

SageMaker bills each transform instance from TransformStartTime ("when the transform job starts on ML
instances") to TransformEndTime (DescribeTransformJob's documentation). That interval includes the
container's start-up on the instance (pulling the image, `serve` answering /ping, loading the model: the
seeds' "the time the container takes to become ready is billed"); the wait from CreationTime to
TransformStartTime, while instances are found, is not billed. So a run that happened costs

    instance_count x (TransformEndTime - TransformStartTime) x the region's price per instance-hour

with nothing assumed: the run record stores that figure, the region and price it used and how it was
reached, and every display (the demo's summary, the dashboard, `leafline tune`) prints it with
`amount_text` / `cost_text` instead of computing one. A type the region's price table does not price has
no figure: every display says "no price for <type> in <region>". A forecast before a run (`leafline
tune`) has no job times yet, so it assumes a start-up on top of the scoring time, says so, and uses the
same arithmetic (`instance_cost`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leafline.runs.record import job_seconds
from leafline.spec.prices import DEFAULT_REGION, PriceTable, configured_tables, price_table

# What SageMaker bills, per instance, and what that includes.
BILLED_INTERVAL = (
    "TransformStartTime to TransformEndTime: the container's start-up included, the wait for instances before it not"
)
_ARN_REGION = re.compile(r"arn:aws[a-z-]*:sagemaker:([a-z0-9-]+):")


@dataclass(frozen=True)
class Cost:
    instance_type: str
    instance_count: int
    billed_s: float  # per instance
    billed_from: str  # how billed_s was found: BILLED_INTERVAL for a run, the assumptions for a forecast
    region: str  # whose prices
    usd_per_hour: float | None  # None: the region's table has no price for the type
    price_source: str  # the price's source and date and the table's name, or why there is none

    @property
    def instance_hours(self) -> float:
        return self.instance_count * self.billed_s / 3600.0

    @property
    def usd(self) -> float | None:
        return None if self.usd_per_hour is None else self.instance_hours * self.usd_per_hour

    def amount(self) -> str:
        return usd_text(self.usd) if self.usd is not None else no_price_text(self.instance_type, self.region)

    def basis(self) -> str:
        """How the figure was computed, e.g. "ml.m5.xlarge: 2 instances x 72.0 s billed each (TransformStartTime
        to TransformEndTime: ...) = 0.04 instance-hours x $0.23/h; price: <source>, retrieved <date> (...)"."""
        count = f"{self.instance_count} instance{'s' if self.instance_count != 1 else ''}"
        hours = f"{count} x {duration_text(self.billed_s)} billed each ({self.billed_from}) = " \
                f"{self.instance_hours:.4g} instance-hours"  # fmt: skip
        if self.usd_per_hour is None:
            return f"{self.instance_type}: {hours}; {self.price_source}"
        return f"{self.instance_type}: {hours} x ${self.usd_per_hour:g}/h; price: {self.price_source}"

    def to_record(self) -> dict[str, Any]:
        """The run record's `cost` (leafline.run/2; documented in leafline.runs.record)."""
        usd = self.usd
        return {
            "usd": None if usd is None else round(usd, 6),
            "usd_per_hour": self.usd_per_hour,
            "instance_hours": round(self.instance_hours, 6),
            "basis": self.basis(),
            "instance_type": self.instance_type,
            "instance_count": self.instance_count,
            "billed_s": round(self.billed_s, 3),
            "billed_from": self.billed_from,
            "region": self.region,
            "price_source": self.price_source,
        }


def instance_cost(
    instance_type: str, instance_count: int, billed_s: float, prices: PriceTable, billed_from: str
) -> Cost:
    """instance_count instances, each billed billed_s seconds, at the table's hourly price for the type."""
    return Cost(instance_type, instance_count, billed_s, billed_from, prices.region, prices.price(instance_type),
                prices.source_of(instance_type))  # fmt: skip


def job_cost(
    instance_type: str, instance_count: int, job: Mapping[str, Any], region: str | None = None,
    prices: PriceTable | None = None,
) -> Cost | None:  # fmt: skip
    """What a transform job (its DescribeTransformJob) was billed, or None when it never started on instances.
    The price is the region's (given, else the job ARN's, else leafline's default) from the tables
    $LEAFLINE_PRICES names, else the built-in ones."""
    billed_s = job_seconds(job.get("TransformStartTime"), job.get("TransformEndTime"))
    if billed_s is None:
        return None
    table = prices or price_table(region or job_region(job) or DEFAULT_REGION, configured_tables())
    return instance_cost(instance_type, instance_count, billed_s, table, BILLED_INTERVAL)


def job_region(job: Mapping[str, Any]) -> str | None:
    match = _ARN_REGION.match(str(job.get("TransformJobArn") or ""))
    return match.group(1) if match else None


def usd_text(usd: float | None) -> str:
    """A figure as every display writes it: 4 decimals, 6 below a cent (a short run costs fractions of one)."""
    if usd is None:
        return "no price"
    return f"${usd:,.4f}" if usd >= 0.01 or usd == 0 else f"${usd:.6f}"


def no_price_text(instance_type: str | None, region: str | None) -> str:
    if instance_type and region:
        return f"no price for {instance_type} in {region}"
    return "no price for the type"  # a record from before `region` was recorded


def amount_text(cost: Mapping[str, Any] | None) -> str:
    """A record's cost as every display writes it: "$0.0132", "no price for ml.m5.xlarge in sa-east-1"."""
    if not cost:
        return "not known (the record has no job times)"
    usd = cost.get("usd")
    return usd_text(usd) if usd is not None else no_price_text(cost.get("instance_type"), cost.get("region"))


def cost_text(cost: Mapping[str, Any] | None) -> str:
    """A record's cost and how it was computed, for people: "$0.0132: ml.m5.xlarge: 2 instances x ..."."""
    basis = cost.get("basis") if cost else None
    return f"{amount_text(cost)}: {basis}" if basis else amount_text(cost)


def duration_text(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
