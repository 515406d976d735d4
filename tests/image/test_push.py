"""`leafline image push`: the built image into a registry, tagged by its content and leafline's version, and
the image_uri (by digest) to put into the spec. End to end against Debian's docker-registry on 127.0.0.1:
pushed, pulled back by the printed digest into an empty store, and the HTTP contract suite run on what came
back. Skipped, saying why, where no engine can run or the registry cannot be installed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from leafline import __version__
from leafline.cli import main
from leafline.errors import UsageError
from leafline.tools.image.build import Build
from leafline.tools.image.engine import Engine, docker_answers, podman_environment
from leafline.tools.image.push import login_command, parse_repository, registry_arguments
from tests.image.helpers import WORK, LocalRegistry, RunningImage, run_contract_suite

ECR = "123456789012.dkr.ecr.sa-east-1.amazonaws.com"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.mark.parametrize(
    ("uri", "registry", "name"),
    [
        pytest.param(f"{ECR}/leafline", ECR, "leafline", id="ecr"),
        pytest.param(f"{ECR}/team-a/leafline_scoring", ECR, "team-a/leafline_scoring", id="ecr_namespace"),
        pytest.param("127.0.0.1:5000/leafline", "127.0.0.1:5000", "leafline", id="loopback_with_port"),
        pytest.param("localhost/leafline", "localhost", "leafline", id="localhost"),
        pytest.param("[::1]:5000/leafline", "[::1]:5000", "leafline", id="ipv6_loopback"),
    ],
)
def test_a_repository_uri_is_split_into_registry_and_name(uri: str, registry: str, name: str) -> None:
    repository = parse_repository(uri)
    assert (repository.registry, repository.name, str(repository)) == (registry, name, uri)


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        pytest.param(f"https://{ECR}/leafline", "no scheme", id="scheme"),
        pytest.param(f"{ECR}/leafline:1.0", "no tag or digest", id="tag"),
        pytest.param(f"{ECR}/leafline@sha256:" + "0" * 64, "no tag or digest", id="digest"),
        pytest.param("leafline/scoring", "starts with the registry", id="no_registry"),
        pytest.param(f"{ECR}/Leafline", "lower-case", id="upper_case"),
        pytest.param(f"{ECR}/", "a repository name after the registry", id="no_name"),
        pytest.param("127.0.0.1:port/leafline", "port", id="bad_port"),
    ],
)
def test_a_malformed_repository_uri_is_refused_naming_it_and_why(uri: str, why: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_repository(uri)
    assert f"repository URI {uri!r}" in str(caught.value)
    assert why in str(caught.value)


def test_push_with_a_malformed_uri_exits_2_before_looking_for_an_engine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image", "push", "--repository", f"{ECR}/leafline:latest"]) == 2
    error = capsys.readouterr().err
    assert f"repository URI '{ECR}/leafline:latest'" in error and "no tag or digest" in error


def test_push_without_an_engine_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    if docker_answers():
        pytest.skip("a docker daemon answers here: there is an engine")
    monkeypatch.setenv("LEAFLINE_ENGINE", "docker")
    assert main(["image", "push", "--repository", f"{ECR}/leafline"]) == 1
    assert "no docker daemon answers" in capsys.readouterr().err


def test_only_a_loopback_registry_is_reached_over_plain_http() -> None:
    podman, docker = Engine("podman"), Engine("docker")
    assert registry_arguments(podman, parse_repository("127.0.0.1:5000/leafline")) == ["--tls-verify=false"]
    assert registry_arguments(podman, parse_repository("localhost:5000/leafline")) == ["--tls-verify=false"]
    assert registry_arguments(podman, parse_repository("[::1]:5000/leafline")) == ["--tls-verify=false"]
    assert registry_arguments(podman, parse_repository(f"{ECR}/leafline")) == []
    assert registry_arguments(podman, parse_repository("10.0.0.5:5000/leafline")) == []
    assert registry_arguments(docker, parse_repository("127.0.0.1:5000/leafline")) == []  # docker's own default


def test_the_login_said_for_ecr_is_the_aws_cli_line_for_its_region_and_account() -> None:
    assert login_command(Engine("podman"), parse_repository(f"{ECR}/leafline")) == (
        f"aws ecr get-login-password --region sa-east-1 | podman login --username AWS --password-stdin {ECR}"
    )
    assert login_command(Engine("docker"), parse_repository("registry.example.com/leafline")) == (
        "docker login registry.example.com"
    )
    assert login_command(Engine("podman"), parse_repository("127.0.0.1:5000/leafline")) == (
        "podman login --tls-verify=false 127.0.0.1:5000"
    )


@pytest.fixture(scope="module")
def pushed(built: tuple[Engine, Build], registry: LocalRegistry) -> tuple[str, str]:
    """`leafline image push` run as a user runs it: (image_uri printed on stdout, what it said on stderr)."""
    leafline = Path(sys.executable).parent / "leafline"
    done = subprocess.run([str(leafline), "image", "push", "--repository", f"{registry.address}/leafline"],
                          env={**os.environ, "LEAFLINE_IMAGE_WORKDIR": str(WORK)}, capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), done.stderr


def test_push_prints_the_image_uri_by_digest(pushed: tuple[str, str], registry: LocalRegistry) -> None:
    image_uri, said = pushed
    assert re.fullmatch(rf"{re.escape(registry.address)}/leafline@sha256:[0-9a-f]{{64}}", image_uri), image_uri
    assert f"{registry.address}/leafline:{__version__}-amd64" in said


def test_the_pushed_manifest_is_dockers_v2_and_both_tags_name_it(
    pushed: tuple[str, str], registry: LocalRegistry, built: tuple[Engine, Build]
) -> None:
    """SageMaker's CreateModel refuses OCI manifests, which podman makes by default."""
    image_uri, _ = pushed
    digest = image_uri.rpartition("@")[2]
    engine, build = built
    image_id = engine.run("image", "inspect", "--format", "{{.Id}}", build.image).strip().removeprefix("sha256:")
    media_type, body = registry.manifest("leafline", digest)
    assert media_type == DOCKER_V2
    assert "sha256:" + hashlib.sha256(body).hexdigest() == digest
    assert json.loads(body)["config"]["digest"] == f"sha256:{image_id}"  # the content tag's digest is the image's
    tags = registry.tags("leafline")
    assert sorted(tags) == sorted([f"sha256-{image_id}", f"{__version__}-amd64"])
    assert {hashlib.sha256(registry.manifest("leafline", tag)[1]).hexdigest() for tag in tags} == {
        digest.removeprefix("sha256:")
    }


