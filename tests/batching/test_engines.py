"""Both engines for real: a spawned process pool, and Ray tasks on a real local Ray
cluster (2 CPUs, one for the session). They give ``samvideo track``'s masks per clip,
build the model once per worker, survive a worker killed mid-clip, and write a
YouTube-VIS file that pycocotools reads back to the same masks."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import samvideo
from samvideo.api import batch_options
from samvideo.batching import read_manifest, run_batch
from tests.helpers import LONG_BOX, SAMPLE_CLIPS, manifest_row, read_masks, write_manifest

EXPORTS = "video,davis,jsonl"  # as the track_masks fixture ran samvideo track

ENGINES = ("local", "ray")


def run(manifest: Path, out: Path, engine: str, **options):
    return samvideo.batch(manifest, out, engine=engine, model="grabcut", exports=EXPORTS,
                          **options)


@pytest.fixture
def engine(request, ray_address):
    """Each engine in turn; the Ray cluster is the session's (started once)."""
    return request.param


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_sample_clips_give_the_masks_of_samvideo_track(engine, tmp_path, track_masks):
    manifest = write_manifest(tmp_path / "clips.jsonl",
                              [manifest_row(c) for c in SAMPLE_CLIPS])
    report = run(manifest, tmp_path / "out", engine, dataset_exports="youtube-vis")

    assert report.status == "complete"
    assert [c.name for c in report.clips] == list(SAMPLE_CLIPS)
    for clip in report.clips:
        assert clip.status == "complete" and clip.tries == 1 and clip.error is None
        masks = read_masks(Path(clip.output))
        assert list(masks) == list(track_masks[clip.name]), clip.name
        for name, mask in masks.items():
            assert np.array_equal(mask, track_masks[clip.name][name]), (clip.name, name)
        assert clip.metrics is not None and 0.9 < clip.metrics["J&F"] <= 1.0
        state = json.loads((Path(clip.output) / "run.json").read_text())
        assert state["status"] == "complete" and state["inputs"]["api"] == "samvideo batch"
    # the model is built once per worker process, not once per clip
    workers = {w for c in report.clips for w in c.workers}
    assert sum(c.model_loads for c in report.clips) == len(workers) < len(SAMPLE_CLIPS) + 1

    written = json.loads(report.batch_json.read_text())
    assert written["status"] == "complete" and written["counts"] == {"complete": 3}
    assert written["engine"]["name"] == engine and written["options"]["engine"] == engine
    assert written["mean"]["J&F"] == pytest.approx(
        np.mean([c.metrics["J&F"] for c in report.clips]))
    assert_youtube_vis(tmp_path / "out" / "youtube_vis.json", report)


def assert_youtube_vis(path: Path, report) -> None:
    """pycocotools decodes every track's RLE back to the clip's label maps."""
    from pycocotools import mask as mask_utils

    data = json.loads(path.read_text())
    assert [v["name"] for v in data["videos"]] == [c.name for c in report.clips]
    assert [v["id"] for v in data["videos"]] == [1, 2, 3]
    ids = [a["id"] for a in data["annotations"]]
    assert ids == list(range(1, len(ids) + 1))
    for video in data["videos"]:
        clip = next(c for c in report.clips if c.name == video["name"])
        masks = read_masks(Path(clip.output))
        assert video["length"] == len(masks) == len(video["file_names"])
        assert video["file_names"][0] == f"{clip.name}/00000.jpg"
        tracks = [a for a in data["annotations"] if a["video_id"] == video["id"]]
        objects = {p["id"] for p in json.loads((Path(clip.source).parent / "prompts.json")
                                               .read_text())["objects"]}
        assert {a["object_id"] for a in tracks} == objects
        for ann in tracks:
            assert len(ann["segmentations"]) == len(masks) == len(ann["areas"])
            for rle, area, labels in zip(ann["segmentations"], ann["areas"], masks.values(),
                                         strict=True):
                truth = labels == ann["object_id"]
                if rle is None:
                    assert not truth.any() and area is None
                    continue
                decoded = mask_utils.decode({"size": rle["size"],
                                             "counts": rle["counts"].encode()})
                assert np.array_equal(decoded.astype(bool), truth) and area == truth.sum()


