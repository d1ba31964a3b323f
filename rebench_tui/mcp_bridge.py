"""`rebench-tui mcp SESSION`: MCP over stdio, relayed line by line to the session daemon.

Any MCP-capable agent harness can launch this as a stdio server. Nothing but protocol
lines may reach stdout, so diagnostics go to stderr.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from pathlib import Path

from session.sockets import reachable


def relay_stdio(socket_path: Path) -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with reachable(socket_path) as address:
        sock.connect(address)
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # guard the protocol stream against stray prints

    def daemon_to_stdout() -> None:
        with sock.makefile("rb") as replies:
            for line in replies:
                stdout.write(line)
                stdout.flush()

    pump = threading.Thread(target=daemon_to_stdout, daemon=True)
    pump.start()
    try:
        for line in sys.stdin.buffer:
            sock.sendall(line if line.endswith(b"\n") else line + b"\n")
    except (BrokenPipeError, ConnectionError) as exc:
        print(f"rebench-tui mcp: the daemon went away: {exc}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)  # no more requests: the daemon answers what is in flight, then closes
    pump.join()
    sock.close()
    return 0
