"""Which container engine builds and runs the image here, and how it is configured.

docker is used when its daemon answers. Otherwise podman, configured only through CONTAINERS_* variables
pointing at files in the work folder: overlay storage there, runc with cgroupfs (hybrid cgroups defeat
crun), ulimits within this machine's hard limits, the host's CA bundle and a pip.conf bind-mounted into
every build step (for proxies with their own CA), no registry for short names. Machine-specific
settings live here, not in the Dockerfile.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from leafline.errors import LeaflineError

CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Every Debian package the podman engine runs, each with a file it installs. catatonit (`--init`) and
# slirp4netns (a published port) are only Recommends of podman, which `--no-install-recommends` skips.
PODMAN_PACKAGES = {
    "podman": "podman", "buildah": "buildah", "runc": "runc", "debootstrap": "debootstrap",
    "catatonit": "/usr/libexec/podman/catatonit", "slirp4netns": "slirp4netns",
}  # fmt: skip
NPROC_CEILING = 32768  # the runtime's nproc hard limit on these machines is lower than the shell's


class EngineError(LeaflineError):
    """No usable container engine; the message says why and what would make one usable."""


@dataclass(frozen=True)
class Engine:
    name: str  # "docker" | "podman"
    env: dict[str, str] = field(default_factory=dict)  # added to os.environ for every call
    workdir: Path | None = None

    def command(self, *args: str) -> list[str]:
        return [self.name, *args]

    def environment(self) -> dict[str, str]:
        """This process's environment with the engine's configuration: what every engine call runs with."""
        return {**os.environ, **self.env}

    def run(self, *args: str, check: bool = True, timeout: float | None = None) -> str:
        done = subprocess.run(self.command(*args), env=self.environment(), capture_output=True, text=True,
                              check=False, timeout=timeout)  # fmt: skip
        if check and done.returncode != 0:
            raise EngineError(f"`{' '.join(self.command(*args))}` failed (exit {done.returncode}): "
                              f"{(done.stderr or '').strip()[-1500:]}")  # fmt: skip
        return done.stdout or ""


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=20)
    return done.returncode == 0


def can_install_packages() -> bool:
    return shutil.which("apt-get") is not None and os.geteuid() == 0


def missing_podman_packages() -> list[str]:
    return [package for package, program in PODMAN_PACKAGES.items()
            if not (Path(program).is_file() if program.startswith("/") else shutil.which(program))]  # fmt: skip


def install_packages(packages: list[str]) -> None:
    """apt-get install without recommends (after an update when the first try fails); EngineError if it cannot."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode == 0:
        return
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
    done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise EngineError(f"apt-get could not install {' '.join(packages)}: {done.stderr.strip()[-500:]}")


def find_engine(workdir: Path, install: bool = False, environ: Mapping[str, str] | None = None) -> Engine:
    """docker if its daemon answers, else podman (installed from Debian's packages when install and root)."""
    env = os.environ if environ is None else environ
    wanted = env.get("LEAFLINE_ENGINE", "")
    if wanted in ("", "docker") and docker_answers():
        return Engine("docker")
    if wanted == "docker":
        raise EngineError("LEAFLINE_ENGINE=docker but no docker daemon answers `docker info`")
    missing = missing_podman_packages()
    if missing:
        if not (install and can_install_packages()):
            raise EngineError(f"no docker daemon, and podman lacks Debian's {', '.join(missing)}: install "
                              f"{' '.join(PODMAN_PACKAGES)} (apt-get, as root), or start a docker daemon")  # fmt: skip
        install_packages(missing)
    return Engine("podman", podman_environment(workdir), workdir)


def podman_environment(workdir: Path) -> dict[str, str]:
    """Write the configuration files into workdir/conf and return the variables that select them."""
    workdir = workdir.resolve()  # podman refuses relative paths in its configuration
    conf, tmp = workdir / "conf", workdir / "tmp"
    conf.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], NPROC_CEILING)
    volumes = []
    if CA_BUNDLE.is_file():
        (conf / "pip-build.conf").write_text("[global]\ncert = /run/host-ca-bundle.crt\n")
        volumes = [f'"{CA_BUNDLE}:/run/host-ca-bundle.crt:ro"', f'"{conf / "pip-build.conf"}:/etc/pip.conf:ro"']
    (conf / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\nrunroot = "{workdir / "storage" / "runroot"}"\n'
        f'graphroot = "{workdir / "storage" / "root"}"\n'
    )
    (conf / "containers.conf").write_text(
        "[containers]\n"
        'cgroups = "enabled"\n'
        'netns = "host"\n'
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        f"volumes = [{', '.join(volumes)}]\n"
        "[engine]\n"
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        'runtime = "runc"\n'
        f'tmp_dir = "{tmp}"\n'
    )
    (conf / "registries.conf").write_text('unqualified-search-registries = []\nshort-name-mode = "permissive"\n')
    return {
        "CONTAINERS_STORAGE_CONF": str(conf / "storage.conf"),
        "CONTAINERS_CONF": str(conf / "containers.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(conf / "registries.conf"),
        "BUILDAH_ISOLATION": "chroot",
        "TMPDIR": str(tmp),
    }
