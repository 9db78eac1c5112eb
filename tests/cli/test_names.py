"""Object names (issue 15 item 14), through a real process: ``--name`` (or a prompts
file's ``name``) flows into every export: COCO categories, MOTS classes, tracks.jsonl,
NPZ ``object_names``, run.json; one object named twice differently is refused."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from tests.helpers import SAMPLES

CLI = [sys.executable, "-m", "samvideo.cli"]
TWO = SAMPLES / "two_objects"


def track(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "track", str(TWO / "video.mp4"), "--model", "grabcut",
                           *args], capture_output=True, text=True, timeout=180)


def test_names_flow_into_every_export(tmp_path):
    out = tmp_path / "o"
    done = track("--box", "23,61,73,99", "--name", "red square", "--box", "244,150,295,191",
                 "--name", "ball", "--max-frames", "6", "-o", str(out), "--export",
                 "video,jsonl,coco,mots,npz", "--quiet")
    assert done.returncode == 0, done.stderr
    coco = json.loads((out / "masks.coco.json").read_text())
    assert coco["categories"] == [{"id": 1, "name": "red square"}, {"id": 2, "name": "ball"}]
    by_object = {a["object_id"]: (a["category_id"], a["name"]) for a in coco["annotations"]}
    assert by_object == {1: (1, "red square"), 2: (2, "ball")}
    mots = {tuple(line.split()[1:3]) for line in (out / "masks.mots.txt").read_text().split("\n")
            if line}
    assert mots == {("1001", "1"), ("2002", "2")}  # id = class * 1000 + object id
    records = [json.loads(x) for x in (out / "tracks.jsonl").read_text().splitlines()]
    assert {(r["object_id"], r["name"]) for r in records} == {(1, "red square"), (2, "ball")}
    with np.load(out / "masks.npz") as npz:
        assert list(npz["object_names"]) == ["red square", "ball"]
    prompts = json.loads((out / "run.json").read_text())["inputs"]["prompts"]
    assert [p.get("name") for p in prompts] == ["red square", "ball"]


def test_a_prompts_file_names_an_object_once_for_all_its_entries(tmp_path):
    prompts = tmp_path / "p.json"
    prompts.write_text(json.dumps({"objects": [
        {"id": 1, "frame": 0, "box": [23, 61, 73, 99], "name": "player"},
        {"id": 1, "frame": 3, "box": [24, 61, 74, 99]},
        {"id": 2, "frame": 0, "box": [244, 150, 295, 191]}]}))
    out = tmp_path / "o"
    done = track("--prompts", str(prompts), "--max-frames", "5", "-o", str(out), "--export",
                 "jsonl,coco", "--quiet")
    assert done.returncode == 0, done.stderr
    records = [json.loads(x) for x in (out / "tracks.jsonl").read_text().splitlines()]
    assert {(r["object_id"], r["name"]) for r in records} == {(1, "player"), (2, None)}
    categories = json.loads((out / "masks.coco.json").read_text())["categories"]
    assert categories == [{"id": 1, "name": "player"}, {"id": 2, "name": "object"}]

    prompts.write_text(json.dumps({"objects": [
        {"id": 1, "box": [23, 61, 73, 99], "name": "player"},
        {"id": 1, "frame": 3, "box": [24, 61, 74, 99], "name": "goalie"}]}))
    clash = track("--prompts", str(prompts), "-o", str(tmp_path / "x"))
    assert clash.returncode == 2
    assert clash.stderr.strip().splitlines() == [
        "samvideo: error: prompts file p.json: object 1 is named both 'player' and 'goalie'"]
