"""infrastructure/leafline.yaml: cfn-lint clean, deployed into moto's CloudFormation and read back, and the
roles' limits shown by moto's IAM (the same evaluator `moto.core.enable_iam_authentication` turns on).

moto's CloudFormation skips a few things a real stack has: it cannot create an AWS::S3::BucketPolicy or an
AWS::SNS::TopicPolicy, and it does not apply a bucket's PublicAccessBlockConfiguration or
LifecycleConfiguration, and it passes a repository's properties to its ECR model in CloudFormation's
casing (so its API answers neither scan-on-push nor the encryption) and skips its LifecyclePolicy. Those
are asserted on the template itself (`_resource`); `test_moto_skips_only_the_known_resource_types` fails
the day moto starts creating the two resource types, so the read-back can take over.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import boto3
import pytest
from botocore.exceptions import ClientError
from cfnlint.decode import cfn_yaml
from moto import mock_aws
from moto.core import enable_iam_authentication
from moto.iam.access_control import IAMPolicy, PermissionResult

import leafline.infrastructure
from leafline.cli import main
from leafline.orchestration.sagemaker_pipeline.schedule import START_FUNCTION
from leafline.spec.jobspec import run_names, safe_name

TEMPLATE = Path(__file__).resolve().parents[2] / "infrastructure" / "leafline.yaml"
REGION: Final = "sa-east-1"
ACCOUNT = "123456789012"  # moto's
BUCKET = "acme-leafline"
PROJECTS = ("churn", "fraud")
SLOTS = 8
MOTO_SKIPS = {"AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy"}


def _template() -> dict[str, Any]:
    return dict(cfn_yaml.loads(TEMPLATE.read_text(), str(TEMPLATE)))


def _resource(name: str) -> dict[str, Any]:
    return dict(_template()["Resources"][name])


def _deploy(stack: str, **parameters: str) -> tuple[dict[str, str], set[str]]:
    """Create the stack in moto; its outputs and the resource types moto said it could not create."""
    cfn = boto3.client("cloudformation", region_name=REGION)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfn.create_stack(
            StackName=stack,
            TemplateBody=TEMPLATE.read_text(),
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
    skipped = {m.group(1) for w in caught if (m := re.search(r"Tried to parse (\S+) but", str(w.message)))}
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}, skipped


@pytest.fixture
def stack() -> Iterator[tuple[dict[str, str], set[str]]]:
    with mock_aws():
        yield _deploy(
            "leafline",
            ProjectIds=",".join(PROJECTS),
            BucketName=BUCKET,
            ScoringExperiments="churn/exp-1,fraud/exp-7",
            NotificationEmail="oncall@example.com",
        )


def _role_documents(role: str) -> dict[str, dict[str, Any]]:
    """Every policy document on the role, by name: its inline ones and the managed ones attached."""
    iam = boto3.client("iam", region_name=REGION)
    documents = {
        name: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
    }
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
        documents[attached["PolicyName"]] = version["PolicyVersion"]["Document"]
    return {name: json.loads(doc) if isinstance(doc, str) else doc for name, doc in documents.items()}


def _statements(role: str) -> list[dict[str, Any]]:
    return [statement for doc in _role_documents(role).values() for statement in doc["Statement"]]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _allowed(role: str, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """moto's IAM evaluation of the role's policies: an explicit Deny wins, else any Allow (Action and Resource
    wildcards; of the condition operators moto evaluates only StringEquals, from `context`)."""
    verdicts = [
        IAMPolicy(json.dumps(doc)).is_action_permitted(action, resource, incoming_condition_values=context)
        for doc in _role_documents(role).values()
    ]
    return PermissionResult.DENIED not in verdicts and PermissionResult.PERMITTED in verdicts


def _arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name}"


# (a) cfn-lint


def test_cfn_lint_reports_nothing() -> None:
    """No error and no warning: cfn-lint exits 0 only then (2 errors, 4 warnings, 8 informational)."""
    lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([lint, str(TEMPLATE)], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_project_slots_differ_only_in_their_index() -> None:
    """The per-project grants are repeated per slot (no loop in plain CloudFormation): a slot edited alone
    would give one project other limits."""
    template = _template()

    def normalized(name: str, index: int) -> str:
        text = json.dumps(template["Resources"][name], sort_keys=True)
        ordinal = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"][index]
        text = text.replace(f"Project{index}", "ProjectN").replace(f'[{index}, {{"Fn::Split"', '[N, {"Fn::Split"')
        return text.replace(f" {ordinal} ", " Nth ")

    for base in ("ExecutionProject", "OrchestratorProject"):
        first = normalized(f"{base}0", 0)
        assert "ProjectN" in first and '[N, {"Fn::Split"' in first
        for index in range(1, SLOTS):
            assert normalized(f"{base}{index}", index) == first, f"{base}{index} differs from {base}0"
    assert f"{{0,{SLOTS - 1}}}$" in template["Parameters"]["ProjectIds"]["AllowedPattern"]
    assert f"Project{SLOTS}" not in template["Conditions"]


def test_project_ids_are_what_the_grants_can_match() -> None:
    """Lower case (SageMaker's ARNs are) and short enough that safe_name keeps `lf-{project}-` whole."""
    pattern = re.compile(_template()["Parameters"]["ProjectIds"]["AllowedPattern"])
    longest = "a" * 50
    assert pattern.match("churn,fraud-2") and pattern.match(longest)
    for refused in ("Churn", "a" * 51, "churn,", "-churn", ",".join(["p"] * (SLOTS + 1))):
        assert not pattern.match(refused), refused
    names = run_names(_spec_stub(longest), "scheduled__2026-12-02T02:00:00+00:00" * 3)
    assert names["model"].startswith(f"lf-{longest}-") and names["transform_job"].startswith(f"lf-{longest}-")
    assert safe_name(longest) == longest


def _spec_stub(project: str) -> Any:
    from leafline.spec.jobspec import JobSpec

    return JobSpec(
        project_id=project,
        experiment_id="exp-1",
        bucket=BUCKET,
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/r",
        image_uri="x",
    )


# (b) deployed into moto's CloudFormation, read back


def test_moto_skips_only_the_known_resource_types(stack: tuple[dict[str, str], set[str]]) -> None:
    _, skipped = stack
    assert skipped == MOTO_SKIPS


def test_outputs_are_the_spec_values(stack: tuple[dict[str, str], set[str]]) -> None:
    outputs, _ = stack
    assert outputs["Bucket"] == BUCKET
    assert outputs["ExecutionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/leafline-sagemaker-execution"
    assert outputs["OrchestratorRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/leafline-orchestrator"
    assert outputs["ImageRepositoryUri"] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/leafline"
    assert outputs["Region"] == REGION
    assert outputs["FailedJobsTopicArn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:leafline-failed-transform-jobs"
    assert "KmsKeyArn" not in outputs  # the key is optional, off by default


def test_bucket_encrypted_private_and_expiring_scoring_data(stack: tuple[dict[str, str], set[str]]) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules] == ["AES256"]
    # moto ignores these two properties: asserted on the template.
    properties = _resource("Bucket")["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    lifecycle = properties["LifecycleConfiguration"]["Rules"]
    scoring = [rule["Fn::If"] for rule in lifecycle if "Fn::If" in rule]
    assert [condition for condition, _, _ in scoring] == [f"Scoring{i}" for i in range(SLOTS)]
    for _, rule, otherwise in scoring:
        assert rule["Prefix"]["Fn::Sub"][0] == "${Pair}/scoring/"  # never the model or the run records
        assert rule["ExpirationInDays"] == {"Ref": "ScoringRetentionDays"}
        assert otherwise == {"Ref": "AWS::NoValue"}
    tls = _resource("BucketPolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert tls == [
        {
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [{"Fn::GetAtt": ["Bucket", "Arn"]}, {"Fn::Sub": "${Bucket.Arn}/*"}],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


def test_repository_scans_on_push_and_expires_untagged_images(stack: tuple[dict[str, str], set[str]]) -> None:
    outputs, _ = stack
    ecr = boto3.client("ecr", region_name=REGION)
    (repository,) = ecr.describe_repositories(repositoryNames=["leafline"])["repositories"]
    assert repository["repositoryUri"] == outputs["ImageRepositoryUri"]
    # moto hands the properties below to its ECR model in CloudFormation's casing (or not at all), so its
    # API does not answer them: they are read from the template.
    properties = _resource("Repository")["Properties"]
    assert properties["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert properties["EncryptionConfiguration"] == {
        "Fn::If": [
            "UseKms",
            {"EncryptionType": "KMS", "KmsKey": {"Fn::GetAtt": ["Key", "Arn"]}},
            {"EncryptionType": "AES256"},
        ]
    }
    text = properties["LifecyclePolicy"]["LifecyclePolicyText"]["Fn::Sub"]
    (rule,) = json.loads(text.replace("${UntaggedImageDays}", "7"))["rules"]
    assert rule["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 7,
    }
    assert rule["action"] == {"type": "expire"}


def test_failed_transform_jobs_reach_the_topic(stack: tuple[dict[str, str], set[str]]) -> None:
    outputs, _ = stack
    events = boto3.client("events", region_name=REGION)
    (rule,) = events.list_rules(NamePrefix="leafline-failed-transform-jobs")["Rules"]
    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Transform Job State Change"],
        "detail": {"TransformJobStatus": ["Failed"], "TransformJobName": [{"prefix": "lf-"}]},
    }
    assert rule["State"] == "ENABLED"
    targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert [t["Arn"] for t in targets] == [outputs["FailedJobsTopicArn"]]
    sns = boto3.client("sns", region_name=REGION)
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=outputs["FailedJobsTopicArn"])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "oncall@example.com")]
    # moto cannot create an AWS::SNS::TopicPolicy: EventBridge's right to publish, from the template.
    (statement,) = _resource("FailedJobsTopicPolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sns:Publish" and statement["Resource"] == {"Ref": "FailedJobsTopic"}
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["FailedTransformJobsRule", "Arn"]}}
    }


