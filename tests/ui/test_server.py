"""The UI server's API: opening (root, traversal, symlinks, uploads), previews, runs,
stopping, downloads, and the guards (loopback, Host, Origin)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from samvideo.masks import mask_to_box
from samvideo.segmenters import GrabCutSegmenter
from samvideo.tracker import Tracker
from samvideo.ui import bind_socket, check_host, is_loopback
from samvideo.ui.session import prompts_from_json
from samvideo.video.frames import FrameStore
from tests.helpers import SAMPLES
from tests.ui.conftest import MOVING, REPO, assert_same_masks, cli_masks, sample_prompts


def open_moving(client) -> dict:
    r = client.post("/api/open", json={"path": MOVING})
    assert r.status_code == 200, r.text
    return r.json()["video"]


def wait_done(client, timeout: float = 60.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get("/api/job").json()
        if job["state"] in ("complete", "interrupted", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"the run did not end in {timeout} s: {job}")


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {os.path.basename(n): zf.read(n) for n in zf.namelist() if n.endswith(".png")}


# -- opening ---------------------------------------------------------------------------

def test_status_page_and_files(make_client):
    client = make_client()
    assert "<canvas" in client.get("/").text
    assert client.get("/static/js/app.js").status_code == 200
    status = client.get("/api/status").json()
    assert status["model"] == "grabcut" and status["video"] is None
    assert status["colours"][1].startswith("#")
    listing = client.get("/api/files", params={"dir": "sample_videos/moving"}).json()
    assert {"name": "video.mp4", "path": MOVING, "kind": "video"} in listing["entries"]
    assert listing["parent"] == "sample_videos"


def test_open_gives_the_clip_and_its_frames(make_client):
    client = make_client()
    video = open_moving(client)
    assert (video["width"], video["height"], video["frames"]) == (320, 240, 48)
    r = client.get(f"/api/video/{video['id']}/frame/47.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (320, 240)
    assert client.get(f"/api/video/{video['id']}/frame/48.jpg").status_code == 404
    assert client.get(f"/api/video/{video['id'] + 1}/frame/0.jpg").status_code == 404


@pytest.mark.parametrize("path", ["../etc/passwd", "/etc/passwd", "sample_videos/../../x.mp4",
                                  "sample_videos/moving/../../../etc/hosts"])
def test_traversal_is_refused(make_client, path):
    r = make_client().post("/api/open", json={"path": path})
    assert r.status_code == 403
    assert "outside the root" in r.json()["error"]


def test_symlinks_are_resolved_and_checked(make_client, tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.mp4").write_bytes((SAMPLES / "moving" / "video.mp4").read_bytes())
    (root / "escape.mp4").symlink_to(outside / "secret.mp4")
    (root / "escape_dir").symlink_to(outside, target_is_directory=True)
    (root / "inside.mp4").symlink_to(SAMPLES / "moving" / "video.mp4")  # outside too
    (root / "clip.mp4").write_bytes((SAMPLES / "moving" / "video.mp4").read_bytes())
    (root / "alias.mp4").symlink_to(root / "clip.mp4")
    client = make_client(root=root)
    for path in ("escape.mp4", "escape_dir/secret.mp4", "inside.mp4"):
        assert client.post("/api/open", json={"path": path}).status_code == 403, path
    assert client.post("/api/open", json={"path": "alias.mp4"}).status_code == 200
    names = [e["name"] for e in client.get("/api/files").json()["entries"]]
    assert names == ["alias.mp4", "clip.mp4"]  # links out of the root are not listed
    assert client.get("/api/files", params={"dir": "escape_dir"}).status_code == 403


def test_missing_and_unreadable_sources(make_client, tmp_path):
    client = make_client()
    r = client.post("/api/open", json={"path": "sample_videos/nope.mp4"})
    assert r.status_code == 404 and "nope.mp4" in r.json()["error"]
    r = client.post("/api/open", json={"path": "README.md"})
    assert r.status_code == 400 and "README.md" in r.json()["error"]
    assert client.post("/api/open", json={"path": ""}).status_code == 400


def test_upload_opens_the_clip(make_client):
    client = make_client()
    data = (SAMPLES / "moving" / "video.mp4").read_bytes()
    r = client.post("/api/upload", params={"name": "../../my clip.mp4"}, content=data)
    assert r.status_code == 200, r.text
    video = r.json()["video"]
    assert video["frames"] == 48 and video["label"] == "upload: my_clip.mp4"
    state = client.app.state.ui
    assert state.video.source.parent == state.config.workdir / "uploads"


def test_upload_limit(make_client):
    client = make_client(max_upload_bytes=10_000)
    data = (SAMPLES / "moving" / "video.mp4").read_bytes()
    assert len(data) > 10_000
    r = client.post("/api/upload", params={"name": "big.mp4"}, content=data)
    assert r.status_code == 413 and "limit" in r.json()["error"]
    # no Content-Length (chunked): the limit holds while streaming
    chunks = (data[i:i + 4096] for i in range(0, len(data), 4096))
    r = client.post("/api/upload", params={"name": "big.mp4"}, content=chunks)
    assert r.status_code == 413
    uploads = client.app.state.ui.config.workdir / "uploads"
    assert not list(uploads.iterdir())  # nothing left behind


def test_upload_of_a_non_video_is_refused_and_removed(make_client):
    client = make_client()
    r = client.post("/api/upload", params={"name": "notes.mp4"}, content=b"not a video" * 10)
    assert r.status_code == 400
    assert not list((client.app.state.ui.config.workdir / "uploads").iterdir())
    assert client.post("/api/upload", params={"name": "..."}, content=b"x").status_code == 400


# -- previews and runs ---------------------------------------------------------------------

def test_preview_is_the_trackers_first_frame(make_client):
    client = make_client()
    open_moving(client)
    objects = [{k: v for k, v in o.items() if k != "frame"} for o in sample_prompts()]
    t0 = time.perf_counter()
    r = client.post("/api/preview", json={"frame": 0, "objects": objects})
    assert time.perf_counter() - t0 < 1.0
    assert r.status_code == 200, r.text
    body = r.json()
    (obj,) = body["objects"]
    assert obj["id"] == 1 and obj["state"] == "prompted" and obj["area"] > 500
    layer = Image.open(io.BytesIO(_data_url(body["mask"])))
    assert layer.mode == "RGBA" and layer.size == (320, 240)
    # the tracker's own mask for the prompt, painted (plus its 2-pixel outline)
    rgb = FrameStore(REPO / MOVING).frame(0)
    mask = Tracker(GrabCutSegmenter()).init(rgb, prompts_from_json(objects))[1].mask
    painted = np.asarray(layer)[..., 3] > 0
    assert obj["area"] == mask.sum()
    assert painted[mask].all()
    assert not (painted & ~cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8))).any()


def _data_url(url: str) -> bytes:
    import base64

    assert url.startswith("data:image/png;base64,")
    return base64.b64decode(url.split(",", 1)[1])


def test_preview_errors_name_the_value(make_client):
    client = make_client()
    open_moving(client)

    def preview(box):
        return client.post("/api/preview", json={"frame": 0, "objects": [{"id": 1, "box": box}]})

    r = preview([50, 50, 10, 10])
    assert r.status_code == 400 and "reversed" in r.json()["error"]
    r = preview([400, 300, 500, 400])
    assert r.status_code == 400 and "outside" in r.json()["error"]
    r = client.post("/api/preview", json={"frame": 99, "objects": []})
    assert r.status_code == 404
    r = client.post("/api/preview", json={"frame": "0", "objects": []})
    assert r.status_code == 400 and "frame" in r.json()["error"]


def test_run_matches_the_cli_and_offers_every_download(make_client, tmp_path):
    client = make_client()
    open_moving(client)
    prompts = sample_prompts()
    r = client.post("/api/track", json={"objects": prompts})
    assert r.status_code == 202, r.text
    job = wait_done(client)
    assert job["state"] == "complete" and job["frames_done"] == job["total"] == 48
    assert job["percent"] == 100.0
    assert set(job["downloads"]) == {"overlay", "masks", "coco", "npz", "jsonl", "run", "prompts"}
    masks = client.get(job["downloads"]["masks"])
    assert masks.headers["content-type"] == "application/zip"
    assert_same_masks(unzip(masks.content), cli_masks(REPO / MOVING, prompts, tmp_path / "cli"))
    run = json.loads(client.get(job["downloads"]["run"]).content)
    assert run["status"] == "complete" and run["inputs"]["ui"] is True
    npz = np.load(io.BytesIO(client.get(job["downloads"]["npz"]).content))
    assert len(npz.files) > 0
    coco = json.loads(client.get(job["downloads"]["coco"]).content)
    assert coco
    assert client.get(job["downloads"]["overlay"]).content[4:8] == b"ftyp"
    frame = client.get(f"/api/run/{job['run_id']}/frame/30.jpg")
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
    assert client.get("/api/job/latest.jpg").status_code == 200
    assert client.get(f"/api/run/{job['run_id']}/download/secrets").status_code == 404


def test_a_correction_reruns_with_prompts_file_semantics(make_client, tmp_path):
    """A new box for object 1 on frame 20 re-runs as ``--prompts`` with both entries."""
    client = make_client()
    open_moving(client)
    truth = np.asarray(Image.open(SAMPLES / "moving" / "masks" / "00020.png")) > 0
    box = [round(v) for v in mask_to_box(truth)]
    prompts = [*sample_prompts(), {"id": 1, "frame": 20, "box": box}]
    client.post("/api/track", json={"objects": prompts})
    job = wait_done(client)
    assert job["state"] == "complete"
    assert [p["frame"] for p in job["prompts"]] == [0, 20]
    lines = [json.loads(x) for x in client.get(job["downloads"]["jsonl"]).text.splitlines()]
    assert [x["state"] for x in lines if x["frame"] == 20] == ["prompted"]
    saved = json.loads(client.get(job["downloads"]["prompts"]).content)["objects"]
    assert_same_masks(unzip(client.get(job["downloads"]["masks"]).content),
                      cli_masks(REPO / MOVING, saved, tmp_path / "cli"))


class SlowGrabCut(GrabCutSegmenter):
    def encode(self, frames):
        time.sleep(0.05)
        return super().encode(frames)


def test_stop_ends_the_run_cleanly(make_client):
    client = make_client(SlowGrabCut())
    open_moving(client)
    client.post("/api/track", json={"objects": sample_prompts()})
    while client.get("/api/job").json()["frames_done"] < 2:
        time.sleep(0.02)
    assert client.post("/api/open", json={"path": MOVING}).status_code == 409  # busy
    assert client.post("/api/track", json={"objects": sample_prompts()}).status_code == 409
    client.post("/api/job/stop")
    job = wait_done(client)
    assert job["state"] == "interrupted" and 2 <= job["frames_done"] < 48
    run = json.loads(client.get(job["downloads"]["run"]).content)
    assert run["status"] == "interrupted" and run["frames_done"] == job["frames_done"]
    assert len(unzip(client.get(job["downloads"]["masks"]).content)) == job["frames_done"]
    last = job["frames_done"] - 1
    assert client.get(f"/api/run/{job['run_id']}/frame/{last}.jpg").status_code == 200
    assert client.get(f"/api/run/{job['run_id']}/frame/{last + 1}.jpg").status_code == 404


def test_bad_prompts_are_refused_before_a_run(make_client):
    client = make_client()
    open_moving(client)
    r = client.post("/api/track", json={"objects": [{"id": 1, "frame": 60, "box": [1, 1, 9, 9]}]})
    assert r.status_code == 400 and "frame 60" in r.json()["error"]
    r = client.post("/api/track", json={"objects": []})
    assert r.status_code == 400
    assert client.get("/api/job").json() == {"state": "idle"}


# -- guards ------------------------------------------------------------------------------

def test_loopback_only_unless_asked():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")
    with pytest.raises(ValueError, match="'0.0.0.0' is not a loopback address"):
        bind_socket("0.0.0.0", 0)
    with pytest.raises(ValueError, match="192.168.1.20"):
        check_host("192.168.1.20", allow_remote=False)
    check_host("192.168.1.20", allow_remote=True)
    bind_socket("127.0.0.1", 0).close()
    with pytest.raises(ValueError, match="port 70000"):
        bind_socket("127.0.0.1", 70000)


def test_foreign_host_and_origin_are_refused(make_client):
    client = make_client()
    assert client.get("/api/status", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/api/status", headers={"host": "localhost:8765"}).status_code == 200
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
        r = client.post("/api/open", json={"path": MOVING}, headers={"origin": origin})
        assert r.status_code == 403, origin
    r = client.post("/api/open", json={"path": MOVING},
                    headers={"origin": "http://127.0.0.1:8765"})
    assert r.status_code == 200
    r = client.post("/api/open", content=json.dumps({"path": MOVING}),
                    headers={"content-type": "text/plain"})
    assert r.status_code == 400 and "application/json" in r.json()["error"]


def _start_cli(*args: str) -> tuple[subprocess.Popen, str]:
    """Start ``samvideo ui`` and wait until it answers; return it and its address line."""
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "samvideo.cli", "ui", "--port", "0",
                             "--model", "grabcut", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline()
    if line.startswith("samvideo ui: http://"):
        port = line.split()[2].rstrip("/").rsplit(":", 1)[1]
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5).close()
                break
            except OSError:
                time.sleep(0.1)
    return proc, line


def test_cli_warns_when_told_to_listen_beyond_loopback():
    proc, line = _start_cli("--host", "0.0.0.0")
    try:
        assert line.startswith("samvideo ui: http://0.0.0.0:")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert "warning: listening on 0.0.0.0, not loopback" in err
    assert proc.returncode == 0


def test_cli_serves_on_loopback_and_cleans_up():
    import urllib.request

    proc, line = _start_cli()
    try:
        assert line.startswith("samvideo ui: http://127.0.0.1:"), line
        url = line.split()[2]
        workdir = line.split("outputs in ")[1].split(",")[0]
        assert os.path.isdir(workdir)
        with urllib.request.urlopen(url + "api/status", timeout=10) as r:
            assert json.load(r)["root"] == str(REPO)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "warning" not in err
    assert not os.path.exists(workdir)


def test_cli_refuses_a_missing_root(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "samvideo.cli", "ui", "--root",
                           str(tmp_path / "nope"), "--model", "grabcut"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "nope" in proc.stderr


# -- issue 15: the page's state, honest runs, errors in the user's words, cleanup ----------

def test_the_page_state_and_runs_belong_to_their_source(make_client):
    """Item 9: a run and the page's prompts belong to the video they were made on."""
    client = make_client()
    video = open_moving(client)
    page = {"objects": sample_prompts(), "ids": [1, 2], "names": {"1": "square"}}
    saved = client.post(f"/api/video/{video['id']}/page", json=page)
    assert saved.status_code == 200, saved.text
    client.post("/api/track", json={"objects": sample_prompts()})
    run_id = wait_done(client)["run_id"]
    client.post("/api/open", json={"path": "sample_videos/two_objects/video.mp4"})
    other = client.get("/api/status").json()
    assert other["runs"] == [] and other["page"] is None and other["job"] is None
    open_moving(client)  # again: its prompts, names and run come back
    back = client.get("/api/status").json()
    assert [r["run_id"] for r in back["runs"]] == [run_id]
    assert back["page"]["ids"] == [1, 2] and back["page"]["names"] == {"1": "square"}
    assert back["page"]["objects"][0]["name"] == "square"
    tracks = client.get(f"/api/run/{run_id}/tracks").json()["frames"]
    assert sorted(map(int, tracks)) == list(range(48)) and tracks["0"][0][3] == "prompted"
    labels = Image.open(io.BytesIO(client.get(f"/api/run/{run_id}/labels/30.png").content))
    masks = Image.open(io.BytesIO(unzip(client.get(f"/api/run/{run_id}/download/masks")
                                        .content)["00030.png"]))
    assert labels.mode == "L" and np.array_equal(np.asarray(labels), np.asarray(masks))
    bad = client.post(f"/api/video/{video['id'] + 5}/page", json=page)
    assert bad.status_code == 404


