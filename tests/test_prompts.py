from __future__ import annotations

import json

import pytest

from samvideo.prompts import (
    ObjectPrompt,
    fit_to_frame,
    load_prompts_file,
    parse_box,
    parse_point,
    prompts_from_args,
)


def test_parse_box_and_point():
    assert parse_box("1,2,30,40") == (1, 2, 30, 40)
    assert parse_box(" 1.5, 2, 30 ,40") == (1.5, 2, 30, 40)
    assert parse_point("3,4") == (3, 4)


@pytest.mark.parametrize(
    ("text", "match"),
    [("1,2,3", "not 4 numbers"), ("a,b,c,d", "not 4 numbers"), ("30,2,1,40", "reversed"),
     ("1,2,1,40", "empty"), ("1,2,nan,4", "not 4 numbers")],
)
def test_bad_boxes(text, match):
    with pytest.raises(ValueError, match=match):
        parse_box(text)


def test_points_belong_to_the_last_box():
    items = [("box", "0,0,10,10"), ("point", "5,5"), ("box", "20,20,40,40"),
             ("point", "30,30"), ("neg_point", "21,21")]
    p1, p2 = prompts_from_args(items)
    assert p1.points == ((5, 5),) and p1.neg_points == ()
    assert p2.points == ((30, 30),) and p2.neg_points == ((21, 21),)
    # one box: points before it still belong to object 1
    (only,) = prompts_from_args([("point", "5,5"), ("box", "0,0,10,10")])
    assert only.points == ((5, 5),)


def test_prompts_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"objects": [
        {"id": 1, "frame": 0, "box": [1, 2, 30, 40], "points": [[5, 6]]},
        {"id": 2, "frame": 7, "box": [50, 50, 60, 70]},
    ]}))
    a, b = load_prompts_file(path)
    assert a == ObjectPrompt(1, (1, 2, 30, 40), ((5, 6),), (), 0)
    assert b.frame_index == 7 and b.object_id == 2


@pytest.mark.parametrize(
    ("content", "match"),
    [("{", "not valid JSON"), ('{"objects": []}', "non-empty list"),
     ('{"objects": [{"id": 0, "box": [1,2,3,4]}]}', r"objects\[0\].id"),
     ('{"objects": [{"id": 1, "box": [1,2,3]}]}', r"objects\[0\].box"),
     ('{"objects": [{"id": 1, "frame": -1, "box": [1,2,3,4]}]}', r"objects\[0\].frame"),
     ('{"objects": [{"id": 1}]}', "needs a 'box'"),
     ('{"objects": [{"id": 1, "box": [1,2,3,4], "colour": 3}]}', "unknown field"),
     ('{"objects": [{"id": 1, "box": [1,2,3,4], "points": [[1]]}]}', r"points\[0\]")],
)
def test_bad_prompts_files_name_the_field(tmp_path, content, match):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_prompts_file(path)


def test_fit_to_frame_clips_or_refuses():
    p, note = fit_to_frame(ObjectPrompt(1, (-10, 5, 50, 300)), 100, 200)
    assert p.box == (0, 5, 50, 200) and "clipped" in note
    with pytest.raises(ValueError, match="outside the 100x200 frame"):
        fit_to_frame(ObjectPrompt(1, (150, 5, 180, 30)), 100, 200)
    with pytest.raises(ValueError, match="point 150,5"):
        fit_to_frame(ObjectPrompt(1, (0, 0, 10, 10), ((150, 5),)), 100, 200)
