"""The `sftp` subsystem: real OpenSSH `sftp` and `scp`, asyncssh's client, and the attacks tried.

Each attack runs twice: through the SSH server (its confined SFTP server process, chrooted into
the workspace when the tests run as root) and against the path checks alone (the same server
class in-process, as it works without root).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import psutil
import pytest
from sshkit import end_session, needs_openssh, run_client, ssh_server, start_clock, wait_for

from rebench_tui.sftp_server import WorkspacePaths, WorkspaceSFTPServer
from session.layout import session_paths
from session.session import Session

SECRET = b"TOP-SECRET-VALUE"


def sftp_events(home: Path, session_id: str) -> list[dict]:
    with Session.open(home, session_id, hold=False) as s:
        return [{"name": e["name"], **e["args"]} for e in s.recorder.events("sftp")]


def sftp_servers() -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if "rebench_tui.sftp_server" in p.cmdline():
                found.append(p)
    return found


async def test_sftp_is_refused_with_a_message_until_the_clock_runs(home: Path, tmp_path: Path) -> None:
    async with ssh_server(home, tmp_path / "keys") as server, server.connect("alice") as conn:
        process = await conn.create_process(subsystem="sftp", encoding=None)
        result = await process.wait(timeout=30)
        assert result.exit_status == 1 and b"has not started" in result.stderr
    log = server.config.log_path.read_text()
    assert '"what": "sftp"' in log and "has not started" in log


@needs_openssh
async def test_openssh_sftp_and_scp_move_files_in_and_out_and_each_transfer_is_recorded(
    home: Path, tmp_path: Path
) -> None:
    async with ssh_server(home, tmp_path / "keys") as server:
        session_id = await asyncio.to_thread(start_clock, server.config, "alice")
        workspace = session_paths(home, session_id).workspace
        local = tmp_path / "local"
        local.mkdir()
        (local / "data.csv").write_bytes(b"a,b\n1,2\n" * 1000)
        (local / "model.bin").write_bytes(os.urandom(300_000))
        target = "alice@127.0.0.1"
        port = str(server.port)

        # scp (OpenSSH 9's scp speaks sftp): in, into a folder, and back out.
        rc, out, err = await run_client(
            "scp", *server.openssh("alice"), "-P", port, str(local / "model.bin"), f"{target}:"
        )
        assert rc == 0, err
        batch = (
            f"mkdir results\nput {local / 'data.csv'} results/data.csv\nls -l results\n"
            f"get results/data.csv {local / 'back.csv'}\nrename results/data.csv results/renamed.csv\npwd\n"
        )
        rc, out, err = await run_client(
            "sftp", *server.openssh("alice"), "-P", port, "-b", "-", target, stdin=batch.encode()
        )
        assert rc == 0, err
        assert f"Remote working directory: {workspace}" in out  # the same path the shell shows
        rc, out, err = await run_client(
            "scp", *server.openssh("alice"), "-P", port, f"{target}:model.bin", str(local / "model.back")
        )
        assert rc == 0, err

        assert (workspace / "model.bin").read_bytes() == (local / "model.bin").read_bytes()
        assert (workspace / "results" / "renamed.csv").read_bytes() == (local / "data.csv").read_bytes()
        assert (local / "back.csv").read_bytes() == (local / "data.csv").read_bytes()
        assert (local / "model.back").read_bytes() == (local / "model.bin").read_bytes()

        # A path outside the workspace: refused, with the reason on the client's screen.
        rc, out, err = await run_client(
            "scp",
            *server.openssh("alice"),
            "-P",
            port,
            str(local / "data.csv"),
            f"{target}:/tmp/escaped-{uuid.uuid4()}",
        )
        assert rc != 0 and "Permission denied" in err, (rc, err)

        def recorded() -> list[dict]:
            return sftp_events(home, session_id)

        await wait_for(lambda: any(e["name"] == "refused" for e in recorded()), what="the refusal's record")
    events = recorded()
    writes = {e["path"]: e for e in events if e["name"] == "write"}
    reads = {e["path"]: e for e in events if e["name"] == "read"}
    assert writes["model.bin"]["bytes_written"] == 300_000 and writes["model.bin"]["size"] == 300_000
    assert writes["results/data.csv"]["bytes_written"] == 8000
    assert reads["results/data.csv"]["bytes_read"] == 8000 and reads["model.bin"]["bytes_read"] == 300_000
    assert {"name": "mkdir", "user": "alice", "path": "results"} in events
    assert any(e["name"] == "rename" and e["to"] == "results/renamed.csv" for e in events)
    assert all(e["user"] == "alice" for e in events)
    refused = [e for e in events if e["name"] == "refused"]
    assert refused and "outside the workspace" in refused[0]["reason"]
    log = server.config.log_path.read_text()
    assert '"what": "sftp path"' in log  # and in the connection log, with the user and key
    assert not sftp_servers(), "an SFTP server process outlived its connection"


# -- the attacks ------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def through_the_ssh_server(home: Path, tmp_path: Path) -> AsyncIterator[tuple[asyncssh.SFTPClient, Path, Path]]:
    """An SFTP client of the real server, its session's workspace, and a secret beside it."""
    async with ssh_server(home, tmp_path / "keys") as server:
        session_id = await asyncio.to_thread(start_clock, server.config, "alice")
        paths = session_paths(home, session_id)
        secret = paths.private / "secret.txt"
        secret.write_bytes(SECRET)
        async with server.connect("alice") as conn, conn.start_sftp_client() as sftp:
            yield sftp, paths.workspace, secret


