"""On-demand prices per instance-hour for Batch Transform, with where and when they come from.

The built-in table is an ESTIMATE, and says so wherever a cost is printed: leafline's development
machines reach no AWS price source. Its anchors are the seeds' cost study (ml.m5.xlarge $0.33/h,
ml.c5.large $0.17/h in the project's region); sizes scale linearly with vCPUs within a family, as AWS
prices them; r5 costs 1.25x m5 per vCPU (the seeds' instance guide) and the Graviton families 0.8x
their x86 twins (AWS's stated Graviton2 price advantage). `leafline prices refresh` replaces it with
AWS's own numbers from the public Price List offer file (no credentials needed), dated and sourced.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leafline.errors import UsageError
from leafline.instance_types import INSTANCE_TYPES

OFFER_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonSageMaker/current/{region}/index.json"
BATCH_TRANSFORM = "BatchTransform"  # the offer's platoinstancetype for Batch Transform instance-hours


@dataclass(frozen=True)
class PriceTable:
    region: str
    as_of: str
    source: str
    verified: bool  # False: an estimate; every printed cost says so
    usd_per_hour: Mapping[str, float]

    def price(self, instance_type: str) -> float | None:
        return self.usd_per_hour.get(instance_type)

    def provenance(self) -> str:
        kind = "AWS prices" if self.verified else "ESTIMATED prices"
        return f"{kind} for {self.region} as of {self.as_of} ({self.source})"

    def to_json(self) -> dict[str, Any]:
        return {"region": self.region, "as_of": self.as_of, "source": self.source, "verified": self.verified,
                "usd_per_hour": dict(sorted(self.usd_per_hour.items()))}  # fmt: skip


_PER_VCPU_ESTIMATE = {"m5": 0.33 / 4, "c5": 0.17 / 2}
_PER_VCPU_ESTIMATE["r5"] = _PER_VCPU_ESTIMATE["m5"] * 1.25
for _x86, _arm in (("c5", "c6g"), ("m5", "m6g"), ("r5", "r6g")):
    _PER_VCPU_ESTIMATE[_arm] = _PER_VCPU_ESTIMATE[_x86] * 0.8

BUILT_IN = PriceTable(
    region="sa-east-1",
    as_of="2026-11-21",
    source="leafline's estimate from the seeds' cost study; run `leafline prices refresh` for AWS's numbers",
    verified=False,
    usd_per_hour={
        name: round(kind.vcpus * _PER_VCPU_ESTIMATE[name.split(".")[1]], 4) for name, kind in INSTANCE_TYPES.items()
    },
)


def load_price_table(path: Path | None) -> PriceTable:
    if path is None:
        return BUILT_IN
    try:
        data = json.loads(path.read_text())
        return PriceTable(str(data["region"]), str(data["as_of"]), str(data["source"]), bool(data["verified"]),
                          {str(k): float(v) for k, v in data["usd_per_hour"].items()})  # fmt: skip
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the price table ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path}: not a leafline price table ({exc})") from None


def table_from_offer(offer: Mapping[str, Any], region: str, source: str) -> PriceTable:
    """The Batch Transform hourly USD rates of leafline's instance types from an AWS offer file."""
    wanted = {sku: attrs["instanceName"] for sku, attrs in _batch_products(offer.get("products", {}).values(), region)}
    prices: dict[str, float] = {}
    for sku, terms in offer.get("terms", {}).get("OnDemand", {}).items():
        if sku not in wanted:
            continue
        for term in terms.values():
            for dimension in term.get("priceDimensions", {}).values():
                usd = dimension.get("pricePerUnit", {}).get("USD")
                if dimension.get("unit") == "Hrs" and usd is not None and float(usd) > 0:
                    prices[wanted[sku]] = float(usd)
    if not prices:
        raise UsageError(f"the offer file has no {BATCH_TRANSFORM} prices for leafline's instance types in {region}")
    as_of = str(offer.get("publicationDate", "unknown"))[:10]
    return PriceTable(region, as_of, source, True, prices)


def _batch_products(products: Iterable[Mapping[str, Any]], region: str) -> Iterable[tuple[str, Mapping[str, str]]]:
    for product in products:
        attrs = product.get("attributes", {})
        if (attrs.get("platoinstancetype") == BATCH_TRANSFORM and attrs.get("regionCode") == region
                and attrs.get("instanceName") in INSTANCE_TYPES):  # fmt: skip
            yield product["sku"], attrs
