"""The protocol client every front end uses: the CLI, the MCP bridge, the agent runner.

`ensure_daemon` starts a session's daemon on demand and reuses a running one; a daemon
that died is simply started again (it recovers the clock itself). `DaemonClient` is a
small synchronous JSON-RPC client over the Unix socket.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from session import protocol as p
from session.layout import EXIT_ALREADY_RUNNING, daemon_files, session_paths
from session.sockets import reachable
from session.spin import SpinningLines, window_s

if TYPE_CHECKING:
    import asyncio

START_TIMEOUT_S = 30.0
# How long a waiting client polls for its answer without sleeping (REBENCH_CLIENT_SPIN_US; 0:
# never): see session/spin.py. A `status` is answered in ~0.2 ms, a `record_event` in ~0.15 ms.
DEFAULT_CLIENT_SPIN_US = 500


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (JSON-RPC {code})")
        self.code, self.message, self.data = code, message, data


class DaemonUnavailable(RuntimeError):
    pass


class DaemonGone(ConnectionError):
    """The daemon went away during a call (it was stopped or killed): say so in one line."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "the session daemon went away during the call"
            + (f" ({detail})" if detail else "")
            + "; the call may or may not have been carried out: check with `status`"
        )


class DaemonClient:
    def __init__(self, socket_path: Path, *, timeout_s: float | None = None, spin_s: float | None = None) -> None:
        """`timeout_s`: each send and receive at most (None: wait as long as it takes); `spin_s`: how
        long a receive polls before it sleeps (None: REBENCH_CLIENT_SPIN_US or the default; only
        without a timeout)."""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout_s)
        with reachable(Path(socket_path)) as address:
            self.sock.connect(address)
        if spin_s is None:
            spin_s = window_s("REBENCH_CLIENT_SPIN_US", DEFAULT_CLIENT_SPIN_US)
        self._lines = SpinningLines(self.sock, spin_s)
        self._ids = itertools.count(1)
        self.notifications: list[dict[str, Any]] = []
        self.on_notification: Callable[[dict[str, Any]], None] | None = None

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.sock.sendall(p.encode_request(message))
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise DaemonGone(type(exc).__name__) from None

    def receive(self) -> dict[str, Any]:
        try:
            line = self._lines.readline()
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise DaemonGone(type(exc).__name__) from None
        if not line:
            raise DaemonGone("it closed the connection")
        try:
            return p.decode_reply(line)
        except ValueError:
            raise DaemonGone("it sent half a message") from None

    def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        request_id = next(self._ids)
        self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        while True:
            message = self.receive()
            if "id" not in message or message.get("method"):
                self.notifications.append(message)
                if self.on_notification:
                    self.on_notification(message)
                continue
            if message["id"] != request_id:
                continue
            if "error" in message:
                err = message["error"]
                raise RpcError(err.get("code", 0), err.get("message", ""), err.get("data"))
            return message["result"]

    def initialize(self, name: str = "rebench-tui", role: str = "participant") -> dict[str, Any]:
        result = self.request("initialize", p.initialize_params(name, role))
        self.send(p.INITIALIZED)
        return result

    def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("tools/call", {"name": name, "arguments": arguments or {}})


def _connectable(path: Path) -> bool:
    try:
        with DaemonClient(path, timeout_s=5) as client:
            client.request("ping")
        return True
    except (OSError, ConnectionError, RpcError, ValueError):
        return False


