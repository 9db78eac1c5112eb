"""The page offers the same models as the command (it loads them through ``load_model``):
with a MobileSAM or SAM 2.1 checkpoint the status names it and a preview runs it."""

from __future__ import annotations

import pytest

from samvideo.segmenters import load_model
from tests.ui.conftest import MOVING, sample_prompts


@pytest.mark.parametrize(("fixture", "name"), [("mobile_sam_checkpoint", "mobile_sam"),
                                                ("sam2_checkpoint", "sam2.1:hiera_tiny")])
def test_the_page_shows_and_runs_each_family(make_client, request, fixture, name):
    segmenter, _ = load_model("auto", checkpoint=request.getfixturevalue(fixture),
                              device="cpu")
    client = make_client(segmenter)
    assert client.get("/api/status").json()["model"] == name
    assert client.post("/api/open", json={"path": MOVING}).status_code == 200
    objects = [{k: v for k, v in o.items() if k != "frame"} for o in sample_prompts()]
    r = client.post("/api/preview", json={"frame": 0, "objects": objects})
    assert r.status_code == 200, r.text
    (obj,) = r.json()["objects"]
    assert obj["id"] == 1 and obj["state"] == "prompted"
