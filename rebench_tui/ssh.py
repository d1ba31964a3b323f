"""`rebench-tui serve`: SSH access for experts (the TUI on a PTY) and agents (`mcp`).

Public-key login only: `AUTHORIZED_DIR/<username>` holds that participant's keys.
Each interactive connection gets its own pseudo-terminal running the TUI as a child
process (Textual binds to its own process's terminal); `ssh … mcp` serves the MCP
bridge; `ssh -t … shell` opens a plain recorded shell (`ssh_shell.py`) and the `sftp`
subsystem serves the workspace (`ssh_sftp.py`), so `scp`, `sftp` and editors' remote
modes work. The session daemon owns the session, so a dropped connection loses nothing:
the TUI process ends, and the next connection attaches to the same session.

Everything refused is refused with a message and logged (`HOME/ssh-server.log`) with the
user and, once known, the key's fingerprint: unknown keys and users, password and other
login methods, port forwarding (either way), agent and X11 forwarding, other subsystems,
other commands, and paths outside the workspace. Connects, disconnects, shells (casts) and
file transfers are recorded in the session through its daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import inspect
import json
import logging
import os
import re
import signal
import termios
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import asyncssh
from asyncssh.constants import EXTENDED_DATA_STDERR

from environments.task_standard.env import FamilyTask
from rebench_tui.cast_stream import stream_cast
from rebench_tui.shell_window import shell_environment
from rebench_tui.ssh_sftp import serve_sftp
from rebench_tui.ssh_shell import run_shell
from session.catalog import latest_open_session
from session.client import AsyncDaemonClient, EventRecorder, ensure_daemon
from session.front_ends import python_argv
from session.isolation import Confinement
from session.participant import participant_environment
from session.session import Session

log = logging.getLogger("rebench.ssh")
USERNAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")


@dataclass
class ServerConfig:
    home: Path
    authorized_dir: Path
    host_key: Path
    env_id: str = "prefix_sum"
    # A METR Task Standard family's task instead of `env_id` (what `serve --task-family` gives):
    # each new session sets it up afresh (`install`, `start`) from the family's folder.
    task_family: FamilyTask | None = None
    budget_s: float | None = None  # None: the environment's own budget
    scale: str = "cpu"
    pause_when_disconnected: bool = False
    tui_args: tuple[str, ...] = ()
    isolation: bool = True
    profile: dict[str, Any] = field(default_factory=dict)
    asyncssh_log_level: int = logging.WARNING  # what of asyncssh's own log reaches the console

    @property
    def log_path(self) -> Path:
        return self.home / "ssh-server.log"


def load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    """The host key is made on first start and kept, so clients' known_hosts stay valid."""
    if path.exists():
        return asyncssh.read_private_key(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.export_private_key())
    return key


