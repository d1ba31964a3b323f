"""The `rebench-tui` command line: a thin client of the session layer."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path
from typing import Any

from environments.registry import DEFAULT_ENV, UnknownEnvironment, environment_ids, load_environment
from session.clock import parse_duration
from session.layout import resolve_home


class CliError(Exception):
    pass


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def coerce_args(schema: dict[str, Any], pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs typed by the tool's JSON Schema (numbers, booleans, JSON for the rest)."""
    props = schema.get("properties", {})
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise CliError(f"--arg takes key=value, not {pair!r}")
        kind = props.get(key, {}).get("type")
        try:
            if kind == "string":
                out[key] = value
            elif kind == "integer":
                out[key] = int(value)
            elif kind == "number":
                out[key] = float(value)
                if not math.isfinite(out[key]):
                    raise CliError(f"--arg {key}: {value!r} is not a finite number")
            elif kind == "boolean":
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                out[key] = value.lower() in ("true", "1", "yes")
            else:
                try:
                    out[key] = json.loads(value, parse_constant=_no_constant)
                except ValueError:
                    out[key] = value
        except ValueError:
            raise CliError(f"--arg {key}: {value!r} is not a valid {kind}") from None
    return out


# -- commands ------------------------------------------------------------------------------
def _cpu_list(text: str) -> list[int]:
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of CPU or GPU numbers: {text!r} (e.g. 0,1)") from None


def _add_isolation_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("resource profile (the same for every participant process; default: the environment's)")
    g.add_argument("--cpus", type=_cpu_list, metavar="LIST", help="CPU numbers, e.g. 0,1")
    g.add_argument("--gpus", type=_cpu_list, metavar="LIST", help="GPU numbers made visible ('' for none)")
    g.add_argument("--memory-mb", type=int, metavar="MB", help="memory cap of all participant processes together")
    g.add_argument("--max-processes", type=int, default=512)
    g.add_argument(
        "--network",
        choices=["none", "allowed"],
        help="default: the environment's (allowed; a Task Standard family's permissions: none without full_internet)",
    )
    g.add_argument("--no-isolation", action="store_true", help="run participant processes unconfined (recorded)")


def _isolation_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    profile: dict[str, Any] = {"max_processes": args.max_processes}
    for key in ("cpus", "gpus", "memory_mb", "network"):
        if getattr(args, key) is not None:
            profile[key] = getattr(args, key)
    return {"isolation": not args.no_isolation, "profile": profile}


def _warn_isolation(session: Any) -> None:
    if session.confinement.warning:
        print(f"warning: {session.confinement.warning}", file=sys.stderr)
    # Where the scores depend on the operator's model (or judge), say at once if it is not calibrated.
    if session.env.model_role and (warning := session.calibration.warning):
        print(f"warning: {warning}", file=sys.stderr)


def _task_family(args: argparse.Namespace) -> tuple[str, Any]:
    """The environment `new` and `agent` were asked for: (id, None) from the registry, or a Task
    Standard family's task, (its id, the environment) (refused in one line if it cannot run here)."""
    if args.task_family is None:
        if args.task is not None:
            raise CliError("--task goes with --task-family")
        return args.env or DEFAULT_ENV, None
    if args.env is not None:
        raise CliError("give either --env or --task-family, not both")
    if args.task is None:
        raise CliError("--task-family needs --task NAME (one of the family's get_tasks())")
    home = resolve_home(args.home)
    env = _family_task(args).environment(home)
    return env.id, env


def _family_task(args: argparse.Namespace) -> Any:
    from environments.task_standard.env import FamilyTask

    return FamilyTask(args.task_family, args.task, args.agent_home)


def _add_task_family_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("a METR Task Standard family instead of --env (README: Task Standard families)")
    g.add_argument("--task-family", metavar="PATH", help="the family's folder (it holds <family>.py)")
    g.add_argument("--task", metavar="NAME", help="one of the family's tasks")
    g.add_argument(
        "--agent-home", default="/home/agent", metavar="PATH",
        help="the path the family's code uses for the agent's home (default /home/agent): the workspace here",
    )  # fmt: skip