def test_a_refused_run_leaves_nothing_behind(make_client):
    """Item 10: a rejected track left an empty runs/NNN folder."""
    client = make_client()
    open_moving(client)
    runs = client.app.state.ui.config.workdir / "runs"
    for body in ({"objects": [{"id": 1, "frame": 60, "box": [1, 1, 9, 9]}]},
                 {"objects": [{"id": 1, "frame": 5, "box": [1, 1, 9, 9]}], "first": 10},
                 {"objects": sample_prompts(), "direction": "sideways"},
                 {"objects": sample_prompts(), "first": 30, "last": 20}):
        r = client.post("/api/track", json=body)
        assert r.status_code == 400, r.text
    assert not runs.exists() or not list(runs.iterdir())
    assert "outside the frames to track (10-47)" in client.post(
        "/api/track", json={"objects": [{"id": 1, "frame": 5, "box": [1, 1, 9, 9]}],
                            "first": 10}).json()["error"]


def test_a_part_both_ways_from_the_page(make_client):
    """Item 14: the page's frame range and direction reach the run."""
    client = make_client()
    open_moving(client)
    truth = np.asarray(Image.open(SAMPLES / "moving" / "masks" / "00030.png")) > 0
    box = [round(v) for v in mask_to_box(truth)]
    r = client.post("/api/track", json={"objects": [{"id": 1, "frame": 30, "box": box}],
                                        "first": 10, "last": 40, "direction": "both"})
    assert r.status_code == 202, r.text
    job = wait_done(client)
    assert job["state"] == "complete" and job["tracked"] == [10, 40], job
    assert job["total"] == 31 and job["backward"] == [21, 21]
    lines = [json.loads(x) for x in client.get(job["downloads"]["jsonl"]).text.splitlines()]
    assert [x["frame"] for x in lines] == list(range(10, 41))


