"""`leafline tune`: a profile measured on the real server, settings within SageMaker's limits for every
instance type, costs from a dated price table, and the profile carried through package and register."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from leafline.cli import main
from leafline.errors import UsageError
from leafline.model.registry import resolve_approved
from leafline.spec.instance_types import INSTANCE_TYPES
from leafline.spec.jobspec import load_spec
from leafline.spec.prices import (
    PRICED_REGIONS,
    Price,
    PriceTable,
    price_table,
    table_from_offer,
    table_from_price_list_api,
)
from leafline.tuning.choose import choose_settings
from leafline.tuning.cost import cheapest_meeting, estimate
from leafline.tuning.profile import Point, Summary, summarize
from tests.registry.test_package_and_register import SPEC


def _summary(**changes: float) -> Summary:
    base = {"rows_per_s_per_vcpu": 100_000.0, "payload_mb": 6, "memory_mb_per_payload_mb": 5.0,
            "idle_rss_mb": 200.0, "bytes_per_row": 400.0, "scaling": 0.9, "memory_fixed_mb": 20.0}  # fmt: skip
    return Summary(**{**base, **changes})  # type: ignore[arg-type]


def test_the_summary_takes_the_knee_payload_and_a_memory_line_above_every_point() -> None:
    points = [
        Point(1, 1, 50_000, 210, 200), Point(4, 1, 98_000, 230, 200), Point(8, 1, 100_000, 260, 200),
        Point(1, 2, 90_000, 215, 200), Point(4, 2, 190_000, 260, 200), Point(8, 2, 196_000, 330, 200),
    ]  # fmt: skip
    summary = summarize(points, bytes_per_row=400.0)
    assert summary.payload_mb == 4  # 190k is within 5% of 196k; 1 MB is not
    assert summary.rows_per_s_per_vcpu == 95_000
    for p in points:  # the budget line never undershoots a measured peak
        in_flight = p.payload_mb * p.concurrency
        assert (
            summary.memory_fixed_mb + summary.memory_mb_per_payload_mb * in_flight
            >= p.peak_rss_mb - p.idle_rss_mb - 1e-9
        )
    assert 1.0 <= summary.memory_mb_per_payload_mb < 10.0 and summary.memory_fixed_mb < 20.0
    assert summary.scaling == pytest.approx(190_000 / (2 * 98_000))


@pytest.mark.parametrize("instance_type", sorted(INSTANCE_TYPES))
@pytest.mark.parametrize("knee", [1, 6, 10, 100])
def test_every_choice_is_within_sagemakers_limits(instance_type: str, knee: int) -> None:
    choice = choose_settings(_summary(payload_mb=knee), instance_type)
    kind = INSTANCE_TYPES[instance_type]
    assert 1 <= choice.max_payload_mb <= 100
    assert 1 <= choice.max_concurrent_transforms <= kind.vcpus
    assert choice.max_concurrent_transforms * choice.max_payload_mb <= 100
    assert choice.memory_mb <= kind.memory_gib * 1024 * 0.5
    assert choice.reasons and all(isinstance(reason, str) for reason in choice.reasons)


def test_memory_bounds_concurrency_on_small_memory_instances() -> None:
    heavy = _summary(memory_mb_per_payload_mb=300.0, payload_mb=6)  # a wide model: 1.8 GB per payload in flight
    compute = choose_settings(heavy, "ml.c5.xlarge")  # 4 vCPU, 8 GiB
    memory = choose_settings(heavy, "ml.r6i.xlarge")  # 4 vCPU, 32 GiB
    assert compute.max_concurrent_transforms == 2
    assert any("exceeds half of 8 GiB" in reason for reason in compute.reasons)
    assert memory.max_concurrent_transforms == 4


def test_the_payload_shrinks_before_concurrency_on_big_instances() -> None:
    choice = choose_settings(_summary(payload_mb=6), "ml.c5.18xlarge")  # 72 vCPUs
    assert (choice.max_concurrent_transforms, choice.max_payload_mb) == (72, 1)
    assert any("72 x 1 <= 100 MB" in reason for reason in choice.reasons)


def _table(usd: dict[str, float], region: str = "sa-east-1") -> PriceTable:
    """A price table for tests: these types priced, the others not in it."""
    return PriceTable(region, "a test table", {name: Price(v, "test", "2026-11-01") for name, v in usd.items()}, {})


def test_cost_is_instance_hours_times_price_and_the_cheapest_meets_the_deadline() -> None:
    prices = _table({"ml.c5.xlarge": 0.2, "ml.c5.4xlarge": 0.8})
    summary = _summary(rows_per_s_per_vcpu=10_000.0)
    one = estimate(summary, "ml.c5.xlarge", 1, 24_000_000, prices, startup_min=5)
    assert one.minutes == pytest.approx(5 + 24_000_000 / 40_000 / 60)  # 15 min
    assert one.usd == pytest.approx(0.2 * 15 / 60)
    options = cheapest_meeting(summary, 24_000_000, 12, prices, startup_min=5)
    assert [(o.choice.instance_type, o.instance_count) for o in options] == [("ml.c5.xlarge", 2), ("ml.c5.4xlarge", 1)]
    assert all(o.minutes <= 12 for o in options)
    assert cheapest_meeting(summary, 24_000_000, 5.5, prices, startup_min=5) == []


@pytest.mark.parametrize("region", PRICED_REGIONS)
def test_every_offered_type_is_priced_or_listed_as_unpriced_in_each_region(region: str) -> None:
    table = price_table(region)
    assert table.region == region
    assert set(table.prices).isdisjoint(table.unpriced)
    assert set(table.prices) | set(table.unpriced) == set(INSTANCE_TYPES)  # nothing silently missing


@pytest.mark.parametrize("region", PRICED_REGIONS)
def test_every_entry_of_the_built_in_table_has_a_source_and_a_date(region: str) -> None:
    table = price_table(region)
    for name, price in table.prices.items():
        assert price.usd_per_hour > 0 and price.source.startswith("https://"), name
        assert date.fromisoformat(price.retrieved), name
    for name, unpriced in table.unpriced.items():
        assert unpriced.reason and unpriced.source, name
        assert date.fromisoformat(unpriced.checked), name


def test_every_type_leafline_offers_is_one_batch_transform_accepts() -> None:
    # A type CreateTransformJob refuses would pass the spec's check here and fail only on AWS.
    model = botocore.session.get_session().get_service_model("sagemaker")
    offered = set(model.shape_for("TransformInstanceType").enum)  # type: ignore[attr-defined]
    assert set(INSTANCE_TYPES) <= offered, sorted(set(INSTANCE_TYPES) - offered)
    assert {"ml.m5.xlarge", "ml.c5.xlarge", "ml.m6i.large", "ml.r7i.48xlarge"} <= set(INSTANCE_TYPES)


def test_a_region_without_a_table_prices_nothing_and_says_so() -> None:
    table = price_table("eu-west-3")
    assert table.price("ml.m5.xlarge") is None
    assert table.no_price("ml.m5.xlarge").startswith("no price for ml.m5.xlarge in eu-west-3")


def _price_list_item(sku: str, usagetype: str, usd: str, region: str = "sa-east-1") -> str:
    """One PriceList entry as GetProducts returns it: a JSON string (AWS Price List API, FormatVersion aws_v1)."""
    return json.dumps({
        "product": {"productFamily": "ML Instance", "sku": sku,
                    "attributes": {"usagetype": usagetype, "regionCode": region, "servicecode": "AmazonSageMaker",
                                   "instanceName": usagetype.split(":", 1)[1], "location": "a region name"}},
        "serviceCode": "AmazonSageMaker",
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {
            "offerTermCode": "JRTCKXETXF", "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z", "termAttributes": {},
            "priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                "unit": "Hrs", "pricePerUnit": {"USD": usd}, "description": f"${usd} per hour", "appliesTo": [],
                "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7", "beginRange": "0", "endRange": "Inf"}}}}},
        "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z",
    })  # fmt: skip


def test_refresh_reads_batch_transform_prices_from_the_price_list_api() -> None:
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    expected = {"ServiceCode": "AmazonSageMaker", "FormatVersion": "aws_v1", "MaxResults": 100,
                "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": "sa-east-1"}]}  # fmt: skip
    with Stubber(client) as stubber:
        stubber.add_response("get_products", {"FormatVersion": "aws_v1", "NextToken": "page-2", "PriceList": [
            _price_list_item("A", "SAE1-Tsform:ml.m5.xlarge", "0.3010000000"),
            _price_list_item("B", "SAE1-Host:ml.m5.xlarge", "0.9999000000"),  # a real-time endpoint: not ours
            _price_list_item("C", "SAE1-Tsform:ml.p3.2xlarge", "5.0000000000"),  # not a type leafline offers
        ]}, expected)  # fmt: skip
        stubber.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [
            _price_list_item("D", "SAE1-Tsform:ml.c5.xlarge", "0.2450000000"),
            _price_list_item("E", "SAE1-Train:ml.c5.xlarge", "0.1111000000"),
        ]}, {**expected, "NextToken": "page-2"})  # fmt: skip
        table = table_from_price_list_api(client, "sa-east-1", today="2026-12-02")
        stubber.assert_no_pending_responses()
    assert {name: p.usd_per_hour for name, p in table.prices.items()} == {"ml.m5.xlarge": 0.301, "ml.c5.xlarge": 0.245}
    assert (
        table.prices["ml.m5.xlarge"].retrieved == "2026-12-02" and "GetProducts" in table.prices["ml.m5.xlarge"].source
    )
    assert set(table.prices) | set(table.unpriced) == set(INSTANCE_TYPES)
    assert "no Batch Transform on-demand price" in table.unpriced["ml.m5.large"].reason


def test_refresh_without_access_is_a_usage_error_naming_the_permission() -> None:
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_client_error("get_products", "AccessDeniedException", "not authorized", 400)
        with pytest.raises(UsageError, match="pricing:GetProducts"):
            table_from_price_list_api(client, "sa-east-1", today="2026-12-02")


def _offer() -> dict[str, object]:
    def product(sku: str, usagetype: str, region: str = "sa-east-1") -> dict[str, object]:
        return {"sku": sku, "productFamily": "ML Instance",
                "attributes": {"usagetype": usagetype, "regionCode": region}}  # fmt: skip

    def hourly(usd: str) -> dict[str, object]:
        return {"T1": {"priceDimensions": {"D1": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}}}}

    return {
        "publicationDate": "2026-11-02T10:00:00Z",
        "products": {
            "A": product("A", "SAE1-Tsform:ml.m5.xlarge"),
            "B": product("B", "SAE1-Host:ml.m5.xlarge"),
            "C": product("C", "SAE1-Tsform:ml.c5.xlarge"),
            "D": product("D", "USE1-Tsform:ml.c5.xlarge", region="us-east-1"),
            "E": product("E", "SAE1-Tsform:ml.p3.2xlarge"),
        },
        "terms": {
            "OnDemand": {
                "A": hourly("0.3010000000"),
                "B": hourly("0.9999"),
                "C": hourly("0.2450"),
                "D": hourly("0.01"),
                "E": hourly("5.0"),
            }
        },
    }


def test_refreshed_prices_come_from_the_offers_batch_transform_rows() -> None:
    table = table_from_offer(_offer(), "sa-east-1", "offer.json")
    assert {name: p.usd_per_hour for name, p in table.prices.items()} == {"ml.m5.xlarge": 0.301, "ml.c5.xlarge": 0.245}
    assert table.prices["ml.m5.xlarge"].retrieved == "2026-11-02"
    assert set(table.prices) | set(table.unpriced) == set(INSTANCE_TYPES)


def test_tune_measures_the_server_and_the_profile_reaches_the_registry(
    binary_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(binary_model_dir, model_dir)
    args = ["tune", str(model_dir), "--payloads", "1,2", "--concurrency", "1,2", "--seconds", "0.2",
            "--instance-type", "ml.c5.2xlarge", "--rows", "2000000", "--deadline-min", "30"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    profile = json.loads((model_dir / "tuning-profile.json").read_text())
    assert profile["schema"] == "leafline.tuning/1" and len(profile["points"]) == 4
    assert all(p["rows_per_s"] > 0 and p["peak_rss_mb"] >= p["idle_rss_mb"] > 0 for p in profile["points"])
    assert "ml.c5.2xlarge x 1: MaxConcurrentTransforms=8 MaxPayloadInMB=" in out
    assert "one payload in flight per vCPU (8 vCPUs)" in out
    unpriced = price_table("sa-east-1").price("ml.c5.2xlarge") is None
    assert ("no price for ml.c5.2xlarge in sa-east-1" in out) == unpriced  # never an invented figure
    assert "prices: leafline's built-in table" in out

    offer = tmp_path / "offer.json"
    offer.write_text(json.dumps(_offer()))
    table = tmp_path / "prices.json"
    assert main(["prices", "refresh", "--offer", str(offer), "--output", str(table)]) == 0
    assert main([*args[:2], "--reuse", "--prices", str(table), "--instance-type", "ml.m5.xlarge", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert report["estimate"]["usd_per_hour"] == 0.301 and report["estimate"]["price_region"] == "sa-east-1"
    assert {o["instance_type"] for o in report["cheapest"]} <= {"ml.m5.xlarge", "ml.c5.xlarge"}

    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({**SPEC, "auto_approve": True}))
    with mock_aws():
        boto3.client("s3", region_name="sa-east-1").create_bucket(
            Bucket="models-bucket", CreateBucketConfiguration={"LocationConstraint": "sa-east-1"}
        )
        assert main(["package", str(model_dir), "--spec", str(spec_file)]) == 0
        assert main(["register", "--spec", str(spec_file)]) == 0
        version = resolve_approved(boto3.client("sagemaker", region_name="sa-east-1"), load_spec(spec_file))
    stored = Summary.from_compact(version.tuning or {})
    measured = Summary(**profile["summary"])
    assert stored.payload_mb == measured.payload_mb
    assert choose_settings(stored, "ml.c5.2xlarge").max_concurrent_transforms == 8
    assert stored.rows_per_s_per_vcpu == pytest.approx(measured.rows_per_s_per_vcpu, abs=1)


def test_reuse_without_a_profile_and_bad_lists_are_refused(binary_model_dir: Path, tmp_path: Path, capsys) -> None:
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    shutil.copy(binary_model_dir / "model.txt", model_dir / "model.txt")
    assert main(["tune", str(model_dir), "--reuse"]) == 2
    assert "tuning-profile.json does not exist" in capsys.readouterr().err
    assert main(["tune", str(model_dir), "--payloads", "0,200"]) == 2
    assert "each value must be in 1..100" in capsys.readouterr().err


def test_tune_profiles_parquet_payloads_one_object_each(
    binary_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    model_dir = tmp_path / "model"
    shutil.copytree(binary_model_dir, model_dir)
    sample = tmp_path / "night.parquet"
    x = np.random.default_rng(5).normal(size=(4000, 6))
    sink = io.BytesIO()
    pq.write_table(pa.table({f"Column_{i}": x[:, i] for i in range(6)}), sink)
    sample.write_bytes(sink.getvalue())
    args = ["tune", str(model_dir), "--payloads", "1,2", "--concurrency", "1", "--seconds", "0.2",
            "--content-type", "application/x-parquet", "--sample", str(sample)]  # fmt: skip

    assert main(args) == 0

    out = capsys.readouterr().out
    profile = json.loads((model_dir / "tuning-profile.json").read_text())
    assert profile["content_type"] == "application/x-parquet"
    assert profile["sample"] == f"sample {sample}, one application/x-parquet object per payload"
    assert len(profile["points"]) == 2 and all(p["rows_per_s"] > 0 for p in profile["points"])
    assert 40 < profile["summary"]["bytes_per_row"] < 60  # 6 float64 values a row, as Parquet stores them
    assert "each object is one payload: MaxPayloadInMB must be at least the largest object" in out
