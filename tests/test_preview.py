"""The live preview: MJPEG over HTTP read by a real HTTP client, and --show's checks."""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from samvideo.preview import (
    BOUNDARY,
    MjpegServer,
    WindowPreview,
    check_display,
    parse_address,
)
from samvideo.results import FrameResult, ObjectResult


def solid(rgb: tuple[int, int, int], size=(48, 64)) -> np.ndarray:
    frame = np.zeros((*size, 3), np.uint8)
    frame[:] = rgb
    return frame


def read_part(response: http.client.HTTPResponse) -> np.ndarray:
    """Read one multipart/x-mixed-replace part and decode its JPEG (returned as RGB)."""
    line = response.readline()
    while line in (b"\r\n", b"\n"):
        line = response.readline()
    assert line.strip() == f"--{BOUNDARY}".encode(), line
    headers = {}
    while True:
        line = response.readline().strip()
        if not line:
            break
        key, _, value = line.decode().partition(":")
        headers[key.strip().lower()] = value.strip()
    assert headers["content-type"] == "image/jpeg"
    data = response.read(int(headers["content-length"]))
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None, "not a JPEG"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize(("text", "expected"), [
    ("8765", ("127.0.0.1", 8765)),
    (":0", ("127.0.0.1", 0)),
    ("0.0.0.0:9000", ("0.0.0.0", 9000)),
    ("localhost:80", ("localhost", 80)),
    ("[::1]:8080", ("::1", 8080)),
])
def test_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:http", "127.0.0.1:70000", "-1"])
def test_parse_address_names_the_bad_value(text):
    with pytest.raises(ValueError, match="preview address"):
        parse_address(text)


def test_mjpeg_stream_with_a_real_http_client():
    with MjpegServer("127.0.0.1", 0, quality=95) as server:
        assert server.url == f"http://127.0.0.1:{server.port}/"
        page = urllib.request.urlopen(server.url, timeout=5).read().decode()
        assert 'src="/stream.mjpg"' in page

        server.publish(solid((250, 10, 10)))
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/stream.mjpg")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == (
            f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        first = read_part(response)
        assert first.shape == (48, 64, 3)
        assert np.abs(first.mean(axis=(0, 1)) - (250, 10, 10)).max() < 8

        server.publish(solid((10, 10, 250)))  # the stream moves on to the newest frame
        second = read_part(response)
        assert np.abs(second.mean(axis=(0, 1)) - (10, 10, 250)).max() < 8

        single = urllib.request.urlopen(server.url + "frame.jpg", timeout=5)
        assert single.headers["Content-Type"] == "image/jpeg"
        rgb = cv2.imdecode(np.frombuffer(single.read(), np.uint8), cv2.IMREAD_COLOR)
        assert rgb.shape == (48, 64, 3)

        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(server.url + "nothing", timeout=5)
        assert missing.value.code == 404
    # closing the server ends an open stream instead of leaving the client hanging
    t0 = time.monotonic()
    rest = response.read()
    assert time.monotonic() - t0 < 3
    assert len(rest) < 100_000
    conn.close()


def test_a_frame_result_is_drawn_and_nothing_is_encoded_unwatched():
    calls = []
    image = solid((90, 90, 90), size=(60, 80))
    mask = np.zeros((60, 80), bool)
    mask[10:40, 20:60] = True
    result = FrameResult(3, 0.125, [ObjectResult(3, 0.125, 1, mask, (20, 10, 60, 40), 0.9,
                                                 "tracking")], image)

    def render(item):
        calls.append(item.frame_index)
        from samvideo.preview import render_result

        return render_result(item)

    with MjpegServer("127.0.0.1", 0, render=render) as server:
        for _ in range(5):
            server.publish(result)
        time.sleep(0.3)
        assert calls == []  # nobody watches: no drawing, no JPEG encoding
        data = urllib.request.urlopen(server.url + "frame.jpg", timeout=5).read()
    assert calls == [3]
    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                       cv2.COLOR_BGR2RGB)
    inside = rgb[20:30, 30:50].reshape(-1, 3).mean(axis=0)
    outside = rgb[50:58, 2:10].reshape(-1, 3).mean(axis=0)
    assert np.abs(inside - outside).sum() > 40  # the mask is tinted


