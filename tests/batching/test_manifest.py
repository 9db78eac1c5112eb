"""Manifests: CSV and JSON Lines read to the same clips; every bad row named in one line
(row, field, value) before any work; names and output folders made unique."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samvideo.batching.manifest import load_manifest
from samvideo.prompts import ObjectPrompt
from tests.helpers import SAMPLES

MOVING = SAMPLES / "moving" / "video.mp4"
EXPORTS = ("video", "davis", "jsonl")


def load(path: Path, out: Path, **kw):
    return load_manifest(path, out, exports=kw.pop("exports", EXPORTS), **kw)


def test_csv_and_jsonl_give_the_same_clips(tmp_path):
    csv = tmp_path / "clips.csv"
    csv.write_text("source,box,points,neg_points,start,end\n"
                   f'{MOVING},"39,129,90,171","62,150;70,160",,2,40\n'
                   f'{SAMPLES / "two_objects" / "video.mp4"},"23,61,73,99;244,150,295,191",,,,\n')
    jsonl = tmp_path / "clips.jsonl"
    jsonl.write_text(
        json.dumps({"source": str(MOVING), "box": [39, 129, 90, 171],
                    "points": [[62, 150], [70, 160]], "start": 2, "end": "40"}) + "\n\n"
        + json.dumps({"source": str(SAMPLES / "two_objects" / "video.mp4"),
                      "box": [[23, 61, 73, 99], [244, 150, 295, 191]]}) + "\n")
    a, b = load(csv, tmp_path / "out"), load(jsonl, tmp_path / "out")
    assert not a.bad and not b.bad
    assert a.clips == b.clips
    first, second = a.clips
    assert first.prompts == (ObjectPrompt(1, (39.0, 129.0, 90.0, 171.0),
                                          ((62.0, 150.0), (70.0, 160.0))),)
    assert (first.start, first.end, first.frames) == (2, 40, 38)
    assert [p.object_id for p in second.prompts] == [1, 2] and second.frames == 48
    # both sources are video.mp4: the clips are named after their folders
    assert [c.name for c in a.clips] == ["moving", "two_objects"]
    assert first.output == str((tmp_path / "out" / "moving").resolve())


def test_relative_paths_are_the_manifest_folders_and_outputs_under_out(tmp_path):
    (tmp_path / "m").mkdir()
    manifest = tmp_path / "m" / "clips.jsonl"
    link = tmp_path / "m" / "clip.mp4"
    link.symlink_to(MOVING)
    manifest.write_text(json.dumps({"source": "clip.mp4", "prompts": str(
        SAMPLES / "moving" / "prompts.json"), "output": "here/it"}) + "\n")
    clip = load(manifest, tmp_path / "out").clips[0]
    assert clip.source == str(link) and clip.name == "clip"
    assert clip.output == str((tmp_path / "out" / "here" / "it").resolve())


BAD_ROWS = [
    ({"box": [1, 2, 30, 40]}, "source", "every row needs a source"),
    ({"source": "missing.mp4", "box": [1, 2, 30, 40]}, "source", "does not exist"),
    ({"source": "http://127.0.0.1:9/clip.mp4", "box": [1, 2, 30, 40]}, "source",
     "Connection refused"),
    ({"source": "{moving}"}, "box", "needs a box, points or a prompts file"),
    ({"source": "{moving}", "box": "1,2,3"}, "box", "is not 4 numbers"),
    ({"source": "{moving}", "box": [50, 2, 10, 40]}, "box", "reversed"),
    ({"source": "{moving}", "box": [900, 900, 990, 990]}, "box", "outside the"),
    ({"source": "{moving}", "box": [1, 2, 30, 40], "points": "5"}, "points", "is not 2"),
    ({"source": "{moving}", "box": [1, 2, 30, 40], "prompts": "p.json"}, "box", "not both"),
    ({"source": "{moving}", "prompts": "missing.json"}, "prompts", "missing.json"),
    ({"source": "{moving}", "box": [1, 2, 30, 40], "start": "soon"}, "start", "frame number"),
    ({"source": "{moving}", "box": [1, 2, 30, 40], "start": 9, "end": 3}, "end", "after"),
    ({"source": "{moving}", "box": [1, 2, 30, 40], "ground_truth": "nowhere"},
     "ground_truth", "no mask PNGs"),
    ({"source": "{moving}", "box": [1, 2, 30, 40], "colour": "red"}, "colour",
     "unknown field"),
    ({"source": "{moving}", "box": [1, 2, 30, 40], "name": "a/b"}, "name", "plain folder"),
    ({"source": "{moving}", "box": [1, 2, 30, 40], "output": "foreign"}, "output",
     "no samvideo run.json"),
]


@pytest.mark.parametrize(("row", "field", "reason"), BAD_ROWS,
                         ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(BAD_ROWS)])
def test_a_bad_row_is_one_line_naming_row_field_and_value(tmp_path, row, field, reason):
    out = tmp_path / "out"
    (out / "foreign").mkdir(parents=True)
    (out / "foreign" / "notes.txt").write_text("someone else's")
    row = {k: (str(MOVING) if v == "{moving}" else v) for k, v in row.items()}
    good = {"source": str(MOVING), "box": [39, 129, 90, 171], "name": "good"}
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    result = load(manifest, out)
    assert [c.name for c in result.clips] == ["good"]
    (bad,) = result.bad
    assert (bad.row, bad.line, bad.field) == (2, 2, field)
    line = bad.describe(manifest)
    assert line.startswith(f"clips.jsonl row 2 (line 2): {field} = ")
    assert reason in line and "\n" not in line
    if field in row:
        assert json.dumps(row[field])[:20] in line or str(row[field])[:20] in line


def test_rows_that_clash_and_rows_that_are_not_rows(tmp_path):
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text("\n".join([
        json.dumps({"source": str(MOVING), "box": [39, 129, 90, 171], "name": "a"}),
        "[1, 2, 3]",
        json.dumps({"source": str(MOVING), "box": [39, 129, 90, 171], "output": "a"}),
        json.dumps({"source": str(MOVING), "box": [39, 129, 90, 171], "name": "a",
                    "output": "b"}),
        "{not json",
    ]) + "\n")
    result = load(manifest, tmp_path / "out")
    assert [c.name for c in result.clips] == ["a"]
    assert [(b.row, b.field) for b in result.bad] == [(2, "row"), (3, "output"), (4, "name"),
                                                      (5, "row")]
    assert "row 1 writes there too" in result.bad[1].reason


def test_ground_truth_needs_the_davis_masks(tmp_path):
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(json.dumps({"source": str(MOVING), "box": [39, 129, 90, 171],
                                    "ground_truth": str(SAMPLES / "moving" / "masks")}) + "\n")
    assert not load(manifest, tmp_path / "o").bad
    (bad,) = load(manifest, tmp_path / "o", exports=("video",)).bad
    assert bad.field == "ground_truth" and "keep davis" in bad.reason


@pytest.mark.parametrize(("name", "text", "message"), [
    ("clips.txt", "source\n", "give a .csv or a .jsonl file"),
    ("clips.csv", "source,bxo\nx,y\n", "unknown column 'bxo'"),
    ("clips.csv", "box\n1\n", "no 'source' column"),
    ("clips.jsonl", "\n\n", "has no rows"),
])
def test_a_manifest_that_cannot_be_read_is_refused_whole(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load(path, tmp_path / "out")


def test_a_missing_manifest(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load(tmp_path / "nope.csv", tmp_path / "out")
