"""On-demand SageMaker Batch Transform prices per instance-hour, each with where and when it comes from.

The built-in table is package data (batch_transform_prices.json, read once): for each region leafline
prices (sa-east-1, us-east-1) every instance type leafline offers is either priced, with its source URL
and the date it was retrieved, or listed as unpriced, saying why and where that was checked. Nothing is
derived or estimated: a type without an AWS price stays unpriced, and every cost for it says "no price
for <type> in <region>". `leafline prices refresh` rebuilds the tables from AWS's Price List API
(`pricing:GetProducts`, when the user has access) or from a downloaded public offer file; run records
use such a file when $LEAFLINE_PRICES names it, `leafline tune` when given --prices.

A Batch Transform instance-hour is the Price List's usage type `<region prefix>-Tsform:<instance type>`
(e.g. USE1-Tsform:ml.c5.9xlarge; `Host:` is a real-time endpoint, `Train:` a training job).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from leafline.errors import UsageError
from leafline.spec.instance_types import INSTANCE_TYPES

SCHEMA = "leafline.prices/1"
DEFAULT_REGION = "sa-east-1"
PRICED_REGIONS = ("sa-east-1", "us-east-1")
TABLE_FILE = "batch_transform_prices.json"
PRICES_ENV = "LEAFLINE_PRICES"  # a `leafline prices refresh` file for run records (the DAG's and Pipeline's)
BUILT_IN_NAME = "leafline's built-in table"
OFFER_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonSageMaker/current/{region}/index.json"
PRICE_LIST_API = "AWS Price List API (pricing:GetProducts, ServiceCode AmazonSageMaker, regionCode {region})"
_BATCH_USAGE = re.compile(r"[A-Z0-9]+-Tsform:(ml\.[a-z0-9.-]+)")
_MAX_PAGES = 1000  # GetProducts pages of 100: a region's SageMaker offer is a few thousand SKUs


@dataclass(frozen=True)
class Price:
    usd_per_hour: float
    source: str  # where the figure was read (a URL, or the Price List API call)
    retrieved: str  # YYYY-MM-DD


@dataclass(frozen=True)
class Unpriced:
    reason: str  # why there is no figure, e.g. none was published where it was looked for
    source: str  # where that was checked
    checked: str  # YYYY-MM-DD


@dataclass(frozen=True)
class PriceTable:
    region: str
    name: str  # which table: BUILT_IN_NAME, or the file it was read from
    prices: Mapping[str, Price]
    unpriced: Mapping[str, Unpriced]

    def price(self, instance_type: str) -> float | None:
        entry = self.prices.get(instance_type)
        return None if entry is None else entry.usd_per_hour

    def no_price(self, instance_type: str) -> str:
        """What every cost for an unpriced type says, with why."""
        entry = self.unpriced.get(instance_type)
        why = f"{entry.reason}; checked {entry.checked} in {entry.source}" if entry else "not in the table"
        return f"no price for {instance_type} in {self.region} ({why}; {self.name})"

    def source_of(self, instance_type: str) -> str:
        """Where the type's price comes from (region, source, date and table), or why it has none."""
        entry = self.prices.get(instance_type)
        if entry is None:
            return self.no_price(instance_type)
        return f"{entry.source}, retrieved {entry.retrieved} ({self.name}, {self.region})"

    def provenance(self) -> str:
        return (f"{self.name}: on-demand SageMaker Batch Transform prices for {self.region}, "
                f"{len(self.prices)} of {len(INSTANCE_TYPES)} instance types priced")  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "prices": {k: vars(v) for k, v in sorted(self.prices.items())},
            "unpriced": {k: vars(v) for k, v in sorted(self.unpriced.items())},
        }


def price_table(region: str, path: Path | None = None) -> PriceTable:
    """The region's table, from `path` (a `leafline prices refresh` file) or the built-in one. A region
    without a table prices nothing (every cost says so) rather than borrowing another region's figures."""
    tables = load_price_tables(path)
    if region in tables:
        return tables[region]
    name = BUILT_IN_NAME if path is None else str(path)
    return PriceTable(region, name, {}, {})


def load_price_tables(path: Path | None) -> Mapping[str, PriceTable]:
    return _built_in() if path is None else _read_tables(path)


def configured_tables() -> Path | None:
    """The refreshed tables run records use: $LEAFLINE_PRICES, else None (the built-in ones)."""
    value = os.environ.get(PRICES_ENV)
    return Path(value) if value else None


@cache
def _built_in() -> Mapping[str, PriceTable]:  # read once per process
    text = resources.files("leafline.spec").joinpath(TABLE_FILE).read_text(encoding="utf-8")
    return parse_tables(json.loads(text), BUILT_IN_NAME, TABLE_FILE)


def _read_tables(path: Path) -> Mapping[str, PriceTable]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the price table ({exc.strerror})") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON ({exc})") from None
    return parse_tables(data, str(path), str(path))


