"""The session daemon: the one long-running process that holds a session.

It holds the clock (the holder lock, so at most one daemon per session), serves the
JSON-RPC protocol on a Unix socket in the private state (mode 0600) and optionally on
TCP (loopback by default, bearer token required), pushes events to observers, and
stops itself when the session ends. Clients never lose anything by going away: calls
in flight complete and are recorded. Run as `python -m session.daemon --home H ID`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

from session import protocol as p
from session.dispatch import Connection, Dispatcher
from session.session import HOLDER_STOPPED, Session
from session.sockets import reachable

log = logging.getLogger("rebench.daemon")

EXIT_ALREADY_RUNNING = 3
STOP_GRACE_S = 1.0


def daemon_files(private: Path) -> dict[str, Path]:
    return {
        "socket": private / "daemon.sock",
        "info": private / "daemon.json",
        "log": private / "daemon.log",
    }


class Daemon:
    def __init__(self, home: Path, session_id: str, tcp: tuple[str, int] | None = None) -> None:
        self.home, self.session_id, self.tcp = home, session_id, tcp
        self.token = secrets.token_urlsafe(32)
        self.connections: set[Connection] = set()
        self._background: set[asyncio.Future] = set()
        self._stopping = asyncio.Event()
        self.session: Session | None = None

    async def run(self) -> int:
        self.session = session = await asyncio.to_thread(Session.open, self.home, self.session_id)
        if not session.holding:
            await asyncio.to_thread(session.close)
            log.error("another daemon holds session %s", self.session_id)
            return EXIT_ALREADY_RUNNING
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        session.listeners.append(lambda event: loop.call_soon_threadsafe(self._broadcast, event))
        self.dispatcher = Dispatcher(session)
        files = daemon_files(session.paths.private)
        servers = [await self._serve_unix(files["socket"])]
        tcp_address = None
        if self.tcp:
            server = await asyncio.start_server(
                lambda r, w: self._connection(r, w, "tcp"), self.tcp[0], self.tcp[1], limit=p.MAX_MESSAGE_BYTES
            )
            servers.append(server)
            host, port = server.sockets[0].getsockname()[:2]
            tcp_address = f"{host}:{port}"
        self._write_info(files["info"], files["socket"], tcp_address)
        log.info(
            "serving session %s on %s%s", session.id, files["socket"], f" and tcp {tcp_address}" if tcp_address else ""
        )
        watcher = asyncio.create_task(self._watch_end())
        await self._stopping.wait()
        watcher.cancel()
        for server in servers:
            server.close()
        await self._drain()
        ended = (await asyncio.to_thread(session.clock)).ended
        files["info"].unlink(missing_ok=True)
        files["socket"].unlink(missing_ok=True)
        await asyncio.to_thread(session.close, None if ended else HOLDER_STOPPED)
        log.info("stopped (%s)", "session ended" if ended else "signal")
        return 0

    async def _serve_unix(self, path: Path) -> asyncio.AbstractServer:
        path.unlink(missing_ok=True)  # we hold the session: any socket file here is stale
        old = os.umask(0o177)
        try:
            with reachable(path) as address:
                server = await asyncio.start_unix_server(
                    lambda r, w: self._connection(r, w, "unix"), address, limit=p.MAX_MESSAGE_BYTES
                )
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.session.confinement.grant_socket(path)
        return server

    def _write_info(self, path: Path, socket_path: Path, tcp_address: str | None) -> None:
        info = {"pid": os.getpid(), "session": self.session_id, "socket": str(socket_path), "tcp": tcp_address}
        if tcp_address:
            info["token"] = self.token
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
        os.replace(path.with_suffix(".tmp"), path)

    async def _watch_end(self) -> None:
        """Stop once the session has ended and the calls in flight have answered."""
        while True:
            await asyncio.sleep(0.5)
            state = await asyncio.to_thread(self.session.clock)
            if state.ended and self.session.recorder.session()["ended_at"] is not None:
                await self._drain()
                await asyncio.sleep(STOP_GRACE_S)
                self._stopping.set()
                return

    async def _drain(self) -> None:
        pending = [t for c in self.connections for t in c.calls_in_flight]
        if pending:
            await asyncio.wait(pending, timeout=600)

    def _broadcast(self, event: dict[str, Any]) -> None:
        message = p.notification("notifications/rebench/event", {"event": event})
        for conn in list(self.connections):
            if conn.subscribed:
                task = asyncio.ensure_future(self._safe_send(conn, message))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    @staticmethod
    async def _safe_send(conn: Connection, message: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.send(message)

    # -- one connection -----------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transport: str) -> None:
        write_lock = asyncio.Lock()

        async def send(message: dict[str, Any]) -> None:
            async with write_lock:
                writer.write(p.encode(message))
                await writer.drain()

        conn = Connection(transport, send)
        peer = writer.get_extra_info("peername")
        requests: set[asyncio.Task] = set()
        self.connections.add(conn)
        try:
            if transport == "tcp" and not await self._authenticate(reader, conn, peer):
                return
            while (line := await self._read_line(reader, conn)) is not None:
                if not line.strip():
                    continue
                task = asyncio.create_task(self._answer(line, conn))
                requests.add(task)
                task.add_done_callback(requests.discard)
            if requests:
                await asyncio.wait(requests)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.connections.discard(conn)
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(self, line: bytes, conn: Connection) -> None:
        reply = await self.dispatcher.handle_line(line, conn)
        if reply is not None:
            await self._safe_send(conn, reply)

    async def _read_line(self, reader: asyncio.StreamReader, conn: Connection) -> bytes | None:
        """The next line, or None at the end; an oversized line is answered and skipped."""
        while True:
            try:
                return await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                return exc.partial if exc.partial.strip() else None
            except asyncio.LimitOverrunError as exc:
                await self._skip_oversized(reader, exc.consumed)
                error = p.error_reply(None, p.MESSAGE_TOO_LARGE, f"message over {p.MAX_MESSAGE_BYTES} bytes")
                await self._safe_send(conn, error)

    @staticmethod
    async def _skip_oversized(reader: asyncio.StreamReader, consumed: int) -> None:
        await reader.readexactly(consumed)
        while True:
            try:
                await reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as exc:
                await reader.readexactly(exc.consumed)

    async def _authenticate(self, reader: asyncio.StreamReader, conn: Connection, peer: Any) -> bool:
        """TCP clients must first send `authenticate` with the daemon's token."""
        try:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), timeout=10)
            message = p.parse(line)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, p.ProtocolError):
            message = None
        token = (message.params.get("token") if message and message.method == "authenticate" else None) or ""
        ok = isinstance(token, str) and hmac.compare_digest(token.encode(), self.token.encode())
        if message is not None and message.id is not None:
            reply = (
                p.result_reply(message.id, {"authenticated": True})
                if ok
                else p.error_reply(message.id, p.UNAUTHORIZED, "unauthorized: send `authenticate` with the token")
            )
            await self._safe_send(conn, reply)
        elif not ok:
            await self._safe_send(conn, p.error_reply(None, p.UNAUTHORIZED, "unauthorized"))
        if not ok:
            reason = "missing" if not token else "wrong"
            await asyncio.to_thread(
                self.session.record, "security", "auth_refused", client="tcp", args={"peer": str(peer), "token": reason}
            )
        return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m session.daemon")
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--tcp", help="also serve TCP on HOST:PORT (port 0 picks one); loopback unless told")
    parser.add_argument("session")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    tcp = None
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        tcp = (host or "127.0.0.1", int(port))
    return asyncio.run(Daemon(args.home, args.session, tcp).run())


if __name__ == "__main__":
    raise SystemExit(main())
