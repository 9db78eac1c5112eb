"""Interruptions: SIGINT / SIGTERM to a real ``samvideo track`` finish the current frame,
close every output (the overlay plays), write ``run.json`` ``interrupted``; ``--resume``
continues to the same result as an uninterrupted run; a crash or a kill never leaves
outputs that look complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from samvideo.cli import main
from samvideo.prompts import ObjectPrompt
from samvideo.run import FileOptions, run
from samvideo.segmenters import GrabCutSegmenter
from samvideo.stop import Stop
from tests.damaged import FIRST_BOX, StalledPipe, encode_h264, gradient_frames
from tests.helpers import make_frames, write_clip

N = 90
BOX = "20,30,60,70"
EXPORTS = "video,davis,jsonl,npz,coco,mots"
CLI = [sys.executable, "-m", "samvideo.cli"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """90 frames at 320x240: long enough to interrupt a GrabCut run half-way."""
    path = tmp_path_factory.mktemp("interrupt") / "clip.mp4"
    return write_clip(path, make_frames(N, velocity=(1.0, 0.5)))


def track_cmd(clip: Path, out: Path, *extra: str) -> list[str]:
    return [*CLI, "track", str(clip), "--box", BOX, "--model", "grabcut", "-o", str(out),
            "--quiet", "--export", EXPORTS, *extra]


def start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_pngs(out: Path, count: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    """Wait until the run has written ``count`` mask PNGs (it is mid-run)."""
    part = out / ".masks.part"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if part.is_dir() and len(list(part.glob("*.png"))) >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"no {count} masks within {timeout} s")


def read_run(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def overlay(out: Path) -> list[tuple[int, np.ndarray]]:
    """Every frame of overlay.mp4 (it must decode to the end: a closed, playable file)."""
    with av.open(str(out / "overlay.mp4")) as c:
        return [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def masks(out: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted((out / "masks").glob("*.png"))}


def test_sigint_then_resume_equals_an_uninterrupted_run(clip, tmp_path):
    out, ref = tmp_path / "run", tmp_path / "ref"
    proc = start(track_cmd(clip, out))
    wait_for_pngs(out, 25, proc)
    proc.send_signal(signal.SIGINT)
    last = assert_stopped_cleanly(proc, out)
    assert len((out / "tracks.jsonl").read_text().splitlines()) == last + 1
    assert len(overlay(out)) == last + 1
    with np.load(out / "masks.npz") as npz:
        assert npz["labels"].shape[0] == last + 1
    assert json.loads((out / "masks.coco.json").read_text())["images"][-1]["frame_index"] == last
    assert not list(out.glob(".*.part"))

    resumed = subprocess.run(track_cmd(clip, out, "--resume"), capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    state = read_run(out)
    assert state["status"] == "complete" and state["frames_done"] == N
    assert state["resumed_from"] == last and not (out / ".resume").exists()

    assert main(track_cmd(clip, ref)[3:]) == 0  # the same run, never interrupted
    assert_same_outputs(ref, out)


def assert_stopped_cleanly(proc: subprocess.Popen, out: Path) -> int:
    """What an interruption leaves: exit 130, one message, every output closed and
    readable up to the last frame done, run.json saying so; returns that frame."""
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "--resume continues it" in stderr
    state = read_run(out)
    last = state["last_frame"]
    assert state["status"] == "interrupted" and state["resumable"] is True
    assert 25 <= last < N - 1 and state["frames_done"] == last + 1
    assert sorted(masks(out)) == [f"{i:05d}.png" for i in range(last + 1)]
    return last


def assert_same_outputs(ref: Path, out: Path) -> None:
    """Every export of ``out`` equals the uninterrupted run's in ``ref`` (the overlay: the
    same frames at the same times, pixels close: H.264 restarted at the resume point)."""
    ref_masks, out_masks = masks(ref), masks(out)
    assert list(ref_masks) == list(out_masks)
    for name, mask in ref_masks.items():
        assert np.array_equal(mask, out_masks[name]), name
    for name in ("tracks.jsonl", "masks.mots.txt", "masks.coco.json"):
        assert (ref / name).read_bytes() == (out / name).read_bytes(), name
    with np.load(ref / "masks.npz") as a, np.load(out / "masks.npz") as b:
        assert a.files == b.files
        for key in a.files:
            assert np.array_equal(a[key], b[key], equal_nan=a[key].dtype.kind == "f"), key
    ref_video, out_video = overlay(ref), overlay(out)
    assert [p for p, _ in ref_video] == [p for p, _ in out_video]  # same frames, same times
    diff = [np.abs(a.astype(int) - b.astype(int)).mean() for (_, a), (_, b)
            in zip(ref_video, out_video, strict=True)]
    # each resume starts a keyframe where the reference has predicted frames: a few grey
    # levels apart (what was drawn is compared exactly above, through masks and records)
    assert max(diff) < 6.0
    assert not list(out.glob(".*.part")) and not (out / ".resume").exists()


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory) -> Path:
    """The uninterrupted run the interrupted ones are compared with."""
    ref = tmp_path_factory.mktemp("reference") / "ref"
    assert main(track_cmd(clip, ref)[3:]) == 0
    return ref


@pytest.mark.parametrize("signals", [
    [signal.SIGINT, signal.SIGINT, signal.SIGINT, signal.SIGINT],  # a user mashing Ctrl-C
    [signal.SIGTERM, signal.SIGTERM],  # kill PID, twice
    [signal.SIGINT, signal.SIGTERM],
], ids=["sigint-x4", "sigterm-x2", "sigint-sigterm"])
def test_more_signals_while_stopping_lose_no_frame(clip, tmp_path, reference, signals):
    """Issue 15 item 1: a second Ctrl-C used to raise wherever the code was, closing the
    outputs included (only .part files left, run.json "running" with 0 frames, --resume
    refusing). Now it only hurries the stop: every finished frame is kept and resumable."""
    out = tmp_path / "run"
    proc = start(track_cmd(clip, out))
    wait_for_pngs(out, 25, proc)
    for sig in signals:
        proc.send_signal(sig)
        time.sleep(0.03)
    last = assert_stopped_cleanly(proc, out)
    assert len(overlay(out)) == last + 1 and not list(out.glob(".*.part"))
    resumed = subprocess.run(track_cmd(clip, out, "--resume"), capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert read_run(out)["frames_done"] == N
    assert_same_outputs(reference, out)


def wait_for_checkpoint(out: Path, frame: int, proc: subprocess.Popen,
                        timeout: float = 90) -> dict:
    """Wait until run.json says the outputs are good up to ``frame`` or later."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            state = read_run(out)
        except (OSError, ValueError):  # not written yet
            state = {}
        saved = state.get("checkpoint") or {}
        if (saved.get("last_frame") or -1) >= frame:
            return state
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint past frame {frame} within {timeout} s")


