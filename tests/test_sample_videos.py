"""The committed synthetic clips under ``sample_videos/`` and their generator agree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_videos"
GENERATOR = ROOT / "tools" / "make_sample_videos.py"
CLIPS = ("moving", "occlusion", "two_objects")
FRAME_COUNTS = {"moving": 48, "occlusion": 64, "two_objects": 48}
OBJECT_IDS = {"moving": [1], "occlusion": [1], "two_objects": [1, 2]}
WIDTH, HEIGHT = 320, 240


def mask_paths(clip_dir: Path) -> list[Path]:
    """The clip's mask PNGs in frame order."""
    return sorted((clip_dir / "masks").glob("*.png"))


def load_mask(path: Path) -> np.ndarray:
    """An indexed mask PNG as an (H, W) uint8 array of object ids."""
    with Image.open(path) as image:
        assert image.mode == "P"
        return np.array(image)


def load_prompts(clip_dir: Path) -> dict:
    return json.loads((clip_dir / "prompts.json").read_text())


def tight_box(mask: np.ndarray) -> list[int]:
    """Tight XYXY box of an (H, W) bool mask, x2 / y2 exclusive."""
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def decode_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video as (H, W, 3) uint8 RGB."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def davis_palette_head(count: int) -> list[int]:
    """The first ``count`` DAVIS / VOC palette entries, flattened."""
    palette = []
    for index in range(count):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette.extend((r, g, b))
    return palette


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generator's output in a fresh temporary folder."""
    out = tmp_path_factory.mktemp("sample_videos")
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], check=True)
    return out


@pytest.mark.parametrize("clip", CLIPS)
def test_generator_reproduces_committed_masks(clip: str, regenerated: Path) -> None:
    committed = mask_paths(SAMPLES / clip)
    fresh = mask_paths(regenerated / clip)
    assert [p.name for p in fresh] == [p.name for p in committed]
    for old, new in zip(committed, fresh, strict=True):
        np.testing.assert_array_equal(load_mask(new), load_mask(old), err_msg=old.name)
    assert load_prompts(regenerated / clip) == load_prompts(SAMPLES / clip)


@pytest.mark.parametrize("clip", CLIPS)
def test_generated_video_has_one_frame_per_mask(clip: str, regenerated: Path) -> None:
    frames = decode_frames(regenerated / clip / "video.mp4")
    assert len(frames) == len(mask_paths(regenerated / clip)) == FRAME_COUNTS[clip]


@pytest.mark.parametrize("clip", CLIPS)
def test_committed_video_matches_masks(clip: str) -> None:
    paths = mask_paths(SAMPLES / clip)
    assert [p.name for p in paths] == [f"{i:05d}.png" for i in range(FRAME_COUNTS[clip])]
    frames = decode_frames(SAMPLES / clip / "video.mp4")
    assert len(frames) == len(paths)
    for frame in frames:
        assert frame.shape == (HEIGHT, WIDTH, 3)
    assert load_mask(paths[0]).shape == (HEIGHT, WIDTH)
    with av.open(str(SAMPLES / clip / "video.mp4")) as container:
        assert container.streams.video[0].average_rate == 24


@pytest.mark.parametrize("clip", CLIPS)
def test_masks_use_davis_palette_and_object_ids(clip: str) -> None:
    allowed = {0, *OBJECT_IDS[clip]}
    for path in mask_paths(SAMPLES / clip):
        with Image.open(path) as image:
            assert image.getpalette()[:15] == davis_palette_head(5)
        assert set(np.unique(load_mask(path)).tolist()) <= allowed


def test_occlusion_hides_object_for_exactly_ten_frames() -> None:
    masks = [load_mask(p) for p in mask_paths(SAMPLES / "occlusion")]
    empty = [i for i, mask in enumerate(masks) if not mask.any()]
    assert empty == list(range(25, 35))
    areas = [int(mask.sum()) for mask in masks]
    full = areas[0]
    assert 0 < areas[24] < full and 0 < areas[35] < full  # partial while entering / leaving


@pytest.mark.parametrize("clip", CLIPS)
def test_prompt_box_is_tight_box_of_first_mask(clip: str) -> None:
    first = load_mask(mask_paths(SAMPLES / clip)[0])
    objects = load_prompts(SAMPLES / clip)["objects"]
    assert [obj["id"] for obj in objects] == OBJECT_IDS[clip]
    for obj in objects:
        mask = first == obj["id"]
        assert obj["frame"] == 0
        assert obj["box"] == tight_box(mask)
        assert obj["neg_points"] == []
        assert len(obj["points"]) == 1
        x, y = obj["points"][0]
        assert mask[y, x]
