"""An output that is an input under another name (a hard link, a symbolic link) is refused, on a rerun too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bioveil.errors import OutputError
from bioveil.media.atomic import atomic_path, ensure_not_input


@pytest.mark.parametrize("link", [os.link, os.symlink])
def test_an_output_linked_to_an_input_is_refused(tmp_path: Path, link) -> None:
    source = tmp_path / "in" / "a.jpg"
    source.parent.mkdir()
    source.write_bytes(b"original")
    target = tmp_path / "out" / "a.jpg"
    target.parent.mkdir()
    link(source, target)
    inputs = frozenset({source.resolve(), (tmp_path / "in" / "b.jpg").resolve()})
    with pytest.raises(OutputError, match="overwrite an input"):
        ensure_not_input(target, inputs)
    ensure_not_input(tmp_path / "out" / "new.jpg", inputs)  # not there yet: fine
    (tmp_path / "out" / "other.jpg").write_bytes(b"another file")
    ensure_not_input(tmp_path / "out" / "other.jpg", inputs)  # there, but not an input
    assert source.read_bytes() == b"original"


def test_an_atomic_write_leaves_only_the_target(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "out.png"
    with atomic_path(target) as temporary:
        temporary.write_bytes(b"done")
    assert [path.name for path in target.parent.iterdir()] == ["out.png"] and target.read_bytes() == b"done"
