"""Checks before work (issue 15 item 6), through a real process: bad input that needs no
model is refused before the model loads (seconds for SAM), and ``--auto``, which can
spend a minute on a CPU, shows its progress."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.helpers import SAMPLES

CLI = [sys.executable, "-m", "samvideo.cli"]
CLIP = str(SAMPLES / "moving" / "video.mp4")


@pytest.fixture
def not_a_model(tmp_path):
    """A checkpoint that fails to load: reaching it means the model came first."""
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a checkpoint at all")
    return path


def track(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "track", *args], capture_output=True, text=True, timeout=120)


def test_a_busy_output_folder_is_refused_before_the_model_loads(tmp_path, not_a_model):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep")
    done = track(CLIP, "--box", "35,129,88,171", "--checkpoint", str(not_a_model), "-o",
                 str(busy))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"samvideo: error: output folder {str(busy)!r} is not empty: use --overwrite, "
        "--resume (to continue an interrupted run) or another -o DIR"]
    assert (busy / "mine.txt").read_text() == "keep"


@pytest.mark.parametrize(("args", "message"), [
    (["--box", "35,129,88,171", "--resume"], "holds no run.json: nothing to resume"),
    (["--box", "300,200,400,300"], "of object 1 was clipped"),  # a note, not an error
    (["--box", "400,300,500,400"], "lies outside the 320x240 frame"),
    (["--box", "10,10,50,50", "--point", "999,5"], "is outside the 320x240 frame"),
], ids=["resume-nothing", "clipped-box-loads-then", "box-outside", "point-outside"])
def test_prompts_and_resume_are_checked_before_the_model_loads(tmp_path, not_a_model, args,
                                                                message):
    done = track(CLIP, *args, "--checkpoint", str(not_a_model), "-o", str(tmp_path / "o"))
    assert done.returncode == 2
    if "clipped" in message:  # a good input: only then is the model loaded (and refused)
        assert "broken.pth" in done.stderr and message not in done.stderr
        return
    assert message in done.stderr and "broken.pth" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_auto_shows_its_progress(tmp_path, tiny_sam_checkpoint):
    """A random tiny SAM finds no object by the default filters: the run ends with that
    error, after a progress bar of the frame's encoding and SAM's point batches."""
    done = track(CLIP, "--auto", "--auto-grid", "4", "--checkpoint", str(tiny_sam_checkpoint),
                 "--device", "cpu", "-o", str(tmp_path / "o"))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.replace("\r", "\n").strip().splitlines()
    assert lines[-1].startswith("samvideo: error: --auto found no object to track")
    steps = [tuple(map(int, m)) for m in re.findall(r"--auto: finding objects:.*?(\d+)/(\d+)",
                                                     done.stderr)]
    assert steps[0] == (0, 2) and steps[-1] == (2, 2), steps  # the encoder, one batch of 16
    quiet = track(CLIP, "--auto", "--auto-grid", "2", "--checkpoint", str(tiny_sam_checkpoint),
                  "--device", "cpu", "-o", str(tmp_path / "q"), "--quiet")
    assert quiet.returncode == 2 and "finding objects" not in quiet.stderr
    assert len(quiet.stderr.strip().splitlines()) == 1
