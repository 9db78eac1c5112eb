"""Handing items from a producer thread to a consumer through a bounded queue, where
either side may be asked to stop: the decode thread of
:class:`~samvideo.video.reader.VideoReader` and the encoder look-ahead of the frame
loop both work this way."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable

POLL_S = 0.1  # how often a waiting thread looks at its stop


def put(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put ``item`` into ``q``, waiting while it is full, until ``stop`` is set; returns
    whether it was put."""
    while not stop.is_set():
        try:
            q.put(item, timeout=POLL_S)
            return True
        except queue.Full:
            continue
    return False


def drain(q: queue.Queue, thread: threading.Thread, seconds: float,
          busy: Callable[[], bool] = lambda: True) -> None:
    """Empty ``q`` (the producer may be blocked putting into it) while ``thread`` lives
    and ``busy()`` says it is worth waiting for, at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while thread.is_alive() and busy() and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            q.get(timeout=0.05)
