"""The Model Registry calls moto lacks: DeleteModelPackage and DeleteModelPackageGroup, done on its backend.

moto numbers a group's next version as "how many versions it holds, plus one", so deleting version 1 of
two would make the next one a second version 2, overwriting the first. AWS never reuses a number: the
deleted versions are kept aside here and counted back in, for the moment moto creates the next one.
The only module that reaches into moto's backend; everything else goes through its API.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from leafline.local_aws.protocol import ACCOUNT_ID, validation


def _backend(region: str) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[ACCOUNT_ID][region]


class ModelRegistry:
    def __init__(self) -> None:
        self._deleted: dict[tuple[str, str], list[Any]] = {}  # (region, group) -> the versions deleted
        self._lock = threading.Lock()

    def delete_package(self, region: str, name: str) -> str:
        """Delete a version (by ARN) or an unversioned package (by name); its ARN."""
        backend = _backend(region)
        with self._lock:
            key = backend.model_package_name_mapping.get(name, name)
            package = backend.model_packages.get(key)
            if package is None:
                raise validation(f"Model package {name} does not exist.")
            del backend.model_packages[key]
            for alias in [alias for alias, arn in backend.model_package_name_mapping.items() if arn == key]:
                del backend.model_package_name_mapping[alias]
            group = package.model_package_group_name
            if group:
                self._deleted.setdefault((region, group), []).append(package)
                # The group's name maps to its latest version: point it at the newest one left, if any.
                left = [p for p in backend.model_packages.values() if p.model_package_group_name == group]
                if left:
                    backend.model_package_name_mapping[group] = max(left, key=_version).arn
            return str(package.arn)

    def delete_group(self, region: str, name: str) -> str:
        """Delete an empty group (AWS refuses to delete one that still holds versions); its ARN."""
        backend = _backend(region)
        group_name = name.rsplit("/", 1)[-1] if name.startswith("arn:") else name
        with self._lock:
            group = backend.model_package_groups.get(group_name)
            if group is None:
                raise validation(f"Model Package Group {group_name} does not exist.")
            versions = [p for p in backend.model_packages.values() if p.model_package_group_name == group_name]
            if versions:
                raise validation(f"Model Package Group {group_name} still holds {len(versions)} model package "
                                 "version(s): delete them first (DeleteModelPackage)")  # fmt: skip
            del backend.model_package_groups[group_name]
            self._deleted.pop((region, group_name), None)
            return str(group.arn)

    @contextlib.contextmanager
    def numbering(self, region: str, group: str | None) -> Iterator[None]:
        """While moto creates a version in group, its deleted versions count (a listing in that instant
        could see them too: a create takes a millisecond and is rare)."""
        with self._lock:
            deleted = self._deleted.get((region, group), []) if group else []
            if not deleted:
                yield
                return
            packages = _backend(region).model_packages
            aside = {f"leafline-deleted:{id(package)}": package for package in deleted}
            packages.update(aside)
            try:
                yield
            finally:
                for key in aside:
                    packages.pop(key, None)


def _version(package: Any) -> int:
    return int(package.model_package_version or 0)
