"""A session: one participant, one environment, one clock, one recording.

`Session.create` lays out the folder and the recording; `Session.open` attaches to
it. The process that wins the holder lock keeps the clock: it writes a heartbeat,
takes the periodic snapshots and ends the session when time runs out. When a holder
dies, the next one records the gap since its last heartbeat as an `outage` pause, so
working time is off by at most one heartbeat interval.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import logging
import math
import os
import shutil
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema

from environments.base import Environment
from environments.calibration import CalibrationLookup, find_calibration
from environments.hardware import hardware
from environments.registry import every_protected_path, load_environment
from recorder.snapshots import SnapshotRepo
from recorder.store import Recorder
from session import heldout_review
from session.aggregate import aggregate
from session.clock import ClockState, TimeSource, clock_state
from session.freezing import PAUSE_GROUPS, Freezing
from session.isolation import Confinement, ResourceProfile
from session.layout import SessionPaths, new_session_id, session_paths
from session.resources import ResourceSampler
from session.tools import REGISTRY, InvalidArguments, ToolError, ToolResult, UnknownTool

log = logging.getLogger(__name__)

HEARTBEAT_S = 0.5
RESOURCE_SAMPLE_S = 10.0
# The pause a holder leaves when it stops while the session goes on; the next holder resumes it.
HOLDER_STOPPED = "daemon stopped"
KINDS = ("human", "agent")


class SessionError(RuntimeError):
    pass


def _disk_full(exc: BaseException) -> bool:
    text = str(exc)
    return (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "disk is full" in text or "No space left" in text


def _failure_text(exc: BaseException, tool_name: str) -> str:
    if _disk_full(exc):
        return f"{tool_name} failed: the disk is full ({exc}); free some space and try again, nothing recorded is lost"
    return f"{tool_name} failed: {type(exc).__name__}: {exc}"


class Session:
    def __init__(
        self, home: Path, paths: SessionPaths, recorder: Recorder, *, hold: bool, time_source: TimeSource | None
    ) -> None:
        self.home = home
        self.paths = paths
        self.recorder = recorder
        self.time = time_source or TimeSource()
        row = recorder.session()
        self.id: str = row["id"]
        self.env_id: str = row["env_id"]
        self.scale: str = row["scale"]
        self.kind: str = row["kind"]
        self.participant: str = row["participant"]
        self.snapshot_interval_s: float = row["snapshot_interval_s"]
        self.env: Environment = load_environment(self.env_id)
        self.snapshots = SnapshotRepo(paths.snapshot_git, paths.workspace)
        self.calibration, calibration_changed = self._calibration(may_switch=hold)
        recorded = recorder.meta("confinement")
        self.confinement: Confinement = (
            Confinement.from_json(recorded)
            if recorded
            else Confinement.unrecorded(ResourceProfile.build(self.env.resources_for(self.scale)))
        )
        self.freezing = Freezing(self.confinement)
        self._counters_seen: dict[str, int] | None = None
        self._counters_lock = threading.Lock()
        self._end_lock = threading.Lock()
        self._clock_lock = threading.Lock()
        self.score_lock = threading.Lock()
        self._stop = threading.Event()
        self._lock_file = None
        self._ticker: threading.Thread | None = None
        # Called (from any thread) with each recorded event, e.g. to push it to live observers.
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._sampler: ResourceSampler | None = None
        self._sampled_at = -RESOURCE_SAMPLE_S
        self.holding = hold and self._acquire_holder()
        if self.holding:
            self.confinement.ensure(self.id)
            self._recover_outage()
            self._stop_orphans()
            if calibration_changed:
                self._record_calibration()
            state = self.clock()
            self.freezing.reconcile(paused=not state.running and not state.ended)
            self._ticker = threading.Thread(target=self._tick_loop, name="session-clock", daemon=True)
            self._ticker.start()
        self.check_end()

    # -- creating and opening ------------------------------------------------------------
    @classmethod
    def create(
        cls,
        home: Path,
        env_id: str,
        *,
        budget_s: float | None = None,
        ceiling_s: float | None = None,
        participant: str | None = None,
        kind: str = "human",
        scale: str = "cpu",
        snapshot_interval_s: float = 600,
        hold: bool = True,
        time_source: TimeSource | None = None,
        isolation: bool = True,
        profile: dict[str, Any] | None = None,
    ) -> Session:
        """Lay out and record a new session. `profile` overrides the environment's resources
        (cpus, gpus, memory_mb, max_processes, network); `isolation=False` runs unconfined."""
        if kind not in KINDS:
            raise SessionError(f"kind must be one of {KINDS}, not {kind!r}")
        env = load_environment(env_id)
        env.scale(scale)
        budget_s = env.budget_s if budget_s is None else budget_s
        if budget_s <= 0:
            raise SessionError("the budget must be positive")
        resource_profile = ResourceProfile.build(env.resources_for(scale), **(profile or {}))
        participant = participant or getpass.getuser()
        paths = session_paths(home, new_session_id(env_id))
        paths.workspace.mkdir(parents=True)
        paths.env_private.mkdir(parents=True)
        os.chmod(paths.private, 0o700)
        try:
            env.prepare(paths.workspace, paths.env_private, scale)
            now = (time_source or TimeSource()).now()
            recorder = Recorder(paths.database, create=True)
            recorder.create_session(
                {
                    "id": paths.id,
                    "env_id": env_id,
                    "scale": scale,
                    "participant": participant,
                    "kind": kind,
                    "budget_s": float(budget_s),
                    "ceiling_s": float(ceiling_s if ceiling_s is not None else 2 * budget_s),
                    "snapshot_interval_s": float(snapshot_interval_s),
                    "created_at": now,
                    "workspace": str(paths.workspace),
                    "hardware": hardware(),
                }
            )
            SnapshotRepo(paths.snapshot_git, paths.workspace).init()
            confinement = Confinement.setup(
                paths.id,
                resource_profile,
                participant=participant,
                home=home,
                session_root=paths.root,
                workspace=paths.workspace,
                private=paths.private,
                env_private=paths.env_private,
                protect=every_protected_path(),
                enabled=isolation,
            )
            recorder.set_meta("confinement", confinement.to_json())
            recorder.set_meta("calibration", find_calibration(env, scale, home).to_json())
        except BaseException:
            shutil.rmtree(paths.root, ignore_errors=True)
            raise
        session = cls(home, paths, recorder, hold=hold, time_source=time_source)
        session.take_snapshot("start")
        session._record_lifecycle("created", {"env": env_id, "scale": scale, "kind": kind})
        session._record_lifecycle("confinement", confinement.to_json())
        if confinement.warning:
            log.warning("session %s: %s", session.id, confinement.warning)
        return session

    @classmethod
    def open(cls, home: Path, session_id: str, *, hold: bool = True, time_source: TimeSource | None = None) -> Session:
        paths = session_paths(home, session_id)
        if not paths.database.exists():
            raise SessionError(f"no session {session_id!r} under {home}")
        return cls(home, paths, Recorder(paths.database), hold=hold, time_source=time_source)

    def close(self, pause_reason: str | None = None) -> None:
        """Stop holding the clock cleanly (no outage), then close the recording.

        With `pause_reason`, a running clock is paused first (a daemon that stops while
        the session goes on); the next holder resumes a pause of that reason.
        """
        self._stop.set()
        if self._ticker:
            self._ticker.join()
        if self._sampler:
            self._sampler.close()
        if self.holding:
            if pause_reason and self.clock().running:
                self.recorder.open_pause(self.time.now(), pause_reason)
                self.freezing.hold("pause", PAUSE_GROUPS)
            self.recorder.set_heartbeat(None, None, self.time.now())
            self._release_holder()
        self.recorder.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- holding the clock ---------------------------------------------------------------
    def _acquire_holder(self) -> bool:
        lock = open(self.paths.holder_lock, "a+")  # noqa: SIM115  (held for the life of the session)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return False
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        self._lock_file = lock
        return True

    def _release_holder(self) -> None:
        if self._lock_file:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _recover_outage(self) -> None:
        """A heartbeat left by a holder that did not close cleanly: its silence was an outage."""
        beat = self.recorder.heartbeat()
        now = self.time.now()
        if beat and beat["holder"] is not None:
            state = clock_state(self.recorder.session(), self.recorder.pauses(), beat["wall"])
            if state.running and now > beat["wall"]:
                self.recorder.add_closed_pause(beat["wall"], now, "outage", "holder restarted")
                self._record_lifecycle(
                    "outage", {"from": beat["wall"], "to": now, "seconds": round(now - beat["wall"], 3)}
                )
        self.recorder.set_heartbeat(f"pid:{os.getpid()}", os.getpid(), now)
        pause = self._open_pause()
        if pause is not None and pause["reason"] == HOLDER_STOPPED:
            self.recorder.close_pause(pause["id"], now, "holder restarted")

    def _tick_loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.tick()
            except Exception:
                log.exception("clock tick failed")

    def tick(self) -> None:
        """One heartbeat: persist liveness, end the session on time, take periodic snapshots and samples."""
        now = self.time.now()
        self.recorder.set_heartbeat(f"pid:{os.getpid()}", os.getpid(), now)
        state = self.check_end()
        if not state.ended and time.monotonic() - self._sampled_at >= RESOURCE_SAMPLE_S:
            self._sampled_at = time.monotonic()
            if self._sampler is None:
                self._sampler = ResourceSampler(self.workspace)
            self.recorder.add_resource_sample(now, state.working_s, self._sampler.sample())
            self.record_confinement_events()
        if state.running and self.snapshot_interval_s > 0:
            last = self.recorder.query("select max(working_s) as w from snapshots where trigger != 'start'")
            last_w = last[0]["w"] or 0.0
            if state.working_s - last_w >= self.snapshot_interval_s:
                self.take_snapshot("periodic")

    def record_confinement_events(self) -> list[Any]:
        """Record each limit the kernel enforced since the last look (memory kills, refused forks)."""
        with self._counters_lock:
            if self._counters_seen is None:
                self._counters_seen = self.recorder.meta("confinement_counters") or {}
            events = self.confinement.events_since(self._counters_seen)
            if events:
                self._counters_seen = self.confinement.counters()
                self.recorder.set_meta("confinement_counters", self._counters_seen)
        for event in events:
            self.record("isolation", event.name, client="kernel", args={"count": event.count, "message": event.message})
        return events

    # -- the clock -----------------------------------------------------------------------
    def clock(self) -> ClockState:
        return clock_state(self.recorder.session(), self.recorder.pauses(), self.time.now())

    def _open_pause(self) -> dict[str, Any] | None:
        found = self.recorder.query("select * from pauses where end_wall is null order by id desc limit 1")
        return found[0] if found else None

    def start_clock(self) -> bool:
        """Start the clock on first use; returns whether it started now."""
        with self._clock_lock:
            if self.recorder.session()["started_at"] is not None:
                return False
            now = self.time.now()
            self.recorder.update_session(started_at=now)
            self._record_lifecycle("clock_started", {})
            self.freezing.release("pause", PAUSE_GROUPS)
            return True

    def pause(self, reason: str) -> ClockState:
        with self._clock_lock:
            state = self.clock()
            if state.ended:
                raise ToolError("the session has ended")
            if not state.started or not state.running:
                raise ToolError(f"the clock is already paused ({state.paused_reason})")
            self.recorder.open_pause(self.time.now(), reason)
            self.freezing.hold("pause", PAUSE_GROUPS)
        return self.clock()

    def resume(self, reason: str) -> ClockState:
        if self.start_clock():
            return self.clock()
        with self._clock_lock:
            state = self.clock()
            if state.ended:
                raise ToolError("the session has ended")
            pause = self._open_pause()
            if pause is None:
                raise ToolError("the clock is already running")
            self.recorder.close_pause(pause["id"], self.time.now(), reason)
            self.freezing.release("pause", PAUSE_GROUPS)
        return self.clock()

    # -- calibration -----------------------------------------------------------------------
    def _calibration(self, may_switch: bool) -> tuple[CalibrationLookup, bool]:
        """The calibration this session normalizes with: the one recorded at its creation, unless
        that one was not measured on this hardware, one is now, and this process may record the
        switch (it holds the session); (lookup, whether it is to be recorded)."""
        recorded = self.recorder.meta("calibration")
        if recorded is None:  # a session older than recorded calibrations
            return find_calibration(self.env, self.scale, self.home), may_switch
        current = CalibrationLookup.from_json(recorded)
        if may_switch and not current.calibrated:
            found = find_calibration(self.env, self.scale, self.home)
            if found.calibrated:
                return found, True
        return current, False

    def _record_calibration(self) -> None:
        """Record the calibration in use, and normalize the logged scores with it."""
        self.recorder.set_meta("calibration", self.calibration.to_json())
        renormalized = 0
        for row in self.recorder.scores():
            if row["valid"] and row["raw"] is not None:
                self.recorder.set_score_normalized(row["id"], self.normalize(row["raw"]))
                renormalized += 1
        self._record_lifecycle("calibration", {**self.calibration.to_json(), "scores_renormalized": renormalized})

    # -- scores --------------------------------------------------------------------------
    def normalize(self, raw: float) -> float | None:
        cal = self.calibration.calibration
        if cal is None or math.isnan(raw):
            return None
        value = cal.normalize(raw)
        return None if math.isnan(value) else value

    def best(self) -> tuple[float | None, float | None]:
        """The session's score so far under the environment's aggregation: (raw, normalized)."""
        raws = [r["raw"] for r in self.recorder.scores() if r["valid"]]
        raw = aggregate(raws, self.env.aggregation)
        return raw, None if raw is None else self.normalize(raw)

    # -- snapshots and ending ------------------------------------------------------------
    def take_snapshot(self, trigger: str) -> dict[str, Any]:
        info = self.snapshots.take(f"{trigger} ({self.id})")
        if self.env.uses_heldout_corpus and info.changed and trigger != "start":  # "start": the harness's files
            for flag in heldout_review.review_files(self.workspace, info.changed):
                self.record("review", "heldout_touched", client="harness", args={"where": "workspace", **flag})
        state = self.clock()
        snapshot_id = self.recorder.add_snapshot(
            wall=self.time.now(),
            working_s=state.working_s,
            trigger=trigger,
            commit_sha=info.commit,
            files_changed=info.files_changed,
            changed=info.changed,
            left_out=info.left_out,
            duration_ms=info.duration_ms,
        )
        return {
            "id": snapshot_id,
            "commit": info.commit,
            "trigger": trigger,
            "files_changed": info.files_changed,
            "left_out": info.left_out,
            "duration_ms": info.duration_ms,
        }

    def check_end(self) -> ClockState:
        state = self.clock()
        if state.ended and self.recorder.session()["ended_at"] is None:
            self.finish(state.end_reason or "budget")
            state = self.clock()
        return state

    def finish(self, reason: str) -> dict[str, Any]:
        """End the session once: final snapshot, final score from the log, the end recorded."""
        with self._end_lock:
            row = self.recorder.session()
            if row["ended_at"] is not None:
                return {
                    "reason": row["end_reason"],
                    "final_raw": row["final_raw"],
                    "final_normalized": row["final_normalized"],
                }
            state = self.clock()
            stopped = self.stop_work()
            snapshot = self.take_snapshot("submit" if reason == "submitted" else "final")
            raw, normalized = self.best()
            if raw is None and self.calibration.calibration is not None:
                raw, normalized = self.calibration.calibration.start, 0.0  # no valid score: the start's
            now = self.time.now()
            pause = self._open_pause()
            if pause is not None:
                self.recorder.close_pause(pause["id"], now, "session ended")
            self.recorder.update_session(ended_at=now, end_reason=reason, final_raw=raw, final_normalized=normalized)
            summary = {
                "reason": reason,
                "final_raw": raw,
                "final_normalized": normalized,
                "working_s": round(state.working_s, 3),
                "snapshot": snapshot["id"],
                "processes_killed": stopped,
            }
            self._record_lifecycle("ended", summary)
            self.confinement.release()
            return summary

    def _stop_orphans(self) -> None:
        """A new holder owns no scoring yet: whatever runs in the scoring groups was left by a
        holder that died mid-scoring (its part, its judge); kill it and say so."""
        killed = {}
        for group in ("scoring", "judge"):
            if pids := self.confinement.group_pids(group):
                self.confinement.kill(group)
                self.confinement.thaw(group)
                killed[group] = len(pids)
        stale = list((self.paths.env_private / "score-results").glob("*.json*"))
        for path in stale:
            path.unlink(missing_ok=True)
        if killed or stale:
            self._record_lifecycle(
                "orphans_stopped", {"processes_killed": killed, "stale_verdicts_removed": len(stale)}
            )

    def stop_work(self) -> dict[str, int]:
        """At the end: kill every process the participant's work left (commands, the shell, a
        scoring's part, an agent's own process); {group: processes killed}. The TUI and the
        bridge stay, to show the end."""
        killed: dict[str, int] = {}
        if not self.freezing.enforced:
            return killed
        for group in ("work", "scoring", "agent"):
            pids = self.confinement.group_pids(group)
            self.confinement.kill(group)
            self.confinement.thaw(group)
            if pids:
                killed[group] = len(pids)
        return killed

    def review_text(self, where: str, text: str) -> None:
        """Flag, for the review, a command or shell recording that names a way to the held-out text."""
        if self.env.uses_heldout_corpus and (found := heldout_review.markers_in(text)):
            self.record("review", "heldout_touched", client="harness", args={"where": where, "markers": found})

    def record_cast(self, started_wall: float, ended_wall: float, cast: str, client: str) -> int:
        """Store a shell recording and an event pointing at it."""
        self.review_text("shell", cast)
        working_s = clock_state(self.recorder.session(), self.recorder.pauses(), started_wall).working_s
        cast_id = self.recorder.add_cast(started_wall, ended_wall, working_s, cast)
        self.record(
            "shell",
            "cast",
            wall=ended_wall,
            client=client,
            result={"cast_id": cast_id, "seconds": round(ended_wall - started_wall, 3), "bytes": len(cast)},
        )
        return cast_id

    # -- tools ---------------------------------------------------------------------------
    def record(self, kind: str, name: str, **fields: Any) -> int:
        """Record one event and tell the listeners; returns the event id."""
        fields.setdefault("wall", self.time.now())
        if "working_s" not in fields:
            fields["working_s"] = clock_state(self.recorder.session(), self.recorder.pauses(), fields["wall"]).working_s
        event_id = self.recorder.record_event(kind=kind, name=name, **fields)
        event = {"id": event_id, "kind": kind, "name": name, **fields}
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed")
        return event_id

    def _record_lifecycle(self, name: str, data: dict[str, Any]) -> None:
        self.record("lifecycle", name, result=data)

    def call(
        self, name: str, args: dict[str, Any] | None = None, *, client: str = "cli", read_only: bool = False
    ) -> ToolResult:
        """Run one tool under the session's policy; the call is recorded before it returns.

        A read-only client (a live observer) may call only the tools that change nothing,
        and its calls never start an agent's clock.
        """
        args = dict(args or {})
        started_wall = self.time.now()
        started = time.monotonic()
        try:
            result = self._dispatch(name, args, read_only)
        except ToolError as exc:
            result = ToolResult(str(exc), {"error": str(exc)}, is_error=True, error_kind=exc.kind)
        except Exception as exc:
            if not _disk_full(exc):
                log.error("tool %s failed:\n%s", name, traceback.format_exc())
            result = ToolResult(
                _failure_text(exc, name), {"error": f"{type(exc).__name__}: {exc}"}, is_error=True, error_kind="failed"
            )
        try:
            self.record(
                "tool",
                name,
                wall=started_wall,
                client=client,
                args=args,
                result=result.to_json(),
                is_error=result.is_error,
                duration_ms=round((time.monotonic() - started) * 1000, 3),
            )
        except (OSError, sqlite3.Error) as exc:
            # The call could not be recorded: say so, and hand back what it produced.
            return ToolResult(
                _failure_text(exc, name) + "\n" + result.text,
                {"error": f"{type(exc).__name__}: {exc}", "unrecorded_result": result.structured},
                is_error=True,
            )
        return result

    def _dispatch(self, name: str, args: dict[str, Any], read_only: bool) -> ToolResult:
        tool = REGISTRY.get(name)
        if tool is None:
            raise UnknownTool(f"unknown tool {name!r}; tools: {', '.join(sorted(REGISTRY))}")
        try:
            jsonschema.validate(args, tool.input_schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path)
            raise InvalidArguments(
                f"bad arguments for {name}: {exc.message}" + (f" (at {where})" if where else "")
            ) from None
        if read_only and tool.changes_things:
            raise ToolError(f"this connection is read-only (an observer); {name} changes the session")
        if self.kind == "agent" and not read_only:
            self.start_clock()  # an agent's clock runs from its first call
        state = self.check_end()
        if state.ended and tool.changes_things:
            raise ToolError(f"the session has ended ({state.end_reason}); {name} is no longer available")
        if tool.needs_running_clock and not state.running:
            raise ToolError(f"the clock is paused ({state.paused_reason}); resume it to use {name}")
        result = tool.handler(self, args)
        self.check_end()
        return result

    @property
    def workspace(self) -> Path:
        return self.paths.workspace

    def snapshot_at(self, snapshot_id: int | None = None, working_s: float | None = None) -> dict[str, Any]:
        rows = self.recorder.snapshots()
        if snapshot_id is not None:
            found = [r for r in rows if r["id"] == snapshot_id]
        elif working_s is not None:
            found = [r for r in rows if r["working_s"] <= working_s][-1:]
        else:
            found = rows[-1:]
        if not found:
            raise SessionError("no such snapshot")
        return found[0]
