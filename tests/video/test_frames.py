"""Random access to frames matches the pipeline's reader frame for frame."""

from __future__ import annotations

import random
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from samvideo.video import VideoReader
from samvideo.video.frames import FrameStore
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


def reader_by_index(source) -> tuple[dict[int, np.ndarray], set[int]]:
    """The reader's frames by source index, and the indices it reports skipped."""
    with VideoReader(source) as reader:
        frames = {f.index: f.rgb for f in reader}
        skipped = {s.first + k for s in reader.skipped for k in range(s.count)}
    return frames, skipped


def check_follows_reader(source) -> FrameStore:
    """Every frame the reader delivers is the store's frame of that index, pixel for
    pixel; every index the reader skipped is absent from the store."""
    frames, skipped = reader_by_index(source)
    store = FrameStore(source, cache_mb=1)
    assert store.count >= max(frames) + 1
    for i in sorted(frames, reverse=True):  # backwards: most reads seek
        assert np.array_equal(store.frame(i), frames[i]), f"frame {i} differs from the reader's"
    for i in skipped & set(range(store.count)):
        with pytest.raises(RuntimeError, match=f"frame {i} "):
            store.frame(i)
    store.close()
    return store


def test_a_size_change_is_scaled_as_the_reader_scales_it(tmp_path):
    from tests.damaged import gradient_frames, size_change_ts

    path = size_change_ts(tmp_path / "sizes.ts", gradient_frames(12),
                          gradient_frames(12, width=128, height=96))
    store = check_follows_reader(path)
    assert store.frame(20).shape == (120, 160, 3)


def test_a_damaged_packet_leaves_the_frames_the_reader_gives(tmp_path):
    from tests.damaged import encode_h264, garble_packet, gradient_frames

    clean = encode_h264(tmp_path / "clean.mp4", gradient_frames(36))
    check_follows_reader(garble_packet(clean, tmp_path / "garbled.mp4", 15))


def test_a_frames_folder_with_another_size_and_a_broken_image(tmp_path):
    for i, rgb in enumerate(make_frames(6)):
        Image.fromarray(rgb if i != 3 else rgb[::2, ::2]).save(tmp_path / f"{i:03d}.png")
    (tmp_path / "004.png").write_bytes(b"not a png")
    store = check_follows_reader(tmp_path)
    assert store.frame(3).shape == store.frame(0).shape
