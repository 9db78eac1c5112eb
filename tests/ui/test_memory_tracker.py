"""The page with ``samvideo ui --tracker memory``: previews and runs go through SAM
2.1's memory tracker (``small_sam2``: random weights built by ``sam2``'s code), and a
correction the page sends for a later frame becomes a prompted frame of the memory."""

from __future__ import annotations

import json

import pytest

from samvideo.tracker import MemoryConfig
from tests.ui.conftest import MOVING, sample_prompts
from tests.ui.test_server import wait_done


@pytest.fixture(scope="module")
def small_sam2(sam2_checkpoint):
    """The random SAM 2.1 at a 128-pixel input, as in ``tests/tracker/conftest.py``."""
    from samvideo.segmenters.sam2 import Sam2Segmenter

    return Sam2Segmenter(sam2_checkpoint, device="cpu", precision="fp32", image_size=128)


def test_the_page_previews_and_tracks_with_the_memory_tracker(make_client, small_sam2):
    client = make_client(small_sam2, tracker=MemoryConfig())
    assert client.post("/api/open", json={"path": MOVING}).status_code == 200
    first = sample_prompts()[0]
    r = client.post("/api/preview", json={"frame": 0, "objects": [
        {k: v for k, v in first.items() if k != "frame"}]})
    assert r.status_code == 200, r.text
    assert r.json()["objects"][0]["state"] == "prompted"
    correction = {"id": 1, "frame": 20, "box": [100, 120, 150, 165]}
    r = client.post("/api/track", json={"objects": [first, correction]})
    assert r.status_code == 202, r.text
    job = wait_done(client, timeout=300)
    assert job["state"] == "complete" and job["frames_done"] == 48, job
    lines = [json.loads(x) for x in client.get(job["downloads"]["jsonl"]).text.splitlines()]
    prompted = [x["frame"] for x in lines if x["state"] == "prompted"]
    assert prompted == [0, 20] and [x["frame"] for x in lines] == list(range(48))
    record = json.loads(client.get(job["downloads"]["run"]).content)
    assert record["tracker_name"] == "memory"
    r = client.post("/api/track", json={"objects": [first], "direction": "both"})
    assert r.status_code == 400 and "tracks forward only" in r.json()["error"], r.text
