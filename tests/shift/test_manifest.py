"""Stage manifests: sizes and SHA-256 against hashlib, scratch files left out, what each check sees."""

from __future__ import annotations

import hashlib
import os

from shift.manifest import build_manifest, manifest_problem


def _folder(tmp_path):
    (tmp_path / "run" / "embed").mkdir(parents=True)
    (tmp_path / "run" / "embed" / "ae.pt").write_bytes(os.urandom(4096))
    (tmp_path / "rows.json").write_text("[1, 2]")
    (tmp_path / "DONE.json").write_text("{}")
    (tmp_path / ".rows.json.abc123.tmp").write_text("torn")  # a killed atomic write
    (tmp_path / "run" / ".embed.x1.tmp").mkdir()
    (tmp_path / "run" / ".embed.x1.tmp" / "ae.pt").write_text("torn")
    return build_manifest(tmp_path)


def test_manifest_lists_artifacts_only(tmp_path):
    files = _folder(tmp_path)
    assert sorted(files) == ["rows.json", "run/embed/ae.pt"]
    data = (tmp_path / "run" / "embed" / "ae.pt").read_bytes()
    assert files["run/embed/ae.pt"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert files["run/embed/ae.pt"]["size"] == 4096
    assert manifest_problem(tmp_path, files, full=True) is None


def test_each_check_sees_what_it_should(tmp_path):
    files = _folder(tmp_path)
    ae = tmp_path / "run" / "embed" / "ae.pt"
    st = ae.stat()
    flipped = bytearray(ae.read_bytes())
    flipped[7] ^= 0xFF
    ae.write_bytes(bytes(flipped))
    # Rewritten in place later: same size, newer mtime, so even the cheap check hashes it. (Set
    # explicitly: within one clock tick of the first write the kernel may stamp the same time.)
    os.utime(ae, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    assert (
        manifest_problem(tmp_path, files, full=False)
        == "run/embed/ae.pt does not match its SHA-256"
    )
    os.utime(ae, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert manifest_problem(tmp_path, files, full=False) is None  # bit rot: only --verify sees it
    assert "does not match" in manifest_problem(tmp_path, files, full=True)
    ae.write_bytes(b"short")
    assert (
        manifest_problem(tmp_path, files, full=False)
        == "run/embed/ae.pt has 5 bytes, expected 4096"
    )
    ae.unlink()
    assert manifest_problem(tmp_path, files, full=False) == "run/embed/ae.pt is missing"
