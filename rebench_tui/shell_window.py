"""One recorded shell in the session's tmux workspace: `python -m rebench_tui.shell_window --home H SID`.

It runs as the participant (in the tmux server's front group), starts bash in a pty at a
gate, has the daemon move bash into the session's work group (frozen on pause, killed at the
end), and relays the terminal while the cast goes to the daemon as it happens. It says, in
its own window, when the clock is paused (the shell is frozen then), running again, or when
the session has ended (the shell is gone then, and nothing typed reaches the workspace).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from rebench_tui.cast_stream import stream_cast
from rebench_tui.shell import run_shell
from session.client import DaemonClient, RpcError, ensure_daemon
from session.clock import format_duration
from session.layout import resolve_home, session_paths

EDITORS = ("vim", "nvim", "nano", "vi", "emacs")
WATCH_S = 1.0
PROMPT = r"\[\e[1m\]\W\[\e[0m\] \$ "


def editor() -> str | None:
    """The first editor of a usual list that is installed."""
    return next((found for name in EDITORS if (found := shutil.which(name))), None)


def shell_environment(home: Path, session_id: str) -> dict[str, str]:
    """What a participant's shell gets besides its account's: the session, the home (for
    `rebench-tui call $REBENCH_SESSION ...`), an editor and a short prompt."""
    env = {"REBENCH_HOME": str(home), "REBENCH_SESSION": session_id, "PS1": PROMPT}
    if "EDITOR" not in os.environ and (found := editor()):
        env["EDITOR"] = env["VISUAL"] = found
    return env


def rcfile() -> Path:
    """A bash start-up file that keeps the participant's own ~/.bashrc and then sets a short prompt
    (in their HOME, which persists across their sessions)."""
    path = Path(os.environ.get("HOME") or "/tmp") / ".rebench-bashrc"
    try:
        path.write_text(f"[ -f ~/.bashrc ] && . ~/.bashrc\nPS1='{PROMPT}'\n")
        return path
    except OSError:
        return Path("/dev/null")


def _say(text: str) -> None:
    """A line in this window, from us (not the shell's output)."""
    os.write(sys.stdout.fileno(), f"\r\n\x1b[7m[rebench] {text}\x1b[0m\r\n".encode())


def _clock_line(clock: dict[str, Any]) -> str:
    if clock.get("ended"):
        return f"the session has ended ({clock.get('end_reason')})"
    if not clock.get("running"):
        return f"the clock is paused ({clock.get('paused_reason')}): this shell is frozen until you resume it"
    return f"clock running, {format_duration(clock.get('remaining_s', 0))} left"


class ClockWatch:
    """Polls the clock and says in the window when it pauses, runs again or ends."""

    def __init__(self, rpc: DaemonClient) -> None:
        self.rpc = rpc
        self.state: str | None = None
        self.ended = False
        self._last = 0.0

    def state_of(self, clock: dict[str, Any]) -> str:
        return "ended" if clock.get("ended") else ("running" if clock.get("running") else "paused")

    def __call__(self) -> bool:
        """True once the session has ended: the shell must end too (the harness kills it where
        it can; unconfined, this is what ends it)."""
        if time.monotonic() - self._last < WATCH_S:
            return self.ended
        self._last = time.monotonic()
        try:
            clock = self.rpc.request("rebench/clock")
        except (OSError, RpcError):
            return self.ended  # the daemon restarts on demand; the shell goes on meanwhile
        state = self.state_of(clock)
        if state != self.state:
            if self.state is not None or state != "running":
                _say(_clock_line(clock))
            self.state = state
            self.ended = state == "ended"
        return self.ended


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rebench_tui.shell_window")
    parser.add_argument("--home")
    parser.add_argument("session")
    args = parser.parse_args(argv)
    home, sid = resolve_home(args.home), args.session
    try:
        socket_path = ensure_daemon(home, sid)
    except Exception as exc:  # as the participant, a daemon that is not running cannot be started here
        print(f"rebench: the session {sid}'s daemon is not running ({exc}); open the dashboard (window 0)")
        time.sleep(5)
        return 1
    with DaemonClient(socket_path, timeout_s=30) as rpc:
        rpc.initialize("rebench-shell-window")
        status = rpc.call_tool("status")["structuredContent"]
        clock = status["clock"]
        if clock.get("ended") or not clock.get("running"):
            _say(_clock_line(clock) + ("" if clock.get("ended") else "; resume it in the dashboard (Ctrl-b 0)"))
            time.sleep(3 if clock.get("ended") else 5)
            return 0
        _say(f"{_clock_line(clock)} · Ctrl-b 0: dashboard · Ctrl-b c: another shell · exit: close this one")

        def adopt(pid: int) -> None:
            reply = rpc.request("rebench/adopt", {"pid": pid})
            if not reply.get("adopted") and reply.get("why") != "processes are not grouped on this host":
                _say(f"warning: this shell is not in the session's work group ({reply.get('why')})")

        watch = ClockWatch(rpc)
        watch.state = "running"
        workspace = Path(status.get("workspace") or session_paths(home, sid).workspace)
        command = ["/bin/bash", "--rcfile", str(rcfile()), "-i"]
        sink = partial(stream_cast, home, sid, "rebench-shell-window")
        cast = run_shell(workspace, command, shell_environment(home, sid), None, adopt, sink, watch)
        watch._last = 0.0
        watch()
        killed = getattr(cast, "returncode", None) == -9
        if watch.ended or killed:  # the harness ends work at the session's end (its daemon may be gone by now)
            if not watch.ended:
                _say("the harness ended this shell: the session has ended")
            _say("nothing typed now reaches the workspace; this window closes in a minute (or press Enter)")
            _wait_for_enter(60)
    return 0


def _wait_for_enter(seconds: float) -> None:
    import select

    if os.isatty(sys.stdin.fileno()):
        select.select([sys.stdin], [], [], seconds)


if __name__ == "__main__":
    raise SystemExit(main())
