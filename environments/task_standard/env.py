"""A METR Task Standard family's task as a rebench-tui environment.

`rebench-tui new --task-family PATH --task NAME` makes one (`from_source`: names and the
manifest are read, none of the family's code runs yet). `prepare`, at the session's
creation and as the user who runs `new` (root, to isolate), follows the standard's order:
the family folder is copied into the session's private state (what every later step uses,
so editing the original changes no running session), then, each in a process of its own
with that copy as the working directory: the class is checked, `install()`, the task's
permissions, instructions and auxiliary-VM spec are read, and `start(t)` runs. What the
standard asks and this host cannot give is refused there, in one line: an auxiliary VM, a
family image build of its own, unset `required_environment_variables`, GPUs the machine
lacks, a version of the standard it does not know.

Every later process finds the environment again from the session's private state
(`bound`): the daemon reads only the recorded facts and instructions, never the family's
code. Scoring runs the family's code in the scorer's process (environments/scorer_main.py,
the scorer's account), on the harness's copy of the workspace, with `/home/agent` pointed at
a private, writable copy of that copy (environments/task_standard/family.py):

- `score` (the tool) runs `intermediate_score(t)`; its `score`, `message` and `details` become
  the raw score (NaN: invalid), the message the participant sees and the details nobody but
  the operator sees. Families without `intermediate_score` refuse the tool: their score is
  decided once, at the end.
- at the end, a family with intermediate scoring gets `aggregate_scores(t, score_log)` (the
  log in the reference driver's shape), recorded with the end; a family with `score` gets
  `score(t, submission)` as one last logged scoring, the submission being `submit`'s
  `submission` argument, else the workspace's `submission.txt`, else "".
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from environments.base import Environment, Judging, Resources, ScaleConfig, ScoreResult
from environments.registry import TASK_STANDARD_PREFIX, UnknownEnvironment
from environments.task_standard.family import AGENT_HOME, FamilyError, call_family

PREFIX = TASK_STANDARD_PREFIX
META_FILE = "task_standard.json"
FAMILY_DIR = "task_family"
INSTRUCTIONS_FILE = "instructions.md"
SUBMISSION_FILE = "submission.txt"
DEFAULT_RESOURCES = Resources(cpus=2, gpus=0, memory_gb=4)
SCORE_TIMEOUT_S = 600.0
# How long each setup step may take (install may fetch packages).
STEP_TIMEOUT_S = {"check": 300.0, "install": 3600.0, "setup": 300.0, "start": 1800.0, "teardown": 600.0}
# Folders a family brings for a build of its own image: this harness builds no images.
IMAGE_BUILD_FILES = ("Dockerfile", "build_steps.json")


KEY_FILE = "task-standard.key"


def home_key(home: Path) -> bytes:
    """The home's secret for naming tasks (made on first use; root's alone where the harness isolates)."""
    path = Path(home) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
    return path.read_bytes()


def env_id_for(family: str, task: str, key: bytes) -> str:
    """A session's environment id: the family's name and a keyed digest of the task's name. The
    task's name is no part of it: the participant sees the id (in the session's id, its folder),
    and a family's task names may be its answers (the standard's own example keys tasks by the
    word to find). Keyed by the home's secret, so no one can test guesses against it, and the same
    within a home, so the report groups one task's sessions together."""
    digest = hmac.new(key, f"{family}\0{task}".encode(), hashlib.sha256).hexdigest()[:10]
    return f"{PREFIX}{family[:32]}-{digest}"


def _refused(family: str, why: str) -> FamilyError:
    return FamilyError(f"task family {family!r} cannot run here: {why}")