class ConnectionLog:
    """Every connection attempt, refused or not, as JSON lines beside the sessions (and one
    line each on the console, through the `rebench.ssh` logger)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, event: str, **fields: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"time": time.time(), "event": event, **fields}, default=str)
        with open(self.path, "a") as f:
            f.write(line + "\n")
        log.info("%s", _summary(event, fields))


def _summary(event: str, fields: dict[str, Any]) -> str:
    """One console line for a connection log entry: who, then what."""
    who = fields.get("user") or "?"
    if fields.get("fingerprint"):
        who += f" ({fields['fingerprint']})"
    detail = " ".join(
        f"{key}={value}" for key, value in fields.items() if key not in ("user", "fingerprint") and value is not None
    )
    return f"{event}: {who} {detail}".rstrip()


class ParticipantAuth(asyncssh.SSHServer):
    """Public keys from `authorized_dir/<username>`; nothing else, and every refusal logged."""

    def __init__(
        self, config: ServerConfig, events: ConnectionLog, live: dict[int, ParticipantAuth], handler: Handler
    ) -> None:
        self.config, self.events, self.live, self.handler = config, events, live, handler
        self.peer = ""
        self.user: str | None = None  # the user it tries to log in as, accepted or not
        self.fingerprint: str | None = None
        self.conn_number: int | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        host, port = conn.get_extra_info("peername")[:2]
        self.peer = f"{host}:{port}"
        # asyncssh names the connection "conn=N" in its own log lines (agent and X11 refusals)
        prefix = conn.logger.process("", {})[0]
        if match := re.search(r"conn=(\d+)", prefix):
            self.conn_number = int(match.group(1))
            self.live[self.conn_number] = self

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn_number is not None:
            self.live.pop(self.conn_number, None)
        self.events.write(
            "closed", peer=self.peer, user=self.user, fingerprint=self.fingerprint,
            authenticated=self.fingerprint is not None, error=exc,
        )  # fmt: skip

    def refused(self, what: str, **fields: Any) -> None:
        self.events.write("refused", what=what, user=self.user, fingerprint=self.fingerprint, peer=self.peer, **fields)

    def begin_auth(self, username: str) -> bool:
        # Called with each new user name a client tries; a password or any other method the
        # server does not offer is then refused by asyncssh, and the attempt stays logged here.
        self.user = username
        self.events.write("login_attempt", user=username, peer=self.peer)
        return True

    def validate_password(self, username: str, password: str) -> bool:
        self.refused("password", method="password")
        return False

    # Port forwarding (-L, -R, unix sockets) and tunnels: refused and logged.
    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        self.refused("port forwarding (direct-tcpip)", destination=f"{dest_host}:{dest_port}")
        return False

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        self.refused("remote port forwarding (tcpip-forward)", listen=f"{listen_host}:{listen_port}")
        return False

    def unix_connection_requested(self, dest_path: str) -> bool:
        self.refused("unix socket forwarding", destination=dest_path)
        return False

    def unix_server_requested(self, listen_path: str) -> bool:
        self.refused("remote unix socket forwarding", listen=listen_path)
        return False

    def tun_requested(self, unit: int | None) -> bool:
        self.refused("tun forwarding", unit=unit)
        return False

    def tap_requested(self, unit: int | None) -> bool:
        self.refused("tap forwarding", unit=unit)
        return False

    def session_requested(self) -> _ParticipantSession:
        return _ParticipantSession(self.handler)

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        fingerprint = key.get_fingerprint()
        path = self.config.authorized_dir / username
        allowed = False
        if USERNAME.match(username) and path.is_file():
            with contextlib.suppress(OSError, asyncssh.KeyImportError):
                authorized = asyncssh.read_authorized_keys(str(path))
                allowed = authorized.validate(key, "", "") is not None  # client host and address unused
        self.events.write("auth", peer=self.peer, user=username, fingerprint=fingerprint, accepted=allowed)
        if allowed:
            self.fingerprint = fingerprint
        return allowed


Handler = Callable[[asyncssh.SSHServerProcess], Awaitable[None]]


class _ParticipantSession(asyncssh.SSHServerProcess):
    """One session channel, handed to `Server.handle` whatever it asks for, the `sftp` subsystem
    included: asyncssh would serve sftp itself, in this process as root (or refuse it without a
    word when it has no SFTP server); here the handler starts a confined one, or refuses with a
    message whatever it does not offer."""

    def __init__(self, handler: Handler) -> None:
        super().__init__(handler, None, 0, False)

    def subsystem_requested(self, subsystem: str) -> bool:
        return True

    def session_started(self) -> None:
        if self.channel.get_subsystem() != "sftp":
            super().session_started()
            return
        # What the base class does for every other request, which it keeps from sftp.
        stdin: asyncssh.SSHReader[bytes] = asyncssh.SSHReader(self, self.channel)
        stdout: asyncssh.SSHWriter[bytes] = asyncssh.SSHWriter(self, self.channel)
        stderr: asyncssh.SSHWriter[bytes] = asyncssh.SSHWriter(self, self.channel, EXTENDED_DATA_STDERR)
        handler = self._start_process(stdin, stdout, stderr)
        if inspect.isawaitable(handler):  # always, with our handler; as asyncssh checks
            self.channel.get_connection().create_task(handler, stdin.logger)


class _ForwardingRefusals(logging.Handler):
    """asyncssh refuses agent and X11 forwarding itself and only says so in its own log (at INFO):
    those lines are turned into refusals in the connection log, with the user and key."""

    _REFUSALS = {
        "Agent forwarding request denied": "agent forwarding",
        "X11 forwarding request denied": "X11 forwarding",
    }

    def __init__(self, live: dict[int, ParticipantAuth]) -> None:
        super().__init__(logging.INFO)
        self.live = live

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            return
        what = next((w for key, w in self._REFUSALS.items() if key in text), None)
        match = re.search(r"conn=(\d+)", text)
        if what and match and (auth := self.live.get(int(match.group(1)))) is not None:
            auth.refused(what)


def current_session(config: ServerConfig, participant: str) -> str:
    """The participant's latest unfinished session, or a new one with the server's settings."""
    locks = config.home / ".ssh-session-locks"
    locks.mkdir(parents=True, exist_ok=True)
    # Two first connections of one participant must not make two sessions: one at a time decides.
    # One lock per participant: setting up a session can take minutes (a family's `install` and
    # `start`), and nobody else's reconnection may wait for it.
    name = hashlib.sha256(participant.encode()).hexdigest()[:32]
    with open(locks / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = latest_open_session(config.home, participant)
        if found:
            return found
        environment = config.task_family.environment(config.home) if config.task_family else None
        with Session.create(
            config.home,
            environment.id if environment else config.env_id,
            environment=environment,
            budget_s=config.budget_s,
            scale=config.scale,
            participant=participant,
            hold=False,
            isolation=config.isolation,
            profile=config.profile,
        ) as s:
            return s.id


class Server:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.events = ConnectionLog(config.log_path)
        self.active: dict[str, int] = {}  # participant -> open connections
        self.live: dict[int, ParticipantAuth] = {}  # asyncssh's connection number -> its auth
        self.handlers: set[asyncio.Task] = set()  # the channels being served

    async def start(self, host: str, port: int) -> asyncssh.SSHAcceptor:
        key = self.host_key = load_or_create_host_key(self.config.host_key)
        _route_asyncssh_log(self.config.asyncssh_log_level).addHandler(_ForwardingRefusals(self.live))
        return await asyncssh.create_server(
            lambda: ParticipantAuth(self.config, self.events, self.live, self.handle),
            host,
            port,
            server_host_keys=[key],
            encoding=None,
            line_editor=False,
            keepalive_interval=30,
            keepalive_count_max=3,
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
        )

    async def wait_handlers(self, timeout: float = 30.0) -> None:
        """Until every channel being served has ended (after the listener closed: a clean stop)."""
        if self.handlers:
            await asyncio.wait(set(self.handlers), timeout=timeout)

    async def handle(self, process: asyncssh.SSHServerProcess) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.handlers.add(task)
            task.add_done_callback(self.handlers.discard)
        user = process.get_extra_info("username")
        host, port = process.get_extra_info("peername")[:2]
        peer = f"{host}:{port}"
        try:
            session_id = await asyncio.to_thread(current_session, self.config, user)
        except Exception as exc:
            self._refuse(process, f"could not open your session: {exc}")
            return
        command = process.command
        owner = process.get_extra_info("connection").get_owner()
        fingerprint = getattr(owner, "fingerprint", None)
        subsystem = process.subsystem
        self.events.write(
            "open", user=user, peer=peer, command=command, subsystem=subsystem, session=session_id,
            fingerprint=fingerprint,
        )  # fmt: skip
        await self._record(
            session_id, "connect", user=user, peer=peer, command=command, fingerprint=fingerprint,
            **({"subsystem": subsystem} if subsystem else {}),
        )  # fmt: skip
        self.active[user] = self.active.get(user, 0) + 1
        if self.config.pause_when_disconnected and self.active[user] == 1:
            await self._clock(session_id, "resume", "reconnected", only_if_paused_for="disconnected")
        try:
            if process.subsystem == "sftp":
                await self._sftp(process, session_id)
            elif process.subsystem is not None:
                self._refuse(process, f"the {process.subsystem} subsystem is not offered here", what="subsystem")
            elif command == "mcp":
                await self._mcp(process, session_id)
            elif command == "shell":
                await self._shell(process, session_id)
            elif command is not None:
                self._refuse(
                    process,
                    f"only `mcp` and `shell` can be run here, not {command!r}"
                    + (" (scp: use its default sftp mode, not -O)" if command.startswith("scp ") else ""),
                    what="command",
                )
            elif process.get_terminal_type() is None:
                self._refuse(process, "this server runs an interactive TUI: connect with a terminal (ssh -t)")
            else:
                await self._tui(process, session_id)
        except (asyncssh.Error, ConnectionError, BrokenPipeError) as exc:  # the client went away meanwhile
            log.info("connection of %s ended: %s", user, exc)
        except Exception as exc:  # our fault: the operator gets the traceback, the client a line
            log.exception("serving %s (%s) failed", user, command or process.subsystem or "tui")
            with contextlib.suppress(Exception):
                self._refuse(process, f"the server failed ({type(exc).__name__}); the operator has the details")
        finally:
            self.active[user] -= 1
            await self._record(session_id, "disconnect", user=user, peer=peer)
            if self.config.pause_when_disconnected and self.active[user] == 0:
                await self._clock(session_id, "pause", "disconnected")

    def _refuse(self, process: asyncssh.SSHServerProcess, message: str, what: str = "session") -> None:
        owner = process.get_extra_info("connection").get_owner()
        self.events.write(
            "refused", what=what, user=process.get_extra_info("username"),
            fingerprint=getattr(owner, "fingerprint", None), reason=message,
        )  # fmt: skip
        process.stderr.write(f"rebench-tui: {message}\r\n".encode())
        process.exit(1)

    async def _operator(self, session_id: str) -> AsyncDaemonClient:
        """A connection to the session's daemon as the operator (the daemon is the only writer)."""
        socket_path = await asyncio.to_thread(ensure_daemon, self.config.home, session_id)
        client = AsyncDaemonClient(socket_path)
        await client.connect()
        await client.initialize("ssh-server", role="operator")
        return client

    async def _record(self, session_id: str, name: str, **fields: Any) -> None:
        try:
            client = await self._operator(session_id)
            try:
                await client.request("rebench/record_event", {"kind": "ssh", "name": name, "args": fields})
            finally:
                await client.close()
        except Exception:
            log.exception("could not record %s", name)

    async def _clock(self, session_id: str, tool: str, reason: str, only_if_paused_for: str | None = None) -> None:
        client = await self._operator(session_id)
        try:
            if only_if_paused_for is not None:
                state = await client.request("rebench/clock")
                if state.get("paused_reason") != only_if_paused_for:
                    return
            await client.call_tool(tool, {"reason": reason})
        finally:
            await client.close()

    def _child_env(self, term: str | None) -> dict[str, str]:
        # COLUMNS and LINES would override the pty's size in the TUI (shutil.get_terminal_size
        # reads them first): the connection's terminal size and resizes must win.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSH_") and k not in ("COLUMNS", "LINES")}
        env.update(REBENCH_HOME=str(self.config.home), COLORTERM="truecolor")
        if term:
            env["TERM"] = term
        return env

    async def _seat(self, session_id: str) -> tuple[Confinement, Path]:
        """The session's confinement and workspace, with its daemon running. The daemon is started
        first, as the harness: a confined process could not start it."""
        await asyncio.to_thread(ensure_daemon, self.config.home, session_id)

        def read() -> tuple[Confinement, Path]:
            with Session.open(self.config.home, session_id, hold=False) as s:
                return s.confinement, s.workspace

        return await asyncio.to_thread(read)

    async def _confined(self, session_id: str, argv: list[str], env: dict[str, str]) -> list[str]:
        """The participant's TUI and MCP bridge run under the session's confinement (its account,
        cgroups and network namespace), so everything they start is confined too."""
        confinement, workspace = await self._seat(session_id)
        env.update(confinement.environment("participant"))
        # The front group: not frozen while paused (the participant must be able to resume).
        return confinement.wrap(argv, "participant", group="front", cwd=workspace)

    async def _refused_unless_running(self, process: asyncssh.SSHServerProcess, session_id: str, what: str) -> bool:
        """Work (a shell, file transfers) only while the clock runs, as the TUI's shell: else refused."""
        client = await self._operator(session_id)
        try:
            state = await client.request("rebench/clock")
        finally:
            await client.close()
        if state.get("running"):
            return False
        if state.get("ended"):
            why = f"the session has ended ({state.get('end_reason')})"
        elif not state.get("started"):
            why = "the session has not started: start the clock in the TUI (ssh without a command), key p"
        else:
            why = f"the clock is paused ({state.get('paused_reason')}): resume it in the TUI first"
        self._refuse(process, f"no {what} now: {why}", what=what)
        return True

    async def _until_ended(self, session_id: str, every_s: float = 2.0) -> str:
        """Returns once the session has ended (how it ended, in words): shells and transfers stop then,
        also where no work group is killed for them (without root)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                client = await self._operator(session_id)
                try:
                    state = await client.request("rebench/clock")
                finally:
                    await client.close()
            except Exception as exc:  # a daemon restarting: ask again
                log.debug("clock of %s unknown: %s", session_id, exc)
                continue
            if state.get("ended"):
                return f"the session has ended ({state.get('end_reason')})"

    async def _sftp(self, process: asyncssh.SSHServerProcess, session_id: str) -> None:
        if await self._refused_unless_running(process, session_id, "sftp"):
            return
        user = process.get_extra_info("username")
        owner = process.get_extra_info("connection").get_owner()
        confinement, workspace = await self._seat(session_id)
        recorder = EventRecorder(self.config.home, session_id, "ssh-server")

        async def record(name: str, args: dict[str, Any]) -> None:
            if name != "refused":  # a refusal has its own line
                log.info("sftp: %s %s %s", user, name, " ".join(f"{k}={v}" for k, v in args.items()))
            await asyncio.to_thread(recorder.record, "sftp", name, args={"user": user, **args})

        def refused(entry: dict[str, Any]) -> None:
            self.events.write(
                "refused", what="sftp path", user=user, fingerprint=getattr(owner, "fingerprint", None), **entry
            )

        env = participant_environment(confinement.environment("participant"))
        ended = asyncio.create_task(self._until_ended(session_id))
        try:
            status = await serve_sftp(
                process, workspace=workspace, confinement=confinement, env=env, record=record, refused=refused,
                ended=ended,
            )  # fmt: skip
        finally:
            ended.cancel()
            await asyncio.to_thread(recorder.close)
        process.exit(status)
        await _finish(process, asyncio.create_task(process.wait_closed()))

    async def _shell(self, process: asyncssh.SSHServerProcess, session_id: str) -> None:
        term = process.get_terminal_type()
        if term is None:
            self._refuse(process, "a shell needs a terminal: connect with ssh -t … shell", what="shell")
            return
        if await self._refused_unless_running(process, session_id, "shell"):
            return
        confinement, workspace = await self._seat(session_id)
        # What the workspace's shells get too (the session, the home, an editor, a short prompt).
        env = {**shell_environment(self.config.home, session_id), "TERM": term}
        env["COLORTERM"] = "truecolor"
        ended = asyncio.create_task(self._until_ended(session_id))
        open_cast = partial(stream_cast, self.config.home, session_id, "ssh-server", auto_flush=False, role="operator")
        try:
            status = await run_shell(
                process, workspace=workspace, confinement=confinement, env=env, open_cast=open_cast, ended=ended
            )
        finally:
            ended.cancel()
        process.exit(status)
        await _finish(process, asyncio.create_task(process.wait_closed()))

    async def _tui(self, process: asyncssh.SSHServerProcess, session_id: str) -> None:
        master, slave = os.openpty()
        cols, rows = process.term_size[:2]
        fcntl.ioctl(master, termios.TIOCSWINSZ, _winsize(cols or 80, rows or 24))
        env = self._child_env(process.get_terminal_type())
        argv = await self._confined(
            session_id, python_argv("rebench_tui.cli", "attach", session_id, *self.config.tui_args), env
        )
        child = await asyncio.create_subprocess_exec(
            *argv,
            stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True, preexec_fn=_controlling_tty, env=env,
        )  # fmt: skip
        os.close(slave)
        redirected = False
        try:
            # asyncssh owns (and closes) what it is given: one descriptor each way, or it closes
            # the same one twice (the `Bad file descriptor` traceback on every disconnect).
            await process.redirect(stdin=master, stdout=os.dup(master))
            redirected = True
            waiter = asyncio.create_task(child.wait())
            closed = asyncio.create_task(process.wait_closed())
            await asyncio.wait({waiter, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if child.returncode is None:  # the connection dropped: end the TUI, keep the session
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGHUP)
                try:
                    await asyncio.wait_for(child.wait(), 5)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(child.pid, signal.SIGKILL)
                    await child.wait()
            if not redirected:
                os.close(master)
        process.exit(child.returncode or 0)
        if redirected:
            await _finish(process, closed)

    async def _mcp(self, process: asyncssh.SSHServerProcess, session_id: str) -> None:
        env = self._child_env(None)
        argv = await self._confined(session_id, python_argv("rebench_tui.cli", "mcp", session_id), env)
        child = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env,
        )  # fmt: skip
        await process.redirect(stdin=child.stdin, stdout=child.stdout, stderr=child.stderr)
        process.exit(await child.wait())
        await _finish(process, asyncio.create_task(process.wait_closed()))


async def _finish(process: asyncssh.SSHServerProcess, closed: asyncio.Task) -> None:
    """Let asyncssh drain its redirections after exit, so none of its cleanup is left unawaited.

    Its redirect queues register their cleanup with the process, which only runs it in
    `wait_closed`; a peer that never closes its side cannot hold the handler beyond a few seconds.
    """
    try:
        await asyncio.wait_for(closed, 5)
    except (TimeoutError, OSError, asyncssh.Error):
        process.close()


def _winsize(cols: int, rows: int) -> bytes:
    import struct

    return struct.pack("HHHH", rows, cols, 0, 0)


def _controlling_tty() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class _Relay(logging.Handler):
    """Passes asyncssh's records from a level on to the root logger's handlers (the console)."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger().handle(record)


