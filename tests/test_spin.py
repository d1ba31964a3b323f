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


def _send_later(sock: socket.socket, delay_s: float, data: bytes) -> threading.Thread:
    def send() -> None:
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


def _cpu_while_waiting(lines: SpinningLines, theirs: socket.socket, delay_s: float) -> float:
    sender = _send_later(theirs, delay_s, b"answer\n")
    before = time.thread_time()
    assert lines.readline() == b"answer\n"
    used = time.thread_time() - before
    sender.join()
    return used


def test_a_long_wait_sleeps_after_the_window() -> None:
    """An answer that takes a second costs the waiting client about its window of CPU, not a
    second of it (fails on a poll that never gives up)."""
    ours, theirs = _pair()
    used = _cpu_while_waiting(SpinningLines(ours, 0.0005), theirs, 1.0)
    assert used < 0.1, f"waiting 1 s for an answer used {used:.3f} s of CPU"
    ours.close()
    theirs.close()


def test_within_the_window_it_polls_rather_than_sleeps() -> None:
    """An answer 50 ms away with a 2 s window is polled for: the waiting thread is on the CPU
    (fails where the client sleeps at once, and so needs a wake-up for every answer)."""
    ours, theirs = _pair()
    used = _cpu_while_waiting(SpinningLines(ours, 2.0), theirs, 0.05)
    assert used > 0.01, f"waiting 50 ms within the window used only {used:.4f} s of CPU: it slept"
    ours.close()
    theirs.close()


def test_it_polls_only_while_polling_pays() -> None:
    """A poll that ran out makes the next wait sleep at once; an answer that then comes within the
    window makes the wait after it poll again (clients of a busy daemon leave the CPUs to it)."""
    ours, theirs = _pair()
    lines = SpinningLines(ours, 0.2)
    assert _cpu_while_waiting(lines, theirs, 0.4) > 0.05  # polled for its window, then slept
    assert _cpu_while_waiting(lines, theirs, 0.4) < 0.02  # slept at once; that answer took longer than the window
    assert _cpu_while_waiting(lines, theirs, 0.1) < 0.02  # the last poll ran out: slept at once
    assert _cpu_while_waiting(lines, theirs, 0.1) > 0.02  # that answer came within the window: polls again
    ours.close()
    theirs.close()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_a_process_on_one_cpu_never_polls() -> None:
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
    assert _cpu_while_waiting(lines, theirs, 0.1) < 0.02
    ours.close()
    theirs.close()


def test_a_socket_with_a_timeout_never_polls_and_still_times_out() -> None:
    ours, theirs = _pair(timeout=0.2)
    lines = SpinningLines(ours, 2.0)
    before = time.thread_time()
    with pytest.raises(TimeoutError):
        lines.readline()
    assert time.thread_time() - before < 0.1
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
