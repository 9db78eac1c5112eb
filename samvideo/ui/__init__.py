"""A local browser page to pick objects, watch the tracking and take the masks.

``samvideo ui`` serves it; in Python::

    from samvideo.segmenters import GrabCutSegmenter
    from samvideo.ui import UiConfig, UiState, bind_socket, create_app, serve

    state = UiState(UiConfig(root=Path("."), workdir=Path("ui_work")), GrabCutSegmenter())
    serve(create_app(state), bind_socket("127.0.0.1", 8765))
"""

from __future__ import annotations

from samvideo.ui.server import bind_socket, check_host, create_app, is_loopback, serve, url_of
from samvideo.ui.session import UiConfig, UiState

__all__ = [
    "UiConfig",
    "UiState",
    "bind_socket",
    "check_host",
    "create_app",
    "is_loopback",
    "serve",
    "url_of",
]
