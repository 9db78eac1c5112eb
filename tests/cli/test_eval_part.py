"""``samvideo eval`` of a part run (issue 15 item 7), through a real process: the frames
the prediction and the ground truth both have are scored, and it says how many;
``--all-frames`` insists on every frame."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from samvideo.masks import mask_to_box
from samvideo.metrics import evaluate_sequence
from tests.helpers import SAMPLES

CLI = [sys.executable, "-m", "samvideo.cli"]
MOVING = SAMPLES / "moving"


@pytest.fixture(scope="module")
def part_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("part") / "o"
    truth = np.asarray(Image.open(MOVING / "masks" / "00010.png")) > 0
    box = ",".join(str(round(v)) for v in mask_to_box(truth))  # on frame 10, the first
    done = subprocess.run([*CLI, "track", str(MOVING / "video.mp4"), "--box", box,
                           "--start", "10", "--end", "30",
                           "--model", "grabcut", "--export", "davis", "-o", str(out),
                           "--quiet"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


def evaluate_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "eval", *args], capture_output=True, text=True, timeout=120)


def test_a_part_run_is_scored_on_the_frames_it_has(part_run, tmp_path):
    done = evaluate_cli(str(part_run / "masks"), str(MOVING / "masks"), "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ("samvideo: note: sequence 'moving': scored the 20 frames "
                                   "the prediction has (frames 10-29) of the ground truth's 48")
    (seq,) = json.loads(done.stdout)["sequences"]
    assert (seq["n_frames"], seq["gt_frames"], seq["first_frame"], seq["last_frame"]) == \
        (20, 48, 10, 29)
    # the same as scoring against the ground truth of those frames alone
    gt_part = tmp_path / "moving" / "masks"
    gt_part.mkdir(parents=True)
    for i in range(10, 30):
        shutil.copy(MOVING / "masks" / f"{i:05d}.png", gt_part)
    (alone,) = evaluate_sequence(part_run / "masks", gt_part)
    assert seq["j_mean"] == pytest.approx(alone.j_mean) and seq["jf_mean"] > 0.8
    table = evaluate_cli(str(part_run / "masks"), str(MOVING / "masks"))
    assert table.returncode == 0 and " 20/48 " in table.stdout


def test_all_frames_insists(part_run):
    done = evaluate_cli(str(part_run / "masks"), str(MOVING / "masks"), "--all-frames")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"samvideo: error: frame count mismatch: 20 predicted masks in {part_run / 'masks'} "
        f"but 48 ground-truth masks in {MOVING / 'masks'} (--all-frames insists on every "
        "frame)"]
