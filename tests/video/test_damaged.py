"""Broken sources: decode what can be decoded, skip what cannot, say how many frames were
skipped and where (stderr and run.json), keep the outputs aligned to source frame
indices, and never hang on a source that stops delivering."""

from __future__ import annotations

import json
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
from samvideo.video import Frame, SourceTimeout, VideoReader
from tests.damaged import (
    FIRST_BOX,
    StalledPipe,
    encode_h264,
    garble_middle,
    garble_packet,
    gradient_frames,
    size_change_ts,
    truncated,
)
from tests.media import write_vfr_clip

N = 48
BOX = ",".join(str(v) for v in FIRST_BOX)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("broken")
    frames = gradient_frames(N)
    web = encode_h264(d / "web.mp4", frames, container_options={"movflags": "faststart"})
    ts = encode_h264(d / "feed.ts", frames, fmt="mpegts", b_frames=True)
    return {
        "web": web,
        "ts": ts,
        "truncated": truncated(web, d / "truncated.mp4", 0.6),
        "garbled": garble_packet(web, d / "garbled.mp4", 20),
        "garbled_ts": garble_middle(ts, d / "garbled.ts", 400),
        "resized": size_change_ts(d / "resized.ts", frames[:24],
                                  gradient_frames(N, width=96, height=72)[24:]),
    }


