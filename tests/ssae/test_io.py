"""Atomic writers: results replace the old artifact whole and get the modes the user's umask says."""

from __future__ import annotations

import os
import stat

import pytest

from ssae.io import atomic_dir, atomic_path


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize(
    "mask, dir_mode, file_mode", [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)]
)
def test_atomic_writers_follow_the_umask(tmp_path, umask, mask, dir_mode, file_mode):
    umask(mask)
    with atomic_dir(tmp_path / "set") as tmp:
        (tmp / "ae.pt").write_bytes(b"x")
    with atomic_path(tmp_path / "rows.json") as tmp:
        tmp.write_text("[]")
    assert stat.S_IMODE((tmp_path / "set").stat().st_mode) == dir_mode
    assert stat.S_IMODE((tmp_path / "rows.json").stat().st_mode) == file_mode


def test_atomic_dir_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "set"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a").write_text("new")
        raise RuntimeError
    assert (target / "a").read_text() == "old"
    with atomic_dir(target) as tmp:
        (tmp / "b").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]
