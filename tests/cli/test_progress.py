"""What ``samvideo track`` shows while it runs and when it ends, through a real process:
the bar's total is the part tracked, a resumed run says where it resumes, starts its bar
there and times the whole run (issue 15 item 3)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import SAMPLES, make_frames, write_clip

CLI = [sys.executable, "-m", "samvideo.cli"]
CLIP = SAMPLES / "moving" / "video.mp4"  # 320x240, 48 frames
BOX = "39,129,90,171"


def counts(stderr: str) -> list[tuple[int, int]]:
    """Every ``n/total`` the tqdm bar printed, in order."""
    return [(int(n), int(t)) for n, t in re.findall(r"(\d+)/(\d+) \[", stderr)]


def track(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "track", *args, "--model", "grabcut", "--export", "jsonl"],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(("part", "total"), [
    (["--start", "10", "--end", "30"], 20),
    (["--max-frames", "3"], 3),
    (["--start", "5", "--max-frames", "4"], 4),
    (["--start", "0.5s", "--end", "1.5s"], 24),  # 24 fps: frames 12..35
])
def test_the_bar_counts_the_part_tracked(tmp_path, part, total):
    done = track(str(CLIP), "--box", BOX, "-o", str(tmp_path / "o"), *part)
    assert done.returncode == 0, done.stderr
    seen = counts(done.stderr)
    assert seen and {t for _, t in seen} == {total}, seen
    assert seen[-1] == (total, total)
    assert done.stdout.startswith(f"complete: {total} frames in ")


def test_a_resumed_run_says_where_starts_there_and_times_the_whole_run(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", make_frames(90, velocity=(1.0, 0.5)))
    out = tmp_path / "o"
    args = [str(clip), "--box", "20,30,60,70", "-o", str(out)]
    proc = subprocess.Popen([*CLI, "track", *args, "--model", "grabcut", "--export", "jsonl"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    part = out / ".tracks.jsonl.part"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (not part.is_file() or
                                           len(part.read_text().splitlines()) < 20):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    first_out, first_err = proc.communicate(timeout=60)
    assert proc.returncode == 130, first_err
    first_s = float(re.match(r"interrupted: \d+ frames in ([\d.]+) s", first_out).group(1))
    last = int(re.search(r"outputs up to frame (\d+) kept", first_err).group(1))

    done = track(*args, "--resume")
    assert done.returncode == 0, done.stderr
    assert f"resuming from frame {last + 1} ({last + 1} frame(s) done before" in done.stderr
    seen = counts(done.stderr)
    assert seen[0] == (last + 1, 90) and seen[-1] == (90, 90), seen  # the bar starts there
    here = 90 - (last + 1)
    line = re.match(r"complete: 90 frames in ([\d.]+) s in all \(resumed after frame "
                    rf"{last}; this process: {here} frames in ([\d.]+) s, [\d.]+ s/frame\)",
                    done.stdout)
    assert line, done.stdout
    whole, this = float(line.group(1)), float(line.group(2))
    assert whole == pytest.approx(first_s + this, abs=0.15)  # both processes, honestly
