"""What the records and the messages of ``samvideo track`` mean, through a real process
(issue 15 item 8): a lost object has no box in tracks.jsonl (its expected place is
written apart, as a prediction), NPZ boxes are NaN there and COCO / MOTS hold no record;
each note is said once, and the note of which model ``auto`` chose is neither said before
an error nor under ``--quiet``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from samvideo.masks import mask_to_box
from tests.helpers import SAMPLES, make_frames
from tests.media import write_clip_with_audio

CLI = [sys.executable, "-m", "samvideo.cli"]
OCCLUSION = SAMPLES / "occlusion"  # the object is hidden on frames 25-34


def run_cli(*args: str, env: dict | None = None, stdin: bytes | None = None,
            ) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "track", *args], capture_output=True, timeout=180,
                          input=stdin, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def occluded(tmp_path_factory):
    out = tmp_path_factory.mktemp("occluded") / "o"
    done = run_cli(str(OCCLUSION / "video.mp4"), "--prompts", str(OCCLUSION / "prompts.json"),
                   "--model", "grabcut", "--export", "davis,jsonl,npz,coco,mots", "-o",
                   str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    return out


def test_a_lost_object_has_no_box_only_a_prediction(occluded):
    records = [json.loads(line) for line in (occluded / "tracks.jsonl").read_text().splitlines()]
    lost = [r for r in records if r["state"] == "lost"]
    assert {r["frame"] for r in lost} >= set(range(26, 34)), [r["frame"] for r in lost]
    for r in lost:
        assert r["bbox_xyxy"] is None and r["area"] == 0
        assert len(r["predicted_bbox_xyxy"]) == 4
    for r in records:
        if r["state"] != "lost":
            assert "predicted_bbox_xyxy" not in r and r["area"] > 0
            labels = np.asarray(Image.open(occluded / "masks" / f"{r['frame']:05d}.png"))
            assert r["bbox_xyxy"] == pytest.approx(list(mask_to_box(labels == 1)), abs=0.01)
    lost_frames = {r["frame"] for r in lost}
    with np.load(occluded / "masks.npz") as npz:
        for t, frame in enumerate(npz["frame_indices"]):
            assert np.isnan(npz["boxes_xyxy"][t, 0]).all() == (int(frame) in lost_frames)
    coco = json.loads((occluded / "masks.coco.json").read_text())
    assert not lost_frames & {a["frame_index"] for a in coco["annotations"]}
    mots = (occluded / "masks.mots.txt").read_text().splitlines()
    assert not lost_frames & {int(line.split()[0]) for line in mots}


def test_the_model_note_comes_after_the_checks_and_never_under_quiet(tmp_path):
    empty = {"SAMVIDEO_HOME": str(tmp_path / "no-weights")}
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    clip = str(SAMPLES / "moving" / "video.mp4")
    refused = run_cli(clip, "--box", "35,129,88,171", "-o", str(busy), env=empty)
    assert refused.returncode == 2
    assert refused.stderr.decode().strip().splitlines() == [
        f"samvideo: error: output folder {str(busy)!r} is not empty: use --overwrite, "
        "--resume (to continue an interrupted run) or another -o DIR"]
    said = run_cli(clip, "--box", "35,129,88,171", "-o", str(tmp_path / "a"), "--max-frames",
                   "2", "--export", "jsonl", env=empty)
    assert said.returncode == 0 and said.stderr.decode().count("using GrabCut") == 1
    quiet = run_cli(clip, "--box", "35,129,88,171", "-o", str(tmp_path / "b"), "--max-frames",
                    "2", "--export", "jsonl", "--quiet", env=empty)
    assert quiet.returncode == 0 and quiet.stderr.decode() == ""


def test_each_note_is_said_once(tmp_path):
    clip = write_clip_with_audio(tmp_path / "a.mkv", make_frames(12), fmt="matroska")
    out = tmp_path / "o"
    done = run_cli("-", "--box", "20,30,60,70", "--model", "grabcut", "-o", str(out),
                   "--quiet", stdin=clip.read_bytes())
    assert done.returncode == 0, done.stderr
    note = "samvideo: note: audio not copied: the source is a pipe, read once for video"
    assert done.stderr.decode().splitlines() == [note]
    notes = json.loads((out / "run.json").read_text())["notes"]
    assert notes == [note.removeprefix("samvideo: note: ")]
