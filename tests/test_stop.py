"""The one way to stop a run: set by the caller, or by SIGINT / SIGTERM."""

from __future__ import annotations

import os
import signal
import threading

from samvideo.stop import Stop


def test_the_first_reason_is_kept():
    stop = Stop()
    assert not stop.is_set() and stop.reason is None and not stop.wait(0.01)
    stop.set("window closed")
    stop.set("SIGINT")
    assert stop.is_set() and stop.reason == "window closed" and stop.wait(0)


def test_a_signal_sets_it_a_second_one_hurries_never_raises_and_the_handlers_come_back():
    """Issue 15 item 1: a second signal used to raise KeyboardInterrupt wherever the code
    was (closing the outputs too); now it only asks the run to hurry."""
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    stop = Stop()
    with stop.on_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.is_set() and stop.reason == "SIGTERM" and not stop.hurried
        for _ in range(3):  # a user mashing Ctrl-C
            os.kill(os.getpid(), signal.SIGINT)
        assert stop.hurried and stop.reason == "SIGTERM" and stop.requests == 4
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_off_the_main_thread_signals_are_left_alone():
    before = signal.getsignal(signal.SIGINT)
    seen = []

    def worker():
        with Stop().on_signals():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [before]