def test_sigkill_then_resume_continues_from_the_last_checkpoint(clip, tmp_path, reference):
    """Issue 15 item 1: SIGKILL leaves no time to clean up. The periodic checkpoints keep
    the temporary files whole up to a frame run.json names; nothing looks complete, and
    --resume continues from there to outputs equal to a run never interrupted."""
    out = tmp_path / "o"
    proc = start(track_cmd(clip, out, "--save-every", "0.3"))
    state = wait_for_checkpoint(out, 20, proc)
    assert state["status"] == "running" and state["process"]["pid"] == proc.pid
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    state = read_run(out)
    saved = state["checkpoint"]["last_frame"]
    assert state["status"] == "running" and 20 <= saved < N - 1
    assert state["frames_done"] == saved + 1
    # never looks complete: no output under its final name
    assert not [p.name for p in out.iterdir() if not p.name.startswith(".")
                and p.name != "run.json"]
    resumed = subprocess.run(track_cmd(clip, out, "--resume"), capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    state = read_run(out)
    assert state["status"] == "complete" and state["frames_done"] == N
    assert state["resumed_from"] >= saved
    assert_same_outputs(reference, out)


def test_sigkill_of_a_resumed_run_then_resume_again(clip, tmp_path, reference):
    """A run stopped cleanly, resumed, killed in the resumed process after a checkpoint,
    resumed again: the outputs still equal an uninterrupted run's."""
    out = tmp_path / "o"
    proc = start(track_cmd(clip, out))
    wait_for_pngs(out, 10, proc)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    first = read_run(out)["last_frame"]
    proc = start(track_cmd(clip, out, "--resume", "--save-every", "0.3"))
    wait_for_checkpoint(out, first + 10, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert read_run(out)["status"] == "running"
    resumed = subprocess.run(track_cmd(clip, out, "--resume"), capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_outputs(reference, out)


def test_resume_refuses_a_run_that_is_still_going(clip, tmp_path):
    out = tmp_path / "o"
    proc = start(track_cmd(clip, out, "--save-every", "0.3"))
    try:
        wait_for_checkpoint(out, 5, proc)
        os.kill(proc.pid, signal.SIGSTOP)  # alive, but it must not finish meanwhile
        resumed = subprocess.run(track_cmd(clip, out, "--resume"), capture_output=True,
                                 text=True, timeout=60)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert resumed.returncode == 2
    assert f"is still going (process {proc.pid})" in resumed.stderr


def test_sigterm_while_waiting_for_a_stalled_source(tmp_path):
    """The main thread is blocked waiting for a frame that does not come: SIGTERM must
    still stop the run at once, with every output closed."""
    ts = encode_h264(tmp_path / "feed.ts", gradient_frames(120), fmt="mpegts")
    out = tmp_path / "o"
    with StalledPipe(tmp_path, ts.read_bytes(), 0.5, name="pipe.ts") as pipe:
        proc = start([*CLI, "track", str(pipe.path), "--box", ",".join(map(str, FIRST_BOX)),
                      "--model", "grabcut", "-o", str(out), "--quiet", "--timeout", "120"])
        wait_for_pngs(out, 5, proc)
        done = -1
        while done != len(list((out / ".masks.part").glob("*.png"))):  # until it stalls
            done = len(list((out / ".masks.part").glob("*.png")))
            time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        elapsed = time.monotonic() - t0
    assert proc.returncode == 130 and elapsed < 5, (elapsed, stderr)
    assert "Traceback" not in stderr
    state = read_run(out)
    assert state["status"] == "interrupted" and state["error"] is None
    assert state["frames_done"] == done == len(overlay(out))


def test_killed_before_the_first_checkpoint_never_looks_complete(clip, tmp_path):
    """SIGKILL before any checkpoint: run.json still says running, no output exists under
    its final name, and --resume says there is nothing to continue."""
    out = tmp_path / "o"
    proc = start(track_cmd(clip, out, "--save-every", "600"))
    wait_for_pngs(out, 10, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert read_run(out)["status"] == "running"
    assert not [p.name for p in out.iterdir() if not p.name.startswith(".")
                and p.name != "run.json"]
    resumed = subprocess.run(track_cmd(clip, out, "--resume"), capture_output=True, text=True,
                             timeout=60)
    assert resumed.returncode == 2 and "killed before its first checkpoint" in resumed.stderr
    assert len(resumed.stderr.strip().splitlines()) == 1
    # a new run there cleans the leftovers
    assert main(track_cmd(clip, out, "--overwrite")[3:]) == 0
    assert not list(out.glob(".*"))


def test_crash_mid_run_says_failed(tmp_path, monkeypatch, capsys):
    clip = write_clip(tmp_path / "c.mp4", make_frames(20))
    calls = {"n": 0}
    original = GrabCutSegmenter.predict

    def predict(self, embedding, requests):
        calls["n"] += 1
        if calls["n"] > 8:
            raise RuntimeError("segmenter blew up")
        return original(self, embedding, requests)

    monkeypatch.setattr(GrabCutSegmenter, "predict", predict)
    out = tmp_path / "o"
    assert main(track_cmd(clip, out)[3:]) == 1
    err = capsys.readouterr().err
    assert "segmenter blew up" in err and "Traceback" not in err
    state = read_run(out)
    assert state["status"] == "failed" and "segmenter blew up" in state["error"]
    assert state["resumable"] is False


def test_stop_from_another_thread_then_resume(tmp_path):
    """The Python API: a stop set during a run in a worker thread (how the browser UI
    stops a job), or set before it starts, ends the run cleanly and resumably."""
    clip = write_clip(tmp_path / "c.mp4", make_frames(30))
    prompts = [ObjectPrompt(1, (20.0, 30.0, 60.0, 70.0))]
    options = FileOptions(tmp_path / "o", exports=("jsonl", "davis"))
    result: dict = {}
    first_stop = Stop()

    def on_frame(res, run):
        if res.frame_index == 9:
            first_stop.set()

    def job():
        result["first"] = run(clip, prompts, GrabCutSegmenter(), options, on_frame=on_frame,
                              stop=first_stop)

    worker = threading.Thread(target=job)
    worker.start()
    worker.join(60)
    assert result["first"].status == "interrupted" and result["first"].last_frame == 9
    stop = Stop()
    stop.set()  # stops before any new frame: still a valid, resumable run
    again = run(clip, prompts, GrabCutSegmenter(),
                FileOptions(tmp_path / "o", exports=("jsonl", "davis"), resume=True), stop=stop)
    assert again.status == "interrupted" and again.last_frame == 9 and again.resumable
    final = run(clip, prompts, GrabCutSegmenter(),
                FileOptions(tmp_path / "o", exports=("jsonl", "davis"), resume=True))
    assert final.status == "complete" and final.frames == 30
    ref = run(clip, prompts, GrabCutSegmenter(), FileOptions(tmp_path / "r", exports=("jsonl",)))
    assert ref.status == "complete"
    assert (tmp_path / "r" / "tracks.jsonl").read_text() == \
        (tmp_path / "o" / "tracks.jsonl").read_text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--box", "22,30,60,70"], "prompts differs"),
        (["--export", "jsonl"], "exports differs"),
        (["--no-motion"], "tracker differs"),
    ],
)
def test_resume_refuses_another_job(tmp_path, capsys, change, message):
    clip = write_clip(tmp_path / "c.mp4", make_frames(12))
    stop_after = {"n": 0}
    out = tmp_path / "o"
    stop = Stop()

    def on_frame(res, run):
        stop_after["n"] += 1
        if stop_after["n"] == 4:
            stop.set()

    run(clip, [ObjectPrompt(1, (20.0, 30.0, 60.0, 70.0))], GrabCutSegmenter(),
        FileOptions(out, exports=("video", "davis", "jsonl")), on_frame=on_frame, stop=stop)
    args = track_cmd(clip, out, "--resume")[3:]
    args[args.index("--export") + 1] = "video,davis,jsonl"
    if change[0] in args and change[0] != "--no-motion":
        args[args.index(change[0]) + 1] = change[1]
    else:
        args += change
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