def _kill_busy_worker(engine: str, out: Path, after: int, done: dict) -> None:
    """SIGKILL the worker tracking the clip in ``out`` once it has ``after`` masks."""
    # a deadline, not a speed check: Ray's workers start slowly on a loaded machine
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        part = out / ".masks.part"
        if part.is_dir() and len(list(part.glob("*.png"))) >= after:
            break
        time.sleep(0.02)
    else:
        return
    pids = ([p.pid for p in multiprocessing.active_children()] if engine == "local"
            else _ray_task_pids("_ray_clip"))
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    done["killed"] = pids


def _ray_task_pids(function: str) -> list[int]:
    """Ray worker processes running ``function`` (Ray names them ``ray::<function>``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(f"ray::{function}".encode()):
                pids.append(int(entry.name))
    return pids


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_worker_killed_mid_clip_is_retried_to_the_same_masks(engine, tmp_path, long_clip,
                                                             track_masks):
    manifest = write_manifest(tmp_path / "clips.jsonl", [
        {"source": str(long_clip), "box": list(LONG_BOX), "name": "long"}])
    out = tmp_path / "out"
    done: dict = {}
    killer = threading.Thread(target=_kill_busy_worker, args=(engine, out / "long", 10, done))
    killer.start()
    report = run(manifest, out, engine, workers=1, retries=1)
    killer.join()

    assert len(done.get("killed", [])) == 1, done
    clip = report.clips[0]
    assert report.status == "complete" and clip.status == "complete"
    assert clip.tries == 2 and len(clip.workers) == 2
    assert clip.workers[0] != clip.workers[1]  # the killed worker did not come back
    masks = read_masks(out / "long")
    assert list(masks) == list(track_masks["long"])
    for name, mask in masks.items():
        assert np.array_equal(mask, track_masks["long"][name]), name
    assert json.loads((out / "long" / "run.json").read_text())["status"] == "complete"


@pytest.mark.slow
def test_a_clip_that_keeps_failing_is_reported_and_the_rest_completes(tmp_path, long_clip,
                                                                      track_masks):
    """A file that probes well but fails on the worker every time (here: replaced by
    garbage after the manifest was checked) uses up its tries; the other clip is done."""
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(long_clip.read_bytes())
    manifest = write_manifest(tmp_path / "clips.jsonl", [
        {"source": str(broken), "box": list(LONG_BOX), "name": "broken"},
        manifest_row("moving")])
    options = batch_options(tmp_path / "out", model="grabcut", exports=EXPORTS, retries=1,
                            workers=1)

    checked = read_manifest(manifest, options)
    broken.write_bytes(b"not a video any more" * 100)
    report = run_batch(checked, options)

    bad, good = report.clips
    assert report.status == "failed"
    assert bad.status == "failed" and bad.tries == 2 and "not a readable video" in bad.error
    assert good.status == "complete" and good.tries == 1
    masks = read_masks(Path(good.output))
    assert all(np.array_equal(m, track_masks["moving"][n]) for n, m in masks.items())
    assert json.loads(report.batch_json.read_text())["counts"] == {"failed": 1, "complete": 1}


def test_ray_workers_import_this_samvideo(ray_address):
    """The tests' samvideo (this checkout) is what Ray's worker processes import."""
    import ray

    @ray.remote
    def where() -> str:
        import samvideo as imported

        return imported.__file__

    assert ray.get(where.remote()) == samvideo.__file__


@pytest.fixture
def served_samples():
    """The sample clips over HTTP from a local server (as a data set on object storage)."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from tests.helpers import SAMPLES

    handler = partial(SimpleHTTPRequestHandler, directory=str(SAMPLES))
    handler.log_message = lambda *a, **k: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_url_source_gives_the_masks_of_the_file(tmp_path, served_samples, track_masks):
    clip = SAMPLE_CLIPS[0]
    row = manifest_row(clip, source=f"{served_samples}/{clip}/video.mp4")
    manifest = write_manifest(tmp_path / "clips.jsonl", [row])
    report = run(manifest, tmp_path / "out", "local")

    [done] = report.clips
    assert done.status == "complete" and done.source == row["source"], done.error
    masks = read_masks(Path(done.output))
    assert list(masks) == list(track_masks[clip])
    for name, mask in masks.items():
        assert np.array_equal(mask, track_masks[clip][name]), name
