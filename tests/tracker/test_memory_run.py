"""``--tracker memory`` through the real path: the command, ``samvideo.track`` and a
resumed run, all driven by the one frame loop (``samvideo.loop.frame_loop``) with the
memory tracker injected; a random SAM 2.1 hiera_tiny built by ``sam2``'s own code."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import samvideo
from samvideo.cli import main
from samvideo.prompts import load_prompts_file
from samvideo.run import FileOptions, run
from samvideo.stop import Stop
from samvideo.tracker import MemoryConfig, TrackerConfig
from samvideo.tracker.memory import MemoryTracker
from samvideo.video import VideoReader
from tests.helpers import SAMPLES

CLIP = SAMPLES / "two_objects"


def test_track_memory_from_the_command_line(sam2_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["track", str(CLIP / "video.mp4"), "--prompts", str(CLIP / "prompts.json"),
                 "--checkpoint", str(sam2_checkpoint), "--tracker", "memory", "--max-frames",
                 "2", "-o", str(out), "--export", "davis,jsonl", "--quiet"])
    assert code == 0, capsys.readouterr().err
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "complete" and record["tracker_name"] == "memory"
    assert record["tracker"] == json.loads(json.dumps(record["tracker"]))
    assert record["tracker"]["motion_weight"] == MemoryConfig().motion_weight
    lines = [json.loads(x) for x in (out / "tracks.jsonl").read_text().splitlines()]
    assert [(x["frame"], x["object_id"]) for x in lines] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert lines[0]["state"] == "prompted"
    # --no-motion / --no-reprompt switch the memory tracker's SAMURAI parts off
    code = main(["track", str(CLIP / "video.mp4"), "--box", "23,61,73,99", "--checkpoint",
                 str(sam2_checkpoint), "--tracker", "memory", "--no-motion", "--no-reprompt",
                 "--max-frames", "1", "-o", str(tmp_path / "plain"), "--export", "jsonl",
                 "--quiet", "--set", "memory.max_prompted_frames=2"])
    assert code == 0, capsys.readouterr().err
    plain = json.loads((tmp_path / "plain" / "run.json").read_text())["tracker"]
    assert (plain["motion_aware"], plain["reprompt"], plain["max_prompted_frames"]) == \
        (False, False, 2)


@pytest.mark.parametrize("model", ["grabcut", "tiny_sam"])
def test_the_memory_tracker_refuses_models_without_a_video_memory(
        model, tiny_sam_checkpoint, tmp_path, capsys):
    """One line, exit 2: by name before anything loads, or once a checkpoint's tensors
    say it is SAM 1."""
    which = (["--model", "grabcut"] if model == "grabcut"
             else ["--checkpoint", str(tiny_sam_checkpoint)])
    code = main(["track", str(CLIP / "video.mp4"), "--box", "23,61,73,99", *which,
                 "--tracker", "memory", "-o", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err, err
    assert "--tracker memory needs a SAM 2.1 model" in err and "use --tracker box" in err
    assert not (tmp_path / "o" / "run.json").exists()


def test_samvideo_track_runs_the_memory_tracker_in_the_one_loop(small_sam2):
    """``samvideo.track(tracker=MemoryConfig(...))`` with frames encoded ahead in batches
    of 3 gives what stepping a MemoryTracker frame by frame gives, bit for bit."""
    prompts = load_prompts_file(CLIP / "prompts.json")
    config = MemoryConfig(stable_frames=2)
    with samvideo.track(CLIP / "video.mp4", prompts=prompts, model=small_sam2,
                        tracker=config, max_frames=6, batch=3) as tracking:
        got = [[(o.object_id, o.state, o.mask) for o in r.objects] for r in tracking]
    tracker = MemoryTracker(small_sam2, config=config)
    tracker.add_prompts(prompts)
    with VideoReader(CLIP / "video.mp4", max_frames=6) as reader:
        expected = []
        for frame in reader:
            result = tracker.step(frame.rgb, frame_index=frame.index, time_s=frame.time_s)
            expected.append([(o.object_id, o.state, o.mask) for o in result.objects])
    assert len(got) == len(expected) == 6
    for a, b in zip(got, expected, strict=True):
        assert [o[:2] for o in a] == [o[:2] for o in b]
        assert all(np.array_equal(x[2], y[2]) for x, y in zip(a, b, strict=True))
    with pytest.raises(ValueError, match="tracker='kalman'"):
        samvideo.track(CLIP / "video.mp4", prompts=prompts, model=small_sam2, tracker="kalman")
    with pytest.raises(ValueError, match="tracks forward only"):
        samvideo.track(CLIP / "video.mp4", prompts=prompts, model=small_sam2, tracker="memory",
                       direction="both")


def test_an_interrupted_memory_run_resumes_to_the_same_result(small_sam2, tmp_path):
    prompts = load_prompts_file(CLIP / "prompts.json")
    stop = Stop()

    def options(folder, **kw):
        return FileOptions(tmp_path / folder, exports=("jsonl", "davis"), max_frames=8,
                           tracker=MemoryConfig(stable_frames=2), **kw)

    first = run(CLIP / "video.mp4", prompts, small_sam2, options("o"), stop=stop,
                on_frame=lambda res, _: stop.set() if res.frame_index == 4 else None)
    assert first.status == "interrupted" and first.last_frame == 4 and first.resumable
    state = json.loads((tmp_path / "o" / ".resume" / "state.json").read_text())
    assert state["tracker"]["format"] == "samvideo.memory/1"  # JSON + NPZ, no pickle
    with pytest.raises(ValueError, match="--resume: tracker differs"):
        run(CLIP / "video.mp4", prompts, small_sam2,
            FileOptions(tmp_path / "o", exports=("jsonl", "davis"), max_frames=8,
                        tracker=TrackerConfig(), resume=True))
    final = run(CLIP / "video.mp4", prompts, small_sam2, options("o", resume=True))
    assert final.status == "complete" and final.frames == 8 and final.resumed_from == 4
    assert run(CLIP / "video.mp4", prompts, small_sam2, options("whole")).status == "complete"
    assert (tmp_path / "o" / "tracks.jsonl").read_text() == \
        (tmp_path / "whole" / "tracks.jsonl").read_text()
    for png in sorted((tmp_path / "whole" / "masks").glob("*.png")):
        assert np.array_equal(np.asarray(Image.open(png)),
                              np.asarray(Image.open(tmp_path / "o" / "masks" / png.name)))


def test_a_live_run_with_the_memory_tracker_and_an_object_added_mid_run(small_sam2, tmp_path):
    """The sample clip played live (24 fps) into the memory tracker: frames there was no
    time for are ``predicted`` (the memory untouched), segmented ones tracked; object 2,
    selected through a watched prompts file while the run goes, starts as ``prompted``
    on a later frame and is tracked from there, object 1 all along."""
    from samvideo.run import LiveOptions
    from samvideo.video.live import LiveReader

    out, watched = tmp_path / "out", tmp_path / "select.json"
    prompts = load_prompts_file(CLIP / "prompts.json")

    def on_frame(result, _) -> None:
        if result.frame_index == 10:
            tmp = watched.with_suffix(".tmp")
            tmp.write_text(json.dumps({"objects": [{"id": 2, "box": list(prompts[1].box)}]}))
            tmp.replace(watched)

    options = LiveOptions(output=out, watch_prompts=watched, exports=("jsonl",),
                          tracker=MemoryConfig())
    summary = run(LiveReader(CLIP / "video.mp4"), prompts[:1], small_sam2, options,
                  on_frame=on_frame)
    stats = summary.live
    assert summary.status == "complete" and summary.frames == stats.received == 48
    # segmented: the first frame, the one object 2 starts on, one more at least (how
    # many more depends on the machine's speed: 3 on a loaded 2-core machine)
    assert stats.predicted > 0 and stats.processed >= 3 and stats.prompts_applied == 1
    lines = [json.loads(x) for x in (out / "tracks.jsonl").read_text().splitlines()]
    one = [x for x in lines if x["object_id"] == 1]
    two = [x for x in lines if x["object_id"] == 2]
    assert [x["frame"] for x in one] == list(range(48)) and one[0]["state"] == "prompted"
    assert two[0]["state"] == "prompted" and two[0]["frame"] > 10
    assert [x["frame"] for x in two] == list(range(two[0]["frame"], 48))
    states = {x["state"] for x in lines}
    assert "predicted" in states and states & {"tracking", "reprompted", "lost"}


def test_model_auto_takes_a_cached_sam2_model_for_the_memory_tracker(tmp_path, monkeypatch,
                                                                     capsys):
    """``--model auto --tracker memory`` passes over a cached MobileSAM (the CPU's first
    choice for the box tracker) for SAM 2.1; with no SAM 2.1 cached, one line, exit 2."""
    from samvideo.segmenters import VIDEO_MEMORY_MODELS, resolve_model
    from samvideo.weights import CHECKPOINTS

    monkeypatch.setenv("SAMVIDEO_HOME", str(tmp_path))
    (tmp_path / CHECKPOINTS["mobile_sam"].filename).write_bytes(b"x")
    code = main(["track", str(CLIP / "video.mp4"), "--box", "23,61,73,99", "--tracker",
                 "memory", "-o", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "none of sam2.1_hiera_tiny" in err, err
    assert resolve_model("auto", None, device="cpu")[0] == "mobile_sam"
    (tmp_path / CHECKPOINTS["sam2.1_hiera_small"].filename).write_bytes(b"x")
    name, reason = resolve_model("auto", None, device="cpu", among=VIDEO_MEMORY_MODELS)
    assert name == "sam2.1_hiera_small" and "fastest cached model" in reason


def test_samvideo_batch_runs_every_clip_with_the_memory_tracker(sam2_checkpoint, tmp_path,
                                                                capsys):
    """``samvideo batch --tracker memory``: the clip's run (a worker process) records the
    memory tracker; a model without a video memory is refused before any clip starts."""
    manifest = tmp_path / "clips.csv"
    manifest.write_text("name,source,box\n"
                        f'two,{CLIP / "video.mp4"},"23,61,73,99"\n')
    out = tmp_path / "out"
    code = main(["batch", str(manifest), "-o", str(out), "--checkpoint", str(sam2_checkpoint),
                 "--tracker", "memory", "--max-frames", "2", "--export", "jsonl",
                 "--workers", "1", "--quiet"])
    assert code == 0, capsys.readouterr().err
    record = json.loads((out / "two" / "run.json").read_text())
    assert record["status"] == "complete" and record["tracker_name"] == "memory"
    capsys.readouterr()
    assert main(["batch", str(manifest), "-o", str(tmp_path / "no"), "--model", "grabcut",
                 "--tracker", "memory", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--tracker memory needs a SAM 2.1 model" in err, err
    assert not (tmp_path / "no").exists()