def test_execution_role_has_exactly_the_scoring_grants(stack: tuple[dict[str, str], set[str]]) -> None:
    iam = boto3.client("iam", region_name=REGION)
    trust = iam.get_role(RoleName="leafline-sagemaker-execution")["Role"]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "sagemaker.amazonaws.com"}]
    attached = iam.list_attached_role_policies(RoleName="leafline-sagemaker-execution")["AttachedPolicies"]
    slots = sorted(a["PolicyName"].split("-")[1] for a in attached if "ExecutionProject" in a["PolicyName"])
    assert slots == ["ExecutionProject0", "ExecutionProject1"]  # a slot per project given, none for the empty ones
    grants = {
        (action, resource)
        for s in _statements("leafline-sagemaker-execution")
        if s["Effect"] == "Allow"
        for action in _as_list(s["Action"])
        for resource in _as_list(s["Resource"])
    }
    bucket = f"arn:aws:s3:::{BUCKET}"
    expected = {
        ("ecr:BatchCheckLayerAvailability", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/leafline"),
        ("ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/leafline"),
        ("ecr:GetDownloadUrlForLayer", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/leafline"),
        ("ecr:GetAuthorizationToken", "*"),
        *{
            (action, f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/TransformJobs:*")
            for action in (
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents",
            )
        },
    }
    for project in PROJECTS:
        expected |= {
            ("s3:GetObject", f"{bucket}/{project}/*/model.tar.gz"),
            ("s3:GetObject", f"{bucket}/{project}/*/scoring/*/input/*"),
            ("s3:PutObject", f"{bucket}/{project}/*/scoring/*/output/*"),
            ("s3:AbortMultipartUpload", f"{bucket}/{project}/*/scoring/*/output/*"),
            ("s3:ListBucket", bucket),
        }
    assert grants == expected
    listings = [s["Condition"] for s in _statements("leafline-sagemaker-execution") if s["Action"] == "s3:ListBucket"]
    assert sorted(c["StringLike"]["s3:prefix"] for c in listings) == [f"{p}/*" for p in PROJECTS]


def test_orchestrator_role_has_exactly_the_dag_grants(stack: tuple[dict[str, str], set[str]]) -> None:
    statements = _statements("leafline-orchestrator")
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/leafline-sagemaker-execution"
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    wildcard = [(s["Action"], s["Resource"]) for s in statements if s["Resource"] == "*"]
    assert wildcard == [("sagemaker:ListModelPackages", "*")]  # has no resource-level scoping
    sagemaker_resources = {
        r
        for s in statements
        if any(a.startswith("sagemaker:") for a in _as_list(s["Action"]))
        for r in _as_list(s["Resource"])
        if r != "*"
    }
    assert sagemaker_resources == {
        arn
        for p in PROJECTS
        for arn in (
            _arn("model", f"lf-{p}-*"),
            _arn("transform-job", f"lf-{p}-*"),
            _arn("model-package-group", p),
            _arn("model-package", p),
            _arn("model-package", f"{p}/*"),
        )
    }
    actions = {a for s in statements for a in _as_list(s["Action"])}
    assert not {a for a in actions if a.endswith("*") or a.startswith(("iam:Create", "iam:Put", "sagemaker:Delete"))}


# (c) the roles' limits, evaluated by moto's IAM


def test_execution_role_reads_its_projects_and_nothing_else(stack: tuple[dict[str, str], set[str]]) -> None:
    """Through S3 itself: the role assumed, moto's IAM authorization on, object by object."""
    s3 = boto3.client("s3", region_name=REGION)
    keys = [
        "churn/exp-1/model.tar.gz",
        "churn/exp-1/scoring/2026-12-01/input/part-0.csv",
        "fraud/exp-7/model.tar.gz",
        "billing/exp-1/model.tar.gz",
        "billing/exp-1/scoring/2026-12-01/input/a.csv",
        "churn/runs/r1.json",
    ]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    s3.create_bucket(Bucket="another-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="another-bucket", Key="churn/exp-1/model.tar.gz", Body=b"x")
    role = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/leafline-sagemaker-execution", RoleSessionName="transform-job"
    )["Credentials"]
    job = boto3.client(
        "s3",
        region_name=REGION,
        aws_access_key_id=role["AccessKeyId"],
        aws_secret_access_key=role["SecretAccessKey"],
        aws_session_token=role["SessionToken"],
    )

    def can(call: Any, **kwargs: Any) -> bool:
        try:
            call(**kwargs)
            return True
        except ClientError as error:
            assert error.response["Error"]["Code"] == "AccessDenied", error
            return False

    with enable_iam_authentication():
        readable = {key: can(job.get_object, Bucket=BUCKET, Key=key) for key in keys}
        assert readable == {
            "churn/exp-1/model.tar.gz": True,
            "churn/exp-1/scoring/2026-12-01/input/part-0.csv": True,
            "fraud/exp-7/model.tar.gz": True,  # the stack's second project
            "billing/exp-1/model.tar.gz": False,  # another project's prefix
            "billing/exp-1/scoring/2026-12-01/input/a.csv": False,
            "churn/runs/r1.json": False,  # not the job's business
        }
        assert not can(job.get_object, Bucket="another-bucket", Key="churn/exp-1/model.tar.gz")
        assert can(job.put_object, Bucket=BUCKET, Key="churn/exp-1/scoring/2026-12-01/output/part-0.csv.out", Body=b"")
        assert not can(job.put_object, Bucket=BUCKET, Key="churn/exp-1/scoring/2026-12-01/input/part-1.csv", Body=b"")
        assert not can(job.put_object, Bucket=BUCKET, Key="churn/exp-1/model.tar.gz", Body=b"")
        assert not can(job.put_object, Bucket=BUCKET, Key="billing/exp-1/scoring/2026-12-01/output/a.out", Body=b"")
        assert not can(job.delete_object, Bucket=BUCKET, Key="churn/exp-1/model.tar.gz")


def test_orchestrator_limits(stack: tuple[dict[str, str], set[str]]) -> None:
    """moto's SageMaker does not authorize per resource, so its IAM evaluator is asked directly, about the names
    leafline gives (run_names) and about other projects' names."""
    role = "leafline-orchestrator"
    execution = f"arn:aws:iam::{ACCOUNT}:role/leafline-sagemaker-execution"
    names = run_names(_spec_stub("churn"), "scheduled__2026-12-02T02:00:00+00:00")
    for action in ("CreateTransformJob", "DescribeTransformJob", "StopTransformJob"):
        assert _allowed(role, f"sagemaker:{action}", _arn("transform-job", names["transform_job"]))
        assert not _allowed(role, f"sagemaker:{action}", _arn("transform-job", "lf-billing-scheduled-2026-12-02"))
        assert not _allowed(role, f"sagemaker:{action}", _arn("transform-job", "someone-elses-job"))
    assert _allowed(role, "sagemaker:CreateModel", _arn("model", names["model"]))
    assert not _allowed(role, "sagemaker:CreateModel", _arn("model", "lf-billing-exp-1-run"))
    assert _allowed(role, "sagemaker:CreateModelPackage", _arn("model-package", "churn/3"))
    assert _allowed(role, "sagemaker:DescribeModelPackageGroup", _arn("model-package-group", "fraud"))
    assert not _allowed(role, "sagemaker:CreateModelPackageGroup", _arn("model-package-group", "billing"))
    assert not _allowed(role, "sagemaker:DeleteModelPackageGroup", _arn("model-package-group", "churn"))
    to_sagemaker = {"iam:PassedToService": "sagemaker.amazonaws.com"}
    assert _allowed(role, "iam:PassRole", execution, to_sagemaker)
    assert not _allowed(role, "iam:PassRole", execution, {"iam:PassedToService": "ec2.amazonaws.com"})
    assert not _allowed(role, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin", to_sagemaker)
    assert not _allowed(role, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/leafline-orchestrator", to_sagemaker)
    bucket = f"arn:aws:s3:::{BUCKET}"
    assert _allowed(role, "s3:GetObject", f"{bucket}/churn/exp-1/scoring/2026-12-01/output/part-0.csv.out")
    assert _allowed(role, "s3:PutObject", f"{bucket}/churn/runs/2026-12-01.json")
    assert _allowed(role, "s3:PutObject", f"{bucket}/churn/exp-1/scoring/2026-12-01/validation/report.json")
    assert not _allowed(role, "s3:PutObject", f"{bucket}/churn/exp-1/model.tar.gz")  # models come from `leafline model`
    assert not _allowed(role, "s3:PutObject", f"{bucket}/churn/exp-1/scoring/2026-12-01/output/part-0.csv.out")
    assert not _allowed(role, "s3:GetObject", f"{bucket}/billing/exp-1/model.tar.gz")


def test_optional_kms_key_encrypts_and_both_roles_may_use_it() -> None:
    with mock_aws():
        outputs, _ = _deploy("leafline-kms", ProjectIds="churn", BucketName=BUCKET, UseKmsKey="true")
        key = outputs["KmsKeyArn"]
        s3 = boto3.client("s3", region_name=REGION)
        (rule,) = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
        for role in ("leafline-kms-sagemaker-execution", "leafline-kms-orchestrator"):
            assert _allowed(role, "kms:Decrypt", key) and _allowed(role, "kms:GenerateDataKey", key)
            assert not _allowed(role, "kms:Decrypt", key.rsplit("/", 1)[0] + "/another-key")
            assert not _allowed(role, "kms:ScheduleKeyDeletion", key)
        sns = boto3.client("sns", region_name=REGION)
        assert sns.list_subscriptions_by_topic(TopicArn=outputs["FailedJobsTopicArn"])["Subscriptions"] == []


def test_readme_deploys_with_the_template_parameters_and_names_real_spec_keys() -> None:
    """The README's "Setting up an AWS account": its deploy command's parameters are the template's, and its
    table maps every output, to keys the job spec has."""
    from dataclasses import fields

    from leafline.spec.jobspec import JobSpec

    readme = (TEMPLATE.parents[1] / "README.md").read_text()
    section = readme.split("## Setting up an AWS account", 1)[1].split("\n## ", 1)[0]
    template = _template()
    given = set(re.findall(r"\b([A-Z][A-Za-z]+)=", section.split("```")[1]))
    assert given and given <= set(template["Parameters"]), given - set(template["Parameters"])
    rows = dict(re.findall(r"^\| `(\w+)`[^|]*\| (.+) \|$", section, flags=re.MULTILINE))
    assert set(rows) == set(template["Outputs"])
    spec_keys = {f.name for f in fields(JobSpec)}
    for output, where in rows.items():
        if not where.startswith("not the spec"):
            named = re.findall(r"`(\w+)`", where)
            assert named and set(named) <= spec_keys, (output, where)


def test_the_checkout_link_is_the_packaged_template() -> None:
    assert TEMPLATE.resolve() == Path(leafline.infrastructure.__file__).with_name("leafline.yaml")


def test_cli_prints_and_writes_the_template(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["infra", "template"]) == 0
    assert capsys.readouterr().out == leafline.infrastructure.template_text()
    target = tmp_path / "leafline.yaml"
    assert main(["infra", "template", "--output", str(target)]) == 0
    assert target.read_text() == leafline.infrastructure.template_text()
    assert main(["infra", "template", "--output", str(tmp_path / "missing" / "leafline.yaml")]) == 2
    assert "--output" in capsys.readouterr().err


def test_the_schedule_roles_start_leafline_pipelines_and_nothing_else(stack: tuple[dict[str, str], set[str]]) -> None:
    """`leafline pipeline schedule`'s two roles: the Scheduler may invoke only the start function, and the start
    function may only start leafline's pipelines (and write its own logs)."""
    outputs, _ = stack
    assert outputs["SchedulerRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/leafline-scheduler"
    assert outputs["ScheduledStartRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/leafline-scheduled-start"
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{START_FUNCTION}"
    assert _allowed("leafline-scheduler", "lambda:InvokeFunction", function)
    assert not _allowed("leafline-scheduler", "lambda:InvokeFunction", f"{function[: -len(START_FUNCTION)]}other")
    assert not _allowed("leafline-scheduler", "lambda:UpdateFunctionCode", function)
    assert not _allowed("leafline-scheduler", "sagemaker:StartPipelineExecution", _arn("pipeline", "leafline-x"))
    start = "leafline-scheduled-start"
    assert _allowed(start, "sagemaker:StartPipelineExecution", _arn("pipeline", "leafline-churn-exp-1"))
    assert not _allowed(start, "sagemaker:StartPipelineExecution", _arn("pipeline", "someone-elses-pipeline"))
    denied = [
        ("sagemaker:CreateTransformJob", _arn("transform-job", "lf-churn-x")),
        ("sagemaker:UpdatePipeline", _arn("pipeline", "leafline-churn-exp-1")),
        ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/churn/exp-1/model.tar.gz"),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/leafline-sagemaker-execution"),
    ]
    for action, resource in denied:
        assert not _allowed(start, action, resource), action
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{START_FUNCTION}:log-stream:x"
    assert _allowed(start, "logs:PutLogEvents", logs)
    assert not _allowed(start, "logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/other:log-stream:x")
