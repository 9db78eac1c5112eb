"""Random access to frames matches the pipeline's reader frame for frame."""

from __future__ import annotations

import random
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from samvideo.ui.frames import FrameStore
from samvideo.video import VideoReader
from tests.helpers import SAMPLES, make_frames


def reader_frames(source) -> list[np.ndarray]:
    with VideoReader(source) as reader:
        return [f.rgb for f in reader]


def check_random_access(source, *, cache_mb: int = 256) -> FrameStore:
    ref = reader_frames(source)
    store = FrameStore(source, cache_mb=cache_mb)
    assert store.count == len(ref)
    order = list(range(store.count))
    random.Random(0).shuffle(order)
    for i in order + [0, store.count - 1]:
        assert np.array_equal(store.frame(i), ref[i]), f"frame {i} differs from the reader's"
    store.close()
    return store


@pytest.mark.parametrize("clip", ["moving", "two_objects"])
def test_sample_clips_frame_for_frame(clip):
    store = check_random_access(SAMPLES / clip / "video.mp4")
    assert store.times[24] == pytest.approx(1.0)


def test_keyframes_and_b_frames(tmp_path):
    """Several GOPs with B-frames: seeking goes to the keyframe before and decodes on."""
    path = tmp_path / "gop.mp4"
    frames = make_frames(40)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"g": "8", "bf": "2", "crf": "20"}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    store = check_random_access(path, cache_mb=1)  # 4 frames: most reads seek
    assert len(store._keys) >= 4


def test_frames_folder(tmp_path):
    for i, rgb in enumerate(make_frames(6)):
        Image.fromarray(rgb).save(tmp_path / f"{i:03d}.png")
    store = check_random_access(tmp_path)
    assert store.count == 6


def test_out_of_range_names_the_frame():
    store = FrameStore(SAMPLES / "moving" / "video.mp4")
    with pytest.raises(IndexError, match="frame 48 is out of range"):
        store.frame(48)