def parse_tables(data: Any, name: str, where: str) -> dict[str, PriceTable]:
    """A `leafline.prices/1` document: {"schema", "regions": {region: {"prices": {...}, "unpriced": {...}}}}."""
    try:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"schema is {data.get('schema')!r}, not {SCHEMA!r}")
        tables = {}
        for region, table in data["regions"].items():
            prices = {str(k): Price(_positive(v["usd_per_hour"]), str(v["source"]), _day(v["retrieved"]))
                      for k, v in table.get("prices", {}).items()}  # fmt: skip
            unpriced = {str(k): Unpriced(str(v["reason"]), str(v["source"]), _day(v["checked"]))
                        for k, v in table.get("unpriced", {}).items()}  # fmt: skip
            both = set(prices) & set(unpriced)
            if both:
                raise ValueError(f"{region}: {sorted(both)[0]} is both priced and unpriced")
            tables[str(region)] = PriceTable(str(region), name, prices, unpriced)
        return tables
    except KeyError as exc:
        raise UsageError(f"{where}: not a leafline price table (missing key {exc})") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise UsageError(f"{where}: not a leafline price table ({exc})") from None


def tables_document(tables: Iterable[PriceTable]) -> dict[str, Any]:
    return {"schema": SCHEMA, "regions": {t.region: t.to_json() for t in sorted(tables, key=lambda t: t.region)}}


def _positive(value: Any) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError(f"price {value!r} is not above zero")
    return number


def _day(value: Any) -> str:
    text = str(value)
    datetime.strptime(text, "%Y-%m-%d")  # ValueError names the bad date
    return text


# Refreshing from AWS --------------------------------------------------------------------------------------


def table_from_price_list_api(client: Any, region: str, today: str | None = None) -> PriceTable:
    """The region's Batch Transform prices from GetProducts (a boto3 `pricing` client in us-east-1)."""
    from botocore.exceptions import BotoCoreError, ClientError

    day = today or datetime.now(UTC).date().isoformat()
    source = PRICE_LIST_API.format(region=region)
    request: dict[str, Any] = {"ServiceCode": "AmazonSageMaker", "FormatVersion": "aws_v1", "MaxResults": 100,
                               "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}]}  # fmt: skip
    found: dict[str, float] = {}
    try:
        for _ in range(_MAX_PAGES):
            page = client.get_products(**request)
            for item in page.get("PriceList", []):
                entry = json.loads(item)  # each PriceList entry is a JSON string
                hit = _batch_price(entry.get("product", {}), entry.get("terms", {}).get("OnDemand", {}), region)
                if hit:
                    found[hit[0]] = hit[1]
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise UsageError(f"AWS's Price List API refused GetProducts ({error.get('Code')}: {error.get('Message')}); "
                         "the caller needs pricing:GetProducts, or pass --offer FILE") from None  # fmt: skip
    except BotoCoreError as exc:
        raise UsageError(f"cannot call AWS's Price List API ({exc}): it needs credentials allowed "
                         "pricing:GetProducts, or pass --offer FILE") from None  # fmt: skip
    return _table(region, found, source, day, "the Price List API")


def table_from_offer(offer: Mapping[str, Any], region: str, source: str) -> PriceTable:
    """The region's Batch Transform prices from a public AWS offer file (products + terms.OnDemand)."""
    terms = offer.get("terms", {}).get("OnDemand", {})
    found = {}
    for sku, product in offer.get("products", {}).items():
        hit = _batch_price(product, terms.get(sku, {}), region)
        if hit:
            found[hit[0]] = hit[1]
    day = str(offer.get("publicationDate", ""))[:10] or datetime.now(UTC).date().isoformat()
    return _table(region, found, source, day, "the offer file")


def _table(region: str, found: Mapping[str, float], source: str, day: str, origin: str) -> PriceTable:
    if not found:
        raise UsageError(f"{origin} has no Batch Transform on-demand prices for leafline's instance types in {region}")
    prices = {name: Price(usd, source, day) for name, usd in found.items()}
    why = f"{origin} has no Batch Transform on-demand price for it in {region}"
    unpriced = {name: Unpriced(why, source, day) for name in INSTANCE_TYPES if name not in prices}
    return PriceTable(region, source, prices, unpriced)


def _batch_price(product: Mapping[str, Any], on_demand: Mapping[str, Any], region: str) -> tuple[str, float] | None:
    """(instance type, USD per hour) when the product is a Batch Transform instance-hour of a type leafline offers."""
    attrs = product.get("attributes", {})
    usage = _BATCH_USAGE.fullmatch(str(attrs.get("usagetype", "")))
    if attrs.get("regionCode") != region or usage is None or usage.group(1) not in INSTANCE_TYPES:
        return None
    for term in on_demand.values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if dimension.get("unit") == "Hrs" and usd is not None and float(usd) > 0:
                return usage.group(1), float(usd)
    return None