def cmd_new(args: argparse.Namespace) -> int:
    from session.session import Session

    home = resolve_home(args.home)
    env_id, environment = _task_family(args)
    with Session.create(
        home,
        env_id,
        environment=environment,
        budget_s=args.budget,
        ceiling_s=args.ceiling,
        participant=args.participant,
        kind=args.kind,
        scale=args.scale,
        snapshot_interval_s=args.snapshot_every,
        **_isolation_kwargs(args),
    ) as session:
        _warn_isolation(session)
        if args.json:
            _print_json(
                {
                    "id": session.id,
                    "workspace": str(session.workspace),
                    "environment": session.env_id,
                    "scale": session.scale,
                    "kind": session.kind,
                    "participant": session.participant,
                    "budget_s": session.recorder.session()["budget_s"],
                    "home": str(home),
                }
            )
        else:
            print(session.id)
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    from session.client import DaemonClient, DaemonGone, RpcError, ensure_daemon

    socket_path = ensure_daemon(resolve_home(args.home), args.session)
    try:
        with DaemonClient(socket_path) as client:
            client.initialize("rebench-tui call")
            tool_args: dict[str, Any] = {}
            if args.arg:  # typed by the tool's schema, as the daemon publishes it (no server code here)
                tools = {t["name"]: t for t in client.request("tools/list", {})["tools"]}
                tool_args = coerce_args(tools.get(args.tool, {}).get("inputSchema", {}), args.arg)
            result = client.call_tool(args.tool, tool_args)
    except RpcError as exc:
        raise CliError(exc.message) from None
    except DaemonGone:
        raise
    except OSError as exc:
        raise DaemonGone(str(exc)) from None
    if args.json:
        _print_json(result.get("structuredContent", {}))
    else:
        text = "\n".join(c.get("text", "") for c in result.get("content", []) if c.get("type") == "text")
        print(text, file=sys.stderr if result.get("isError") else sys.stdout)
    return 1 if result.get("isError") else 0


def cmd_daemon(args: argparse.Namespace) -> int:
    from session.client import daemon_info, ensure_daemon

    home = resolve_home(args.home)
    socket_path = ensure_daemon(home, args.session, tcp=args.tcp)
    info = daemon_info(home, args.session) or {}
    if args.tcp and not info.get("tcp"):
        print("note: a daemon without TCP was already running; stop it first to add TCP", file=sys.stderr)
    if args.json:
        _print_json(info)
    else:
        print(
            f"daemon pid {info.get('pid')} serving {socket_path}"
            + (f" and tcp {info['tcp']}" if info.get("tcp") else "")
        )
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from rebench_tui.mcp_bridge import relay_stdio
    from session.client import ensure_daemon

    return relay_stdio(ensure_daemon(resolve_home(args.home), args.session))


def _absolute_if_path(arg: str) -> str:
    try:
        return str(Path(arg).resolve()) if not Path(arg).is_absolute() and Path(arg).exists() else arg
    except OSError:  # not a path at all (too long, say)
        return arg


def cmd_agent(args: argparse.Namespace) -> int:
    from rebench_tui.agent_runner import run_agent

    command = args.agent_command[1:] if args.agent_command[:1] == ["--"] else args.agent_command
    if not command:
        raise CliError("give the agent's command after --, e.g. rebench-tui agent --env prefix_sum -- python agent.py")
    # The command runs in the workspace: paths that exist here are passed as absolute paths.
    command = [_absolute_if_path(a) for a in command]
    env_id, environment = _task_family(args)
    summary = run_agent(
        resolve_home(args.home),
        command,
        env_id=env_id,
        environment=environment,
        budget_s=args.budget,
        participant=args.participant,
        scale=args.scale,
        ceiling_s=args.ceiling,
        tcp=args.tcp,
        grace_s=args.grace,
        **_isolation_kwargs(args),
    )
    if args.json:
        _print_json(summary)
    else:
        final = summary["final_normalized"]
        shown = f"{final:.3f}" if final is not None else "n/a"
        print(f"session {summary['session']} ended ({summary['end_reason']}); final normalized score {shown}")
    return 0


