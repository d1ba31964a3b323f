"""What the SSH tests share: a real server on a free port, a participant's key, real clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from rebench_tui.ssh import Server, ServerConfig, current_session
from session.client import DaemonClient, ensure_daemon

OPENSSH = shutil.which("sftp") is not None and shutil.which("scp") is not None and shutil.which("ssh") is not None
needs_openssh = pytest.mark.skipif(not OPENSSH, reason="needs OpenSSH's ssh, sftp and scp clients")


@dataclass
class Running:
    port: int
    config: ServerConfig
    keys: dict[str, asyncssh.SSHKey]
    key_files: dict[str, Path]
    server: Server

    def connect(self, user: str, **kwargs) -> asyncssh.connection._ConnectionContextManager:
        return asyncssh.connect(
            "127.0.0.1", self.port, username=user, client_keys=[self.keys[user]], known_hosts=None, **kwargs
        )

    def openssh(self, user: str) -> list[str]:
        """Options for OpenSSH's clients: this user's key, no config, no host key check."""
        return [
            "-F", "/dev/null", "-i", str(self.key_files[user]), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
        ]  # fmt: skip


@contextlib.asynccontextmanager
async def ssh_server(
    home: Path, keys_dir: Path, users: tuple[str, ...] = ("alice",), **config
) -> AsyncIterator[Running]:
    """A real server for `users` (each with a fresh key, also written to a file for OpenSSH)."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    authorized = keys_dir / "authorized"
    authorized.mkdir(exist_ok=True)
    keys, files = {}, {}
    for user in users:
        keys[user] = asyncssh.generate_private_key("ssh-ed25519")
        (authorized / user).write_text(keys[user].export_public_key().decode())
        files[user] = keys_dir / f"{user}_key"
        keys[user].write_private_key(str(files[user]))
        os.chmod(files[user], 0o600)
    settings = {"env_id": "selftest", "budget_s": 3600, **config}
    server_config = ServerConfig(home=home, authorized_dir=authorized, host_key=keys_dir / "host_key", **settings)
    server = Server(server_config)
    acceptor = await server.start("127.0.0.1", 0)
    try:
        yield Running(acceptor.sockets[0].getsockname()[1], server_config, keys, files, server)
    finally:
        acceptor.close()
        await acceptor.wait_closed()
        await server.wait_handlers()


def start_clock(config: ServerConfig, user: str) -> str:
    """The user's session (made as a first connection would), with its clock running."""
    session_id = current_session(config, user)
    with DaemonClient(ensure_daemon(config.home, session_id)) as client:
        client.initialize("test")
        client.call_tool("resume", {"reason": "test"})
    return session_id


def pause_clock(config: ServerConfig, session_id: str) -> None:
    with DaemonClient(ensure_daemon(config.home, session_id)) as client:
        client.initialize("test")
        client.call_tool("pause", {"reason": "test"})


def end_session(config: ServerConfig, session_id: str) -> None:
    with DaemonClient(ensure_daemon(config.home, session_id)) as client:
        client.initialize("test")
        result = client.call_tool("submit", {})
        assert not result.get("isError"), result


async def read_until(stream: asyncssh.SSHReader, needle: bytes, timeout: float = 30.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} never came; last bytes: {seen[-400:]!r}"
        try:
            chunk = await asyncio.wait_for(stream.read(65536), timeout=left)
        except TimeoutError:
            continue
        assert chunk, f"stream ended before {needle!r}; last bytes: {seen[-400:]!r}"
        seen += chunk
    return seen


async def run_client(*argv: str, stdin: bytes | None = None, timeout: float = 60) -> tuple[int, str, str]:
    """A real client program, without blocking the loop the server runs on."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def wait_for(predicate, timeout: float = 30.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:g} s"
        await asyncio.sleep(0.05)
