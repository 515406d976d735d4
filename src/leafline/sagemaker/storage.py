"""file:// and s3:// locations: list what is under a prefix, stream objects in, publish outputs atomically.

s3:// goes through boto3, so AWS_ENDPOINT_URL (or an explicit endpoint) can point it at a local S3.
Anything else is local: file:///absolute, file://relative (or file:relative), or a plain path; relative
ones are taken against the working directory, and local_path() makes them absolute in one place, so
that every listing, read and write, and every file:// URI built from a path, works with what a user typed.
An output is assembled in a local temporary file and published in one step (os.replace on disk, a single
PUT or completed multipart upload on S3), so no reader ever sees a partial object.
A key that comes from outside (a manifest entry, a key listed under a prefix, the output key made from it)
becomes a location only through child_uri(), which refuses any key that could name a place outside its
root: one rule for S3 and folders (S3 keeps `..` literally, a folder climbs out with it), and on disk the
resolved path, symbolic links followed, must still be under the resolved root.
Reading an object fails only as a StorageError naming it, whatever the source raised (an OSError, a
botocore streaming error), so a damaged input is the file's failure, never an emulator error.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from leafline.errors import LeaflineError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class StorageError(LeaflineError):
    """A location that cannot be listed, read or written; the message names it."""


class UnsafeKeyError(StorageError):
    """A key that would name a place outside its root (or another key's place once mapped to a folder)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # what is wrong with the key, for a caller that words the refusal its own way


@dataclass(frozen=True)
class InputObject:
    uri: str
    relative_key: str  # the key below the input prefix's folder: names the .out under S3OutputPath
    size: int


def split_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StorageError(f"{uri}: not an s3://bucket/key URI")
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(uri: str) -> Path:
    """The absolute path a local location names (a relative one is taken against the working directory)."""
    parsed = urlparse(uri)
    path = unquote(parsed.netloc + parsed.path) if parsed.netloc else unquote(parsed.path)
    return Path(os.path.abspath(path))


def absolute_location(uri: str) -> str:
    """The same location with a relative local path made absolute, in the form it was given (a plain path stays
    a path, file:// stays file://; a trailing slash, which marks a folder prefix, is kept); s3:// unchanged."""
    if uri.startswith("s3://"):
        return uri
    path = local_path(uri)
    slash = "/" if uri.endswith("/") and path != Path(path.anchor) else ""
    return (path.as_uri() if uri.startswith("file:") else str(path)) + slash


def join_uri(base: str, relative: str) -> str:
    return base.rstrip("/") + "/" + relative.lstrip("/")


def key_problem(key: str) -> str | None:
    """Why `key` cannot name a place under a root, or None. A key is segments joined by `/`, none of them
    empty, `.` or `..`: `..` climbs out of a folder, and `.` or an empty segment would make two S3 keys
    (`a//b`, `a/b`) one file on disk."""
    if not key:
        return "it is empty"
    if "\0" in key:
        return "it has a NUL character"
    if key.startswith("/"):
        return "it is absolute"
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            return "it has an empty segment" if not segment else f"it has a {segment!r} segment"
    return None


def child_uri(root: str, key: str, what: str = "a key under") -> str:
    """The location of `key` under the folder `root`; UnsafeKeyError unless it stays inside. `what` words the
    refusal ("its output key 'k' is not a key under S3OutputPath s3://…")."""
    problem = key_problem(key)
    if problem is not None:
        raise UnsafeKeyError(f"{key!r} is not {what} {root} ({problem})", problem)
    if root.startswith("s3://"):
        return join_uri(root, key)
    # local_path() unquotes, so a `%`, `?` or `#` in a file name is quoted to stay a file name
    uri = join_uri(root, key.replace("%", "%25").replace("?", "%3F").replace("#", "%23"))
    base, target = os.path.realpath(local_path(root)), os.path.realpath(local_path(uri))
    if not Path(target).is_relative_to(base):
        problem = f"it resolves to {target}, through a symbolic link"
        raise UnsafeKeyError(f"{key!r} is not {what} {root} ({problem})", problem)
    return uri


class Storage:
    """One place for both schemes; boto3 is imported and its client built only when an s3:// URI appears."""

    def __init__(
        self, endpoint_url: str | None = None, region: str | None = None, client: S3Client | None = None
    ) -> None:
        self._endpoint_url = endpoint_url
        self._region = region
        self._client = client  # e.g. an Airflow connection's, so its endpoint and credentials apply

    @property
    def s3(self) -> S3Client:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3", endpoint_url=self._endpoint_url, region_name=self._region)
        return self._client

    def list_prefix(self, uri: str) -> list[InputObject]:
        """Every object under the prefix, subfolders included, sorted by key; folder markers skipped."""
        objects = self._list_s3(uri) if uri.startswith("s3://") else self._list_local(uri)
        return sorted(objects, key=lambda item: item.relative_key)

    def _list_s3(self, uri: str) -> list[InputObject]:
        bucket, prefix = split_s3(uri)
        folder = prefix[: prefix.rfind("/") + 1]
        found = []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if not key.endswith("/"):
                        found.append(InputObject(f"s3://{bucket}/{key}", key[len(folder) :], item["Size"]))
        except Exception as exc:
            raise StorageError(f"{uri}: cannot list ({_describe(exc)})") from None
        return found

    def _list_local(self, uri: str) -> list[InputObject]:
        path = local_path(uri)
        if path.is_dir():
            folder, name_prefix = path, ""
        else:
            folder, name_prefix = path.parent, path.name
        if not folder.is_dir():
            return []  # as on S3, a prefix nothing was written under is simply empty
        found = []
        for root, _, files in os.walk(folder):
            for name in files:
                full = Path(root) / name
                relative = full.relative_to(folder).as_posix()
                if relative.startswith(name_prefix) and not _is_partial(name) and full.is_file():
                    found.append(InputObject(full.as_uri(), relative, full.stat().st_size))
        return found  # regular files only: as on S3, a FIFO or a socket is no object (and opening one blocks)

    def list_manifest(self, uri: str) -> list[InputObject]:
        """A ManifestFile: [{"prefix": "s3://bucket/folder/"}, "relative/key1", ...]."""
        try:
            entries = json.loads(self.read_bytes(uri))
        except ValueError as exc:
            raise StorageError(f"{uri}: the manifest is not valid JSON ({exc})") from None
        except RecursionError:
            raise StorageError(f"{uri}: the manifest is not valid JSON (nested too deeply)") from None
        if not (isinstance(entries, list) and entries and isinstance(entries[0], dict) and "prefix" in entries[0]):
            raise StorageError(f'{uri}: a manifest is a JSON list starting with {{"prefix": "s3://..."}}')
        prefix = str(entries[0]["prefix"])
        folder = prefix[: prefix.rfind("/") + 1]  # the entry is appended to the prefix, which may end in a name
        objects = []
        for position, entry in enumerate(entries[1:], start=2):
            if not isinstance(entry, str) or not entry:
                raise StorageError(f"{uri}: entry {position} is not a relative key string")
            try:
                location = child_uri(folder, prefix[len(folder) :] + entry)
            except UnsafeKeyError as exc:
                message = f"{uri}: entry {position} {entry!r} is not a key under the prefix {prefix} ({exc.reason})"
                raise UnsafeKeyError(message, exc.reason) from None
            objects.append(InputObject(location, entry, self.size(location)))
        return objects

    def size(self, uri: str) -> int:
        if uri.startswith("s3://"):
            bucket, key = split_s3(uri)
            try:
                return int(self.s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
            except Exception as exc:
                raise StorageError(f"{uri}: cannot read ({_describe(exc)})") from None
        try:
            status = local_path(uri).stat()
        except OSError as exc:
            raise StorageError(f"{uri}: cannot read ({exc.strerror})") from None
        if not stat.S_ISREG(status.st_mode):  # as a folder "key" on S3, no object to read
            kind = "a folder" if stat.S_ISDIR(status.st_mode) else "not a regular file"
            raise StorageError(f"{uri}: cannot read ({kind}, not a file)")
        return status.st_size

    def exists(self, uri: str) -> bool:
        """Whether an object is there; any other failure (no bucket, no access) is an error, not "no"."""
        if not uri.startswith("s3://"):
            return local_path(uri).is_file()
        bucket, key = split_s3(uri)
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if _describe(exc).split(":")[0] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(f"{uri}: cannot read ({_describe(exc)})") from None
        return True

    def read_bytes(self, uri: str) -> bytes:
        with self.open_read(uri) as stream:
            return stream.read()

    def open_read(self, uri: str) -> IO[bytes]:
        """A streaming, buffered reader (lines iterate as in a file): the object is never held whole in memory,
        and any failure while reading it is a StorageError naming it."""
        source: Any
        if uri.startswith("s3://"):
            bucket, key = split_s3(uri)
            try:
                source = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
            except Exception as exc:
                raise StorageError(f"{uri}: cannot read ({_describe(exc)})") from None
        else:
            try:
                source = local_path(uri).open("rb", buffering=0)
            except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
                raise StorageError(f"{uri}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
        return io.BufferedReader(_ObjectReader(uri, source), buffer_size=_READ_BUFFER)

    def staging_file(self, uri: str) -> IO[bytes]:
        """A temporary file to assemble `uri` in; publish() moves it into place, discard() removes it.
        Its name carries this PID, so what a killed run left in the same folder is removed here."""
        try:
            if uri.startswith("s3://"):
                sweep_partials(Path(tempfile.gettempdir()))
                return tempfile.NamedTemporaryFile(prefix=f"leafline-out-{os.getpid()}-", suffix=".partial",
                                                   delete=False)  # fmt: skip
            target = local_path(uri)
            target.parent.mkdir(parents=True, exist_ok=True)
            sweep_partials(target.parent)
            return tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.{os.getpid()}-",
                                               suffix=".partial", delete=False)  # fmt: skip
        except OSError as exc:
            raise StorageError(f"{uri}: cannot write its staging copy ({exc.strerror})") from None

    def publish(self, staged: Path, uri: str, kms_key_id: str | None = None) -> None:
        try:
            if uri.startswith("s3://"):
                bucket, key = split_s3(uri)
                extra: dict[str, Any] = {}
                if kms_key_id:
                    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
                self.s3.upload_file(str(staged), bucket, key, ExtraArgs=extra or None)
                staged.unlink(missing_ok=True)
            else:
                staged.chmod(0o666 & ~_UMASK)  # a temporary file is 0600; a published one as if written plainly
                staged.replace(local_path(uri))
        except Exception as exc:
            staged.unlink(missing_ok=True)
            raise StorageError(f"{uri}: cannot write ({_describe(exc)})") from None

    def publish_bytes(self, body: bytes, uri: str) -> None:
        """A small object (a report, a record, an archive) written whole, never seen half-written."""
        with self.staging_file(uri) as staged:
            staged.write(body)
        self.publish(Path(staged.name), uri)

    def copy_to_local(self, uri: str, target: Path) -> None:
        with self.open_read(uri) as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink, 8 * 2**20)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()  # read once at import: os.umask can only be read by setting it
_PARTIAL_OF = re.compile(r"(?:^leafline-out-|^\..*\.)(\d+)-[a-z0-9_]+\.partial$")
_swept: set[Path] = set()
_swept_lock = threading.Lock()


def sweep_partials(folder: Path) -> None:
    """Remove the staging files in folder of processes that no longer run (a SIGKILL leaves them), once per
    folder per process."""
    with _swept_lock:
        if folder in _swept:
            return
        _swept.add(folder)
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.is_file(follow_symlinks=False)]
    except OSError:
        return
    for name in names:
        match = _PARTIAL_OF.match(name)
        if match and not _running(int(match.group(1))):
            (folder / name).unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


_READ_BUFFER = 2**20


class _ObjectReader(io.RawIOBase):
    """An object's bytes from any source with read(n) (a file, botocore's StreamingBody, which iterates in
    1 KiB chunks rather than lines); what the source raises becomes a StorageError naming the object."""

    def __init__(self, uri: str, source: Any) -> None:
        self._uri = uri
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            if hasattr(self._source, "readinto"):  # a file: no copy
                return int(self._source.readinto(buffer))
            data = self._source.read(len(buffer))
        except Exception as exc:
            raise StorageError(f"{self._uri}: cannot read ({_describe(exc)})") from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._source.close()
        finally:
            super().close()


def _is_partial(name: str) -> bool:
    return name.startswith(".") and name.endswith(".partial")


def _describe(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return str(exc) or type(exc).__name__
