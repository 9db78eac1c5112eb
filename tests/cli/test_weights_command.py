"""``samvideo weights list | verify`` over every family's checkpoints."""

from __future__ import annotations

from samvideo.cli import main
from samvideo.weights import CHECKPOINTS


def test_list_names_every_checkpoint_with_its_checksum_kind(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAMVIDEO_HOME", str(tmp_path))
    (tmp_path / "mobile_sam.pt").write_bytes(b"x")  # no published size: present is cached
    assert main(["weights", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"cache: {tmp_path}"
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == list(CHECKPOINTS)
    assert "md5" in rows["vit_b"] and "375.0 MB" in rows["vit_b"]
    assert "no published checksum" in rows["sam2.1_hiera_tiny"] and "~" in rows["sam2.1_hiera_tiny"]
    assert "git-sha1" in rows["mobile_sam"] and rows["mobile_sam"].endswith(" cached")


def test_verify_tells_a_damaged_mobile_sam_file(tmp_path, capsys):
    fake = tmp_path / "mobile_sam.pt"
    fake.write_bytes(b"not the weights")
    assert main(["weights", "verify", str(fake)]) == 2
    out = capsys.readouterr().out
    assert "is not mobile_sam: it is corrupt or another file" in out
    assert CHECKPOINTS["mobile_sam"].git_sha1 in out
    other = tmp_path / "sam2.1_hiera_tiny.pt"
    other.write_bytes(b"weights of some kind")
    assert main(["weights", "verify", str(other)]) == 0  # nothing published to check against
    assert "no published checksum" in capsys.readouterr().out
