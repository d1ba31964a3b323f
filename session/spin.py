"""Polling a socket without sleeping for a bounded moment before waiting on it.

Both ends of the daemon's socket do it: the daemon after it writes an answer (`PollAfterWrite`),
a waiting client after it sends a request (`SpinningLines`). On this 2-CPU virtual machine,
waking a process that sleeps on the other CPU costs 0.04-0.08 ms per message, more than a
`status` call costs the daemon to answer; a process that is polling when the message comes
needs no wake-up. The price is bounded: at most the window of one core per message, nothing
while nothing is exchanged. The module imports nothing of either side, so thin clients may use it.
"""

from __future__ import annotations

import os
import socket
import time

MAX_WINDOW_US = 100_000


def window_s(variable: str, default_us: int) -> float:
    """The environment's `variable` (microseconds, 0-100000; 0 turns polling off) in seconds; a
    value that is not such a number is logged and the default used, so a typo never stops a
    daemon or a client from starting."""
    setting = os.environ.get(variable)
    if setting is None:
        return default_us / 1e6
    try:
        microseconds = float(setting)
    except ValueError:
        microseconds = -1.0
    if not 0 <= microseconds <= MAX_WINDOW_US:
        import logging  # only here: a client's start-up imports no logging (~5 ms)

        log = logging.getLogger("rebench.spin")
        log.warning("%s=%r is not 0-%d microseconds; using %d", variable, setting, MAX_WINDOW_US, default_us)
        return default_us / 1e6
    return microseconds / 1e6


def several_cpus() -> bool:
    """Whether this process may run on more than one CPU: polling while the process that is to
    answer needs the same CPU only delays the answer."""
    try:
        return len(os.sched_getaffinity(0)) > 1
    except (AttributeError, OSError):
        return (os.cpu_count() or 1) > 1


class SpinningLines:
    """Newline-delimited messages from a blocking socket. When no whole message is buffered, it
    first polls the socket without sleeping (`MSG_DONTWAIT`, yielding the CPU between tries) for
    up to `spin_s`, then waits as usual.

    It polls only while polling pays: after a poll that ran out it waits at once, until an answer
    comes within the window again (so clients of a busy daemon, whose answers take longer, leave
    the CPUs to it), and never in a process confined to one CPU. A socket with a timeout is only
    ever waited on (a timed receive polls first)."""

    CHUNK = 1 << 16

    def __init__(self, sock: socket.socket, spin_s: float) -> None:
        self._sock = sock
        self.spin_s = spin_s if spin_s > 0 and several_cpus() else 0.0
        self._spin_next = self.spin_s > 0  # whether the next wait starts with a poll
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer known to hold no newline
        self._ended = False

    def readline(self) -> bytes:
        """The next line with its newline; at the end of the stream what is left without one, then b""."""
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                self._scanned = 0
                return line
            if self._ended:
                rest = bytes(self._buffer)
                self._buffer.clear()
                self._scanned = 0
                return rest
            self._scanned = len(self._buffer)
            chunk = self._receive()
            if chunk:
                self._buffer += chunk
            else:
                self._ended = True

    def _receive(self) -> bytes:
        if not self.spin_s or self._sock.gettimeout() is not None:
            return self._sock.recv(self.CHUNK)
        if self._spin_next:
            deadline = time.perf_counter() + self.spin_s
            while True:
                try:
                    return self._sock.recv(self.CHUNK, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    if time.perf_counter() >= deadline:
                        break
                    os.sched_yield()
            self._spin_next = False
            return self._sock.recv(self.CHUNK)
        began = time.perf_counter()
        chunk = self._sock.recv(self.CHUNK)
        self._spin_next = time.perf_counter() - began < self.spin_s
        return chunk
