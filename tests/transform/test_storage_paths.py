"""Storage's local locations: a plain path, file:///absolute, file://relative and file:relative all name files,
a relative one under the working directory, and every URI Storage hands back is absolute."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from leafline.sagemaker.storage import Storage, absolute_location, join_uri


@pytest.mark.parametrize("given", ["data/in/", "./data/in", "data/x/../in/", "file://data/in/", "file:data/in"])
def test_a_relative_location_is_listed_read_and_written_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "data" / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_bytes(b"1\n")
    (folder / "sub" / "b.csv").write_bytes(b"22\n")
    storage = Storage()

    listed = storage.list_prefix(given)
    target = join_uri(given, "out/c.txt")
    storage.publish_bytes(b"hi", target)

    assert [(o.relative_key, o.uri, o.size) for o in listed] == [
        ("a.csv", (folder / "a.csv").as_uri(), 2), ("sub/b.csv", (folder / "sub" / "b.csv").as_uri(), 3)]  # fmt: skip
    assert (folder / "out" / "c.txt").read_bytes() == b"hi"
    assert storage.exists(target) and storage.size(target) == 2 and storage.read_bytes(target) == b"hi"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("runs", "{cwd}/runs"),
        ("./runs/", "{cwd}/runs/"),
        ("a/../runs/", "{cwd}/runs/"),
        ("file://runs/", "file://{cwd}/runs/"),
        ("file:runs", "file://{cwd}/runs"),
        ("/abs/runs/", "/abs/runs/"),
        ("file:///abs/runs/", "file:///abs/runs/"),
        ("s3://bucket/p/runs/", "s3://bucket/p/runs/"),
    ],
)
def test_absolute_location_keeps_the_form_and_the_trailing_slash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_location(given) == expected.format(cwd=tmp_path)


def test_a_published_local_output_has_the_modes_of_a_plainly_written_file(tmp_path: Path) -> None:
    """Staging files are created 0600; the output a user reads must not stay private to the job's user."""
    storage = Storage()
    target = tmp_path / "out" / "scores.csv.out"
    storage.publish_bytes(b"0.5\n", target.as_uri())
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert target.read_bytes() == b"0.5\n"
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
