from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from samvideo.video import VideoReader, VideoWriter, probe
from tests.helpers import make_frames, write_clip


def _decode_times(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts = [f.pts for f in c.decode(s)]
        return s, [p * s.time_base for p in pts], s.average_rate


@pytest.mark.parametrize("rate", [Fraction(24), Fraction(30000, 1001), Fraction(25)])
def test_round_trip_keeps_count_size_and_timing(tmp_path, rate):
    src = write_clip(tmp_path / "src.mp4", make_frames(30), rate=rate)
    with VideoReader(src) as reader:
        info = reader.info
        frames = list(reader)
    assert info.rate == rate
    assert (info.width, info.height) == (320, 240)
    assert info.frame_count == 30
    assert [f.index for f in frames] == list(range(30))
    assert frames[0].rgb.dtype == np.uint8 and frames[0].rgb.shape == (240, 320, 3)
    # exact times: frame i at i / rate
    for f in frames:
        assert f.time_s == pytest.approx(float(f.index / rate), abs=1e-6)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, info) as writer:
        for f in frames:
            writer.write(f.rgb, f.pts)
    back = probe(out)
    assert back.frame_count == 30 and back.rate == rate
    assert (back.width, back.height) == (320, 240)
    _, src_times, _ = _decode_times(src)
    _, out_times, _ = _decode_times(out)
    assert [t - src_times[0] for t in src_times] == [t - out_times[0] for t in out_times]


def test_decoded_pixels_are_rgb(tmp_path):
    frames = make_frames(3)
    src = write_clip(tmp_path / "src.mp4", frames)
    with VideoReader(src) as reader:
        got = next(iter(reader)).rgb
    # the square is red: R high, G/B low (BGR would swap them)
    x1, y1 = 30, 40
    patch = got[y1:y1 + 10, x1:x1 + 10].reshape(-1, 3).mean(axis=0)
    assert patch[0] > 150 and patch[2] < 100


def test_frames_folder(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    frames = make_frames(12)
    for i, f in enumerate(frames):  # names that sort wrongly as text: 2 before 10
        Image.fromarray(f).save(folder / f"frame{i}.png")
    with VideoReader(folder, fps=Fraction(30000, 1001)) as reader:
        assert reader.info.frame_count == 12
        assert reader.info.rate == Fraction(30000, 1001)
        got = list(reader)
    assert len(got) == 12
    for i, f in enumerate(got):
        np.testing.assert_array_equal(f.rgb, frames[i])
        assert f.time_s == pytest.approx(i * 1001 / 30000)


def test_odd_size_is_padded_to_even(tmp_path):
    frames = [f[:237, :317] for f in make_frames(5)]
    folder = tmp_path / "odd"
    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(np.ascontiguousarray(f)).save(folder / f"{i:03d}.png")
    with VideoReader(folder) as reader:
        info = reader.info
        out = tmp_path / "odd.mp4"
        with VideoWriter(out, info) as writer:
            for f in reader:
                writer.write(f.rgb, f.pts)
    back = probe(out)
    assert (back.width, back.height) == (318, 238)
    assert back.frame_count == 5


def test_max_frames_and_early_close(tmp_path):
    src = write_clip(tmp_path / "src.mp4", make_frames(40))
    with VideoReader(src, max_frames=7) as reader:
        assert len(list(reader)) == 7
    reader = VideoReader(src, queue_size=2)
    it = iter(reader)
    next(it)
    reader.close()  # must not hang with a full queue
    assert not reader._thread.is_alive()


@pytest.mark.parametrize("make", ["missing", "text", "empty_dir"])
def test_bad_sources_raise_value_error(tmp_path, make):
    path = tmp_path / "x"
    if make == "text":
        path = tmp_path / "x.mp4"
        path.write_text("not a video")
    elif make == "empty_dir":
        path.mkdir()
    with pytest.raises(ValueError, match="x"):
        probe(path)