def cmd_campaign(args: argparse.Namespace) -> int:
    from rebench_tui import campaign

    home = resolve_home(args.home)
    if args.action == "status":
        status = campaign.campaign_status(campaign.find_campaign(home, args.campaign))
        _print_json(status) if args.json else print(campaign.format_status(status))
        return 0
    plan = campaign.load_plan(Path(args.plan))
    hint = f"rebench-tui --home {home} campaign run {Path(args.plan).resolve()}"
    started = campaign.start_ray(args.address)
    try:
        result = campaign.run_campaign(plan, home, max_retries=args.max_retries, resume_hint=hint, ship=args.ship)
    except KeyboardInterrupt:
        return 130
    finally:
        if started:
            import ray

            ray.shutdown()
    print(campaign.format_status({"name": plan.name, **result}))
    return 0 if result["counts"]["done"] == result["total"] else 1


def run_tui(home: Path, session_id: str, idle_after_s: float, use_tmux: bool = True) -> int:
    """The TUI: in a tmux workspace (the dashboard beside the shells) when tmux is here and this
    is a terminal, else on its own (the shell key then suspends it)."""
    from rebench_tui import tmux_workspace

    if use_tmux and tmux_workspace.usable():
        return exec_workspace(home, session_id, idle_after_s)
    from rebench_tui.app import RebenchApp
    from rebench_tui.tui_client import SessionClient

    RebenchApp(SessionClient(home, session_id), idle_after_s=idle_after_s).run()
    return 0


def exec_workspace(home: Path, session_id: str, idle_after_s: float) -> int:
    """Become the tmux client of the session's workspace (as the participant, when isolated)."""
    import os

    from rebench_tui import tmux_workspace
    from session.client import ensure_daemon
    from session.layout import session_paths
    from session.participant import participant_environment
    from session.session import Session

    ensure_daemon(home, session_id)  # as the harness: the participant's processes could not start it
    argv = tmux_workspace.attach_argv(home, session_id, ["--idle-after", f"{idle_after_s:g}s"])
    workspace = session_paths(home, session_id).workspace
    env = participant_environment()
    if os.geteuid() == 0:  # an operator: the workspace is the participant's, confined as they are
        with Session.open(home, session_id, hold=False) as s:
            confinement = s.confinement
        if confinement.participant_user:
            argv = confinement.wrap(argv, "participant", group="front", cwd=workspace)
            env = participant_environment(confinement.environment("participant"))
    # Otherwise this process already is the participant's (as the SSH server starts it, confined).
    env["TERM"] = os.environ.get("TERM", "xterm-256color")
    env.pop("TMUX", None)  # inside another tmux: ours is a server of its own
    os.chdir(workspace)
    os.execvpe(argv[0], argv, env)
    return 0  # not reached


def cmd_open(args: argparse.Namespace) -> int:
    """No command: the user's latest unfinished session, or a new one on the default environment."""
    import getpass

    from session.catalog import latest_open_session
    from session.session import Session

    home = resolve_home(args.home)
    participant = getpass.getuser()
    session_id = latest_open_session(home, participant)
    if session_id is None:
        with Session.create(home, DEFAULT_ENV, scale="cpu", kind="human", participant=participant, hold=False) as s:
            session_id = s.id
    return run_tui(home, session_id, args.idle_after, use_tmux=not args.no_tmux)


