"""`leafline tune`: a profile measured on the real server, settings within SageMaker's limits for every
instance type, costs from a dated price table, and the profile carried through package and register."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from leafline.cli import main
from leafline.instance_types import INSTANCE_TYPES
from leafline.jobspec import load_spec
from leafline.prices import BUILT_IN, PriceTable, table_from_offer
from leafline.registry import resolve_approved
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
    memory = choose_settings(heavy, "ml.r5.xlarge")  # 4 vCPU, 32 GiB
    assert compute.max_concurrent_transforms == 2
    assert any("exceeds half of 8 GiB" in reason for reason in compute.reasons)
    assert memory.max_concurrent_transforms == 4


def test_the_payload_shrinks_before_concurrency_on_big_instances() -> None:
    choice = choose_settings(_summary(payload_mb=6), "ml.c5.18xlarge")  # 72 vCPUs
    assert (choice.max_concurrent_transforms, choice.max_payload_mb) == (72, 1)
    assert any("72 x 1 <= 100 MB" in reason for reason in choice.reasons)


def test_cost_is_instance_hours_times_price_and_the_cheapest_meets_the_deadline() -> None:
    prices = PriceTable("sa-east-1", "2026-11-01", "test", True, {"ml.c5.xlarge": 0.2, "ml.c5.4xlarge": 0.8})
    summary = _summary(rows_per_s_per_vcpu=10_000.0)
    one = estimate(summary, "ml.c5.xlarge", 1, 24_000_000, prices, startup_min=5)
    assert one.minutes == pytest.approx(5 + 24_000_000 / 40_000 / 60)  # 15 min
    assert one.usd == pytest.approx(0.2 * 15 / 60)
    options = cheapest_meeting(summary, 24_000_000, 12, prices, startup_min=5)
    assert [(o.choice.instance_type, o.instance_count) for o in options] == [("ml.c5.xlarge", 2), ("ml.c5.4xlarge", 1)]
    assert all(o.minutes <= 12 for o in options)
    assert cheapest_meeting(summary, 24_000_000, 5.5, prices, startup_min=5) == []


def test_the_built_in_price_table_covers_every_type_and_says_it_is_an_estimate() -> None:
    assert set(BUILT_IN.usd_per_hour) == set(INSTANCE_TYPES)
    assert not BUILT_IN.verified and BUILT_IN.provenance().startswith("ESTIMATED prices for sa-east-1 as of")
    assert BUILT_IN.price("ml.m5.xlarge") == pytest.approx(0.33)  # the seeds' anchor
    assert BUILT_IN.price("ml.m5.2xlarge") == pytest.approx(2 * BUILT_IN.price("ml.m5.xlarge"))  # type: ignore[operator]


def _offer() -> dict[str, object]:
    def product(sku: str, name: str, kind: str, region: str = "sa-east-1") -> dict[str, object]:
        return {"sku": sku, "productFamily": "ML Instance",
                "attributes": {"instanceName": name, "platoinstancetype": kind, "regionCode": region}}  # fmt: skip

    def hourly(usd: str) -> dict[str, object]:
        return {"T1": {"priceDimensions": {"D1": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}}}}

    return {
        "publicationDate": "2026-11-02T10:00:00Z",
        "products": {
            "A": product("A", "ml.m5.xlarge", "BatchTransform"),
            "B": product("B", "ml.m5.xlarge", "Hosting"),
            "C": product("C", "ml.c5.large", "BatchTransform"),
            "D": product("D", "ml.c5.large", "BatchTransform", region="us-east-1"),
            "E": product("E", "ml.p3.2xlarge", "BatchTransform"),
        },
        "terms": {
            "OnDemand": {
                "A": hourly("0.3010000000"),
                "B": hourly("0.9999"),
                "C": hourly("0.1530"),
                "D": hourly("0.01"),
                "E": hourly("5.0"),
            }
        },
    }


def test_refreshed_prices_come_from_the_offers_batch_transform_rows() -> None:
    table = table_from_offer(_offer(), "sa-east-1", "offer.json")
    assert dict(table.usd_per_hour) == {"ml.m5.xlarge": 0.301, "ml.c5.large": 0.153}
    assert table.verified and table.as_of == "2026-11-02"


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
    assert "cheapest within 30 min:" in out and "ESTIMATED prices for sa-east-1" in out

    offer = tmp_path / "offer.json"
    offer.write_text(json.dumps(_offer()))
    table = tmp_path / "prices.json"
    assert main(["prices", "refresh", "--offer", str(offer), "--output", str(table)]) == 0
    assert main([*args[:2], "--reuse", "--prices", str(table), "--instance-type", "ml.m5.xlarge", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert report["prices"]["verified"] and report["estimate"]["usd_per_hour"] == 0.301
    assert {o["instance_type"] for o in report["cheapest"]} <= {"ml.m5.xlarge", "ml.c5.large"}

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