def test_frame_jpg_answers_503_before_any_frame():
    with MjpegServer("127.0.0.1", 0) as server:
        # the handler waits up to 5 s for a first frame; closing the server answers at once
        threading.Timer(0.2, server.close).start()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.url + "frame.jpg", timeout=10)
        assert err.value.code == 503


def test_a_busy_port_is_a_clear_error():
    with MjpegServer("127.0.0.1", 0) as first, pytest.raises(
        ValueError, match=f"127.0.0.1:{first.port} cannot be served"
    ):
        MjpegServer("127.0.0.1", first.port)


def test_show_without_a_display_says_what_to_do(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    with pytest.raises(ValueError, match="--show needs a display.*--preview"):
        check_display()
    with pytest.raises(ValueError, match="--show needs a display"):
        WindowPreview()


def test_show_draws_into_a_window_and_q_stops(monkeypatch):
    """The --show window path with OpenCV's HighGUI calls recorded (no display here)."""
    import samvideo.preview as preview

    calls: list[tuple] = []
    keys = iter([-1, ord("q")])
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(preview.cv2, "namedWindow", lambda name, flags: calls.append(("open",)))
    monkeypatch.setattr(preview.cv2, "imshow", lambda name, bgr: calls.append(("show", bgr)))
    monkeypatch.setattr(preview.cv2, "waitKey", lambda ms: next(keys, -1))
    monkeypatch.setattr(preview.cv2, "getWindowProperty", lambda name, prop: 1.0)
    monkeypatch.setattr(preview.cv2, "destroyWindow", lambda name: calls.append(("close",)))
    window = WindowPreview("test")
    window.show(solid((200, 0, 0)))
    assert not window.stop_requested
    window.show(solid((200, 0, 0)))
    assert window.stop_requested
    window.close()
    assert [c[0] for c in calls] == ["open", "show", "show", "close"]
    assert tuple(calls[1][1][0, 0]) == (0, 0, 200)  # BGR at the OpenCV edge


def test_a_watcher_who_leaves_stops_the_encoding():
    calls = []

    def render(item):
        calls.append(item)
        return item

    with MjpegServer("127.0.0.1", 0, render=render) as server:
        server.publish(solid((250, 10, 10)))
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/stream.mjpg")
        read_part(conn.getresponse())
        conn.close()
        time.sleep(1.5)  # the stream notices the hang-up within its 1 s wait
        drawn = len(calls)
        for _ in range(5):
            server.publish(solid((10, 10, 250)))
            time.sleep(0.05)
        assert len(calls) == drawn


def test_a_stalled_watcher_and_a_bad_request_print_nothing_nor_hold_close(capfd):
    noise = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    server = MjpegServer("127.0.0.1", 0, quality=100)
    with socket.create_connection(("127.0.0.1", server.port)) as garbage:
        garbage.sendall(b"\x00 not http\r\n\r\n")
        assert garbage.recv(100).startswith(b"HTTP/1.1 400")
    stalled = socket.create_connection(("127.0.0.1", server.port))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: localhost\r\n\r\n")  # never read
    for i in range(60):  # about 1 MB a frame: the socket's buffers fill up
        server.publish(np.roll(noise, i, axis=1))
        time.sleep(0.03)
    t0 = time.monotonic()
    server.close()
    assert time.monotonic() - t0 < 3
    stalled.close()
    assert capfd.readouterr() == ("", "")


def test_show_without_a_gui_backend_says_what_to_do(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  GUI:  NONE\n")
    with pytest.raises(ValueError, match="--show needs OpenCV with a GUI backend.*--preview"):
        check_display()
