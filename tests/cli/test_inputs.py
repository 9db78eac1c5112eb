"""Inputs: --start / --end (frames or seconds) indexed by source frame, a video piped on
standard input, and --select (the interactive first frame)."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from samvideo.cli import main
from samvideo.masks import mask_to_box
from samvideo.select import Selection
from samvideo.video import FrameRange, VideoReader, parse_position
from tests.helpers import SAMPLES, make_frames, write_clip
from tests.media import audio_packets, video_times, write_clip_with_audio

CLIP = SAMPLES / "moving" / "video.mp4"
BOX = "39,129,90,171"


def track(*args: str) -> int:
    return main(["track", *args, "--quiet", "--model", "grabcut", "--overwrite"])


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("120", 120), ("2.5s", 2.5), ("3s", 3.0), ("1:30", 90.0),
     ("0:01:30.5", 90.5), (7, 7), (1.25, 1.25)],
)
def test_positions_are_frames_or_seconds(text, value):
    got = parse_position(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text", ["2.5", "-3", "1:75", "soon", "", "s"])
def test_bad_positions_are_named(text):
    with pytest.raises(ValueError, match="--start"):
        parse_position(text)


def test_an_end_before_the_start_is_refused():
    with pytest.raises(ValueError, match="--end 5 must come after --start 10"):
        FrameRange.parse("10", "5")


def test_reader_reads_a_part_with_source_indices(tmp_path):
    rate = Fraction(30000, 1001)
    src = write_clip(tmp_path / "c.mp4", make_frames(40, width=64, height=48), rate=rate)
    with VideoReader(src, frames=FrameRange(5, 1.0)) as reader:
        first = reader.peek()
        frames = list(reader)
    assert first is frames[0]
    assert [f.index for f in frames] == list(range(5, 30))  # 1.0 s = frame 29.97
    assert frames[0].time_s == pytest.approx(5 / float(rate))
    with VideoReader(src, frames=FrameRange(start=1.0, count=3)) as reader:
        assert [f.index for f in reader] == [30, 31, 32]


def _box_at(index: int) -> str:
    """The sample object's true box on a frame, as --box text."""
    truth = np.array(Image.open(SAMPLES / "moving" / "masks" / f"{index:05d}.png")) > 0
    return ",".join(str(int(v)) for v in mask_to_box(truth))


def test_start_and_end_keep_source_numbering(tmp_path):
    out = tmp_path / "out"
    assert track(str(CLIP), "--box", _box_at(12), "-o", str(out), "--start", "12",
                 "--end", "1.5s", "--export", "video,davis,jsonl,npz") == 0
    frames = list(range(12, 36))  # 1.5 s at 24 fps = frame 36, not tracked
    assert sorted(int(p.stem) for p in (out / "masks").glob("*.png")) == frames
    lines = [json.loads(x) for x in (out / "tracks.jsonl").read_text().splitlines()]
    assert [x["frame"] for x in lines] == frames
    assert lines[0]["state"] == "prompted" and lines[0]["time"] == pytest.approx(0.5)
    with np.load(out / "masks.npz") as npz:
        assert npz["frame_indices"].tolist() == frames
    times = video_times(out / "overlay.mp4")  # the overlay is the part, from t = 0
    assert len(times) == len(frames) and times[0] == 0
    assert times[-1] == pytest.approx(Fraction(23, 24))


def test_a_prompt_before_the_start_is_refused(tmp_path, capsys):
    prompts = tmp_path / "p.json"
    prompts.write_text(json.dumps({"objects": [{"id": 1, "frame": 0, "box": [39, 129, 90, 171]},
                                               {"id": 2, "frame": 5, "box": [1, 1, 9, 9]}]}))
    assert track(str(CLIP), "--prompts", str(prompts), "-o", str(tmp_path / "o"),
                 "--start", "10") == 2
    err = capsys.readouterr().err
    assert "object 2 is on frame 5, before --start (frame 10)" in err
    assert track(str(CLIP), "--box", BOX, "-o", str(tmp_path / "o"), "--start", "5s") == 2
    assert "past the end" in capsys.readouterr().err


