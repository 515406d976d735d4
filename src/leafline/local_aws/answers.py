"""SageMaker answers as AWS writes them, whoever computed them.

AWS leaves an unset member out of a Describe answer; moto writes `"VpcConfig": {}`, `"Containers": []` or
null, which typed clients (SDK v3's pydantic shapes) refuse. The answer is walked against the operation's
output shape in botocore's model: a structure left with no member, an empty list and a null are dropped,
at any depth. Maps are kept as they are (AWS sends an empty `Environment`), and so are members the model
does not know.
"""

from __future__ import annotations

import functools
from typing import Any

from botocore.model import Shape
from botocore.session import get_session

_DROPPED_WHEN_EMPTY = ("structure", "list")


def tidy(operation: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without what AWS leaves out (Describe* operations; any other answer is returned as is)."""
    shape = _output_shape(operation)
    if shape is None or not operation.startswith("Describe"):
        return answer
    return _structure(shape, answer)


@functools.cache
def _output_shape(operation: str) -> Shape | None:
    model = get_session().get_service_model("sagemaker")
    return model.operation_model(operation).output_shape if operation in model.operation_names else None


def _structure(shape: Shape, value: dict[str, Any]) -> dict[str, Any]:
    members = shape.members  # type: ignore[attr-defined]
    kept: dict[str, Any] = {}
    for name, item in value.items():
        member = members.get(name)
        cleaned = _member(member, item) if member is not None else item
        if member is None or not _left_out(member, cleaned):
            kept[name] = cleaned
    return kept


def _left_out(shape: Shape, value: Any) -> bool:
    return value is None or (shape.type_name in _DROPPED_WHEN_EMPTY and not value)


def _member(shape: Shape, value: Any) -> Any:
    if shape.type_name == "structure" and isinstance(value, dict):
        return _structure(shape, value)
    if shape.type_name == "list" and isinstance(value, list):
        element = shape.member  # type: ignore[attr-defined]
        return [_member(element, item) for item in value if item is not None]
    return value
