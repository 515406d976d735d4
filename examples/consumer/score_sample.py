"""A consumer of the scoring service, as an application (seed 002's search service) would call it.

Where it scores is configuration only:
- SCORING_URL=http://scoring:8080 posts to the container directly (docker compose, `leafline serve`);
- otherwise SAGEMAKER_ENDPOINT_NAME names a SageMaker endpoint, called through boto3's sagemaker-runtime
  (AWS_ENDPOINT_URL=http://127.0.0.1:5055 makes that `leafline local-aws`; unset, real SageMaker).
It sends CSV rows (stdin, or a few built-in sample rows), prints one score per row and exits 0, or
prints the service's error and exits 1.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

# Three rows of the demo model's 50 features; an empty field is a missing value.
SAMPLE = "\n".join(",".join(str(round((r + 1) * 0.1 - f * 0.01, 3)) if f % 7 else "" for f in range(50))
                   for r in range(3)) + "\n"  # fmt: skip


def score_over_http(url: str, rows: bytes) -> bytes:
    request = urllib.request.Request(url.rstrip("/") + "/invocations", data=rows, method="POST",
                                     headers={"Content-Type": "text/csv", "Accept": "text/csv"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        body: bytes = response.read()
        return body


def score_on_endpoint(endpoint: str, rows: bytes) -> bytes:
    import boto3

    runtime = boto3.client("sagemaker-runtime")
    answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=rows)
    body: bytes = answer["Body"].read()
    return body


def main(environ: dict[str, str], stdin_rows: bytes) -> int:
    rows = stdin_rows or SAMPLE.encode()
    try:
        if environ.get("SCORING_URL"):
            scores = score_over_http(environ["SCORING_URL"], rows)
        elif environ.get("SAGEMAKER_ENDPOINT_NAME"):
            scores = score_on_endpoint(environ["SAGEMAKER_ENDPOINT_NAME"], rows)
        else:
            print("set SCORING_URL (the container) or SAGEMAKER_ENDPOINT_NAME (an endpoint)", file=sys.stderr)
            return 2
    except urllib.error.HTTPError as exc:
        print(f"the scoring service answered {exc.code}: {exc.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except Exception as exc:  # boto3's ClientError and connection errors: say what the service said
        print(f"scoring failed: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(scores.decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(dict(os.environ), b"" if sys.stdin.isatty() else sys.stdin.buffer.read()))
