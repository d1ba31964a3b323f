"""The client's bounded poll for its answers (session/spin.py): real sockets, real threads.

It must read every message exactly as a buffered readline did, poll only for its window (a
client waiting a second for a slow tool must not burn a core), poll at all within it, and
never let a setting stop a client from working."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import pytest

from session.spin import SpinningLines, window_s


def _pair(timeout: float | None = None) -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.settimeout(timeout)
    return ours, theirs


def _send_later(
    sock: socket.socket, delay_s: float, data: bytes, after: threading.Event | None = None
) -> threading.Thread:
    """Send `data` `delay_s` from now, or from `after` (at most 5 s from now)."""

    def send() -> None:
        if after is not None:
            after.wait(5)
        time.sleep(delay_s)
        sock.sendall(data)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


@pytest.mark.parametrize("spin_s", [0.0, 0.0005])
def test_lines_come_whole_however_the_bytes_arrive(spin_s: float) -> None:
    ours, theirs = _pair()
    lines = SpinningLines(ours, spin_s)
    big = b"x" * (3 * SpinningLines.CHUNK + 17)
    theirs.sendall(b'{"a":1}\n{"b":2}\n{"c"')
    assert lines.readline() == b'{"a":1}\n'
    assert lines.readline() == b'{"b":2}\n'
    sender = _send_later(theirs, 0.05, b":3}\n" + big + b"\n")
    assert lines.readline() == b'{"c":3}\n'
    assert lines.readline() == big + b"\n"
    sender.join()
    theirs.sendall(b"half a mess")
    theirs.close()
    assert lines.readline() == b"half a mess"  # the end of the stream: what is left, as readline gives it
    assert lines.readline() == b""
    assert lines.readline() == b""
    ours.close()


class _Yields:
    """When the waiting thread gave up the CPU while polling (`os.sched_yield` is what the poll
    calls between tries). Counting the poll's own calls, rather than the CPU it used, holds on a
    loaded machine: a polling thread that yields to busy neighbours may get almost no CPU at all."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.times: list[float] = []
        self.polled = threading.Event()  # the wait under way has begun to poll
        real = os.sched_yield

        def counted() -> None:
            self.times.append(time.perf_counter())
            self.polled.set()
            real()

        monkeypatch.setattr(os, "sched_yield", counted)

    def while_waiting(
        self, lines: SpinningLines, theirs: socket.socket, delay_s: float, polls: bool = False
    ) -> list[float]:
        """Seconds after the wait began at which it yielded, for an answer sent `delay_s` later;
        `polls`: `delay_s` after it began to poll, as it should (a reader kept off the CPU for
        `delay_s` would otherwise find the answer there and never poll)."""
        self.times.clear()
        self.polled.clear()
        sender = _send_later(theirs, delay_s, b"answer\n", self.polled if polls else None)
        began = time.perf_counter()
        assert lines.readline() == b"answer\n"
        sender.join()
        return [moment - began for moment in self.times]


def test_a_long_wait_sleeps_after_the_window(monkeypatch) -> None:
    """An answer that takes a second is polled for only during the window, then waited on
    asleep: the waiting client does not burn a core (fails on a poll that never gives up)."""
    ours, theirs = _pair()
    yields = _Yields(monkeypatch)
    before = time.thread_time()
    moments = yields.while_waiting(SpinningLines(ours, 0.2), theirs, 1.0, polls=True)
    used = time.thread_time() - before
    assert moments, "it never polled"
    assert max(moments) < 0.2 + 0.3, f"still polling {max(moments):.2f} s into a wait with a 0.2 s window"
    assert used < 0.5, f"waiting 1 s for an answer used {used:.3f} s of CPU"
    ours.close()
    theirs.close()


def test_within_the_window_it_polls_rather_than_sleeps(monkeypatch) -> None:
    """An answer 50 ms away with a 2 s window is polled for (fails where the client sleeps at
    once, and so needs a wake-up for every answer)."""
    ours, theirs = _pair()
    yields = _Yields(monkeypatch)
    polled = yields.while_waiting(SpinningLines(ours, 2.0), theirs, 0.05, polls=True)
    assert polled, "waiting within the window, it slept at once"
    ours.close()
    theirs.close()


def test_it_polls_only_while_polling_pays(monkeypatch) -> None:
    """A poll that ran out makes the next wait sleep at once; an answer that then comes within the
    window makes the wait after it poll again (clients of a busy daemon leave the CPUs to it)."""
    ours, theirs = _pair()
    yields = _Yields(monkeypatch)
    lines = SpinningLines(ours, 1.0)
    assert yields.while_waiting(lines, theirs, 1.5, polls=True)  # polled for its window, then slept
    assert not yields.while_waiting(lines, theirs, 1.5)  # slept at once; that answer took longer than the window
    assert not yields.while_waiting(lines, theirs, 0.05)  # the last poll ran out: slept at once
    assert yields.while_waiting(lines, theirs, 0.05, polls=True)  # that answer came within the window: polls again
    ours.close()
    theirs.close()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_a_process_on_one_cpu_never_polls(monkeypatch) -> None:
    """Polling on the CPU the daemon needs to answer only delays the answer (0.6 ms instead of 0.28
    for `status` when measured)."""
    ours, theirs = _pair()
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(saved)})
    try:
        lines = SpinningLines(ours, 2.0)
    finally:
        os.sched_setaffinity(0, saved)
    assert lines.spin_s == 0
    assert not _Yields(monkeypatch).while_waiting(lines, theirs, 0.1)
    ours.close()
    theirs.close()


def test_a_socket_with_a_timeout_never_polls_and_still_times_out(monkeypatch) -> None:
    ours, theirs = _pair(timeout=0.2)
    lines = SpinningLines(ours, 2.0)
    yields = _Yields(monkeypatch)
    with pytest.raises(TimeoutError):
        lines.readline()
    assert not yields.times
    ours.close()
    theirs.close()


@pytest.mark.parametrize(
    ("setting", "expected_s", "warned"),
    [("0", 0.0, False), ("250", 0.00025, False), ("lots", 0.0005, True), ("-3", 0.0005, True), ("1e9", 0.0005, True)],
)
def test_a_spin_setting_is_read_or_said_to_be_wrong(
    monkeypatch, caplog, setting: str, expected_s: float, warned: bool
) -> None:
    monkeypatch.setenv("REBENCH_CLIENT_SPIN_US", setting)
    with caplog.at_level(logging.WARNING, logger="rebench.spin"):
        assert window_s("REBENCH_CLIENT_SPIN_US", 500) == pytest.approx(expected_s)
    assert ("REBENCH_CLIENT_SPIN_US" in caplog.text) == warned
