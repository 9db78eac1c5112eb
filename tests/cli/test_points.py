"""An object given by a click alone (issue 15 item 2), through a real process: GrabCut
finds the object's extent around the click and tracks it (it used to cut a 5-pixel mask,
lost from frame 1), SAM takes the click as it is, and a run without any prompt says
what to give."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.helpers import SAMPLES

CLI = [sys.executable, "-m", "samvideo.cli"]


def track(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "track", *args], capture_output=True, text=True, timeout=180)


def mean_j(out, clip) -> float:
    scores = []
    for png in sorted((out / "masks").glob("*.png")):
        got = np.asarray(Image.open(png))
        truth = np.asarray(Image.open(SAMPLES / clip / "masks" / png.name))
        for i in set(np.unique(truth)) - {0}:
            scores.append(((got == i) & (truth == i)).sum() / ((got == i) | (truth == i)).sum())
    return float(np.mean(scores))


@pytest.mark.parametrize(("clip", "clicks", "min_j"), [
    ("moving", [["--point", "63,149"]], 0.85),
    ("two_objects", [["--point", "48,79"], ["--point", "277,172"]], 0.85),
    ("occlusion", [["--point", "40,108"]], 0.8),  # hidden on frames 25-34
])
def test_grabcut_tracks_an_object_given_by_a_click(tmp_path, clip, clicks, min_j):
    prompts = tmp_path / "clicks.json"
    prompts.write_text(json.dumps({"objects": [
        {"id": i + 1, "points": [[float(v) for v in c[1].split(",")]]}
        for i, c in enumerate(clicks)]}))
    out = tmp_path / "o"
    args = [str(SAMPLES / clip / "video.mp4"), "--model", "grabcut", "-o", str(out),
            "--export", "davis,jsonl", "--quiet"]
    done = track(*args, *(["--prompts", str(prompts)] if len(clicks) > 1 else clicks[0]))
    assert done.returncode == 0, done.stderr
    assert "is given by clicks alone: GrabCut finds its extent around them" in done.stderr
    records = [json.loads(line) for line in (out / "tracks.jsonl").read_text().splitlines()]
    first = [r for r in records if r["frame"] == 0]
    assert all(r["state"] == "prompted" and r["area"] > 500 for r in first), first
    lost = sorted({r["frame"] for r in records if r["state"] == "lost"})
    assert not lost or set(lost) <= set(range(24, 40)), lost  # only while hidden
    assert mean_j(out, clip) >= min_j


def test_sam_takes_a_click_as_it_is(tmp_path, tiny_sam_checkpoint):
    out = tmp_path / "o"
    done = track(str(SAMPLES / "moving" / "video.mp4"), "--point", "63,149", "--checkpoint",
                 str(tiny_sam_checkpoint), "--device", "cpu", "--max-frames", "3", "-o",
                 str(out), "--export", "jsonl", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "clicks alone" not in done.stderr  # no guessing: SAM's prompt is the click
    records = [json.loads(line) for line in (out / "tracks.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2]


def test_no_prompt_says_what_to_give(tmp_path):
    done = track(str(SAMPLES / "moving" / "video.mp4"), "--model", "grabcut", "-o",
                 str(tmp_path / "o"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "samvideo: error: no object to track: draw a box around it (--box X1,Y1,X2,Y2), "
        "click on it (--point X,Y), or give --prompts FILE.json or --select"]