def test_pushing_again_changes_nothing(
    pushed: tuple[str, str], registry: LocalRegistry, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    image_uri, _ = pushed
    monkeypatch.setenv("LEAFLINE_IMAGE_WORKDIR", str(WORK))
    assert main(["image", "push", "--repository", f"{registry.address}/leafline"]) == 0
    assert capsys.readouterr().out.strip() == image_uri
    assert len(registry.tags("leafline")) == 2
    assert registry.manifest("leafline", image_uri.rpartition("@")[2])[0] == DOCKER_V2


@pytest.fixture(scope="module")
def pulled(
    pushed: tuple[str, str], built: tuple[Engine, Build], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, str]]:
    """The image pulled by its digest into an empty store: every layer came from the registry."""
    engine, _ = built
    image_uri, _ = pushed
    if engine.name == "podman":
        store = tmp_path_factory.mktemp("pulled-store")
        engine = Engine("podman", podman_environment(store), store)
    engine.run("pull", *registry_arguments(engine, parse_repository(image_uri.partition("@")[0])), image_uri)
    try:
        yield engine, image_uri
    finally:
        if engine.name == "podman":  # the store of its own (docker's is the user's: left as it is)
            engine.run("rmi", "-f", image_uri, check=False)


def test_the_image_pulled_back_by_digest_passes_the_http_contract_suite(
    pulled: tuple[Engine, str], serve_image: Callable[[Engine, str], AbstractContextManager[RunningImage]]
) -> None:
    engine, image_uri = pulled
    with serve_image(engine, image_uri) as running:
        done = run_contract_suite(running)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout


def test_a_push_the_registry_refuses_is_an_error_naming_the_repository(
    built: tuple[Engine, Build], read_only_registry: LocalRegistry, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("LEAFLINE_IMAGE_WORKDIR", str(WORK))
    repository = f"{read_only_registry.address}/leafline"
    assert main(["image", "push", "--repository", repository]) == 1
    error = capsys.readouterr().err
    assert f"{repository} refused the push" in error


def test_a_push_without_logging_in_says_how_to_log_in(
    built: tuple[Engine, Build], registry_needing_login: LocalRegistry, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    engine, _ = built
    monkeypatch.setenv("LEAFLINE_IMAGE_WORKDIR", str(WORK))
    repository = f"{registry_needing_login.address}/leafline"
    assert main(["image", "push", "--repository", repository]) == 1
    error = capsys.readouterr().err
    assert f"{repository} refused the push" in error
    assert f"log in first: {engine.name} login" in error and registry_needing_login.address in error


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        pytest.param(["--tag", "leafline:never-built"], "no image 'leafline:never-built'", id="not_built"),
        pytest.param(["--arch", "arm64"], "'leafline:latest' is built for amd64, not arm64", id="other_arch"),
    ],
)
def test_pushing_an_image_that_is_not_here_as_asked_says_what_to_build(
    built: tuple[Engine, Build], arguments: list[str], said: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("LEAFLINE_IMAGE_WORKDIR", str(WORK))
    assert main(["image", "push", "--repository", "127.0.0.1:1/leafline", *arguments]) == 1
    error = capsys.readouterr().err
    assert said in error and "leafline image build --arch" in error