def _family_digest(folder: Path) -> str:
    """sha256 over the family's files (paths and contents): which code judged the session."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def _manifest_task(folder: Path, family: str, task: str) -> dict[str, Any]:
    """The task's entry of the family's manifest.yaml (resources, scoring), or {}."""
    path = folder / "manifest.yaml"
    if not path.exists():
        return {}
    try:
        import yaml  # type: ignore[import-untyped]  # PyYAML comes with Ray; no stubs here
    except ImportError:
        raise _refused(family, "it has a manifest.yaml and PyYAML is not installed here") from None
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise _refused(family, f"its manifest.yaml cannot be read: {exc}") from None
    entry = (data.get("tasks") or {}).get(task) if isinstance(data, dict) else None
    return entry if isinstance(entry, dict) else {}


def _resources(family: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """What the manifest asks for (cpus, memory_gb, GPUs); refused when this machine has too few GPUs."""
    asked = manifest.get("resources") or {}
    gpu = asked.get("gpu") or {}
    gpus = int((gpu.get("count_range") or [0])[0]) if isinstance(gpu, dict) else 0
    if gpus:
        from environments.hardware import hardware

        here = hardware()["gpu_count"]
        if here < gpus:
            raise _refused(
                family, f"its manifest.yaml asks for {gpus} GPU(s) ({gpu.get('model')}); this machine has {here}"
            )
    return {
        "cpus": int(asked.get("cpus") or DEFAULT_RESOURCES.cpus),
        "gpus": gpus,
        "memory_gb": float(asked.get("memory_gb") or DEFAULT_RESOURCES.memory_gb),
    }


@dataclass(frozen=True)
class FamilyTask:
    """A family's task as an operator names it (`--task-family PATH --task NAME [--agent-home P]`):
    what a server that makes sessions on demand keeps, making a fresh environment for each one
    (preparing one binds it to its session)."""

    path: str
    task: str
    expected_home: str = AGENT_HOME

    def environment(self, home: Path) -> TaskStandardEnvironment:
        """The task, read again from the family's folder (refused in one line if it cannot run here)."""
        return TaskStandardEnvironment.from_source(self.path, self.task, home=home, expected_home=self.expected_home)