def test_errors_name_the_users_file_in_their_words(make_client):
    """Item 11: an errno, an unbalanced quote, the server's temporary folder and the
    uploads' internal prefixes were shown."""
    client = make_client()
    cases = {"broken.mp4": b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 10,
             "notes.txt": b"shopping list\n" * 40, "empty.mp4": b""}
    said = {}
    for name, data in cases.items():
        r = client.post("/api/upload", params={"name": name}, content=data)
        assert r.status_code == 400, r.text
        said[name] = r.json()["error"]
    assert said == {
        "broken.mp4": "broken.mp4 is not a video samvideo can read (invalid data found when "
                      "processing input)",
        "notes.txt": "notes.txt is text, not a video",
        "empty.mp4": "empty.mp4 is empty (0 bytes): choose the video file itself"}
    r = client.post("/api/prompts/read", json={"text": "{not json"})
    assert r.status_code == 404  # no video open: nothing to read prompts for
    open_moving(client)
    r = client.post("/api/prompts/read", json={"text": "{not json"})
    assert r.status_code == 400 and "is not valid JSON" in r.json()["error"]
    r = client.post("/api/prompts/read", json={"text": json.dumps(
        {"objects": [{"id": 2, "frame": 3, "box": [1, 1, 30, 30], "name": "x"}]})})
    assert r.json()["objects"] == [{"id": 2, "frame": 3, "box": [1, 1, 30, 30],
                                    "points": [], "neg_points": [], "name": "x"}]


def test_sigterm_removes_the_temporary_folder():
    """Item 13: the temporary folder was removed on Ctrl-C but not on SIGTERM."""
    import urllib.request

    proc, line = _start_cli()
    try:
        url = line.split()[2]
        workdir = line.split("outputs in ")[1].split(",")[0]
        request = urllib.request.Request(url + "api/open", method="POST",
                                         data=json.dumps({"path": MOVING}).encode(),
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=30).close()
        request = urllib.request.Request(url + "api/track", method="POST",
                                         data=json.dumps({"objects": sample_prompts()}).encode(),
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=30).close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(Path(workdir).rglob("*.png")):
            time.sleep(0.05)
        assert list(Path(workdir).rglob("*")), "the run wrote nothing"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert not os.path.exists(workdir)