def cmd_attach(args: argparse.Namespace) -> int:
    return run_tui(resolve_home(args.home), args.session, args.idle_after, use_tmux=not args.no_tmux)


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio

    from rebench_tui.ssh import ServerConfig, configure_logging, serve

    asyncssh_log_level = configure_logging(args.verbose)
    home = resolve_home(args.home)
    env_id, _ = _task_family(args)  # a family is read (and refused) now, not at the first login
    config = ServerConfig(
        home=home,
        authorized_dir=Path(args.authorized_keys or home / "ssh" / "authorized_keys").expanduser(),
        host_key=Path(args.host_key or home / "ssh" / "host_key").expanduser(),
        env_id=env_id,
        task_family=_family_task(args) if args.task_family else None,
        budget_s=args.budget,
        scale=args.scale,
        pause_when_disconnected=args.pause_when_disconnected,
        asyncssh_log_level=asyncssh_log_level,
        **_isolation_kwargs(args),
    )
    config.authorized_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, args.host, args.port))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import csv

    from session.report import for_campaign, format_report, load_sessions, png_plot, summarize, text_plot

    sessions = load_sessions(resolve_home(args.home))
    if args.campaign:
        try:
            sessions = for_campaign(sessions, args.campaign)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    rows = summarize([s for s in sessions if args.env is None or s.env_id == args.env])
    if args.plot:
        png_plot(rows, Path(args.plot))
        print(f"wrote {Path(args.plot).resolve()}", file=sys.stderr)
    if args.json:
        _print_json(rows)
    elif args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["environment", "group", "scale", "calibrated", "sessions", "mean_final", "best_final",
                         "budget_s", "best_k", "score", "source"])  # fmt: skip
        for row in rows:
            for point in row["curve"]:
                writer.writerow(
                    [row["environment"], row["group"], row["scale"], row["calibrated"], row["sessions"],
                     row["mean_final"], row["best_final"], point["budget_s"], point["best_k"], point["best"],
                     point["best_source"]]
                )  # fmt: skip
    else:
        print(format_report(rows))
        print()
        print(text_plot(rows))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from recorder.export import export_jsonl
    from recorder.store import Recorder
    from session import visibility
    from session.layout import session_paths

    paths = session_paths(resolve_home(args.home), args.session)
    if not paths.database.exists():
        raise CliError(f"no session {args.session!r}")
    recorder = Recorder(paths.database, readonly=True)
    try:
        env = load_environment(recorder.session()["env_id"], private=paths.env_private)
        view = lambda table, row: visibility.row(args.role, env, table, row)  # noqa: E731
        if args.output:
            with open(args.output, "w") as f:
                count = export_jsonl(recorder, f, view)
            print(f"{count} rows written to {args.output}", file=sys.stderr)
        else:
            export_jsonl(recorder, sys.stdout, view)
    finally:
        recorder.close()
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from rebench_tui.replay_app import open_replay

    try:
        app = open_replay(resolve_home(args.home), args.session)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    app.run()
    return 0


def cmd_tools(args: argparse.Namespace) -> int:
    from session.tools import REGISTRY

    if args.json:
        _print_json([t.describe() for t in REGISTRY.values()])
    else:
        for t in REGISTRY.values():
            print(f"{t.name:13} {t.description}")
    return 0


def cmd_checkout(args: argparse.Namespace) -> int:
    from session.session import Session

    with Session.open(resolve_home(args.home), args.session, hold=False) as session:
        snap = session.snapshot_at(snapshot_id=args.snapshot, working_s=args.at)
        count = session.snapshots.restore(snap["commit_sha"], Path(args.dest))
    print(f"restored snapshot {snap['id']} ({snap['trigger']}, {count} files) to {args.dest}")
    if snap["left_out"]:
        print(f"left out of that snapshot: {', '.join(e['path'] for e in snap['left_out'])}")
    return 0


