"""Tracking both ways from a prompt (issue 15 item 14, ``--direction``): the frames
before a prompt decoded backwards a keyframe interval at a time, exactly as the reader
decodes them; a prompt on frame 30 gives frames 0-29 too; outputs keep source frame
numbers; a part run resumes to the same outputs; a pipe is refused."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from samvideo.masks import mask_to_box
from samvideo.video import VideoReader
from samvideo.video.backward import ReverseFrames
from samvideo.video.frames import FrameStore
from tests.helpers import SAMPLES, make_frames, write_clip

CLI = [sys.executable, "-m", "samvideo.cli"]
MOVING = SAMPLES / "moving"


@pytest.mark.parametrize("buffer_mb", [64.0, 0.5])  # in memory / spilled to a file
def test_frames_backwards_are_the_readers_one_interval_at_a_time(tmp_path, buffer_mb):
    clip = write_clip(tmp_path / "gop.mp4", make_frames(60),  # a keyframe every 10 frames
                      options={"g": "10", "keyint_min": "10", "sc_threshold": "0"})
    with VideoReader(clip) as reader:
        forward = {f.index: (f.time_s, f.rgb) for f in reader}
    store = FrameStore(clip)
    back = ReverseFrames(store, 7, 52, buffer_mb=buffer_mb, spill_dir=tmp_path)
    got = list(back)
    store.close()
    assert [f.index for f in got] == list(range(52, 6, -1))
    for f in got:
        assert f.time_s == forward[f.index][0] and np.array_equal(f.rgb, forward[f.index][1])
    assert back.held_max <= 10  # one keyframe interval: flat in the clip's length
    assert back.spilled == (buffer_mb < 1)


def box_on(frame: int) -> list[float]:
    truth = np.asarray(Image.open(MOVING / "masks" / f"{frame:05d}.png")) > 0
    return [float(v) for v in mask_to_box(truth)]


def track(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "track", str(MOVING / "video.mp4"), "--model", "grabcut",
                           *args], capture_output=True, text=True, timeout=180, **kw)


def scores(out: Path) -> dict[int, float]:
    js = {}
    for png in sorted((out / "masks").glob("*.png")):
        got = np.asarray(Image.open(png)) == 1
        truth = np.asarray(Image.open(MOVING / "masks" / png.name)) == 1
        js[int(png.stem)] = float((got & truth).sum() / max((got | truth).sum(), 1))
    return js


@pytest.fixture(scope="module")
def prompt_on_30(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "p.json"
    path.write_text(json.dumps({"objects": [{"id": 1, "frame": 30, "box": box_on(30),
                                             "name": "square"}]}))
    return path


@pytest.mark.parametrize(("direction", "frames"), [("both", range(48)),
                                                   ("backward", range(31))])
def test_a_prompt_on_frame_30_gives_the_frames_before_it(tmp_path, prompt_on_30, direction,
                                                         frames):
    out = tmp_path / "o"
    done = track("--prompts", str(prompt_on_30), "--direction", direction, "-o", str(out),
                 "--export", "video,davis,jsonl")
    assert done.returncode == 0, done.stderr
    back = re.findall(r"tracking backwards:.*?(\d+)/(\d+)", done.stderr)
    assert back and back[-1] == ("31", "31")  # frames 30..0
    js = scores(out)
    assert sorted(js) == list(frames)
    assert min(js.values()) > 0.75 and np.mean(list(js.values())) > 0.9, js
    records = [json.loads(x) for x in (out / "tracks.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(frames)
    assert records[30]["state"] == "prompted" and records[0]["state"] != "lost"
    assert {r["name"] for r in records} == {"square"}
    with av.open(str(out / "overlay.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == len(frames)


def test_an_interrupted_run_both_ways_resumes_to_the_same_outputs(tmp_path, prompt_on_30):
    args = ["--prompts", str(prompt_on_30), "--direction", "both", "--export", "davis,jsonl"]
    ref = track(*args, "-o", str(tmp_path / "ref"), "--quiet")
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "o"
    proc = subprocess.Popen([*CLI, "track", str(MOVING / "video.mp4"), "--model", "grabcut",
                             *args, "-o", str(out), "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    part = out / ".masks.part"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (part.is_dir() and
                                               len(list(part.glob("*.png"))) >= 35):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert (out / ".backward" / "complete.json").is_file()  # kept for --resume
    resumed = track(*args, "-o", str(out), "--quiet", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "tracks.jsonl").read_bytes() == (tmp_path / "ref" / "tracks.jsonl").read_bytes()
    assert scores(out) == scores(tmp_path / "ref")
    assert not (out / ".backward").exists()


def test_a_pipe_cannot_be_tracked_backwards(tmp_path, prompt_on_30):
    done = subprocess.run([*CLI, "track", "-", "--prompts", str(prompt_on_30), "--direction",
                           "both", "--model", "grabcut", "-o", str(tmp_path / "o")],
                          input=(MOVING / "video.mp4").read_bytes(), capture_output=True,
                          timeout=60)
    assert done.returncode == 2
    assert done.stderr.decode().strip().splitlines() == [
        "samvideo track: --direction both reads the frames before the prompts again, which "
        "a pipe cannot give: save the video to a file"]
