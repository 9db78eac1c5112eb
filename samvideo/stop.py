"""The one way to stop a run: a :class:`Stop` that the caller sets (the Python API when
its loop is left, the browser page's Stop button, a preview window's ``q``) or that a
signal sets (:meth:`Stop.on_signals`, the command line). A run that sees it set ends
cleanly: every output closed and readable, ``run.json`` saying what happened.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class Stop:
    """A thread-safe stop request with the reason for it."""

    def __init__(self) -> None:
        self._event = threading.Event()
        #: why the run was asked to stop (None until :meth:`set`)
        self.reason: str | None = None

    def set(self, reason: str = "interrupted") -> None:
        """Ask the run to stop; the first reason given is kept."""
        if self.reason is None:
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set or ``timeout`` seconds pass; True when set."""
        return self._event.wait(timeout)

    @contextlib.contextmanager
    def on_signals(self) -> Iterator[Stop]:
        """In the main thread, the first SIGINT or SIGTERM sets this stop (the run ends
        after the current frame, outputs closed); a second one raises KeyboardInterrupt
        at once. Elsewhere (a worker thread) it does nothing: signals only reach the
        main thread."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, frame: Any) -> None:
            if self.is_set():
                raise KeyboardInterrupt
            self.set(signal.Signals(signum).name)

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old if old is not None else signal.SIG_DFL)
