from __future__ import annotations

import pytest

from samvideo.motion import KalmanBoxFilter, StaticBox, make_motion_model
from tests.helpers import square_box


def test_constant_velocity_box_is_predicted():
    kf = KalmanBoxFilter(square_box(0))
    for t in range(1, 15):
        kf.predict()
        kf.update(square_box(t))
    predicted = kf.predict()  # frame 15, never measured
    for got, want in zip(predicted, square_box(15), strict=True):
        assert got == pytest.approx(want, abs=0.5)
    vx, vy = kf.velocity
    assert (vx, vy) == (pytest.approx(4.0, abs=0.1), pytest.approx(2.0, abs=0.1))


def test_coasting_keeps_moving_and_grows_uncertainty():
    kf = KalmanBoxFilter(square_box(0))
    for t in range(1, 10):
        kf.predict()
        kf.update(square_box(t))
    before = kf.uncertainty
    for _ in range(10, 20):  # no measurement: coast
        box = kf.predict()
    assert box[0] == pytest.approx(square_box(19)[0], abs=2.0)
    assert kf.uncertainty > before


def test_size_never_collapses_while_coasting():
    kf = KalmanBoxFilter((0, 0, 40, 40))
    for w in (36, 30, 22, 14, 8):  # shrinking fast
        kf.predict()
        kf.update((0, 0, w, w))
    for _ in range(50):
        x1, y1, x2, y2 = kf.predict()
        assert x2 - x1 >= 1 and y2 - y1 >= 1


def test_static_model_and_factory():
    m = make_motion_model("none", (1, 2, 3, 4))
    assert isinstance(m, StaticBox)
    assert m.predict() == (1, 2, 3, 4)
    m.update((5, 6, 7, 8))
    assert m.predict() == (5, 6, 7, 8)
    with pytest.raises(ValueError, match="'wobbly'"):
        make_motion_model("wobbly", (0, 0, 1, 1))