def cmd_rescore(args: argparse.Namespace) -> int:
    from session.clock import format_duration
    from session.rescore import parse_times, rescore

    at = parse_times(args.at) if args.at else None
    rows = rescore(
        resolve_home(args.home),
        args.sessions,
        at=at,
        address=args.address,
        progress=lambda m: print(m, file=sys.stderr),
    )
    if args.json:
        _print_json([{k: v for k, v in r.items() if k != "details"} for r in rows])
    else:
        print(f"{'session':40} {'snapshot':>8} {'trigger':8} {'worked':>8} {'at':>8} {'raw':>10} {'normalized':>10}")
        for r in rows:
            at_text = "" if r["at_s"] is None else format_duration(r["at_s"])
            if "error" in r:
                value = f"not scored: {r['error']}"
            elif r["raw"] is None or r["raw"] != r["raw"]:
                message = r["message"]
                value = f"invalid: {message.get('error', message) if isinstance(message, dict) else message}"
            else:
                norm = "—" if r["normalized"] is None else f"{r['normalized']:.3f}"
                value = f"{r['raw']:>10.4f} {norm:>10}"
            print(
                f"{r['session']:40} {r['snapshot_id']:>8} {r['trigger']:8} "
                f"{format_duration(r['snapshot_working_s']):>8} {at_text:>8} {value}"
            )
    return 1 if any("error" in r for r in rows) else 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from environments.calibration import home_path, save_calibration, shipped_path
    from session.calibrate import calibrate

    env = load_environment(args.env)
    try:
        env.scale(args.scale)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    cal = calibrate(env, args.scale, runs=args.runs, progress=lambda m: print(m, file=sys.stderr))
    target = shipped_path(env) if args.ship else home_path(resolve_home(args.home))
    save_calibration(target, cal)
    model = f" ({env.model_role} {cal.model})" if env.model_role else ""
    print(f"{env.id} {args.scale}{model}: start {cal.start:.4f}, reference {cal.reference:.4f} -> {target}")
    return 0


SCALES = ["cpu", "gpu", "test"]
SCALE_HELP = "test: a small scale for smoke runs, where an environment has one (see `envs`)"


def cmd_envs(args: argparse.Namespace) -> int:
    from environments.calibration import find_calibration
    from session.clock import format_duration

    home = resolve_home(args.home)
    rows: list[dict[str, Any]] = []
    for env_id in environment_ids():
        env = load_environment(env_id)
        for name, config in env.scales.items():
            r = env.resources_for(name)
            # For the model configured now (REBENCH_MODEL_NAME, REBENCH_JUDGE_*), on this hardware.
            lookup = find_calibration(env, name, home)
            cal = lookup.calibration
            rows.append(
                {
                    "calibrated": lookup.calibrated,
                    "calibration_warning": lookup.warning,
                    "model_role": env.model_role,
                    "model": lookup.model,
                    "environment": env_id,
                    "title": env.title,
                    "scale": name,
                    "budget_s": env.budget_s,
                    "aggregation": env.aggregation,
                    "score_visible": env.score_visible,
                    "resources": {"cpus": r.cpus, "gpus": r.gpus, "memory_gb": r.memory_gb},
                    "device": config.device,
                    "score_timeout_s": config.score_timeout_s,
                    "unbuilt": env.unbuilt(name),
                    "calibration": None if cal is None else _calibration_row(cal, lookup.exact),
                }
            )
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'environment':17} {'scale':5} {'budget':>7} {'cpus':>4} {'gpus':>4} {'memory':>7} {'scorer':>7}  task")
    for row in rows:
        res = row["resources"]
        hidden = "" if row["score_visible"] else ", score hidden"
        print(
            f"{row['environment']:17} {row['scale']:5} {format_duration(row['budget_s']):>7} {res['cpus']:>4} "
            f"{res['gpus']:>4} {res['memory_gb']:>5g}GB {row['score_timeout_s']:>6g}s  "
            f"{row['title']} ({row['aggregation']}{hidden})"
        )
        print(f"{'':24}{_build_state(row)}")
    print(
        "\nand any METR Task Standard family: rebench-tui new --task-family PATH --task NAME. Its scores are the"
        " family's raw scores, shown uncalibrated (no normalized score) unless the family ships a calibration."
    )
    return 0


def _calibration_row(cal: Any, this_hardware: bool) -> dict[str, Any]:
    from environments.calibration import describe_hardware

    return {
        "start": cal.start,
        "reference": cal.reference,
        "this_hardware": this_hardware,
        "measured_on": describe_hardware(cal.hardware),
        "measured_at": cal.measured_at,
    }


