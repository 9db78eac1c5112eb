"""Every export read back by the client that people use it with: pycocotools for COCO
RLE, TrackEval's KITTI MOTS dataset class for MOTS, Pillow for DAVIS PNGs as the DAVIS
evaluation code reads them, numpy for NPZ, PyAV for the overlay's timing and audio."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest
import trackeval
from PIL import Image
from pycocotools import mask as mask_utils

from samvideo.cli import main
from samvideo.export import EXPORTERS, make_sinks, write_all
from samvideo.masks import davis_palette
from samvideo.video import VideoInfo, probe
from tests.helpers import SAMPLES, make_frames
from tests.media import (
    audio_packets,
    synthetic_results,
    video_times,
    write_clip_with_audio,
    write_vfr_clip,
)

ALL = "video,davis,davis-binary,cutout,jsonl,coco,npz,mots"


def track(*args: str) -> int:
    return main(["track", *args, "--quiet", "--model", "grabcut", "--overwrite"])


@pytest.fixture(scope="module")
def two_objects(tmp_path_factory):
    """``samvideo track`` of the two-object sample clip with every export."""
    out = tmp_path_factory.mktemp("two")
    clip = SAMPLES / "two_objects"
    assert track(str(clip / "video.mp4"), "--prompts", str(clip / "prompts.json"),
                 "-o", str(out), "--export", ALL) == 0
    return out


def read_davis(path):
    """As the DAVIS 2017 evaluation code reads a result PNG."""
    return np.array(Image.open(path))


def pngs(out):
    return {int(p.stem): read_davis(p) for p in sorted((out / "masks").glob("*.png"))}


def test_davis_pngs_are_indexed_with_the_davis_palette(two_objects):
    labels = pngs(two_objects)
    assert sorted(labels) == list(range(48))
    im = Image.open(two_objects / "masks" / "00010.png")
    assert im.mode == "P" and im.getpalette()[:9] == davis_palette()[:9]
    stack = np.stack(list(labels.values()))
    assert stack.dtype == np.uint8 and set(np.unique(stack)) == {0, 1, 2}
    # the DAVIS evaluation turns a label map into one mask per object id 1..max
    num_objects = int(stack.max())
    per_object = np.arange(1, num_objects + 1)[:, None, None, None] == stack[None]
    assert per_object.shape == (2, 48, 240, 320) and per_object.sum() > 0


def test_davis_binary_and_cutout_match_the_label_maps(two_objects):
    labels = pngs(two_objects)
    for object_id in (1, 2):
        for index in (0, 17, 47):
            name = f"{object_id:03d}/{index:05d}.png"
            binary = np.array(Image.open(two_objects / "masks-binary" / name))
            assert binary.dtype == bool
            np.testing.assert_array_equal(binary, labels[index] == object_id)
            rgba = np.array(Image.open(two_objects / "cutout" / name))
            assert rgba.shape == (240, 320, 4)
            np.testing.assert_array_equal(rgba[..., 3] == 255, labels[index] == object_id)
            assert set(np.unique(rgba[..., 3])) <= {0, 255}


def test_coco_rle_decodes_to_exactly_the_png_masks(two_objects):
    coco = json.loads((two_objects / "masks.coco.json").read_text())
    labels = pngs(two_objects)
    images = {im["id"]: im for im in coco["images"]}
    assert len(images) == 48
    assert {(im["width"], im["height"]) for im in images.values()} == {(320, 240)}
    assert images[25]["frame_index"] == 24 and images[25]["time"] == pytest.approx(1.0)
    assert images[25]["object_ids"] == [1, 2]
    seen = {i: set() for i in labels}
    for ann in coco["annotations"]:
        frame = images[ann["image_id"]]["frame_index"]
        assert ann["frame_index"] == frame
        assert isinstance(ann["segmentation"]["counts"], str)
        rle = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
        decoded = mask_utils.decode(rle).astype(bool)
        np.testing.assert_array_equal(decoded, labels[frame] == ann["object_id"])
        x, y, w, h = ann["bbox"]
        assert ann["bbox_xywh"] == ann["bbox"]
        assert ann["bbox_xyxy"] == pytest.approx([x, y, x + w, y + h], abs=0.02)
        assert ann["area"] == int(mask_utils.area(rle)) and 0 <= ann["score"] <= 1
        seen[frame].add(ann["object_id"])
    for frame, ids in seen.items():  # an object without an annotation has no pixels
        assert set(np.unique(labels[frame])) - {0} == ids


def trackeval_kitti_mots(out, labels, work):
    """TrackEval's KITTI MOTS dataset over samvideo's ``masks.mots.txt``, laid out as it
    reads a tracker (``trackers/samvideo/data/0000.txt``), with a ground truth written
    here from the PNG label maps (``gt/label_02/0000.txt``, id 1000 + object id)."""
    (work / "gt" / "label_02").mkdir(parents=True)
    (work / "trackers" / "samvideo" / "data").mkdir(parents=True)
    lines = []
    for t, frame in labels.items():
        for i in sorted(set(np.unique(frame).tolist()) - {0}):
            rle = mask_utils.encode(np.asfortranarray(frame == i))
            lines.append(f"{t} {1000 + i} 1 {frame.shape[0]} {frame.shape[1]} "
                         f"{rle['counts'].decode()}\n")
    (work / "gt" / "label_02" / "0000.txt").write_text("".join(lines))
    shutil.copy(out / "masks.mots.txt", work / "trackers" / "samvideo" / "data" / "0000.txt")
    # SEQ_INFO rather than a seqmap file: TrackEval's seqmap reader sniffs the dialect on
    # the lines after the first, so it cannot read a one-sequence seqmap.
    return trackeval.datasets.KittiMOTS({
        "GT_FOLDER": str(work / "gt"), "TRACKERS_FOLDER": str(work / "trackers"),
        "CLASSES_TO_EVAL": ["car"], "SEQ_INFO": {"0000": len(labels)}, "PRINT_CONFIG": False})


def test_mots_reads_as_trackeval_reads_it(two_objects, tmp_path):
    labels = pngs(two_objects)
    dataset = trackeval_kitti_mots(two_objects, labels, tmp_path)
    # Loading raises TrackEvalException on overlapping masks and on frames past the end.
    raw = dataset.get_raw_seq_data("samvideo", "0000")
    assert raw["num_timesteps"] == 48
    for t in range(48):
        ids = raw["tracker_ids"][t]
        assert set(raw["tracker_classes"][t]) <= {1}
        assert sorted(ids) == sorted(1000 + int(i) for i in set(np.unique(labels[t])) - {0})
        for det, track_id in zip(raw["tracker_dets"][t], ids, strict=True):
            np.testing.assert_array_equal(mask_utils.decode(det).astype(bool),
                                          labels[t] == track_id - 1000)
    quiet = {"PRINT_CONFIG": False}
    evaluator = trackeval.Evaluator({
        **quiet, "USE_PARALLEL": False, "PRINT_RESULTS": False, "TIME_PROGRESS": False,
        "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False, "PLOT_CURVES": False})
    metrics = [trackeval.metrics.HOTA(quiet), trackeval.metrics.CLEAR(quiet),
               trackeval.metrics.Identity(quiet)]
    results, messages = evaluator.evaluate([dataset], metrics)
    assert messages == {"KittiMOTS": {"samvideo": "Success"}}
    car = results["KittiMOTS"]["samvideo"]["0000"]["car"]
    assert np.mean(car["HOTA"]["HOTA"]) == 1.0  # TrackEval scores the file as the PNGs
    assert car["CLEAR"]["MOTA"] == 1.0 and car["CLEAR"]["IDSW"] == 0
    assert car["Identity"]["IDF1"] == 1.0


def test_npz_holds_the_label_maps_boxes_and_scores(two_objects):
    labels = pngs(two_objects)
    tracks = [json.loads(x) for x in (two_objects / "tracks.jsonl").read_text().splitlines()]
    with np.load(two_objects / "masks.npz") as f:
        npz = {k: f[k] for k in f.files}
        assert npz["labels"].shape == (48, 240, 320) and npz["labels"].dtype == np.uint8
        np.testing.assert_array_equal(npz["labels"], np.stack([labels[i] for i in range(48)]))
        np.testing.assert_array_equal(npz["frame_indices"], np.arange(48))
        assert npz["object_ids"].tolist() == [1, 2]
        assert npz["boxes_xyxy"].shape == (48, 2, 4) and npz["scores"].shape == (48, 2)
        for rec in tracks:
            t, j = rec["frame"], rec["object_id"] - 1
            assert npz["times"][t] == pytest.approx(rec["time"], abs=1e-6)
            assert npz["scores"][t, j] == pytest.approx(rec["score"], abs=1e-4)
            assert npz["boxes_xyxy"][t, j] == pytest.approx(rec["bbox_xyxy"], abs=0.01)
    with zipfile_of(two_objects / "masks.npz") as zf:
        assert all(i.compress_type == 8 for i in zf.infolist())  # deflated


def zipfile_of(path):
    import zipfile

    return zipfile.ZipFile(path)


def test_overlay_has_the_source_size_count_and_timing(two_objects):
    src = SAMPLES / "two_objects" / "video.mp4"
    assert video_times(two_objects / "overlay.mp4") == video_times(src)
    info = probe(two_objects / "overlay.mp4")
    assert (info.width, info.height, info.rate) == (320, 240, Fraction(24))


@pytest.mark.parametrize("codec", ["aac", "mp3"])
def test_overlay_copies_the_audio_and_interleaves_it(tmp_path, codec):
    rate = Fraction(30000, 1001)
    src = write_clip_with_audio(tmp_path / "src.mp4", make_frames(20, width=160, height=120),
                                rate=rate, audio_codec=codec)
    out = tmp_path / "out"
    assert track(str(src), "--box", "10,25,50,65", "-o", str(out), "--export", "video") == 0
    overlay = out / "overlay.mp4"
    with av.open(str(overlay)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        assert c.streams.audio[0].codec_context.codec.canonical_name == codec
        assert c.streams.video[0].average_rate == rate
        order = "".join(p.stream.type[0] for p in c.demux() if p.size)
    end = 20 / rate * 44100  # the video's end, in audio samples
    copied = [p for p in audio_packets(src) if p[0] < end]  # the audio over the video's span
    assert audio_packets(overlay) == copied  # copied: the same packets at the same times
    assert video_times(overlay) == video_times(src)
    assert max(len(run) for run in order.replace("a", " ").split()) < 10  # interleaved
    assert max(len(run) for run in order.replace("v", " ").split()) < 10


def test_overlay_keeps_variable_frame_timestamps(tmp_path):
    pts = [0, 33, 66, 140, 150, 160, 300, 333, 366, 500, 533, 600]
    src = write_vfr_clip(tmp_path / "vfr.mkv", make_frames(12, width=160, height=120), pts)
    out = tmp_path / "out"
    assert track(str(src), "--box", "10,25,50,65", "-o", str(out), "--export",
                 "video,jsonl") == 0
    expected = [Fraction(p, 1000) for p in pts]
    assert video_times(src) == expected
    assert video_times(out / "overlay.mp4") == expected
    times = [json.loads(x)["time"] for x in (out / "tracks.jsonl").read_text().splitlines()]
    assert times == [float(t) for t in expected]


# -- interrupted and resumed ---------------------------------------------------------------


def _info(results) -> VideoInfo:
    h, w = results[0].image.shape[:2]
    return VideoInfo(width=w, height=h, rate=Fraction(24), time_base=Fraction(1, 12288),
                     frame_count=len(results), duration_s=len(results) / 24, codec="h264",
                     has_audio=False, source="synthetic")


def _read_all(out):
    """Everything a run wrote, in comparable form (the overlay as its frame times)."""
    got = {"times": video_times(out / "overlay.mp4")}
    for folder in ("masks", "masks-binary", "cutout"):
        got[folder] = {p.relative_to(out).as_posix(): p.read_bytes()
                       for p in sorted((out / folder).rglob("*.png"))}
    for name in ("tracks.jsonl", "masks.mots.txt"):
        got[name] = (out / name).read_text()
    got["coco"] = json.loads((out / "masks.coco.json").read_text())
    with np.load(out / "masks.npz") as npz:
        got["npz"] = {k: npz[k] for k in npz.files}
    return got


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if key == "npz":
            assert a[key].keys() == b[key].keys()
            for name in a[key]:
                np.testing.assert_array_equal(a[key][name], b[key][name], err_msg=name)
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("written", [6, 7])  # the sinks stopped at / one frame past 5
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, written):
    results = synthetic_results(14)
    info = _info(results)
    names = EXPORTERS.keys()
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    whole.mkdir(), cut.mkdir()
    write_all(results, make_sinks(names, whole, info))

    write_all(results[:written], make_sinks(names, cut, info))  # interrupted
    early = _read_all(cut)  # what an interrupted run leaves is readable
    assert len(early["times"]) == written and len(early["masks"]) == written
    with av.open(str(cut / "overlay.mp4")) as c:
        before = [bytes(p) for p in c.demux(video=0) if p.size][:6]

    # --resume after frame 5; the pipeline may replay frames up to 5: they are ignored
    write_all(results[3:], make_sinks(names, cut, info, resume_after=5))
    _assert_same(_read_all(cut), _read_all(whole))
    with av.open(str(cut / "overlay.mp4")) as c:  # frames 0-5 were copied, not re-encoded
        assert [bytes(p) for p in c.demux(video=0) if p.size][:6] == before
    assert not list(cut.glob(".*"))


def test_resume_needs_the_earlier_output(tmp_path):
    info = _info(synthetic_results(1))
    with pytest.raises(ValueError, match="cannot resume.*masks.npz"):
        make_sinks(["npz"], tmp_path, info, resume_after=3)


def test_a_resumed_overlay_keeps_the_audio(tmp_path):
    from samvideo.results import FrameResult
    from samvideo.video import VideoReader

    src = write_clip_with_audio(tmp_path / "a.mp4", make_frames(20, width=64, height=48))
    with VideoReader(src) as reader:
        info = reader.info
        results = [FrameResult(f.index, f.time_s, [], f.rgb) for f in reader]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    whole.mkdir(), cut.mkdir()
    write_all(results, make_sinks(["video"], whole, info))
    write_all(results[:9], make_sinks(["video"], cut, info))
    write_all(results[9:], make_sinks(["video"], cut, info, resume_after=8))
    assert video_times(cut / "overlay.mp4") == video_times(whole / "overlay.mp4")
    assert audio_packets(cut / "overlay.mp4") == audio_packets(whole / "overlay.mp4")


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe is not installed")
def test_ffprobe_reads_the_overlay(two_objects):
    proc = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of",
                           "json", str(two_objects / "overlay.mp4")], capture_output=True,
                          text=True, timeout=60)
    stream = json.loads(proc.stdout)["streams"][0]
    assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p")
    assert int(stream["nb_read_frames"]) == 48 and stream["avg_frame_rate"] == "24/1"
