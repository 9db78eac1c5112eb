"""``samvideo batch`` as a user runs it: bad rows refused in one line each (or skipped
with --skip-bad), Ctrl-C stopping every worker cleanly, and the same command run again
redoing nothing that was complete and resuming what was interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from samvideo.cli import main
from tests.helpers import LONG_BOX, SAMPLES, manifest_row, read_masks, write_manifest

CLI = [sys.executable, "-m", "samvideo.cli"]
EXPORTS = "video,davis,jsonl"  # as the track_masks fixture ran samvideo track


def batch_args(manifest: Path, out: Path, *extra: str) -> list[str]:
    return ["batch", str(manifest), "-o", str(out), "--model", "grabcut", "--export", EXPORTS,
            "--quiet", *extra]


def test_bad_rows_stop_the_batch_unless_skip_bad(tmp_path, capsys, track_masks):
    manifest = tmp_path / "clips.csv"
    folder = SAMPLES / "moving"
    manifest.write_text(
        "name,source,box,points,ground_truth\n"
        f'moving,{folder / "video.mp4"},"39,129,90,171","62,150",{folder / "masks"}\n'
        f'broken,{folder / "video.mp4"},"39,129,90",,\n'
        'gone,gone.mp4,"1,2,30,40",,\n')  # relative: to the manifest's folder
    out = tmp_path / "out"
    assert main(batch_args(manifest, out)) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "samvideo: bad row: clips.csv row 2 (line 3): box = \"39,129,90\": box '39,129,90' is "
        "not 4 numbers like X1,Y1,X2,Y2",
        "samvideo: bad row: clips.csv row 3 (line 4): source = \"gone.mp4\": "
        f"source '{tmp_path / 'gone.mp4'}' does not exist",
        "samvideo: error: 2 bad row(s) in clips.csv: fix them, or give --skip-bad to run the "
        "other 1"]
    assert not out.exists()  # nothing started

    assert main(batch_args(manifest, out, "--skip-bad")) == 0
    captured = capsys.readouterr()
    assert captured.err.count("samvideo: bad row:") == 2 and "Traceback" not in captured.err
    table = captured.out.splitlines()
    assert table[0].split() == ["clip", "status", "frames", "fps", "tries", "J", "F", "J&F"]
    assert table[1].split()[:5] == ["moving", "complete", "48", table[1].split()[3], "1"]
    assert table[2].split()[:2] == ["mean", "1/1"]
    report = json.loads((out / "batch.json").read_text())
    assert report["status"] == "complete" and [c["name"] for c in report["clips"]] == ["moving"]
    assert [b["row"] for b in report["bad_rows"]] == [2, 3]
    masks = read_masks(out / "moving")
    assert all(np.array_equal(m, track_masks["moving"][n]) for n, m in masks.items())
    assert list(masks) == list(track_masks["moving"])


def test_engine_ray_without_ray_says_how_to_install(tmp_path):
    manifest = write_manifest(tmp_path / "clips.jsonl", [manifest_row("moving")])
    code = ("import sys; sys.modules['ray'] = None; from samvideo.cli import main; "
            f"sys.exit(main({batch_args(manifest, tmp_path / 'out', '--engine', 'ray')!r}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("samvideo: error: --engine ray needs Ray: pip install "
                                   "'samvideo[ray]' (or pip install ray)")
    assert not (tmp_path / "out").exists()


def test_resources_the_cluster_lacks_are_one_line(tmp_path, capsys, ray_address):
    manifest = write_manifest(tmp_path / "clips.jsonl", [manifest_row("moving")])
    assert main(batch_args(manifest, tmp_path / "out", "--engine", "ray",
                           "--gpus-per-clip", "1")) == 2
    assert capsys.readouterr().err.strip() == (
        "samvideo: error: --gpus-per-clip 1: the Ray cluster has 0 GPUs in all")


def _wait_until(condition, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("the batch did not get there in time")


def _status(folder: Path) -> str | None:
    try:
        return json.loads((folder / "run.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return None


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["local", "ray"])
def test_interrupted_batch_run_again_redoes_nothing_complete(engine, tmp_path, long_clip,
                                                             track_masks, ray_address):
    manifest = write_manifest(tmp_path / "clips.jsonl", [
        manifest_row("moving"),
        {"source": str(long_clip), "box": list(LONG_BOX), "name": "long"},
        manifest_row("two_objects")])
    out = tmp_path / "out"
    cmd = [*CLI, *batch_args(manifest, out, "--workers", "1", "--engine", engine)]
    if engine == "ray":
        cmd += ["--ray-address", ray_address]  # the session's cluster, already running
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    part = out / "long" / ".masks.part"
    _wait_until(lambda: _status(out / "moving") == "complete" and part.is_dir()
                and len(list(part.glob("*.png"))) >= 10, proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "the same command resumes" in stderr

    report = json.loads((out / "batch.json").read_text())
    assert report["status"] == "interrupted"
    assert [c["status"] for c in report["clips"]] == ["complete", "interrupted", "not started"]
    long_state = json.loads((out / "long" / "run.json").read_text())
    assert long_state["status"] == "interrupted" and long_state["resumable"] is True
    last = long_state["last_frame"]
    assert 9 <= last < 89 and sorted(read_masks(out / "long"))[-1] == f"{last:05d}.png"
    assert _status(out / "two_objects") is None
    before = _files(out / "moving")

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    report = json.loads((out / "batch.json").read_text())
    assert report["status"] == "complete"
    moving, long, two = report["clips"]
    assert moving["earlier"] is True and moving["tries"] == 0 and moving["frames_run"] == 0
    assert _files(out / "moving") == before  # not a file touched
    assert long["resumed_from"] == last and long["frames_run"] == 89 - last
    assert json.loads((out / "long" / "run.json").read_text())["resumed_from"] == last
    assert two["status"] == "complete" and two["tries"] == 1
    for name in ("moving", "long", "two_objects"):
        masks = read_masks(out / name)
        assert list(masks) == list(track_masks[name]), name
        for frame, mask in masks.items():
            assert np.array_equal(mask, track_masks[name][frame]), (name, frame)
    assert "complete*" in again.stdout  # the table marks what an earlier run did


def test_a_model_no_worker_can_build_stops_the_batch_in_one_line(tmp_path, capsys):
    """A checkpoint that is not a model fails on the first worker: the batch stops
    there (exit 2, one line) instead of failing every clip three times."""
    fake = tmp_path / "sam_vit_b.pth"
    fake.write_bytes(b"not a checkpoint")
    manifest = write_manifest(tmp_path / "clips.jsonl",
                              [manifest_row("moving"), manifest_row("two_objects")])
    args = batch_args(manifest, tmp_path / "out", "--workers", "1")
    args[args.index("grabcut")] = "vit_b"
    assert main([*args, "--checkpoint", str(fake)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("samvideo: error: the model could not be "
                                               "built on ")
    report = json.loads((tmp_path / "out" / "batch.json").read_text())
    assert report["status"] == "failed" and report["error"] in err[0]
    assert [c["status"] for c in report["clips"]] == ["failed", "not started"]
    assert sum(c["tries"] for c in report["clips"]) == 1