@contextlib.asynccontextmanager
async def against_the_path_checks(home: Path, tmp_path: Path) -> AsyncIterator[tuple[asyncssh.SFTPClient, Path, Path]]:
    """The same server class, in-process and unchrooted: what keeps it in the workspace without root."""
    workspace, private = tmp_path / "session" / "workspace", tmp_path / "session" / "private"
    workspace.mkdir(parents=True)
    private.mkdir()
    secret = private / "secret.txt"
    secret.write_bytes(SECRET)
    key = asyncssh.generate_private_key("ssh-ed25519")
    paths = WorkspacePaths(visible=str(workspace).encode(), local=str(workspace.resolve()).encode())
    acceptor = await asyncssh.create_server(
        asyncssh.SSHServer, "127.0.0.1", 0, server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        authorized_client_keys=asyncssh.import_authorized_keys(key.export_public_key().decode()),
        sftp_factory=lambda chan: WorkspaceSFTPServer(chan, paths, lambda entry: None),
    )  # fmt: skip
    try:
        port = acceptor.sockets[0].getsockname()[1]
        async with (
            asyncssh.connect("127.0.0.1", port, username="alice", client_keys=[key], known_hosts=None) as conn,
            conn.start_sftp_client() as sftp,
        ):
            await sftp.chdir(str(workspace))
            yield sftp, workspace, secret
    finally:
        acceptor.close()
        await acceptor.wait_closed()


@pytest.mark.parametrize("how", [through_the_ssh_server, against_the_path_checks], ids=["ssh-server", "path-checks"])
async def test_nothing_outside_the_workspace_can_be_reached(how, home: Path, tmp_path: Path) -> None:
    outside = tmp_path / f"outside-{uuid.uuid4()}"
    async with how(home, tmp_path) as (sftp, workspace, secret):
        (workspace / "mine.txt").write_bytes(b"mine")
        # Links the participant made in the workspace (from the shell), pointing out of it.
        os.symlink(secret, workspace / "out_abs")
        os.symlink(os.path.relpath(secret, workspace), workspace / "out_rel")
        os.symlink(secret.parent, workspace / "out_dir")
        os.symlink("/etc/passwd", workspace / "out_passwd")
        os.symlink(outside, workspace / "out_new")

        async def refused(call, *args) -> asyncssh.SFTPError:
            with pytest.raises(asyncssh.SFTPError) as caught:
                result = call(*args)
                if inspect.isawaitable(result):
                    result = await result
                if isinstance(result, asyncssh.SFTPClientFile):
                    data = await result.read()
                    await result.close()
                    assert SECRET not in data
                    pytest.fail(f"{call.__name__}{args} was allowed")
            return caught.value

        # Names outside the workspace: refused by name, with a message.
        for path in ("../private/secret.txt", str(secret), "/etc/passwd", "..", "/"):
            reading = path.endswith(("txt", "passwd"))
            error = await (refused(sftp.open, path, "rb") if reading else refused(sftp.listdir, path))
            assert isinstance(error, asyncssh.SFTPPermissionDenied) and "outside the workspace" in error.reason, path
        for path in (f"../escaped-{uuid.uuid4()}", str(outside)):
            await refused(sftp.open, path, "wb")
        await refused(sftp.realpath, "..")
        await refused(sftp.rename, "mine.txt", "../moved.txt")
        await refused(sftp.symlink, str(secret), "new_link")  # a link made over sftp stays inside
        await refused(sftp.symlink, "../private/secret.txt", "new_link")
        # Links made in the workspace that point out: never followed out.
        for link in ("out_abs", "out_rel", "out_passwd", "out_dir/secret.txt"):
            await refused(sftp.open, link, "rb")
        await refused(sftp.listdir, "out_dir")
        await refused(sftp.open, "out_new", "wb")  # writing through a link to a new file outside
        await refused(sftp.stat, "out_abs")
        with contextlib.suppress(asyncssh.SFTPError):  # a hard link to the link is only the link again
            await sftp.link("out_abs", "hard")
        await refused(sftp.open, "hard", "rb")
        # Ownership and special bits: never changed by a transfer.
        await refused(sftp.chown, "mine.txt", 0, 0)
        await sftp.chmod("mine.txt", 0o4755)
        assert (workspace / "mine.txt").stat().st_mode & 0o7777 == 0o755
        # What is inside still works, links included.
        await sftp.symlink("mine.txt", "in_link")
        async with sftp.open("in_link", "rb") as f:
            assert await f.read() == b"mine"
        assert os.readlink(workspace / "in_link") == "mine.txt"
        assert {"mine.txt", "out_abs", "in_link"} <= set(await sftp.listdir("."))
    assert secret.read_bytes() == SECRET
    assert not outside.exists() and not (workspace.parent / "moved.txt").exists()
    assert not (workspace / "new_link").exists()


