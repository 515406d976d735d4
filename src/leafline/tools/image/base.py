"""The Dockerfile's base image without a registry: Debian bookworm, debootstrapped and trimmed like -slim.

Made once (about a minute), saved as an OCI archive in the work folder and loaded from it afterwards
(seconds), then tagged with the exact name the Dockerfile's FROM resolves to, so the Dockerfile is the
same here and on a machine that pulls from Docker Hub.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from leafline.tools.image.engine import Engine, EngineError, can_install_packages

BASE_TAG = "docker.io/library/debian:bookworm-slim"
MIRROR = "http://deb.debian.org/debian"
_TRIM = ("var/cache/apt/archives", "var/cache/apt/*.bin", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
         "usr/share/info", "var/log/apt")  # fmt: skip
_DPKG_EXCLUDES = ("path-exclude /usr/share/doc/*", "path-include /usr/share/doc/*/copyright",
                  "path-exclude /usr/share/man/*", "path-exclude /usr/share/info/*",
                  "path-exclude /usr/share/locale/*", "path-include /usr/share/locale/locale.alias")  # fmt: skip
_SOURCES = """Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


# As in Docker's debian images: no package files or caches left behind by apt in any layer.
_CLEAN_COMMAND = (
    '"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"'
)
_APT_CLEAN = (
    f"DPkg::Post-Invoke {{ {_CLEAN_COMMAND}; }};\n"
    f"APT::Update::Post-Invoke {{ {_CLEAN_COMMAND}; }};\n"
    'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n'
)


def base_tag(arch: str) -> str:
    return BASE_TAG if arch == "amd64" else f"localhost/debian:bookworm-slim-{arch}"


def ensure_base(engine: Engine, workdir: Path, arch: str = "amd64") -> str:
    """Make the base image available to the engine; returns how (for the build's log)."""
    if engine.name == "docker":
        return "docker pulls it"
    tag = base_tag(arch)
    if _exists(engine, tag):
        return "already in the store"
    archive = workdir / f"debian-bookworm-slim-{arch}.oci.tar"
    if archive.is_file():
        engine.run("load", "-i", str(archive))
        if _exists(engine, tag):
            return f"loaded from {archive}"
    _debootstrap(engine, workdir, arch, tag)
    engine.run("save", "--format", "oci-archive", "-o", str(archive), tag)
    return f"synthesized with debootstrap, saved as {archive}"


def _exists(engine: Engine, tag: str) -> bool:
    done = subprocess.run(engine.command("image", "exists", tag), env=engine.environment(), check=False)
    return done.returncode == 0


def _debootstrap(engine: Engine, workdir: Path, arch: str, tag: str) -> None:
    if shutil.which("debootstrap") is None or not can_install_packages():
        raise EngineError("no base image: making one needs debootstrap and root (no registry is reachable)")
    if arch != "amd64" and not Path(f"/proc/sys/fs/binfmt_misc/qemu-{_qemu(arch)}").exists():
        raise EngineError(f"cannot make an {arch} base here: no qemu-{_qemu(arch)} binfmt handler "
                          "(Debian's qemu-user-static and binfmt-support provide one)")  # fmt: skip
    rootfs = workdir / f"rootfs-{arch}"
    shutil.rmtree(rootfs, ignore_errors=True)
    done = subprocess.run(["debootstrap", "--variant=minbase", f"--arch={arch}", "bookworm", str(rootfs), MIRROR],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise EngineError(f"debootstrap failed: {done.stderr.strip()[-800:]}")
    _trim(rootfs)
    with subprocess.Popen(["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-c", "."],
                          stdout=subprocess.PIPE) as tar:  # fmt: skip
        imported = subprocess.run(
            engine.command("import", "--arch", arch, "--change", 'CMD ["bash"]', "--change",
                           "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "-", tag),
            stdin=tar.stdout, env=engine.environment(), capture_output=True, text=True, check=False,
        )  # fmt: skip
    shutil.rmtree(rootfs, ignore_errors=True)
    if imported.returncode != 0:
        raise EngineError(f"importing the base image failed: {imported.stderr.strip()[-800:]}")


def _trim(rootfs: Path) -> None:
    """What Debian's -slim images leave out, and the dpkg/apt settings that keep it out."""
    for pattern in _TRIM:
        for path in rootfs.glob(pattern + ("" if "*" in pattern else "/*")):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    locale = rootfs / "usr/share/locale"
    for path in locale.glob("*"):
        if path.name != "locale.alias":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    (rootfs / "etc/dpkg/dpkg.cfg.d/docker-slim").write_text("\n".join(_DPKG_EXCLUDES) + "\n")
    (rootfs / "etc/apt/apt.conf.d/docker-no-recommends").write_text('APT::Install-Recommends "false";\n')
    (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(_APT_CLEAN)
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(_SOURCES)
    (rootfs / "etc/resolv.conf").write_text("")
    (rootfs / "etc/hostname").write_text("localhost\n")


def _qemu(arch: str) -> str:
    return {"arm64": "aarch64"}.get(arch, arch)
