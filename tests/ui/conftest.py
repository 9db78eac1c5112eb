"""Fixtures for the browser UI's tests: a UI state on the repository's sample clips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samvideo.cli import main
from samvideo.segmenters import GrabCutSegmenter
from tests.helpers import SAMPLES

REPO = SAMPLES.parent
MOVING = "sample_videos/moving/video.mp4"


@pytest.fixture
def make_client(tmp_path):
    """``make_client(**config)`` → a Starlette TestClient on a fresh UI state rooted at
    the repository (GrabCut backend, outputs under tmp_path)."""
    from starlette.testclient import TestClient

    from samvideo.ui import UiConfig, UiState, create_app

    clients = []

    def make(segmenter=None, root: Path = REPO, **config) -> TestClient:
        state = UiState(UiConfig(root=root, workdir=tmp_path / f"work{len(clients)}", **config),
                        segmenter or GrabCutSegmenter())
        client = TestClient(create_app(state), base_url="http://127.0.0.1:8765")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def sample_prompts(name: str = "moving") -> list[dict]:
    return json.loads((SAMPLES / name / "prompts.json").read_text())["objects"]


def cli_masks(source: Path, prompts: list[dict], out: Path) -> Path:
    """Run ``samvideo track --prompts`` (GrabCut) and return its masks folder."""
    prompts_file = out.with_suffix(".prompts.json")
    prompts_file.write_text(json.dumps({"objects": prompts}))
    code = main(["track", str(source), "--prompts", str(prompts_file), "--model", "grabcut",
                 "--export", "davis", "-o", str(out), "--overwrite", "--quiet"])
    assert code == 0
    return out / "masks"


def read_png(path_or_file) -> tuple[str, list[int] | None, np.ndarray]:
    with Image.open(path_or_file) as im:
        return im.mode, im.getpalette(), np.asarray(im)


def assert_same_masks(files: dict[str, bytes], masks_dir: Path) -> None:
    """Every PNG (name → bytes) decodes exactly like the same-named PNG in masks_dir,
    and there are as many."""
    import io

    expected = sorted(p.name for p in masks_dir.glob("*.png"))
    assert sorted(files) == expected
    for name in expected:
        mode, palette, got = read_png(io.BytesIO(files[name]))
        ref_mode, ref_palette, ref = read_png(masks_dir / name)
        assert (mode, palette) == (ref_mode, ref_palette), name
        assert np.array_equal(got, ref), f"{name}: {int((got != ref).sum())} pixels differ"
