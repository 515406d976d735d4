"""Push the built image to a registry (ECR, or any other) and say the image_uri to put into the spec.

Two tags: the image's content digest (its ID, the sha256 of its configuration, which names every layer:
the same content always gets the same tag, so a re-push changes nothing and ECR's rule expiring untagged
images never takes it) and leafline's version with the architecture. The spec gets the manifest's
digest, `REPOSITORY@sha256:...`, the one name that cannot move. The manifest is Docker's v2 schema 2:
SageMaker's CreateModel refuses OCI manifests, which podman writes by default.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from leafline.errors import LeaflineError, UsageError
from leafline.tools.image.engine import Engine

EXAMPLE = "123456789012.dkr.ecr.sa-east-1.amazonaws.com/leafline"
# The registry's host (DNS name, IPv4 or [IPv6]) and optional port; then the name's path components.
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                   r"|\[[0-9A-Fa-f:.]+\])")  # fmt: skip
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_ECR = re.compile(r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")
_DOCKER_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")
# Words, not status codes: a bare "403" would also match inside the digests the errors quote.
_NOT_LOGGED_IN = re.compile(r"unauthorized|authentication required|no basic auth credentials|denied|forbidden",
                            re.IGNORECASE)  # fmt: skip
_NO_REPOSITORY = re.compile(r"name unknown|does not exist", re.IGNORECASE)


class PushError(LeaflineError):
    """The image is not here as asked, or the registry refused it; the message names the repository."""


@dataclass(frozen=True)
class Repository:
    registry: str  # host[:port]
    name: str  # path inside the registry, e.g. leafline or team/leafline

    def __str__(self) -> str:
        return f"{self.registry}/{self.name}"

    @property
    def loopback(self) -> bool:
        """On this machine (127.0.0.0/8, ::1, localhost): the only registries reached over plain http."""
        host = self.registry.rsplit(":", 1)[0] if not self.registry.endswith("]") else self.registry
        host = host.strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True)
class Pushed:
    image_uri: str  # REPOSITORY@sha256:..., for the spec's image_uri
    references: tuple[str, ...]  # REPOSITORY:TAG, each pushed
    engine: str


def parse_repository(uri: str) -> Repository:
    """REGISTRY/NAME as docker and podman take it, with no tag or digest (push chooses the tags)."""

    def malformed(why: str) -> UsageError:
        return UsageError(f"repository URI {uri!r} is malformed: {why} (expected REGISTRY/NAME, e.g. {EXAMPLE})")

    if "://" in uri:
        raise malformed("no scheme: the registry's host comes first")
    registry, slash, name = uri.partition("/")
    if not slash or not ("." in registry or ":" in registry or registry == "localhost"):
        raise malformed("it starts with the registry's host (a name with a dot, a port, or localhost)")
    if "@" in name or ":" in name:
        raise malformed("no tag or digest: push tags the image itself")
    host, colon, port = registry.rpartition(":") if not registry.endswith("]") else (registry, "", "")
    if not colon:
        host = registry
    elif not port.isdigit() or not 0 < int(port) < 65536:
        raise malformed(f"the registry's port {port!r} is not a port number")
    if not _HOST.fullmatch(host):
        raise malformed(f"{host!r} is not a host name")
    if not name:
        raise malformed("a repository name after the registry is missing")
    for component in name.split("/"):
        if not _COMPONENT.fullmatch(component):
            raise malformed(f"name component {component!r}: lower-case letters and digits, separated by . _ or -")
    return Repository(registry, name)


def registry_arguments(engine: Engine, repository: Repository) -> list[str]:
    """podman verifies TLS for every registry; a loopback one (a test's) speaks plain http. docker already
    treats 127.0.0.0/8 as insecure and takes no such flag."""
    return ["--tls-verify=false"] if engine.name == "podman" and repository.loopback else []


def push_tags(image_id: str, version: str, arch: str) -> tuple[str, str]:
    """The content tag (a tag may not hold ':') and the version tag."""
    return f"sha256-{image_id.removeprefix('sha256:')}", f"{version}-{arch}"


def local_image_id(engine: Engine, image: str, arch: str) -> str:
    """The built image's ID, after checking it is there and of the architecture asked for."""
    done = subprocess.run(engine.command("image", "inspect", "--format", "{{.Id}} {{.Architecture}}", image),
                          env=engine.environment(), capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0 or not done.stdout.strip():
        raise PushError(f"no image {image!r} in {engine.name}'s store: build it first "
                        f"(make image, or leafline image build --arch {arch} --tag {image})")  # fmt: skip
    image_id, _, built_for = done.stdout.strip().partition(" ")
    if built_for != arch:
        raise PushError(f"{image!r} is built for {built_for}, not {arch}: leafline image build --arch {arch} "
                        f"--tag TAG, then push --tag TAG --arch {arch}")  # fmt: skip
    return image_id


def push_image(engine: Engine, image: str, repository: Repository, arch: str, version: str) -> Pushed:
    image_id = local_image_id(engine, image, arch)
    references = tuple(f"{repository}:{tag}" for tag in push_tags(image_id, version, arch))
    digests = []
    for reference in references:
        engine.run("tag", image, reference)
        digests.append(_push(engine, reference, repository))
    # Both tags name one manifest (the same image, pushed twice): the first push's digest is the one.
    return Pushed(f"{repository}@{digests[0]}", references, engine.name)


def _push(engine: Engine, reference: str, repository: Repository) -> str:
    """Push one tag; the digest of the manifest the registry now holds under it."""
    with tempfile.TemporaryDirectory(prefix="leafline-push-") as scratch:
        digest_file = Path(scratch) / "digest"
        arguments = ["push", *registry_arguments(engine, repository)]
        if engine.name == "podman":
            arguments += ["--format", "v2s2", "--digestfile", str(digest_file)]
        done = subprocess.run(engine.command(*arguments, reference), env=engine.environment(), capture_output=True,
                              text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            said = _reason(done.stderr or done.stdout)
            raise PushError(f"{repository} refused the push (tag {reference.rpartition(':')[2]}): {said}"
                            f"{_hint(engine, repository, said)}")  # fmt: skip
        if engine.name == "podman":
            return digest_file.read_text().strip()
    found = _DOCKER_DIGEST.search(done.stdout)
    if found is None:
        raise PushError(f"pushed {reference}, but docker did not say its digest: {done.stdout.strip()[-400:]}")
    return found.group(1)


def _reason(output: str) -> str:
    """The engine's error lines, without its progress lines (podman's "Copying blob ...")."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    return " ".join(errors or lines[-3:])[-800:]


def login_command(engine: Engine, repository: Repository) -> str:
    """How to log in to the repository's registry: for ECR, the AWS CLI's token piped into the engine."""
    ecr = _ECR.fullmatch(repository.registry)
    if ecr:
        return (f"aws ecr get-login-password --region {ecr['region']} | {engine.name} login --username AWS "
                f"--password-stdin {repository.registry}")  # fmt: skip
    return " ".join([engine.name, "login", *registry_arguments(engine, repository), repository.registry])


def _hint(engine: Engine, repository: Repository, said: str) -> str:
    if _NOT_LOGGED_IN.search(said):
        return f"; log in first: {login_command(engine, repository)}"
    if _ECR.fullmatch(repository.registry) and _NO_REPOSITORY.search(said):
        return "; create the repository first (infrastructure/leafline.yaml does)"
    return ""
