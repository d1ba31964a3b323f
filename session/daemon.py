"""The session daemon: the one long-running process that holds a session.

It holds the clock (the holder lock, so at most one daemon per session), serves the
JSON-RPC protocol on a Unix socket in the private state (mode 0600) and optionally on
TCP (loopback by default, bearer token required), pushes events to observers, and
stops itself when the session ends. Clients never lose anything by going away: calls
in flight complete and are recorded. Run as `python -m session.daemon --home H ID`.

Every client is bounded (session.limits): bytes and time of a partial line, requests in
flight, unread output, connections, and on TCP a back-off after a wrong token with at
most a few refusals a minute recorded one by one (the rest counted). Events pushed to a
client are cut to what its role may see (session.visibility).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hmac
import json
import logging
import os
import secrets
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from session import limits as lim
from session import protocol as p
from session import spin, visibility
from session.dispatch import Connection, Dispatcher
from session.layout import EXIT_ALREADY_RUNNING, daemon_files
from session.session import HOLDER_STOPPED, Session
from session.sockets import reachable

log = logging.getLogger("rebench.daemon")

STOP_GRACE_S = 1.0
# After the end, the daemon waits this long at most for its operator clients (the agent
# runner records the agent's last output and its exit through it) to leave.
OPERATOR_GRACE_S = 60.0
# Server-side read buffer of a connection's stream (our own framing holds the lines).
_STREAM_LIMIT = 64 * 1024
# How long the loop keeps polling, without sleeping, after it wrote to a client (REBENCH_POLL_US;
# 0: never): see `PollAfterWrite`.
DEFAULT_POLL_US = 100


class Daemon:
    def __init__(self, home: Path, session_id: str, tcp: tuple[str, int] | None = None) -> None:
        self.home, self.session_id, self.tcp = home, session_id, tcp
        self.token = secrets.token_urlsafe(32)
        self.connections: set[Connection] = set()
        self._background: set[asyncio.Future] = set()
        self._stopping = asyncio.Event()
        self.session: Session | None = None
        self.limits = lim.Limits.from_env()
        self.budget = lim.SharedBudget(self.limits.max_buffered_bytes)
        self.refusals = lim.RefusalLog(self.limits.recorded_refusals_per_minute)
        self._unauthenticated = 0
        self._tell: Callable[[dict[str, Any]], None] = lambda event: None
        self.poll = PollAfterWrite(spin.window_s("REBENCH_POLL_US", DEFAULT_POLL_US))

    async def run(self) -> int:
        lim.keep_big_buffers_returnable()
        self.session = session = await asyncio.to_thread(Session.open, self.home, self.session_id)
        if not session.holding:
            await asyncio.to_thread(session.close)
            log.error("another daemon holds session %s", self.session_id)
            return EXIT_ALREADY_RUNNING
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        loop_thread = threading.get_ident()

        def tell(event: dict[str, Any]) -> None:  # events come from the loop (batched commits) or from threads
            if threading.get_ident() == loop_thread:
                self._broadcast(event)
            else:
                loop.call_soon_threadsafe(self._broadcast, event)

        # Told of events only while a client is subscribed: without one, recording an event builds
        # nothing for the listeners (a cost per event on the hot path).
        self._tell = tell
        session.batch_commits_on_loop(loop)
        self.dispatcher = Dispatcher(session, on_subscribe=self._listen)
        files = daemon_files(session.paths.private)
        # Bound but not listening until the info file is written: a client that finds the socket
        # answering (ensure_daemon) then also finds the tcp address and token.
        servers = [await self._serve_unix(files["socket"])]
        tcp_address = None
        if self.tcp:
            server = await asyncio.start_server(
                lambda r, w: self._connection(r, w, "tcp"),
                self.tcp[0],
                self.tcp[1],
                limit=_STREAM_LIMIT,
                start_serving=False,
            )
            servers.append(server)
            host, port = server.sockets[0].getsockname()[:2]
            tcp_address = f"{host}:{port}"
        self._write_info(files["info"], files["socket"], tcp_address)
        for serving in servers:
            await serving.start_serving()
        log.info(
            "serving session %s on %s%s", session.id, files["socket"], f" and tcp {tcp_address}" if tcp_address else ""
        )
        watcher = asyncio.create_task(self._watch_end())
        await self._stopping.wait()
        watcher.cancel()
        for serving in servers:
            serving.close()
        await self._drain()
        await self._record_suppressed_refusals(force=True)
        ended = (await asyncio.to_thread(session.clock)).ended
        files["info"].unlink(missing_ok=True)
        files["socket"].unlink(missing_ok=True)
        await asyncio.to_thread(session.close, None if ended else HOLDER_STOPPED)
        log.info("stopped (%s)", "session ended" if ended else "signal")
        return 0

    def _held(self) -> Session:
        """The session this daemon holds: opened by `run` before anything asks for it."""
        if self.session is None:
            raise RuntimeError("the daemon has not opened its session yet")
        return self.session

    async def _serve_unix(self, path: Path) -> asyncio.AbstractServer:
        path.unlink(missing_ok=True)  # we hold the session: any socket file here is stale
        old = os.umask(0o177)
        try:
            with reachable(path) as address:
                server = await asyncio.start_unix_server(
                    lambda r, w: self._connection(r, w, "unix"), address, limit=_STREAM_LIMIT, start_serving=False
                )
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self._held().confinement.grant_socket(path)
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
        """Stop once the session has ended, the calls in flight have answered and the operator's
        clients have left (at most OPERATOR_GRACE_S); meanwhile record the counted refusals."""
        session = self._held()
        while True:
            await asyncio.sleep(0.5)
            await self._record_suppressed_refusals()
            state = await asyncio.to_thread(session.clock)
            if state.ended and session.recorder.session()["ended_at"] is not None:
                await self._drain()
                deadline = time.monotonic() + OPERATOR_GRACE_S
                while time.monotonic() < deadline and any(c.role == visibility.OPERATOR for c in self.connections):
                    await asyncio.sleep(0.2)
                await asyncio.sleep(STOP_GRACE_S)
                self._stopping.set()
                return

    async def _drain(self) -> None:
        pending = [t for c in self.connections for t in c.calls_in_flight]
        if pending:
            await asyncio.wait(pending, timeout=600)

    def _listen(self) -> None:
        """A client subscribed: from now on the session tells the daemon of its events."""
        listeners = self._held().listeners
        if self._tell not in listeners:
            listeners.append(self._tell)

    def _broadcast(self, event: dict[str, Any]) -> None:
        """Push an event to each subscriber, as its role may see it."""
        by_role: dict[str, dict[str, Any]] = {}
        for conn in list(self.connections):
            if conn.subscribed:
                if conn.role not in by_role:
                    shown = visibility.event(conn.role, self._held().env, event)
                    by_role[conn.role] = p.notification("notifications/rebench/event", {"event": shown})
                task = asyncio.ensure_future(self._safe_send(conn, by_role[conn.role]))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    @staticmethod
    async def _safe_send(conn: Connection, message: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, OSError):
            await conn.send(message)

    # -- one connection -----------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transport: str) -> None:
        limits = self.limits
        outgoing = _Outgoing(writer, limits.max_outgoing_bytes, self.poll.wrote)

        async def send(message: dict[str, Any]) -> None:
            await outgoing.send(p.encode(message))

        conn = Connection(transport, send, peer_uid=_peer_uid(writer) if transport == "unix" else None)
        peer = writer.get_extra_info("peername")
        if len(self.connections) >= limits.max_connections:
            await self._safe_send(conn, p.error_reply(None, p.SERVER_BUSY, "too many connections; try again later"))
            outgoing.flush()
            writer.transport.abort()
            return
        lines = lim.LineReader(reader, self.budget, limits)
        requests: set[asyncio.Future[Any]] = set()
        slots = _Slots(limits.max_in_flight)
        self.connections.add(conn)
        try:
            if transport == "tcp" and not await self._authenticate(lines, conn, peer):
                return
            while True:
                try:
                    line = lines.buffered_line()
                    if line is None:
                        line = await lines.next_line()
                except lim.LineTooLong:
                    error = p.error_reply(None, p.MESSAGE_TOO_LARGE, f"message over {limits.max_line_bytes} bytes")
                    await self._safe_send(conn, error)
                    continue
                except lim.LineStalled:
                    why = f"a message did not end within {limits.partial_line_s:g} s; closing"
                    await self._safe_send(conn, p.error_reply(None, p.PARSE_ERROR, why))
                    return
                except lim.BufferFull:
                    await self._safe_send(conn, p.error_reply(None, p.SERVER_BUSY, "the server is busy; closing"))
                    return
                if line is None:
                    break
                if not line.strip():
                    continue
                if not slots.free:  # at most max_in_flight answered at once: reading waits
                    await slots.freed()
                slots.free -= 1
                outgoing.answering += 1
                answered = self._take(line, conn, outgoing)
                requests.add(answered)
                answered.add_done_callback(functools.partial(_done_answering, requests, slots, outgoing))
            if requests:
                await asyncio.wait(requests)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            self.connections.discard(conn)
            if conn.subscribed and not any(c.subscribed for c in self.connections):
                with contextlib.suppress(ValueError):
                    self._held().listeners.remove(self._tell)
            held = len(lines._buf)
            lines.release()
            with contextlib.suppress(Exception):
                outgoing.flush()
                writer.close()
            if held > 2**20:
                lim.release_free_memory()

    def _take(self, line: bytes, conn: Connection, outgoing: _Outgoing) -> asyncio.Future[Any]:
        """Start answering one line; the returned future is done once it is answered. A read or
        `record_event` is answered from its commit's callback (no task: fewer turns of the loop
        before the answer goes out); anything else by a task of its own."""
        if len(line) > _FAST_LINE_BYTES:  # a large message is parsed in its own task, as any other
            return asyncio.ensure_future(self._answer_line(line, conn))
        try:
            message = p.parse(line)
        except p.ProtocolError as exc:
            return self._answered_now(conn, outgoing, exc.reply())
        if message is None:
            return self._answered_now(conn, outgoing, None)
        try:
            at_commit = self.dispatcher.answer_at_commit(message, conn)
        except Exception as exc:  # as `handle_message` answers a method that fails
            log.exception("method %s failed", message.method)
            error = p.error_reply(message.id, p.INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")
            return self._answered_now(conn, outgoing, error)
        if at_commit is None:
            return asyncio.ensure_future(self._answer(message, conn))
        written, reply_of = at_commit
        committed = written if isinstance(written, asyncio.Future) else asyncio.wrap_future(written)

        def answer(done: asyncio.Future[int]) -> None:
            outgoing.send_now(p.encode(reply_of(done)))

        committed.add_done_callback(answer)
        return committed

    @staticmethod
    def _answered_now(conn: Connection, outgoing: _Outgoing, reply: dict[str, Any] | None) -> asyncio.Future[Any]:
        if reply is not None:
            outgoing.send_now(p.encode(reply))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def _answer_line(self, line: bytes, conn: Connection) -> None:
        reply = await self.dispatcher.handle_line(line, conn)
        if reply is not None:
            await self._safe_send(conn, reply)

    async def _answer(self, message: p.Message, conn: Connection) -> None:
        reply = await self.dispatcher.handle_message(message, conn)
        if reply is not None:
            await self._safe_send(conn, reply)

    async def _authenticate(self, lines: lim.LineReader, conn: Connection, peer: Any) -> bool:
        """TCP clients must first send `authenticate` with the daemon's token.

        A wrong token is answered only after a back-off; at most a few connections may be
        unauthenticated at once; a few refusals a minute are recorded one by one, the rest
        counted and recorded together.
        """
        if self._unauthenticated >= self.limits.max_unauthenticated:
            await self._refused(conn, peer, "too many unauthenticated connections", None)
            return False
        self._unauthenticated += 1
        try:
            try:
                line = await asyncio.wait_for(lines.next_line(), timeout=10)
                message = p.parse(line) if line else None
            except (TimeoutError, lim.LineTooLong, lim.LineStalled, lim.BufferFull, p.ProtocolError):
                message = None
            token = (message.params.get("token") if message and message.method == "authenticate" else None) or ""
            ok = isinstance(token, str) and hmac.compare_digest(token.encode(), self.token.encode())
            if ok and message is not None:  # a token comes only with a message
                if message.id is not None:
                    await self._safe_send(conn, p.result_reply(message.id, {"authenticated": True}))
                return True
            await asyncio.sleep(self.limits.auth_backoff_s)
            reason = "missing" if not token else "wrong"
            await self._refused(conn, peer, reason, message.id if message is not None else None)
            return False
        finally:
            self._unauthenticated -= 1

    async def _refused(self, conn: Connection, peer: Any, reason: str, request_id: Any) -> None:
        await self._safe_send(
            conn, p.error_reply(request_id, p.UNAUTHORIZED, "unauthorized: send `authenticate` with the token")
        )
        if self.refusals.admit():
            await asyncio.to_thread(
                self._held().record, "security", "auth_refused", client="tcp", args={"peer": str(peer), "token": reason}
            )

    async def _record_suppressed_refusals(self, *, force: bool = False) -> None:
        count = self.refusals.take_suppressed(force=force)
        if count:
            await asyncio.to_thread(
                self._held().record, "security", "auth_refused_counted", client="tcp", args={"count": count}
            )


_FAST_LINE_BYTES = 2**16  # reads and record_event are small; a larger line is answered by a task


class _Outgoing:
    """What goes to one client: each message whole, in the order sent. While the client has
    several requests being answered, the messages of one turn of the loop go in one write (one
    system call for a pipelining client's many answers); the answer to a lone request goes at
    once (no turn of the loop in between)."""

    def __init__(self, writer: asyncio.StreamWriter, limit: int, wrote: Callable[[], None] = lambda: None) -> None:
        self.writer, self.limit, self.wrote = writer, limit, wrote
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.answering = 0  # the client's requests taken and not answered yet

    def answered(self) -> None:
        self.answering -= 1

    async def send(self, data: bytes) -> None:
        self.send_now(data)
        if self.writer.transport.is_closing():
            raise ConnectionError("the client went away, or does not read what it is sent")
        await self.writer.drain()  # waits only while the client is behind (or raises if it is gone)

    def send_now(self, data: bytes) -> None:
        """Queue `data` without waiting (from a callback): a client that does not read what it is
        sent is let go once it holds the limit."""
        transport = self.writer.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() + self.pending_bytes + len(data) > self.limit:
            transport.abort()
            return
        if not self.pending:
            if self.answering <= 1:
                self.writer.write(data)
                self.wrote()
                return
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending.append(data)
        self.pending_bytes += len(data)

    def flush(self) -> None:
        """Write what is pending now (also before the connection is closed)."""
        if not self.pending:
            return
        data = b"".join(self.pending)
        self.pending.clear()
        self.pending_bytes = 0
        if not self.writer.transport.is_closing():
            self.writer.write(data)
            self.wrote()


class PollAfterWrite:
    """After the daemon writes to a client, its loop keeps polling its sockets without sleeping
    for a moment (`window_s`, 0.1 ms by default): a client that sends its next request within it
    (one waiting for each answer, as an agent calling tools does) is read at once, without a
    wake-up of the daemon. On this 2-CPU virtual machine such a wake-up lands on the other CPU and
    costs 0.04-0.08 ms: `status` took 0.34 ms without the poll and 0.28 ms with it, a waiting
    client's `record_event` 0.21 ms and 0.15 ms (bench/protocol_latency.py). The price is bounded:
    at most `window_s` of one core after each write, none while nothing is written. A waiting
    client does the same for its answer (session/spin.py)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = max(0.0, window_s)
        self._until = 0.0
        self._polling = False

    def wrote(self) -> None:
        if not self.window_s:
            return
        self._until = time.monotonic() + self.window_s
        if not self._polling:
            self._polling = True
            asyncio.get_running_loop().call_soon(self._turn)

    def _turn(self) -> None:
        """One more turn of the loop without sleeping (a ready callback makes it poll with a zero
        timeout), until the window has passed."""
        if time.monotonic() < self._until:
            asyncio.get_running_loop().call_soon(self._turn)
        else:
            self._polling = False


class _Slots:
    """How many more of one connection's requests may be answered at once (its reading waits
    while none is free): a counter, not a semaphore, since nearly every request finds one."""

    def __init__(self, limit: int) -> None:
        self.free = limit
        self._waiter: asyncio.Future[None] | None = None

    async def freed(self) -> None:
        while not self.free:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    def release(self) -> None:
        self.free += 1
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def _done_answering(
    requests: set[asyncio.Future[Any]], slots: _Slots, outgoing: _Outgoing, answered: asyncio.Future[Any]
) -> None:
    requests.discard(answered)
    slots.release()
    outgoing.answered()


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    """The account of a Unix-socket peer (SO_PEERCRED)."""
    sock = writer.get_extra_info("socket")
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


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
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(Daemon(args.home, args.session, tcp).run())


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed: calls answer sooner (bench/protocol_latency.py: `status`
    1.1-1.25x faster than on asyncio's own loop). `REBENCH_EVENT_LOOP=asyncio` keeps the standard
    loop (the bench's baseline, or a fallback)."""
    if os.environ.get("REBENCH_EVENT_LOOP") == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    raise SystemExit(main())