async def test_uploads_land_in_the_users_own_workspace_only(home: Path, tmp_path: Path) -> None:
    async with ssh_server(home, tmp_path / "keys", users=("alice", "bob")) as server:
        alice = await asyncio.to_thread(start_clock, server.config, "alice")
        bob = await asyncio.to_thread(start_clock, server.config, "bob")
        alices = session_paths(home, alice).workspace
        async with server.connect("bob") as conn, conn.start_sftp_client() as sftp:
            with pytest.raises(asyncssh.SFTPPermissionDenied, match="outside the workspace"):
                async with sftp.open(str(alices / "planted.py"), "wb") as f:
                    await f.write(b"print('bob was here')")
            async with sftp.open("mine.py", "wb") as f:
                await f.write(b"print('bob')")
        assert not (alices / "planted.py").exists()
        assert (session_paths(home, bob).workspace / "mine.py").read_bytes() == b"print('bob')"
        with pytest.raises(asyncssh.PermissionDenied):  # bob's key does not open alice's account
            async with asyncssh.connect(
                "127.0.0.1", server.port, username="alice", client_keys=[server.keys["bob"]], known_hosts=None
            ):
                pass


async def test_a_connection_dropped_mid_transfer_ends_cleanly_and_is_recorded(
    home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with ssh_server(home, tmp_path / "keys") as server:
        session_id = await asyncio.to_thread(start_clock, server.config, "alice")
        conn = await server.connect("alice")
        sftp = await conn.start_sftp_client()
        f = await sftp.open("partial.bin", "wb")
        await f.write(b"x" * 100_000)
        await wait_for(lambda: len(sftp_servers()) == 1, what="the SFTP server process")
        conn.abort()  # no goodbye: the client is simply gone
        await wait_for(lambda: not sftp_servers(), what="the SFTP server's end")
        await wait_for(
            lambda: any(e["name"] == "write" for e in sftp_events(home, session_id)), what="the partial write's record"
        )
        await asyncio.sleep(0.5)
    (write,) = [e for e in sftp_events(home, session_id) if e["name"] == "write"]
    assert write["path"] == "partial.bin" and write["bytes_written"] == 100_000
    noise = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith(("asyncio", "asyncssh"))]
    assert not noise, [r.getMessage() for r in noise]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_the_end_of_the_session_ends_its_transfers(home: Path, tmp_path: Path) -> None:
    async with ssh_server(home, tmp_path / "keys") as server:
        session_id = await asyncio.to_thread(start_clock, server.config, "alice")
        async with server.connect("alice") as conn, conn.start_sftp_client() as sftp:
            f = await sftp.open("late.bin", "wb")
            await f.write(b"z" * 1000)
            await asyncio.to_thread(end_session, server.config, session_id)
            await wait_for(lambda: not sftp_servers(), timeout=20, what="the SFTP server's end")
            with pytest.raises((asyncssh.SFTPError, asyncssh.Error, OSError)):
                await f.write(b"after the end")
        await wait_for(lambda: any(e["name"] == "write" for e in sftp_events(home, session_id)), what="the record")
    assert (session_paths(home, session_id).workspace / "late.bin").read_bytes() == b"z" * 1000