def _route_asyncssh_log(console_level: int) -> logging.Logger:
    """asyncssh's log: INFO and up kept for the refusals it alone sees, only `console_level` and up
    shown (its INFO lines, several per connection, would flood the operator's console)."""
    asyncssh_log = logging.getLogger("asyncssh")
    asyncssh_log.setLevel(min(asyncssh_log.level or logging.INFO, logging.INFO, console_level))
    asyncssh_log.propagate = False
    relay = next((h for h in asyncssh_log.handlers if isinstance(h, _Relay)), None)
    if relay is None:
        relay = _Relay()
        asyncssh_log.addHandler(relay)
    relay.setLevel(console_level)
    return asyncssh_log


def configure_logging(verbose: bool = False) -> int:
    """The server's console: our own lines at INFO (DEBUG with --verbose), asyncssh's from WARNING
    (INFO with --verbose). Returns the level for asyncssh's lines."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    return logging.INFO if verbose else logging.WARNING


async def serve(config: ServerConfig, host: str, port: int) -> None:
    server = Server(config)
    acceptor = await server.start(host, port)
    bound = acceptor.sockets[0].getsockname()[:2]
    key = server.host_key
    print(f"rebench-tui ssh server on {bound[0]}:{bound[1]} (keys in {config.authorized_dir}/<user>)", flush=True)
    print(f"host key {key.get_fingerprint()} ({key.get_algorithm()}, {config.host_key})", flush=True)
    await acceptor.wait_closed()
