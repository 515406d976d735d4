"""`leafline image build|push|start-time`: the image on this machine (`make image` calls build), and in a registry."""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from leafline.errors import UsageError
from leafline.tools.image.push import EXAMPLE


def add_parser(commands: Any) -> None:
    image = commands.add_parser(
        "image",
        help="build leafline's image with the engine this machine has, and time its start",
        description="build: inference_image/Dockerfile with docker when its daemon answers, else Debian's podman "
        "(installed with apt-get when missing, as root), configured in LEAFLINE_IMAGE_WORKDIR (default .cache/image); "
        "without a registry the Debian base image is made with debootstrap once and kept there. start-time: "
        "seconds from `run` to the first 200 from /ping, the container run as SageMaker runs it. push: the built "
        "image to a registry (ECR: log in first), tagged by its content digest and leafline's version.",
    )
    action = image.add_subparsers(dest="image_action", required=True, metavar="ACTION")
    build = action.add_parser("build", help="build the image and print its size")
    build.add_argument("--arch", choices=("amd64", "arm64"), default="amd64", help="platform (default amd64)")
    build.add_argument("--tag", default="leafline:latest", help="image name (default leafline:latest)")
    build.add_argument("--context", type=Path, default=Path(), metavar="DIR",
                       help="the build context: a leafline checkout, holding inference_image/Dockerfile "
                       "(default: the current directory)")  # fmt: skip
    push = action.add_parser(
        "push",
        help="push the built image to a registry and print the image_uri (by digest) for the spec",
        description="Push the image built by `make image` (same engine) to REPOSITORY, tagged sha256-<image id> "
        "and <leafline version>-<arch>, as Docker's v2 manifest (SageMaker refuses OCI manifests), and print "
        "REPOSITORY@sha256:<manifest digest>: the spec's image_uri. For ECR, log in first: aws ecr "
        "get-login-password --region R | docker login --username AWS --password-stdin ACCOUNT.dkr.ecr.R.amazonaws.com "
        "(podman login likewise). A registry on this machine (127.0.0.0/8, ::1, localhost) is reached over plain http.",
    )
    push.add_argument("--repository", required=True, metavar="URI", help="REGISTRY/NAME, e.g. " + EXAMPLE)
    push.add_argument("--arch", choices=("amd64", "arm64"), default="amd64", help="its platform (default amd64)")
    push.add_argument("--tag", default="leafline:latest", help="the local image to push (default leafline:latest)")
    timing = action.add_parser("start-time", help="time start to first /ping over fresh containers")
    timing.add_argument("--tag", default="leafline:latest", help="image name (default leafline:latest)")
    timing.add_argument("--runs", type=int, default=5, help="containers to start (default 5)")
    timing.add_argument("--model-dir", type=Path, default=None, help="model to serve (default: the demo's sample)")


def run_image_command(args: argparse.Namespace) -> int:
    from leafline.tools.image.engine import find_engine
    from leafline.tools.image.engine_choice import workdir

    # Before looking for an engine (which may install one): a wrong folder is said at once.
    context = build_context(args.context) if args.image_action == "build" else None
    folder = workdir()
    folder.mkdir(parents=True, exist_ok=True)
    if args.image_action == "push":
        return _push(args, folder)
    engine = find_engine(folder, install=args.image_action == "build")
    if context is not None:
        from leafline.tools.image.build import build_image

        built = build_image(engine, context, folder, args.arch, args.tag)
        print(f"built {built.image} ({built.arch}) with {engine.name} in {built.seconds:.0f} s: "
              f"{built.size_bytes / 1e6:.0f} MB; base image: {built.base}; log: {built.log}")  # fmt: skip
        return 0
    if args.runs < 1:
        raise UsageError("--runs must be at least 1")
    from leafline.tools.image.container import readable_model_dir, start_times

    with tempfile.TemporaryDirectory(prefix="leafline-image-model-") as scratch:
        model_dir = args.model_dir or _sample_model(Path(scratch))
        times = start_times(engine, args.tag, readable_model_dir(model_dir, folder / "models"), args.runs)
    print(f"start to first /ping over {len(times)} containers: median {statistics.median(times):.2f} s, "
          f"min {min(times):.2f} s, max {max(times):.2f} s")  # fmt: skip
    return 0


def build_context(folder: Path) -> Path:
    """The checkout the image is built from: the wheel ships no Dockerfile, so it is looked for, not assumed."""
    from leafline.tools.image.build import DOCKERFILE

    if not (folder / DOCKERFILE).is_file():
        raise UsageError(f"--context {folder.resolve()}: no {DOCKERFILE} there; run from a leafline checkout or "
                         "pass --context CHECKOUT")  # fmt: skip
    return folder.resolve()


def _push(args: argparse.Namespace, folder: Path) -> int:
    import sys

    from leafline import __version__
    from leafline.tools.image.engine import find_engine
    from leafline.tools.image.push import parse_repository, push_image

    repository = parse_repository(args.repository)  # before looking for an engine: a typo is said at once
    pushed = push_image(find_engine(folder), args.tag, repository, args.arch, __version__)
    print(f"pushed {args.tag} ({args.arch}) with {pushed.engine} as {', '.join(pushed.references)}; "
          "the spec's image_uri:", file=sys.stderr)  # fmt: skip
    print(pushed.image_uri)
    return 0


def _sample_model(scratch: Path) -> Path:
    """The demo's bundled sample model, compiled (what `make demo` serves)."""
    from leafline.model.compiler import compile_model_dir
    from leafline.tools.demo.data import install_sample_model

    model_dir = scratch / "model"
    install_sample_model(model_dir)
    compile_model_dir(model_dir)
    return model_dir
