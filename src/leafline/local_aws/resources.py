"""Every SageMaker resource local AWS created, by ARN, with its tags: AddTags / ListTags / DeleteTags.

SageMaker names are case-insensitive and its ARNs carry the name lower-cased ("MyModel" is
`...:model/mymodel`), so a resource is known by its lower-cased ARN: a second "MYMODEL" is the same
resource. moto keys its resources by the name as given and puts that in its ARNs; the ARN moto gave is
kept too, so a request naming the AWS-style ARN reaches moto's resource.

Tags given to a Create* request are the resource's first tags, as on AWS; a delete forgets them (a
resource made again under the name starts without). The whole table is handed to `on_change` after each
change (a state folder keeps it as one file), before the client hears of it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from leafline.local_aws.protocol import ACCOUNT_ID, AwsError, validation

# The resource kinds leafline creates and tags itself; other kinds' tags stay moto's.
KINDS = ("model", "endpoint-config", "endpoint", "transform-job", "model-package-group", "model-package")
TAG_LIMIT = 50  # tags per SageMaker resource
_LIST_PAGE = 50
_ARN = re.compile(r"(arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:(" + "|".join(KINDS) + r")/)([^\"\s]+)")


def arn_of(region: str, kind: str, name: str) -> str:
    """The ARN AWS gives the resource (its name lower-cased); a name that is already an ARN is kept, lower-cased."""
    if name.startswith("arn:"):
        return name.lower()
    return f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:{kind}/{name.lower()}"


def kind_of(arn: str) -> str | None:
    match = _ARN.fullmatch(arn)
    return match.group(2) if match else None


def lowered(text: str) -> str:
    """Every ARN of a kind above with its name part lower-cased, as AWS writes them."""
    return _ARN.sub(lambda m: m.group(1) + m.group(3).lower(), text)


class Resources:
    def __init__(self) -> None:
        self._tags: dict[str, list[dict[str, str]]] = {}
        self._moto_arns: dict[str, str] = {}  # lower-cased ARN -> moto's, where the two differ
        self._lock = threading.Lock()
        self.on_change: Callable[[dict[str, Any]], None] | None = None

    def exists(self, arn: str) -> bool:
        with self._lock:
            return arn.lower() in self._tags

    def created(self, arn: str, tags: list[dict[str, str]] | None) -> None:
        with self._lock:
            self._tags[arn.lower()] = [dict(tag) for tag in tags or []]
            if arn != arn.lower():
                self._moto_arns[arn.lower()] = arn
            self._changed()

    def deleted(self, arn: str) -> None:
        with self._lock:
            if self._tags.pop(arn.lower(), None) is not None:
                self._moto_arns.pop(arn.lower(), None)
                self._changed()

    def add_tags(self, arn: str, tags: list[dict[str, str]]) -> list[dict[str, str]]:
        with self._lock:
            current = self._known(arn)
            merged = {tag["Key"]: tag["Value"] for tag in current} | {tag["Key"]: tag.get("Value", "") for tag in tags}
            if len(merged) > TAG_LIMIT:
                raise validation(f"The resource {arn.lower()} would have {len(merged)} tags, over the limit of "
                                 f"{TAG_LIMIT} per resource")  # fmt: skip
            current[:] = [{"Key": key, "Value": value} for key, value in merged.items()]
            self._changed()
            return [dict(tag) for tag in tags]

    def list_tags(self, arn: str, params: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            tags = [dict(tag) for tag in self._known(arn)]
        start = _token(params.get("NextToken"))
        end = start + int(params.get("MaxResults") or _LIST_PAGE)
        answer: dict[str, Any] = {"Tags": tags[start:end]}
        if end < len(tags):
            answer["NextToken"] = str(end)
        return answer

    def delete_tags(self, arn: str, keys: list[str]) -> None:
        with self._lock:
            current = self._known(arn)
            current[:] = [tag for tag in current if tag["Key"] not in keys]
            self._changed()

    def to_moto(self, body: bytes) -> bytes:
        """The request with each AWS-style ARN of a resource whose name has capitals as moto wrote it."""
        with self._lock:
            if not self._moto_arns:
                return body
            swaps = dict(self._moto_arns)
        text = body.decode()
        return _ARN.sub(lambda m: swaps.get(m.group(0).lower(), m.group(0)), text).encode()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self._record()

    def restore(self, record: Mapping[str, Any] | None, others: Iterable[str]) -> None:
        """After the journal's replay (which created again every resource moto holds) and the transform
        jobs' restore (others: their ARNs): those resources, with the tags the state folder kept. The
        table is written before the journal entry of the same request, so a kill between the two leaves
        an entry here for a create moto never replayed: the replay, not the file, says what exists."""
        kept = dict((record or {}).get("tags", {}))
        with self._lock:
            alive = set(self._tags) | {arn.lower() for arn in others}
            self._tags = {arn: [dict(tag) for tag in kept.get(arn, self._tags.get(arn, []))] for arn in alive}
            moto_arns = dict((record or {}).get("moto_arns", {}))
            self._moto_arns = {arn: moto for arn, moto in {**moto_arns, **self._moto_arns}.items() if arn in alive}

    def _known(self, arn: str) -> list[dict[str, str]]:
        tags = self._tags.get(arn.lower())
        if tags is None:
            raise validation(f"Could not find resource {arn}")
        return tags

    def _record(self) -> dict[str, Any]:
        return {"tags": {arn: [dict(tag) for tag in tags] for arn, tags in self._tags.items()},
                "moto_arns": dict(self._moto_arns)}  # fmt: skip

    def _changed(self) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(self._record())
        except OSError as exc:
            raise AwsError("InternalFailure", f"local AWS could not keep the resources' tags: {exc}", 500) from None


def _token(token: Any) -> int:
    try:
        return max(int(token or 0), 0)
    except ValueError:
        raise validation(f"The pagination token {token} is not valid") from None