def ensure_daemon(home: Path, session_id: str, *, tcp: str | None = None, timeout_s: float = START_TIMEOUT_S) -> Path:
    """The socket of the session's daemon, starting the daemon if none answers."""
    paths = session_paths(home, session_id)
    if not paths.database.exists():
        raise DaemonUnavailable(f"no session {session_id!r} under {home}")
    files = daemon_files(paths.private)
    if _connectable(files["socket"]):
        return files["socket"]
    argv = [sys.executable, "-m", "session.daemon", "--home", str(home), session_id]
    if tcp:
        argv += ["--tcp", tcp]
    with open(os.open(files["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    # Reap it when it ends, so a long-lived caller (the TUI, the agent runner) keeps no zombie.
    threading.Thread(target=proc.wait, name="daemon-reaper", daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _connectable(files["socket"]):
            return files["socket"]
        code = proc.poll()
        if code is not None and code != EXIT_ALREADY_RUNNING:
            tail = files["log"].read_text(errors="replace")[-2000:]
            raise DaemonUnavailable(f"the session daemon exited with code {code}:\n{tail}")
        time.sleep(0.05)
    raise DaemonUnavailable(f"the session daemon did not answer within {timeout_s:g} s (log: {files['log']})")


def daemon_info(home: Path, session_id: str) -> dict[str, Any] | None:
    path = daemon_files(session_paths(home, session_id).private)["info"]
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class AsyncDaemonClient:
    """The same protocol for asyncio front ends (the TUI): concurrent requests, pushed events."""

    def __init__(self, socket_path: Path, on_notification: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.socket_path = Path(socket_path)
        self.on_notification = on_notification
        self._ids = itertools.count(1)
        self._pending: dict[int, Any] = {}
        self._reader_task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        import asyncio

        with reachable(self.socket_path) as address:
            reader, self._writer = await asyncio.open_unix_connection(address, limit=2**24)
        self._reader_task = asyncio.create_task(self._read(reader))

    async def _read(self, reader) -> None:
        try:
            while line := await reader.readline():
                message = p.decode_reply(line)
                request_id = message.get("id")
                if "method" in message or request_id not in self._pending:
                    if self.on_notification:
                        self.on_notification(message)
                    continue
                future = self._pending.pop(request_id)
                if future.done():
                    continue
                if "error" in message:
                    err = message["error"]
                    future.set_exception(RpcError(err.get("code", 0), err.get("message", ""), err.get("data")))
                else:
                    future.set_result(message["result"])
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the daemon closed the connection"))
            self._pending.clear()

    async def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        import asyncio

        if self._writer is None:
            raise ConnectionError("not connected")
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}
        self._writer.write(json.dumps(message).encode() + b"\n")
        await self._writer.drain()
        return await future

    async def initialize(self, name: str = "rebench-tui", role: str = "participant") -> dict[str, Any]:
        result = await self.request("initialize", p.initialize_params(name, role))
        if self._writer is None:  # closed while the reply was awaited
            raise ConnectionError("not connected")
        self._writer.write(p.encode(p.INITIALIZED))
        return result

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.request("tools/call", {"name": name, "arguments": arguments or {}})

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._reader_task is not None:
            self._reader_task.cancel()


class EventRecorder:
    """Records events through the session's daemon (`rebench/record_event`), as the operator.

    For the harness's own processes (the agent runner): the daemon is the session's only
    writer, so these events reach live observers like every other. Thread-safe; a daemon
    that went away is started again (it recovers the clock itself) and the event is sent again.
    """

    def __init__(self, home: Path, session_id: str, name: str) -> None:
        self.home, self.session_id, self.name = home, session_id, name
        self._lock = threading.Lock()
        self._client: DaemonClient | None = None

    def _connect(self) -> DaemonClient:
        client = DaemonClient(ensure_daemon(self.home, self.session_id))
        client.initialize(self.name, role="operator")
        return client

    def record(
        self, kind: str, name: str, *, args: dict[str, Any] | None = None, result: dict[str, Any] | None = None
    ) -> int:
        params = {"kind": kind, "name": name, "args": args, "result": result}
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._client is None:
                        self._client = self._connect()
                    return self._client.request("rebench/record_event", params)["id"]
                except (DaemonGone, OSError):
                    self._drop()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self._client is not None:
            with contextlib.suppress(OSError):
                self._client.close()
            self._client = None

    def close(self) -> None:
        with self._lock:
            self._drop()