def track(clip: Path, out: Path, capsys, *extra: str) -> tuple[int, str, dict]:
    code = main(["track", str(clip), "--box", BOX, "--model", "grabcut", "-o", str(out),
                 "--quiet", "--export", "video,davis,jsonl", *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    run_json = out / "run.json"
    return code, err, json.loads(run_json.read_text()) if run_json.exists() else {}


def mask_indices(out: Path) -> list[int]:
    return sorted(int(p.stem) for p in (out / "masks").glob("*.png"))


def overlay_times(out: Path) -> list[float]:
    with av.open(str(out / "overlay.mp4")) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


def test_truncated_file_keeps_what_it_has(clips, tmp_path, capsys):
    code, err, run_json = track(clips["truncated"], tmp_path, capsys)
    assert code == 0, err
    done, skipped = run_json["frames_done"], run_json["skipped"]
    # a download cut at 60 %: the front decodes, the tail is reported as missing
    assert 5 < done < N and run_json["skipped_frames"] == N - done
    assert skipped == [{"first": done, "count": N - done, "reason": skipped[0]["reason"]}]
    assert "ends early" in skipped[0]["reason"]
    assert f"skipped {N - done} frame(s)" in err and f"frames {done}-{N - 1}" in err
    assert mask_indices(tmp_path) == list(range(done))
    assert len(overlay_times(tmp_path)) == done


def test_garbled_packet_leaves_a_gap_at_its_index(clips, tmp_path, capsys):
    code, err, run_json = track(clips["garbled"], tmp_path, capsys)
    assert code == 0, err
    assert run_json["skipped_frames"] == 1 and run_json["skipped"][0]["first"] == 20
    assert "skipped 1 frame(s)" in err and "frame 20" in err
    # frame 20 could not be decoded: no mask for it, and frame 21 is still frame 21
    assert mask_indices(tmp_path) == [i for i in range(N) if i != 20]
    lines = (tmp_path / "tracks.jsonl").read_text().splitlines()
    assert [json.loads(x)["frame"] for x in lines] == [i for i in range(N) if i != 20]
    times = overlay_times(tmp_path)
    assert len(times) == N - 1
    assert times[20] == pytest.approx(21 / 24, abs=1e-3)  # the overlay keeps source time


def test_garbled_bytes_mid_stream_are_skipped_and_counted(clips, tmp_path, capsys):
    code, err, run_json = track(clips["garbled_ts"], tmp_path, capsys)
    assert code == 0, err
    done = mask_indices(tmp_path)
    missing = sorted(set(range(N)) - set(done))
    assert missing, "400 garbage bytes in the middle must cost at least one frame"
    listed = [s["first"] + k for s in run_json["skipped"] for k in range(s["count"])]
    assert listed == missing and run_json["skipped_frames"] == len(missing)
    assert run_json["frames_done"] == len(done) and f"skipped {len(missing)} frame(s)" in err


def test_size_change_mid_stream_is_scaled_and_noted(clips, tmp_path, capsys):
    code, err, run_json = track(clips["resized"], tmp_path, capsys)
    assert code == 0, err
    assert run_json["frames_done"] == N and run_json["skipped_frames"] == 0
    note = "the frame size changes to 96x72 at frame 24: scaled to 160x120"
    assert any(note in n for n in run_json["notes"]) and note in err
    sizes = {Image.open(p).size for p in (tmp_path / "masks").glob("*.png")}
    assert sizes == {(160, 120)}


def test_reader_indices_follow_timestamps(clips):
    """B-frames reordered, MPEG-TS start offset: indices still count source frames."""
    with VideoReader(clips["ts"]) as reader:
        frames = [(f.index, f.time_s) for f in reader]
    assert [i for i, _ in frames] == list(range(N)) and reader.skipped == []
    assert frames[24][1] == pytest.approx(1.0)


def test_variable_rate_clip_is_counted_not_gapped(tmp_path):
    """Frame times that are not multiples of one rate must not look like lost frames."""
    pts = [0, 1, 2, 4, 5, 9, 10, 11, 15, 16]  # in 1/30 s
    clip = write_vfr_clip(tmp_path / "vfr.mp4", gradient_frames(len(pts)), pts)
    with VideoReader(clip) as reader:
        indices = [f.index for f in reader]
    assert indices == list(range(len(pts))) and reader.skipped == []


def test_no_decodable_frame_is_bad_input(clips, tmp_path, capsys):
    broken = truncated(clips["ts"], tmp_path / "stub.ts", 0.02)
    code, err, run_json = track(broken, tmp_path / "o", capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "delivered no frames" in err or "not a readable video" in err
    assert run_json.get("status") in (None, "failed")
    assert not (tmp_path / "o" / "overlay.mp4").exists()


class _StallingReader(VideoReader):
    """Delivers 5 frames, then nothing: a source that hangs."""

    release = threading.Event()

    def _decode_file(self, container=None):
        rgb = np.zeros((self.info.height, self.info.width, 3), np.uint8)
        for i in range(5):
            yield Frame(i, i / 24, i, rgb)
        self.release.wait(30)


def test_stalled_source_times_out_and_keeps_its_frames(clips, tmp_path, monkeypatch):
    monkeypatch.setattr("samvideo.sources.VideoReader", _StallingReader)
    t0 = time.monotonic()
    try:
        summary = run(clips["web"], [ObjectPrompt(1, FIRST_BOX)], GrabCutSegmenter(),
                      FileOptions(tmp_path, exports=("jsonl", "davis"), timeout_s=1.0))
    finally:
        _StallingReader.release.set()
    assert time.monotonic() - t0 < 10
    assert summary.status == "interrupted" and summary.frames == 5 and summary.last_frame == 4
    assert "delivered no frame for 1 s" in summary.error
    run_json = json.loads((tmp_path / "run.json").read_text())
    assert run_json["status"] == "interrupted" and "no frame for 1 s" in run_json["error"]
    assert mask_indices(tmp_path) == list(range(5))


def test_stalled_pipe_times_out_through_the_cli(clips, tmp_path, capsys):
    """A real named pipe that stops delivering half-way: a clear message, exit 1, the
    frames done kept and playable."""
    with StalledPipe(tmp_path, clips["ts"].read_bytes(), 0.7) as pipe:
        t0 = time.monotonic()
        code, err, run_json = track(pipe.path, tmp_path / "o", capsys, "--timeout", "1.5")
        elapsed = time.monotonic() - t0
    assert code == 1 and elapsed < 20
    assert len(err.strip().splitlines()) == 1
    assert "delivered no frame for 1.5 s" in err and "run.json says interrupted" in err
    assert run_json["status"] == "interrupted" and run_json["frames_done"] > 0
    assert len(overlay_times(tmp_path / "o")) == run_json["frames_done"]


def test_pipe_that_never_sends_a_header_times_out(tmp_path):
    with StalledPipe(tmp_path, b"", 1.0) as pipe, pytest.raises(SourceTimeout, match="header"):
        VideoReader(pipe.path, timeout=0.5)


def test_frames_folder_with_a_broken_and_a_resized_image(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, rgb in enumerate(gradient_frames(10)):
        image = Image.fromarray(rgb)
        if i == 6:
            image = image.resize((80, 60))
        image.save(folder / f"{i:05d}.png")
    (folder / "00003.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    code, err, run_json = track(folder, tmp_path / "o", capsys)
    assert code == 0, err
    assert [(s["first"], s["count"]) for s in run_json["skipped"]] == [(3, 1)]
    assert "00003.png" in run_json["skipped"][0]["reason"] and "frame 3" in err
    assert any("changes to 80x60 at frame 6" in n for n in run_json["notes"])
    assert mask_indices(tmp_path / "o") == [0, 1, 2, 4, 5, 6, 7, 8, 9]
