"""Which family a checkpoint is (from its tensors), which model ``--model auto`` takes,
and the one line a mismatch gets."""

from __future__ import annotations

import pytest
import torch

from samvideo.segmenters import load_model, resolve_model
from samvideo.segmenters.families import CPU_ORDER, FAMILY_OF, GPU_ORDER, check_model, identify
from samvideo.segmenters.sam import OFFICIAL_ARCHS
from samvideo.segmenters.sam2 import SAM2_ARCHS
from samvideo.weights import CHECKPOINTS


def test_every_registry_checkpoint_has_a_family_and_a_place_in_both_orders():
    assert set(FAMILY_OF) == set(CHECKPOINTS) == set(CPU_ORDER) == set(GPU_ORDER)
    assert all(FAMILY_OF[name] == c.family for name, c in CHECKPOINTS.items())
    assert CPU_ORDER[0] == "mobile_sam" and GPU_ORDER[0] == "sam2.1_hiera_large"


def test_the_registry_names_the_models_each_family_builds():
    # FAMILY_OF comes from the registry (no model code imported); each family's own
    # builders must know exactly those names
    def names(family):
        return {name for name, f in FAMILY_OF.items() if f == family}

    assert names("sam") == set(OFFICIAL_ARCHS)
    assert names("sam2.1") == set(SAM2_ARCHS)
    assert names("mobile_sam") == {"mobile_sam"}


def test_sam_and_unknown_files(tiny_sam_checkpoint, tmp_path):
    state = torch.load(tiny_sam_checkpoint, weights_only=True)
    assert identify(state) == ("sam", "custom (embed 96, depth 2, heads 2)")
    with pytest.raises(ValueError) as info:
        identify({"backbone.conv1.weight": torch.zeros(1)}, "checkpoint resnet.pt")
    message = str(info.value)
    assert "\n" not in message and "checkpoint resnet.pt matches no model family" in message
    assert "SAM 2.1" in message and "MobileSAM" in message and "backbone.conv1.weight" in message
    other = tmp_path / "resnet.pt"
    torch.save({"model": {"backbone.conv1.weight": torch.zeros(1)}}, other)
    with pytest.raises(ValueError, match="matches no model family"):
        load_model("auto", checkpoint=other, device="cpu")


def test_a_mismatch_names_both():
    with pytest.raises(ValueError) as info:
        check_model("vit_b", "mobile_sam", "checkpoint m.pt")
    assert str(info.value) == "checkpoint m.pt is mobile_sam (MobileSAM), not vit_b (SAM)"
    check_model("auto", "mobile_sam", "checkpoint m.pt")  # auto takes any


def test_auto_takes_the_best_cached_model_for_the_device(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMVIDEO_HOME", str(tmp_path))
    assert resolve_model("auto", None, device="cpu")[0] == "grabcut"
    for name in ("sam2.1_hiera_large", "sam2.1_hiera_tiny", "mobile_sam"):
        (tmp_path / CHECKPOINTS[name].filename).write_bytes(b"x")  # no published size
    name, reason = resolve_model("auto", None, device="cpu")
    assert name == "mobile_sam" and "fastest cached model, for a CPU" in reason
    name, reason = resolve_model("auto", None, device="cuda")
    assert name == "sam2.1_hiera_large" and "most accurate cached model, for a GPU" in reason
    (tmp_path / "mobile_sam.pt").unlink()
    assert resolve_model("auto", None, device="cpu")[0] == "sam2.1_hiera_tiny"
