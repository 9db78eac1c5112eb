"""The one way to stop a run: a :class:`Stop` that the caller sets (the Python API when
its loop is left, the browser page's Stop button, a preview window's ``q``) or that a
signal sets (:meth:`Stop.on_signals`, the command line). A run that sees it set ends
cleanly: every output closed and readable, ``run.json`` saying what happened.

A second request (a second Ctrl-C) only asks the run to :meth:`~Stop.hurry`: stop
waiting for work in flight (an encoder batch) and close what is open. Nothing ever
raises in the middle of closing the outputs, so no finished frame is thrown away.
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
        self._hurry = threading.Event()
        #: why the run was asked to stop (None until :meth:`set`)
        self.reason: str | None = None
        #: how many times it was asked (signals included)
        self.requests = 0

    def set(self, reason: str = "interrupted") -> None:
        """Ask the run to stop; the first reason given is kept."""
        if self.reason is None:
            self.reason = reason
        self.requests += 1
        self._event.set()

    def hurry(self, reason: str = "asked again") -> None:
        """Ask the run to stop without waiting for work in flight (it still closes every
        output and keeps every finished frame)."""
        self.set(reason)
        self._hurry.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    @property
    def hurried(self) -> bool:
        """Whether :meth:`hurry` was called."""
        return self._hurry.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set or ``timeout`` seconds pass; True when set."""
        return self._event.wait(timeout)

    @contextlib.contextmanager
    def on_signals(self, *, then_ignore: bool = False) -> Iterator[Stop]:
        """In the main thread, the first SIGINT or SIGTERM sets this stop (the run ends
        after the current frame, outputs closed); any later one makes it :meth:`hurry`.
        No signal raises while the run closes its outputs. On leaving, the previous
        handlers come back, unless ``then_ignore`` and the stop was set: then SIGINT and
        SIGTERM stay ignored (a program about to exit keeps the run's exit status
        however often the user presses Ctrl-C). Elsewhere (a worker thread) it does
        nothing: signals only reach the main thread."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, frame: Any) -> None:
            name = signal.Signals(signum).name
            if self.is_set():
                self.hurry(name)
            else:
                self.set(name)

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, old in previous.items():
                if then_ignore and self.is_set():
                    old = signal.SIG_IGN
                signal.signal(sig, old if old is not None else signal.SIG_DFL)