def test_a_part_of_a_clip_with_audio_keeps_the_audio_of_that_part(tmp_path):
    rate = Fraction(30000, 1001)
    src = write_clip_with_audio(tmp_path / "a.mp4", make_frames(40, width=64, height=48),
                                rate=rate)
    out = tmp_path / "out"
    assert track(str(src), "--box", "10,20,40,45", "-o", str(out), "--start", "12",
                 "--end", "30", "--export", "video") == 0
    overlay = out / "overlay.mp4"
    assert len(video_times(overlay)) == 18
    start, end = round(12 / rate * 44100), round(30 / rate * 44100)
    expected = [(pts - start, data) for pts, data in audio_packets(src)
                if pts + 1024 >= start and pts < end]  # from the packet ending at the start
    assert audio_packets(overlay) == expected


def _mkv_bytes(path) -> bytes:
    """The sample clip remuxed (no re-encoding) into Matroska, which streams."""
    out = path.with_suffix(".mkv")
    with av.open(str(CLIP)) as src, av.open(str(out), "w", format="matroska") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    return out.read_bytes()


def _cli(*args: str, stdin: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "samvideo.cli", "track", *args, "--quiet",
                           "--model", "grabcut"], input=stdin, capture_output=True,
                          timeout=180)


def test_a_video_piped_on_stdin(tmp_path):
    piped = _cli("-", "--box", BOX, "-o", str(tmp_path / "pipe"), "--export", "davis,jsonl",
                 "--max-frames", "12", stdin=_mkv_bytes(tmp_path / "clip"))
    assert piped.returncode == 0, piped.stderr
    assert track(str(CLIP), "--box", BOX, "-o", str(tmp_path / "file"), "--export",
                 "davis,jsonl", "--max-frames", "12") == 0
    for name in [f"masks/{i:05d}.png" for i in range(12)]:
        assert (tmp_path / "pipe" / name).read_bytes() == (tmp_path / "file" / name).read_bytes()
    pipe, file = ([{k: v for k, v in json.loads(x).items() if k != "time"}  # Matroska: ms
                   for x in (tmp_path / d / "tracks.jsonl").read_text().splitlines()]
                  for d in ("pipe", "file"))
    assert pipe == file


def test_an_mp4_with_its_index_last_on_stdin_is_explained(tmp_path):
    rng = np.random.default_rng(1)  # noise: a file far bigger than the read buffers
    noise = [rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for _ in range(12)]
    big = write_clip(tmp_path / "big.mp4", noise)
    proc = _cli("-", "--box", BOX, "-o", str(tmp_path / "o"), stdin=big.read_bytes())
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "pipe Matroska" in err and "Traceback" not in err


def test_select_without_a_display_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert track(str(CLIP), "--select", "-o", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("samvideo: error: --select needs a display, and none is set here (no "
                   "$DISPLAY or $WAYLAND_DISPLAY): give --box X1,Y1,X2,Y2 [--point X,Y] "
                   "instead")


def test_select_with_box_is_a_usage_error(tmp_path, capsys):
    assert track(str(CLIP), "--select", "--box", BOX, "-o", str(tmp_path / "o")) == 2
    assert "without --box" in capsys.readouterr().err


def test_selection_turns_drags_and_clicks_into_prompts():
    sel = Selection(320, 240)
    sel.click(10, 10, negative=True)  # nothing to attach it to: ignored
    sel.press(40, 130), sel.move(70, 150), sel.release(90, 171)  # a drag: object 1
    sel.press(60, 150), sel.release(61, 151)  # a click: foreground point of object 1
    sel.click(45, 135, negative=True)
    sel.press(500, -20), sel.release(200, 40)  # object 2, clipped to the frame
    sel.click(230, 20)
    sel.undo()  # takes the last point back
    p1, p2 = sel.prompts()
    assert (p1.object_id, p1.box, p1.points, p1.neg_points) == (
        1, (40.0, 130.0, 91.0, 172.0), ((61.0, 151.0),), ((45.0, 135.0),))
    assert (p2.object_id, p2.box, p2.points) == (2, (200.0, 0.0, 320.0, 41.0), ())
    drawn = sel.draw(np.zeros((240, 320, 3), np.uint8))
    assert drawn.any() and drawn.shape == (240, 320, 3)
    sel.undo(), sel.undo(), sel.undo(), sel.undo()
    assert sel.prompts() == []
