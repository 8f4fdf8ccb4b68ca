"""Stage caching: keys from inputs, resume after a crash, --force."""

from __future__ import annotations

import pytest

from shift.cache import StageRunner


def test_cached_rerun_and_changed_inputs(tmp_path):
    calls = []

    def fn(d):
        calls.append(d)
        (d / "out.txt").write_text("x")
        return {"n": 1}

    runner = StageRunner(root=tmp_path, quiet=True)
    a = runner.run("s", {"x": 1}, fn)
    b = runner.run("s", {"x": 1}, fn)
    assert not a.cached and b.cached and a.dir == b.dir and len(calls) == 1
    assert b.info["n"] == 1
    c = runner.run("s", {"x": 2}, fn)
    assert not c.cached and c.dir != a.dir and len(calls) == 2
    forced = StageRunner(root=tmp_path, quiet=True, force=frozenset({"s"}))
    forced.run("s", {"x": 1}, fn)
    assert len(calls) == 3


def test_crashed_stage_resumes_in_same_directory(tmp_path):
    runner = StageRunner(root=tmp_path, quiet=True)

    def crash(d):
        (d / "partial.txt").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run("s", {"x": 1}, crash)
    seen = {}

    def resume(d):
        seen["partial"] = (d / "partial.txt").read_text()
        return {}

    st = runner.run("s", {"x": 1}, resume)
    assert seen["partial"] == "half" and (st.dir / "DONE.json").exists()