def _build_state(row: dict[str, Any]) -> str:
    """One line: whether the scale is built here, and its calibration on this hardware."""
    if row["unbuilt"]:
        return f"not built: {row['unbuilt']}"
    cal = row["calibration"]
    model = f" for {row['model_role']} {row['model']!r}" if row.get("model_role") else ""
    if cal is None:
        return f"built; not calibrated{model} on this hardware (nor on any other yet)"
    values = f"start {cal['start']:.4g}, reference {cal['reference']:.4g}"
    if row["calibrated"]:
        return f"built; calibrated{model} on this hardware ({values})"
    return f"built; not calibrated{model} on this hardware (only on {cal['measured_on']}: {values})"


def _clock_states(home: Path) -> dict[str, dict[str, Any]]:
    """Each session's clock as its recording says now (read-only): running, paused or not started."""
    import time

    from recorder.store import Recorder
    from session.clock import clock_state
    from session.layout import list_session_ids, session_paths

    out = {}
    for sid in list_session_ids(home):
        recorder = Recorder(session_paths(home, sid).database, readonly=True)
        try:
            out[sid] = clock_state(recorder.session(), recorder.pauses(), time.time()).to_json()
        finally:
            recorder.close()
    return out


def _clock_word(clock: dict[str, Any] | None, ended: bool, end_reason: str | None) -> str:
    if ended:
        return f"ended ({end_reason})"
    if clock is None:
        return "open"
    if not clock["started"]:
        return "not started"
    return "running" if clock["running"] else f"paused ({clock['paused_reason']})"


