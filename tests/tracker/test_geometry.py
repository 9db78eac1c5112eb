"""samvideo.tracker.geometry: the plain geometry of the tracking policy."""

from __future__ import annotations

from samvideo.tracker.geometry import covered, edge_spans, follow_extent, held_edges


def test_edge_spans_name_the_touched_edges_with_depth_and_length():
    assert edge_spans((0.0, 10.0, 12.0, 50.0), 100, 80) == {"left": (12.0, 40.0)}
    assert edge_spans((90.0, 0.0, 100.0, 80.0), 100, 80) == {
        "top": (80.0, 10.0), "right": (10.0, 80.0), "bottom": (80.0, 10.0)}
    assert edge_spans((10.0, 10.0, 20.0, 20.0), 100, 80) == {}


def test_covered_is_the_share_of_a_box_inside_another():
    assert covered((0.0, 0.0, 10.0, 10.0), (5.0, 0.0, 20.0, 10.0)) == 0.5
    assert covered((0.0, 0.0, 10.0, 10.0), (20.0, 20.0, 30.0, 30.0)) == 0.0
    assert covered((0.0, 0.0, 0.0, 10.0), (0.0, 0.0, 10.0, 10.0)) == 0.0


def test_an_edge_held_back_from_where_the_object_moved_it_is_held():
    # moving right by 4 (expected: the last box moved by 4): the right edge stayed (an
    # occluder), the left edge went along
    assert held_edges((44.0, 0.0, 154.0, 30.0), (44.0, 0.0, 150.0, 30.0), (4.0, 0.0)) == {"right"}
    assert held_edges((44.0, 0.0, 154.0, 30.0), (44.0, 0.0, 154.0, 30.0), (4.0, 0.0)) == set()
    assert held_edges((40.0, 15.0, 80.0, 55.0), (40.0, 20.0, 80.0, 55.0), (0.0, -5.0)) == {"top"}
    # standing still while something sweeps over the left side, 3 pixels a frame
    assert held_edges((40.0, 0.0, 150.0, 30.0), (43.0, 0.0, 150.0, 30.0), (0.0, 0.0)) == {"left"}
    # a pixel of jitter is not an occluder
    assert held_edges((40.0, 0.0, 150.0, 30.0), (41.0, 0.0, 149.0, 30.0), (0.5, 0.0)) == set()


def test_the_extent_keeps_held_edges_and_lets_the_others_shrink():
    extent, box = (0.0, 0.0, 100.0, 50.0), (10.0, 0.0, 60.0, 50.0)
    assert follow_extent(extent, box, 0.2) == (2.0, 0.0, 92.0, 50.0)
    assert follow_extent(extent, box, 0.2, frozenset({"right"})) == (2.0, 0.0, 100.0, 50.0)
    assert follow_extent(extent, (-5.0, 0.0, 60.0, 50.0), 0.2) == (-5.0, 0.0, 92.0, 50.0)
