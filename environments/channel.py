"""A message link between an interactive judge and the participant's part of a scoring.

One JSON object per line over a Unix socket pair the harness made, with file descriptors
(shared memory) passed alongside (SCM_RIGHTS). Everything the participant's side sends is
untrusted: a line is capped, and a message that is not a JSON object is an error.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

MAX_LINE = 64 * 1024


class ChannelError(RuntimeError):
    """The other side went away, timed out or sent garbage."""


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""
        self._fds: list[int] = []

    def send(self, message: dict[str, Any], fds: list[int] | None = None) -> None:
        data = (json.dumps(message) + "\n").encode()
        try:
            if fds:
                socket.send_fds(self.sock, [data], fds)
            else:
                self.sock.sendall(data)
        except OSError as exc:
            raise ChannelError(f"the other side went away ({exc})") from None

    def recv(self, timeout_s: float | None = None) -> tuple[dict[str, Any], list[int]]:
        """The next message and the descriptors that came with it; ChannelError on EOF, timeout or garbage."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE:
                raise ChannelError(f"a message longer than {MAX_LINE} bytes")
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ChannelError("timed out waiting for the other side")
                self.sock.settimeout(left)
            else:
                self.sock.settimeout(None)
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.sock, MAX_LINE, 4)
            except TimeoutError:
                raise ChannelError("timed out waiting for the other side") from None
            except OSError as exc:
                raise ChannelError(f"the other side went away ({exc})") from None
            if not data:
                raise ChannelError("the other side closed the link")
            self._buffer += data
            self._fds += fds
        line, _, self._buffer = self._buffer.partition(b"\n")
        fds, self._fds = self._fds, []
        try:
            message = json.loads(line)
        except ValueError:
            raise ChannelError("the other side sent a message that is not JSON") from None
        if not isinstance(message, dict):
            raise ChannelError("the other side sent a message that is not an object")
        return message, fds