def cmd_sessions(args: argparse.Namespace) -> int:
    from session.clock import format_duration
    from session.report import load_sessions

    home = resolve_home(args.home)
    clocks = _clock_states(home)
    out: list[dict[str, Any]] = []
    for s in load_sessions(home):
        clock = clocks.get(s.session_id)
        out.append(
            {
                "id": s.session_id,
                "environment": s.env_id,
                "scale": s.scale,
                "participant": s.participant,
                "kind": s.kind,
                # not started, running, paused (its reason) or ended (its reason)
                "state": _clock_word(clock, s.ended, s.end_reason),
                "running": bool(clock and clock["running"] and not s.ended),
                "paused_reason": None if s.ended or clock is None else clock["paused_reason"],
                "working_s": round(s.working_s, 1),
                "remaining_s": None if clock is None else clock["remaining_s"],
                "best_normalized": s.best_normalized if s.score_visible else None,
                "final_normalized": s.final_normalized if s.score_visible else None,
                "isolated": s.isolated,
                "isolation": s.isolation_summary,
            }
        )
    if args.json:
        _print_json(out)
    else:
        print(f"{'session':40} {'participant':12} {'kind':6} {'state':24} {'worked':>8} {'best':>6} {'final':>6}")
        for r in out:
            best = "—" if r["best_normalized"] is None else f"{r['best_normalized']:.3f}"
            final = "—" if r["final_normalized"] is None else f"{r['final_normalized']:.3f}"
            state = r["state"] if len(r["state"]) <= 24 else r["state"][:23] + "…"
            print(
                f"{r['id']:40} {r['participant']:12} {r['kind']:6} {state:24} "
                f"{format_duration(r['working_s']):>8} {best:>6} {final:>6}  {'' if r['isolated'] else 'NOT isolated'}"
            )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rebench-tui",
        description="Without a command: open the TUI on your latest unfinished session, or on a new one.",
    )
    parser.add_argument("--home", help="root of all sessions (default: $REBENCH_HOME or the user's data folder)")
    parser.add_argument("--idle-after", type=_duration, default=900.0, help="ask whether to pause after this idleness")
    parser.add_argument("--no-tmux", action="store_true", help="the TUI alone: no tmux workspace around it")
    parser.set_defaults(handler=cmd_open)
    sub = parser.add_subparsers(dest="command")

    def add(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        # SUPPRESS: without --home here, the one given before the command (or none) stands.
        p.add_argument(
            "--home",
            default=argparse.SUPPRESS,
            help="root of all sessions (default: $REBENCH_HOME or the user's data folder)",
        )
        p.set_defaults(handler=handler)
        return p

    p = add("attach", cmd_attach, "open the TUI on a session")
    p.add_argument("session")
    p.add_argument("--idle-after", type=_duration, default=900.0, help="ask whether to pause after this much idleness")
    p.add_argument("--no-tmux", action="store_true", help="the TUI alone: no tmux workspace around it")

    p = add("new", cmd_new, "create a session and print its id")
    p.add_argument("--env", choices=environment_ids(), help=f"default {DEFAULT_ENV}")
    _add_task_family_options(p)
    p.add_argument("--budget", type=_duration, help="working-time budget, e.g. 8h, 90m (default: the environment's)")
    p.add_argument("--ceiling", type=_duration, default=None, help="wall-clock ceiling (default 2x budget)")
    p.add_argument("--participant")
    p.add_argument("--kind", choices=["human", "agent"], default="human")
    p.add_argument(
        "--scale",
        choices=["cpu", "gpu", "test"],
        default="cpu",
        help="test: a small scale for smoke runs, where an environment has one",
    )
    p.add_argument("--snapshot-every", type=_duration, default=600.0, help="periodic snapshot interval")
    p.add_argument("--json", action="store_true")
    _add_isolation_options(p)

    p = add("call", cmd_call, "call one tool of a session")
    p.add_argument("session")
    p.add_argument("tool")
    p.add_argument("--arg", action="append", metavar="KEY=VALUE", help="a tool argument (repeatable)")
    p.add_argument("--json", action="store_true", help="print the structured result")

    p = add("agent", cmd_agent, "run an agent command as the participant of a new agent session")
    p.add_argument("--env", choices=environment_ids(), help=f"default {DEFAULT_ENV}")
    _add_task_family_options(p)
    p.add_argument("--budget", type=_duration, help="working-time budget (default: the environment's)")
    p.add_argument("--ceiling", type=_duration, default=None)
    p.add_argument("--participant")
    p.add_argument(
        "--scale",
        choices=["cpu", "gpu", "test"],
        default="cpu",
        help="test: a small scale for smoke runs, where an environment has one",
    )
    p.add_argument("--tcp", action="store_true", help="also serve TCP on loopback (address and token in the env)")
    p.add_argument(
        "--grace", type=_duration, default=10.0,
        help="at the end, how long the agent has after SIGTERM before its processes are killed (default 10s)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true")
    _add_isolation_options(p)
    p.add_argument("agent_command", nargs=argparse.REMAINDER, metavar="-- CMD ...")

    p = add("daemon", cmd_daemon, "start (or find) a session's daemon and print where it serves")
    p.add_argument("session")
    p.add_argument("--tcp", metavar="HOST:PORT", help="also serve TCP (token in private/daemon.json); e.g. 127.0.0.1:0")
    p.add_argument("--json", action="store_true", help="pid, socket, tcp address and token")

    p = add("serve", cmd_serve, "serve the TUI and the MCP bridge over SSH (public-key login only)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2222)
    p.add_argument("--host-key", help="kept between starts; made on first start (default HOME/ssh/host_key)")
    p.add_argument("--authorized-keys", metavar="DIR", help="DIR/<username> holds that user's keys")
    p.add_argument("--env", choices=environment_ids(), help=f"default {DEFAULT_ENV}")
    _add_task_family_options(p)
    p.add_argument("--budget", type=_duration, help="working-time budget (default: the environment's)")
    p.add_argument(
        "--scale",
        choices=["cpu", "gpu", "test"],
        default="cpu",
        help="test: a small scale for smoke runs, where an environment has one",
    )
    p.add_argument(
        "--pause-when-disconnected",
        action="store_true",
        help="pause the clock while none of a user's connections is open",
    )
    p.add_argument("--verbose", action="store_true", help="log more: ours at DEBUG, asyncssh's from INFO")
    _add_isolation_options(p)

    p = add("report", cmd_report, "compare humans and agents: final scores and score against time budget (score@k)")
    p.add_argument("--env", choices=environment_ids())
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", action="store_true")
    p.add_argument("--plot", metavar="PATH", help="also write the curves as a PNG")
    p.add_argument(
        "--campaign",
        metavar="NAME",
        help="only this campaign's sessions, beside the human sessions on its environments and scales",
    )

    p = add("replay", cmd_replay, "step through a recorded session (read-only)")
    p.add_argument("session")

    p = add("export", cmd_export, "write a whole session as JSON lines (one object per row, `type` = its table)")
    p.add_argument("session")
    p.add_argument("--format", choices=["jsonl"], default="jsonl")
    p.add_argument("--output", "-o", metavar="PATH")
    p.add_argument(
        "--role",
        choices=["operator", "observer", "participant"],
        default="operator",
        help="write what this role may see (operator: everything; the others: no hidden score, no scorer details)",
    )

    p = add("mcp", cmd_mcp, "serve MCP over stdio for a session (relays to its daemon)")
    p.add_argument("session")

    p = add("tools", cmd_tools, "list the tools with their descriptions")
    p.add_argument("--json", action="store_true", help="names, descriptions and input schemas")

    p = add("checkout", cmd_checkout, "restore a snapshot of a session's workspace to a folder")
    p.add_argument("session")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--snapshot", type=int, help="snapshot id (default: the latest)")
    which.add_argument("--at", type=_duration, help="working time, e.g. 2h15m: the snapshot in effect then")
    p.add_argument("dest")

    p = add("rescore", cmd_rescore, "score stored snapshots of ended sessions after the fact, as Ray tasks (post-hoc)")
    p.add_argument("sessions", nargs="+", metavar="SESSION")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--every-snapshot", action="store_true", help="every snapshot, the start one included (default)")
    which.add_argument(
        "--at", metavar="TIMES", help="working times, e.g. 30m,1h: the latest snapshot at or before each"
    )
    p.add_argument("--address", help="join this Ray cluster (default: start one here on every CPU)")
    p.add_argument("--json", action="store_true")

    p = add("calibrate", cmd_calibrate, "measure the start and reference raw scores on this machine")
    p.add_argument("env", choices=environment_ids())
    p.add_argument("--scale", default="cpu", help="cpu, gpu, or an environment's own scale (e.g. test)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--ship", action="store_true", help="write into the environment's shipped calibration.json")

    p = add("envs", cmd_envs, "list the environments with their scales, budgets and resources")
    p.add_argument("--json", action="store_true")
    p = add("sessions", cmd_sessions, "list the sessions under the home")
    p.add_argument("--json", action="store_true")

    p = add("campaign", cmd_campaign, "run agents x environments x k attempts as Ray tasks, resumably; or its status")
    actions = p.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="run (or resume) the campaign a plan file describes")
    run.add_argument("plan", metavar="PLAN.toml")
    run.add_argument("--address", help="join this Ray cluster (default: start one on this machine)")
    run.add_argument("--max-retries", type=int, default=2, help="runs of a failing attempt after its first (default 2)")
    run.add_argument(
        "--ship",
        choices=["auto", "always", "never"],
        help="send sessions back from the workers: auto (when a worker cannot see the home), always, never "
        "(default: the plan's `ship`, else auto)",
    )
    status = actions.add_parser("status", help="attempts by state and the best final score per agent and environment")
    status.add_argument("campaign", metavar="CAMPAIGN_DIR_or_NAME")
    status.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from session.client import DaemonGone, DaemonUnavailable
    from session.errors import SessionError

    try:
        code = args.handler(args)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at the interpreter's exit
        return code
    except (CliError, SessionError, DaemonUnavailable, UnknownEnvironment, ValueError) as exc:
        print(f"rebench-tui: {exc}", file=sys.stderr)
        return 2
    except DaemonGone as exc:  # one clear line, never a traceback
        print(f"rebench-tui: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _closed_pipe()


def _closed_pipe() -> int:
    """The reader went away (`... | head`): stop quietly, as a command killed by SIGPIPE would.

    Standard output is pointed at /dev/null so that the interpreter's last flush at exit does
    not fail again and print "Exception ignored ... BrokenPipeError"."""
    import os

    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 128 + 13  # SIGPIPE's exit status


if __name__ == "__main__":
    raise SystemExit(main())