class TaskStandardEnvironment(Environment):
    """One task of a Task Standard family; everything it knows is in `meta` (see module docstring)."""

    aggregation = "max"  # "best so far" while the session runs; the final score is the family's own

    def __init__(self, meta: dict[str, Any], private: Path | None = None) -> None:
        self.meta = meta
        self.private = private
        self.id = meta["env_id"]
        self.title = f"a task of {meta['family']} (METR Task Standard family)"  # its name may be its answer
        self.score_visible = bool(meta.get("score_visible", True))
        methods = set(meta.get("methods", []))
        # A family with intermediate scoring is judged at the end by aggregate_scores (a verdict on the
        # log); one with `score` by one last scoring of the submission; one with neither by hand.
        self.final_judgement = (
            "verdict" if "intermediate_score" in methods else "scoring" if "score" in methods else None
        )
        r = meta.get("resources") or {}
        network = "allowed" if "full_internet" in meta.get("permissions", []) else "none"
        resources = Resources(
            cpus=int(r.get("cpus", DEFAULT_RESOURCES.cpus)),
            gpus=int(r.get("gpus", 0)),
            memory_gb=float(r.get("memory_gb", DEFAULT_RESOURCES.memory_gb)),
            network=network,
        )
        timeout = float(meta.get("score_timeout_s", SCORE_TIMEOUT_S))
        memory_mb = int(resources.memory_gb * 1024)
        device = "cuda" if resources.gpus else "cpu"
        self.scales = {
            name: ScaleConfig(
                name, score_timeout_s=timeout, resources=resources, device=device, memory_limit_mb=memory_mb
            )
            for name in ("cpu", "gpu")
        }

    # -- finding it ------------------------------------------------------------------------------
    @classmethod
    def from_source(
        cls, path: str | Path, task: str, *, home: Path, expected_home: str = AGENT_HOME
    ) -> TaskStandardEnvironment:
        """Before a session exists (under `home`): the family's folder, its name and manifest (none of
        its code runs yet)."""
        source = Path(path).expanduser().resolve()
        if source.is_file() and source.suffix == ".py":
            source = source.parent
        family = source.name
        if not (source / f"{family}.py").is_file():
            raise FamilyError(f"{source} is not a task family folder: it has no {family}.py")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", family):
            raise FamilyError(f"a task family's name must be in snake case (the standard's rule), not {family!r}")
        if not expected_home.startswith("/"):
            raise FamilyError(f"--agent-home must be an absolute path, not {expected_home!r}")
        if built := [name for name in IMAGE_BUILD_FILES if (source / name).exists()]:
            raise _refused(
                family, f"it brings its own image build ({', '.join(built)}), and this harness builds no images"
            )
        manifest = _manifest_task(source, family, task)
        scoring = manifest.get("scoring") or {}
        meta = {
            "env_id": env_id_for(family, task, home_key(home)),
            "family": family,
            "task": task,
            "source": str(source),
            "expected_home": expected_home,
            "resources": _resources(family, manifest),
            "score_visible": scoring.get("visible_to_agent", True) is not False,
        }
        return cls(meta)

    @classmethod
    def bound(cls, env_id: str, private: Path | None) -> TaskStandardEnvironment:
        """The environment of an existing session, from its private state."""
        if private is None:
            raise UnknownEnvironment(f"{env_id} is a Task Standard family's task: it is found in its session's state")
        try:
            meta = json.loads((Path(private) / META_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise UnknownEnvironment(f"{env_id}: cannot read the session's Task Standard record: {exc}") from None
        if meta.get("env_id") != env_id:
            raise UnknownEnvironment(f"{env_id}: the session's record is for {meta.get('env_id')!r}")
        return cls(meta, Path(private))

    @property
    def folder(self) -> Path:  # type: ignore[override]  # per instance here: each session has its copy
        """The family's folder (the session's copy once prepared): a shipped calibration.json lives there."""
        return self._family_dir if self.private is not None else Path(self.meta["source"])

    @property
    def _family_dir(self) -> Path:
        if self.private is None:
            raise FamilyError(f"{self.id}: no session state yet")
        return self.private / FAMILY_DIR

    def protected_paths(self) -> list[Path]:
        """The family's own folder: its code holds the answers (`get_tasks`)."""
        return [Path(self.meta["source"])]

    def provenance(self) -> dict[str, Any]:
        """For the operator's record (under `details`, which participants never get: the task's name)."""
        keys = ("family", "task", "source", "family_sha256", "standard_version", "expected_home", "agent_home")
        return {"details": {"task_standard": {k: self.meta.get(k) for k in keys} | {"final": self.final_judgement}}}

    # -- creating a session ---------------------------------------------------------------------------
    def prepare(self, workspace: Path, private: Path, scale: str) -> None:
        family = self.meta["family"]
        copy = private / FAMILY_DIR
        shutil.copytree(self.meta["source"], copy, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", ".git"))
        self.meta.update(agent_home=str(workspace), family_sha256=_family_digest(copy))
        checked = self._step("check", copy, workspace)
        if checked.get("problem"):
            raise _refused(family, checked["problem"])
        if checked.get("aux_vm"):
            raise _refused(family, "it asks for an auxiliary VM (get_aux_vm_spec), and this harness has none to give")
        self._step("install", copy, workspace)
        setup = self._step("setup", copy, workspace)
        if setup["aux_vm"]:
            raise _refused(family, "it asks for an auxiliary VM (get_aux_vm_spec), and this harness has none to give")
        permissions = setup["permissions"]
        if not isinstance(permissions, list) or not set(permissions) <= {"full_internet"}:
            raise _refused(family, f"get_permissions returned {permissions!r}; the standard knows only 'full_internet'")
        required = checked["required_environment_variables"]
        self.meta.update(
            standard_version=checked["standard_version"],
            methods=checked["methods"],
            required_environment_variables=required,
            environ={name: os.environ[name] for name in required},  # private: only the scorer reads them
            permissions=permissions,
        )
        (private / INSTRUCTIONS_FILE).write_text(self._instructions(setup["instructions"], workspace))
        self._step("start", copy, workspace)
        (private / META_FILE).write_text(json.dumps(self.meta, indent=2))
        type(self).__init__(self, self.meta, private)

    def tears_down(self) -> bool:
        return "teardown" in self.meta.get("methods", [])

    def teardown(self, workspace: Path, private: Path, scale: str) -> dict[str, Any]:
        """The family's `teardown(t)`, run like `start` (as the harness's account, in a process of
        its own, the family's copy as its folder), once the session is over and judged.

        Its `/home/agent` is an empty folder of its own, never the workspace: teardown runs as
        the harness's account (root, isolated) after the participant had the workspace to
        themselves, and code that wrote, read or deleted there would follow the links they left
        (`answer.txt -> /etc/shadow`). What it must undo lies outside the workspace; the
        workspace itself is the session's record and stays as it was."""
        if not self.tears_down():
            return {}
        with tempfile.TemporaryDirectory(prefix="rebench-teardown-home-", dir=private) as home:
            self._step("teardown", private / FAMILY_DIR, Path(home))
        return {"method": "teardown", "agent_home": "an empty folder of its own (not the workspace)"}

    def _step(self, step: str, copy: Path, workspace: Path) -> dict[str, Any]:
        """One setup step in a process of its own (environments/task_standard/helper.py); its result."""
        out = copy.parent / f"task-standard-{step}.json"
        argv = [sys.executable, "-I", "-B", "-m", "environments.task_standard.helper", step, "--folder", str(copy)]
        argv += ["--name", self.meta["family"], "--task", self.meta["task"], "--agent-home", str(workspace)]
        argv += ["--expected-home", self.meta["expected_home"], "--out", str(out)]
        path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", os.defpath)])
        proc = subprocess.Popen(
            argv, cwd=copy, env={**os.environ, "PATH": path}, start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            output, _ = proc.communicate(timeout=STEP_TIMEOUT_S[step])
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise _refused(self.meta["family"], f"its {step} step ran over {STEP_TIMEOUT_S[step]:g} s") from None
        finally:
            # What the step left running (a server `start` launched) is not supported here: it would run
            # as root, outside the session's groups and network namespace, past the session's end.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        try:
            result = json.loads(out.read_text())
        except (OSError, ValueError):
            result = {"ok": False, "error": f"the {step} step ended (exit {proc.returncode}) without a result"}
        finally:
            out.unlink(missing_ok=True)
        if not result.get("ok"):
            detail = (result.get("trace") or output or "").strip().splitlines()[-1:] or [""]
            raise FamilyError(
                f"task family {self.meta['family']!r}: {step} failed: {result.get('error')}".splitlines()[0]
                + (f" ({detail[0][:300]})" if detail[0] and detail[0] not in str(result.get("error")) else "")
            )
        return result

    def _instructions(self, text: str, workspace: Path) -> str:
        """The family's instructions, then how this harness maps the standard's parts."""
        family = self.meta["family"]
        lines = [
            text.rstrip(),
            "",
            "---",
            f"(rebench-tui) A task of the METR Task Standard family `{family}`. Your workspace, "
            f"`{workspace}`, is what the task calls `{self.meta['expected_home']}`.",
        ]
        methods = set(self.meta.get("methods", []))
        if "intermediate_score" in methods:
            lines.append(
                "`score` scores your work now; when you `submit`, the task's own rule makes the final score"
                " from all of your scorings."
            )
        elif "score" in methods:
            lines.append(
                "This task is scored once, when you `submit`: give your answer as `submit`'s `submission` argument, "
                f"or write it to `{SUBMISSION_FILE}` in your workspace."
            )
        else:
            lines.append("This task has no automatic scoring: it is scored by hand after you `submit`.")
        return "\n".join(lines) + "\n"

    # -- the session ---------------------------------------------------------------------------------
    def instructions(self, scale: str) -> str:
        if self.private is None:
            raise FamilyError(f"{self.id}: the instructions exist once a session is created")
        return (self.private / INSTRUCTIONS_FILE).read_text()

    def refuses_scoring(self) -> str | None:
        if "intermediate_score" in self.meta.get("methods", []):
            return None
        return (
            f"this task of {self.meta['family']} is scored only when you submit (its family has no "
            f"intermediate scoring): submit with submission=YOUR_ANSWER, or write {SUBMISSION_FILE} in your workspace"
        )

    def install_reference(self, workspace: Path, scale: str) -> None:
        raise FamilyError("a Task Standard family has no reference solution, so it cannot be calibrated here")

    def submission_files(self, scale: str) -> tuple[str, ...]:
        return (".",)  # the whole workspace: the family's code reads what it wants of /home/agent

    # -- judging (the scorer's process) ---------------------------------------------------------------
    def judge(self, judging: Judging) -> ScoreResult:
        methods = set(self.meta.get("methods", []))
        final = judging.final
        if final is None:
            mode = "intermediate"
            if "intermediate_score" not in methods:
                return ScoreResult.invalid(self.refuses_scoring() or "no intermediate scoring")
        elif "intermediate_score" in methods:
            mode = "aggregate"
        elif "score" in methods:
            mode = "score"
        else:
            return ScoreResult.invalid(
                "this task is scored by hand (its family has no score method)", manual_scoring=True
            )
        scratch = Path(tempfile.mkdtemp(prefix="rebench-agent-home-"))  # the scorer's own: the family may write
        try:
            home = scratch / "home"
            shutil.copytree(judging.submission, home, symlinks=True)
            submission = ""
            if mode == "score":
                given = final.get("submission") if final else None
                submission = given if isinstance(given, str) else _read_plain(home / SUBMISSION_FILE)
            log = [_log_entry(row) for row in (final or {}).get("score_log", [])] if mode == "aggregate" else None
            result, printed = call_family(
                self._family_dir, self.meta["family"], self.meta["task"],
                expected_home=self.meta["expected_home"], agent_home=str(home), environ=self.meta.get("environ", {}),
                mode=mode, submission=submission, score_log=log,
            )  # fmt: skip
        except FamilyError as exc:
            return ScoreResult.invalid(self._shown(str(exc), home), trace=exc.trace)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        verdict = _verdict(mode, result, printed, len(log or []))
        verdict.message = json.loads(self._shown(json.dumps(verdict.message), home))
        return verdict

    def _shown(self, text: str, home: Path) -> str:
        """Text the participant sees, with the scorer's copy of the home named as their workspace."""
        return text.replace(str(home), self.meta.get("agent_home") or self.meta["expected_home"])

    def __repr__(self) -> str:
        return f"TaskStandardEnvironment({self.id!r}, bound={self.private is not None})"


_METHOD = {"intermediate": "intermediate_score", "score": "score", "aggregate": "aggregate_scores"}


def _plain(value: Any) -> Any:
    """JSON without NaN or infinities (the recording holds only real JSON): those become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _verdict(mode: str, result: dict[str, Any], printed: str, scorings: int) -> ScoreResult:
    """The family's answer as our ScoreResult: its message is shown, its details kept for the operator.
    What the family returned is kept as it was in details["task_standard"] (a NaN score as None,
    with `invalid`), for its `aggregate_scores` at the end."""
    score, message = result["score"], _plain(result["message"])
    returned = _plain(result) | ({"invalid": True} if score is not None and math.isnan(score) else {})
    details: dict[str, Any] = {"task_standard": {"method": _METHOD[mode], **returned}, "family_output": printed[-4000:]}
    if mode != "intermediate" and not message:
        message = {"method": _METHOD[mode]} | ({"scorings": scorings} if mode == "aggregate" else {})
    if score is None:
        why = "no score" if mode == "intermediate" else "to be scored by hand"
        return ScoreResult(math.nan, {"error": f"{_METHOD[mode]} returned {why} (None)", **message}, details)
    if math.isnan(score):
        return ScoreResult(math.nan, {"error": f"{_METHOD[mode]} found this invalid (NaN)", **message}, details)
    return ScoreResult(score, message, details)


def _log_entry(row: dict[str, Any]) -> dict[str, Any]:
    """A logged scoring as the reference driver gives it to aggregate_scores (invalid: score None)."""
    own = (row.get("details") or {}).get("task_standard") or {}
    at = datetime.fromtimestamp(float(row["wall"]), UTC).isoformat().replace("+00:00", "Z")
    message = own.get("message") if "message" in own else row.get("message")
    return {
        "score": (own.get("score", row.get("raw")) if row.get("valid") else None),
        "message": message if isinstance(message, dict) else {"message": message},
        "details": own.get("details") or {},
        "scoredAt": at,
        "createdAt": at,
        "elapsedTime": round(float(row["working_s"]) * 1000),
    }


def _read_plain(path: Path, limit: int = 1 << 20) -> str:
    """A regular file's text without one final newline (what `echo` adds), never through a link; "" if none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        text = f.read(limit).decode("utf-8", errors="replace")
    return text.removesuffix("\n").removesuffix("\r")
