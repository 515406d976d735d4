"""`serve`: the image's entry point (SageMaker runs `docker run IMAGE serve`)."""

from __future__ import annotations

import sys

from leafline.serving.server import run_server


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # SageMaker passes "serve" as the only argument; nothing else is accepted, so typos are loud.
    if args not in ([], ["serve"]):
        print(f"usage: serve  (got {' '.join(args)!r}; configure with environment variables)", file=sys.stderr)
        return 2
    return run_server()


if __name__ == "__main__":
    sys.exit(main())
